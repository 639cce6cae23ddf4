"""Two replicas over one store and one index root, on both back-ends: what A writes, B
serves after ``catch_up()``, with every per-replica cache following.

With SQLite the two share one machine's photo folder; with PostgreSQL each
has its own, as two hosts would, and B restores A's uploaded photos from the
database.
"""

from __future__ import annotations

import io
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from PIL import Image

from api.domain_errors import NotFound
from api.schemas import ListingCreate, ListingIn
from api.service import Query, SearchService
from api.settings import Settings
from indexing.index_store import IndexDirectory
from indexing.store import Store
from indexing.store_copy import copy_store
from multimodal.data.catalogue import CleanCatalogue
from tests.api.routes.test_users import MUSIC
from tests.fixtures.api import settings_over
from tests.fixtures.index import INDEX_DIR, STORE_FILE
from tests.fixtures.postgres import BACKENDS


@dataclass
class Replicas:
    a: SearchService
    b: SearchService

    def level(self) -> None:
        """Both up to date, so a test starts from what the earlier ones left."""
        self.a.catch_up()
        self.b.catch_up()


def _service(settings: Settings, embedder) -> SearchService:
    return SearchService(
        settings,
        embedder,
        Store(settings.store_location, settings.resolved_image_dir),
        IndexDirectory(settings.resolved_index_dir).load_current(embedder.fingerprint),
    )


@pytest.fixture(scope="module", params=BACKENDS)
def replicas(
    request: pytest.FixtureRequest,
    api_index_root: Path,
    api_settings: Settings,
    api_service: SearchService,
    clean_synthetic: CleanCatalogue,
    tmp_path_factory,
) -> Iterator[Replicas]:
    root = tmp_path_factory.mktemp(f"replicas-{request.param}")
    shutil.copytree(api_index_root / INDEX_DIR, root / INDEX_DIR, symlinks=True)
    overrides: dict[str, object] = {}
    if request.param == "postgresql":
        overrides["database_url"] = request.getfixturevalue("postgres_server").new_database()
        copy_store(api_index_root / STORE_FILE, overrides["database_url"])
    else:
        copy_store(api_index_root / STORE_FILE, root / STORE_FILE)
    model = api_settings.resolved_model_dir
    hosts = ["a", "b"] if request.param == "postgresql" else ["shared", "shared"]
    for host in set(hosts):
        shutil.copytree(clean_synthetic.root, root / host, symlinks=True)
    a, b = (
        _service(
            settings_over(root, model, root / host / "images", **overrides), api_service.embedder
        )
        for host in hosts
    )
    try:
        yield Replicas(a, b)
    finally:
        a.close()
        b.close()


def photo(colour: tuple[int, int, int]) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (320, 240), colour).save(buffer, format="PNG")
    return buffer.getvalue()


def listing_fields(title: str, **fields: object) -> dict[str, object]:
    body = {
        "title": title,
        "description": "Barely used, collection only.",
        "price": 35,
        "location": "York",
        "category": "Home & Garden / Lighting",
    }
    return {**body, **fields}


def new_listing(title: str, **fields: object) -> ListingCreate:
    return ListingCreate(**listing_fields(title, **fields))


def top_ids(service: SearchService, query: Query, n: int = 3) -> list[str]:
    return [hit.id for hit in service.search(query).results[:n]]


def test_a_listing_created_on_a_is_served_by_b_with_its_photo(replicas: Replicas) -> None:
    replicas.level()
    a, b = replicas.a, replicas.b
    uploaded = photo((200, 40, 90))
    created = a.create_listing(new_listing("Splendiferous plumbob lantern"), [uploaded])
    (image_id,) = created.image_ids
    with pytest.raises(NotFound):
        b.get_listing(created.id)  # not before B looks

    assert a.catch_up() == 0  # its own write: already served, nothing to do
    assert b.catch_up() == 1
    assert b.get_listing(created.id).title == "Splendiferous plumbob lantern"
    assert top_ids(b, Query(text="splendiferous plumbob"))[0] == created.id
    assert b.image_path(image_id).read_bytes() == a.image_path(image_id).read_bytes()
    by_photo = Query(image=Image.open(b.image_path(image_id)))
    assert created.id in top_ids(b, by_photo)  # searchable by photo on B: A's stored vectors
    assert b.catch_up() == 0


