"""The catalogue store, each test run against both back-ends (``store_location``)."""

from pathlib import Path

import numpy as np
import pytest

from indexing.store import Event, ListingNotFound, Store
from indexing.store_copy import copy_store
from indexing.store_database import open_database
from indexing.store_schema import MIGRATIONS, SCHEMA_VERSION, StoreError, migrate
from indexing.store_schema_postgres import POSTGRES_MIGRATIONS
from multimodal.data.catalogue import Listing


def make_listing(listing_id: str, **overrides) -> Listing:
    fields = {
        "id": listing_id,
        "title": f"Item {listing_id}",
        "description": "A fine thing",
        "price": 10.0,
        "location": "Leeds, West Yorkshire",
        "category_path": ("Home & Garden", "Garden"),
        "image_ids": (),
    }
    return Listing(**{**fields, **overrides})


@pytest.fixture
def image_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "images"
    folder.mkdir()
    for name in ("a", "b", "c"):
        (folder / f"{name}.jpg").write_bytes(name.encode() * 10)
    return folder


@pytest.fixture
def store(store_location: Path | str, image_dir: Path):
    with Store(store_location, image_dir=image_dir) as store:
        yield store


def test_round_trip_and_reopen(store_location: Path | str, image_dir: Path) -> None:
    listing = make_listing("x1", image_ids=("b", "a"), price=None)
    with Store(store_location, image_dir=image_dir) as store:
        fid = store.upsert_listing(listing)
    with Store(store_location, image_dir=image_dir) as store:
        assert store.get_listing("x1") == listing
        assert store.faiss_id("x1") == fid
        assert store.listing_id(fid) == "x1"
        assert list(store.iter_listings()) == [listing]
        assert store.get_listings_by_fid([fid, 999]) == {fid: listing}
        (record,) = store.iter_records()
        assert record.image_fids == (store.image_fid("b"), store.image_fid("a"))
        assert store.schema_version == SCHEMA_VERSION


def test_sqlite_runs_in_wal_mode(tmp_path: Path) -> None:
    with Store(tmp_path / "c.sqlite") as store:
        assert store._db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_upsert_keeps_fid_and_photo_fids(store: Store) -> None:
    fid = store.upsert_listing(make_listing("x1", image_ids=("a", "b")))
    photo_a = store.image_fid("a")
    assert store.upsert_listing(make_listing("x1", title="New", image_ids=("a", "c"))) == fid
    assert store.get_listing("x1").title == "New"
    assert store.image_fid("a") == photo_a
    assert store.image_fid("b") is None


def test_delete_is_soft_and_readding_keeps_the_fid(store: Store) -> None:
    fid = store.upsert_listing(make_listing("x1"))
    store.delete_listing("x1")
    assert store.get_listing("x1") is None
    assert store.faiss_id("x1") is None
    assert store.count() == 0
    with pytest.raises(ListingNotFound):
        store.delete_listing("x1")
    assert store.upsert_listing(make_listing("x1")) == fid


def test_content_hash_follows_text_and_photo_bytes(store: Store, image_dir: Path) -> None:
    store.upsert_listing(make_listing("x1", image_ids=("a",)))
    first = next(store.iter_records()).content_hash
    store.upsert_listing(make_listing("x1", image_ids=("a",), price=99.0))
    assert next(store.iter_records()).content_hash == first  # price is not embedded
    (image_dir / "a.jpg").write_bytes(b"other bytes")
    store.upsert_listing(make_listing("x1", image_ids=("a",)))
    assert next(store.iter_records()).content_hash != first


def test_sync_counts_changes(store: Store) -> None:
    listings = [make_listing(f"x{i}") for i in range(4)]
    counts = store.sync_listings(listings)
    assert (counts.added, counts.updated, counts.deleted, counts.unchanged) == (4, 0, 0, 0)
    changed = [make_listing("x0", title="Changed"), *listings[1:3], make_listing("x9")]
    counts = store.sync_listings(changed)
    assert (counts.added, counts.updated, counts.deleted, counts.unchanged) == (1, 1, 1, 2)
    assert {listing.id for listing in store.iter_listings()} == {"x0", "x1", "x2", "x9"}


def test_listings_matching_filters(store: Store) -> None:
    fids = {
        "cheap": store.upsert_listing(make_listing("cheap", price=5.0)),
        "dear": store.upsert_listing(
            make_listing("dear", price=500.0, category_path=("Music", "Guitars"))
        ),
        "london": store.upsert_listing(make_listing("london", location="Camden, London")),
        "gone": store.upsert_listing(make_listing("gone")),
    }
    store.delete_listing("gone")

    def ids(**filters) -> set[str]:
        return {store.listing_id(f) for f in store.listings_matching(**filters)}

    assert ids() == {"cheap", "dear", "london"}
    assert ids(price_max=10) == {"cheap", "london"}
    assert ids(price_min=100, price_max=1000) == {"dear"}
    assert ids(category_prefix="music") == {"dear"}
    assert ids(category_prefix="Music / Guitars") == {"dear"}
    assert ids(category_prefix="Mus") == set()  # a prefix of whole path parts only
    assert ids(location_substring="LONDON") == {"london"}
    assert store.listings_matching(price_min=1e9).dtype == np.int64
    assert fids["gone"] not in store.listings_matching()


def test_categories_tree_with_counts(store: Store) -> None:
    store.upsert_listing(make_listing("a"))
    store.upsert_listing(make_listing("b", category_path=("Home & Garden", "Kitchen")))
    store.upsert_listing(make_listing("c", category_path=("Music",)))
    tree = {c.path: c for c in store.categories()}
    assert tree["Home & Garden"].count == 2
    assert tree["Home & Garden"].parent is None
    assert tree["Home & Garden / Kitchen"].parent == "Home & Garden"
    assert tree["Home & Garden / Kitchen"].name == "Kitchen"
    assert tree["Music"].count == 1