def test_an_update_and_a_delete_on_a_follow_on_b(replicas: Replicas) -> None:
    replicas.level()
    a, b = replicas.a, replicas.b
    created = a.create_listing(new_listing("Marmalade spittoon"))
    b.catch_up()
    changed = ListingIn(**listing_fields("Tangerine gramophone", price=90))
    a.update_listing(created.id, changed)
    assert b.catch_up() == 1
    assert b.get_listing(created.id).price == 90
    assert top_ids(b, Query(text="tangerine gramophone"))[0] == created.id
    assert created.id not in top_ids(b, Query(text="marmalade spittoon", understand=False), 20)

    a.delete_listing(created.id)
    assert b.catch_up() == 1
    with pytest.raises(NotFound):
        b.get_listing(created.id)
    assert created.id not in top_ids(b, Query(text="tangerine gramophone"), 20)
    assert b.size == a.size


def test_an_event_on_a_personalises_on_b(
    replicas: Replicas, clean_synthetic: CleanCatalogue
) -> None:
    replicas.level()
    a, b = replicas.a, replicas.b
    assert b.profile("crossing-fan").empty  # and now cached on B
    for item in [item for item in clean_synthetic.listings if item.root == MUSIC][:8]:
        a.add_event("crossing-fan", item.id, "save")
    assert b.profile("crossing-fan").empty  # B's cached profile, until it catches up
    assert b.catch_up() == 1
    assert b.profile("crossing-fan").top_interest() == MUSIC
    hits = b.search(Query(text="black", k=20, user_id="crossing-fan")).results
    assert any(f"your interest in {MUSIC}" in hit.reasons for hit in hits)


def test_suggestions_typos_and_reposts_on_b_learn_from_a(replicas: Replicas) -> None:
    replicas.level()
    a, b = replicas.a, replicas.b
    assert not b.suggest("quokkaphone", 5).suggestions
    first = a.create_listing(new_listing("Quokkaphone amplifier"))
    again = a.create_listing(new_listing("Quokkaphone amplifier"))  # the same ad re-posted
    for thing in ("speaker", "cable", "stand"):  # a word five listings hold is a correction
        a.create_listing(new_listing(f"Quokkaphone {thing}"))
    b.catch_up()
    assert "quokkaphone amplifier" in [s.text.lower() for s in b.suggest("quokkaph", 5).suggestions]
    assert b.search(Query(text="quokaphone amplifier")).did_you_mean is not None
    grouped = [
        h
        for h in b.search(Query(text="quokkaphone amplifier")).results
        if h.id in {first.id, again.id}
    ]
    assert len(grouped) == 1 and grouped[0].also_listed  # one result, the copy beside it


def test_a_replica_that_fell_behind_the_log_rereads_the_store(replicas: Replicas) -> None:
    replicas.level()
    a, b = replicas.a, replicas.b
    gone = a.create_listing(new_listing("Obsolete velocipede"))
    b.catch_up()
    kept = a.create_listing(new_listing("Perambulating zither"))
    a.delete_listing(gone.id)
    time.sleep(0.01)
    a.store.changes.prune(older_than_s=0)  # B never saw these changes
    assert b.catch_up() > 0
    assert b.get_listing(kept.id).title == "Perambulating zither"
    with pytest.raises(NotFound):
        b.get_listing(gone.id)
    assert top_ids(b, Query(text="perambulating zither"))[0] == kept.id
    assert b.catch_up() == 0