def test_events(store: Store) -> None:
    store.upsert_listing(make_listing("a"))
    store.add_event("u1", "a", "view", ts=1.0)
    store.add_event("u1", "a", "save", ts=2.0)
    store.add_event("u2", "a", "click", ts=3.0)
    assert [e.type for e in store.events_for_user("u1")] == ["save", "view"]
    assert len(store.events_for_user("u1", limit=1)) == 1
    assert store.events_for_user("nobody") == []
    with pytest.raises(ValueError, match="event type"):
        store.add_event("u1", "a", "like")
    with pytest.raises(ListingNotFound):
        store.add_event("u1", "missing", "view")


def test_migrates_an_old_schema(store_location: Path | str) -> None:
    db = open_database(store_location)
    assert migrate(db, target=1) == 1  # a store written before user events existed
    db.execute(
        "INSERT INTO listings (id, title, description, price, location, category, root, "
        "content_hash, updated_at) VALUES ('old', 'Old sofa', '', 1.0, 'York', 'Home', 'Home', "
        "'h', 0)"
    )
    db.close()
    with Store(store_location) as store:
        assert store.schema_version == SCHEMA_VERSION
        assert store.get_listing("old").title == "Old sofa"
        assert store.get_listing("old").currency == "GBP"  # stores before currencies held pounds
        store.add_event("u", "old", "view")
        assert len(store.events_for_user("u")) == 1
        applied = store._db.execute("SELECT version FROM schema_migrations").fetchall()
        assert sorted(v for (v,) in applied) == [m[0] for m in MIGRATIONS]


def test_both_back_ends_share_the_migration_versions() -> None:
    assert [m[:2] for m in POSTGRES_MIGRATIONS] == [m[:2] for m in MIGRATIONS]


def test_refuses_a_newer_schema(store_location: Path | str) -> None:
    with Store(store_location) as store:
        store._db.execute("INSERT INTO schema_migrations VALUES (99, 'future', 0)")
    with pytest.raises(StoreError, match="newer"):
        Store(store_location)


def test_written_vectors_are_stored_with_the_listing_or_not_at_all(store: Store) -> None:
    from indexing.written_vectors import ListingVectors

    rng = np.random.default_rng(0)
    vectors = ListingVectors(
        model="model-a",
        joint=rng.normal(size=4).astype(np.float32),
        text=rng.normal(size=4).astype(np.float32),
        photos=rng.normal(size=(2, 4)).astype(np.float32),
        instances=rng.normal(size=(2, 3)).astype(np.float32),
        projection="p1",
    )
    fid = store.upsert_listing(make_listing("x1", image_ids=("b", "a")), vectors)
    (record,) = store.iter_records()
    stored = store.written_listing_vectors("model-a", [fid])[fid]
    assert stored.content_hash == record.content_hash
    np.testing.assert_array_equal(stored.joint, vectors.joint)
    photos = store.written_photo_vectors("model-a", record.image_fids)
    np.testing.assert_array_equal(photos[store.image_fid("a")].joint, vectors.photos[1])
    assert photos[store.image_fid("b")].projection == "p1"
    assert store.written_listing_vectors("model-b", [fid]) == {}

    one_photo_short = ListingVectors("model-a", vectors.joint, vectors.text, vectors.photos[:1])
    with pytest.raises(ValueError, match="photo vectors"):
        store.upsert_listing(make_listing("x3", image_ids=("a", "c")), one_photo_short)
    assert store.get_listing("x3") is None  # rolled back with its vectors: never half-saved


def test_a_listing_keeps_its_currency(store: Store) -> None:
    store.upsert_listing(make_listing("e", currency="EUR"))
    store.sync_listings([make_listing("e", currency="EUR"), make_listing("g")])
    assert store.get_listing("e").currency == "EUR"
    assert next(r.listing for r in store.iter_records() if r.listing.id == "g").currency == "GBP"
    assert store.get_listings_by_fid([store.faiss_id("e")])[store.faiss_id("e")].currency == "EUR"
    assert store.main_currency() == "EUR"  # a tie goes to the first code
    store.sync_listings([make_listing("e", currency="EUR"), make_listing("g"), make_listing("h")])
    assert store.main_currency() == "GBP"  # the currency most listings are in
    store.sync_listings(
        [make_listing(i, currency="EUR") for i in "egh"]  # a changed currency is a change
    )
    assert store.get_listing("g").currency == "EUR"
    assert store.main_currency() == "EUR"


def test_a_copy_keeps_every_key_and_row(
    tmp_path: Path, store_location: Path | str, image_dir: Path
) -> None:
    source = tmp_path / "source.sqlite"
    with Store(source, image_dir=image_dir) as store:
        store.sync_listings([make_listing("a", image_ids=("a",)), make_listing("b")])
        store.delete_listing("a")
        store.upsert_listing(make_listing("c", image_ids=("b", "c")), owner="seller")
        store.add_event("u", "c", "save", ts=5.0)
        before = list(store.iter_records())
    copied = copy_store(source, store_location)
    assert copied["listings"] == 3 and copied["events"] == 1
    with Store(store_location, image_dir=image_dir) as copy:
        assert list(copy.iter_records()) == before
        assert copy.owner_of("c") == "seller"
        assert copy.events_for_user("u") == [Event("u", "c", "save", 5.0)]
        new = copy.upsert_listing(make_listing("d"))  # keys continue after the copied ones
        assert new > max(r.fid for r in before) and copy.faiss_id("a") is None
        assert copy.upsert_listing(make_listing("a")) == 1  # a revived listing keeps its fid
    with pytest.raises(StoreError, match="already holds listings"):
        copy_store(source, store_location)
