import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from indexing.config import ReindexConfig
from indexing.index_store import IndexDirectory
from indexing.reindex.mapper import Mapper, load_photos
from indexing.reindex.reader import read_items
from indexing.reindex.runner import sync_and_reindex
from indexing.store import Store
from multimodal.data.catalogue import (
    IMAGES_DIR,
    LISTINGS_FILE,
    CleanCatalogue,
    Listing,
    write_listings,
)
from multimodal.embedder import ListingContent

SMALL = 16  # listings in the per-test catalogues: a few batches, cheap to embed
CONFIG = ReindexConfig(progress=False, batch_size=4)


class CountingMapper(Mapper):
    """The real mapper, recording which listings reach the encoders."""

    def __init__(self, embedder) -> None:
        super().__init__(embedder)
        self.seen: list[int] = []

    def __call__(self, items, photos):
        self.seen.extend(item.fid for item in items)
        return super().__call__(items, photos)


class Catalogue:
    """A small writable cleaned catalogue (photos linked) with its own store and index."""

    def __init__(self, root: Path, source: CleanCatalogue, model_dir: Path) -> None:
        self.clean = root / "clean"
        self.clean.mkdir(parents=True)
        (self.clean / IMAGES_DIR).symlink_to(source.image_dir)
        self.store_path = root / "catalogue.sqlite"
        self.index_dir = root / "index"
        self.model_dir = model_dir
        self.listings = [x for x in source.listings if x.image_ids][:SMALL]
        self.write(self.listings)

    def write(self, listings: list[Listing]) -> None:
        self.listings = listings
        write_listings(self.clean / LISTINGS_FILE, listings)

    def reindex(self, mapper: Mapper | None, config: ReindexConfig = CONFIG):
        return sync_and_reindex(
            self.clean, self.store_path, self.index_dir, self.model_dir, config, mapper
        )[1]

    def fid_of(self, listing_id: str) -> int:
        with Store(self.store_path) as store:
            return store.faiss_id(listing_id)


@pytest.fixture
def catalogue(tmp_path: Path, clean_synthetic: CleanCatalogue, trained_bundle_dir: Path):
    return Catalogue(tmp_path, clean_synthetic, trained_bundle_dir)


def assert_same_vectors(stored: np.ndarray, expected: np.ndarray, precision: str) -> None:
    """Equal in fp32; in bf16 a vector moves slightly with the batch it was computed in
    (oneDNN picks kernels by batch shape), so compare directions."""
    if precision == "fp32":
        np.testing.assert_allclose(stored, expected, atol=1e-5)
    else:
        assert (stored * expected).sum(1).min() > 0.99


def test_vectors_are_the_embedders(built_index, embedder) -> None:
    version = IndexDirectory(built_index.index_dir).load_current(embedder.fingerprint)
    with Store(built_index.store_path, built_index.image_dir) as store:
        items = read_items(store, built_index.image_dir)
    assert version.manifest.count == len(items) == built_index.summary.count
    sample = [item for item in items if item.image_paths][:6]
    photos = load_photos(sample)
    expected = embedder.embed_listings(
        [ListingContent(item.text, own) for item, own in zip(sample, photos, strict=True)]
    )
    stored = np.stack([version.listings.reconstruct(item.fid) for item in sample])
    assert_same_vectors(stored, expected, embedder.precision)
    expected_photos = embedder.embed_images([p for own in photos for p in own])
    stored_photos = np.stack(
        [version.photos.reconstruct(f) for item in sample for f in item.image_fids]
    )
    assert_same_vectors(stored_photos, expected_photos, embedder.precision)
    assert version.manifest.backbones == embedder.backbones
    assert version.manifest.dim == embedder.dim


def test_incremental_embeds_exactly_the_changed_items(catalogue: Catalogue, embedder) -> None:
    first = CountingMapper(embedder)
    summary = catalogue.reindex(first)
    assert (summary.added, summary.embedded, summary.version) == (SMALL, SMALL, 1)
    assert sorted(first.seen) == sorted(catalogue.fid_of(x.id) for x in catalogue.listings)

    unchanged = CountingMapper(embedder)
    summary = catalogue.reindex(unchanged)
    assert unchanged.seen == [] and summary.embedded == 0
    assert not summary.written and summary.unchanged == SMALL

    listings = list(catalogue.listings)
    edited = [replace(listings[0], title="A brand new title"), replace(listings[1], image_ids=())]
    price_only = replace(listings[2], price=12345.0)  # not embedded: no new vector needed
    added = replace(listings[0], id="new-listing", title="Another thing entirely")
    catalogue.write([*edited, price_only, *listings[3:-1], added])  # the last one is deleted
    deleted_fid = catalogue.fid_of(listings[-1].id)

    changed = CountingMapper(embedder)
    summary = catalogue.reindex(changed)
    expected = {catalogue.fid_of(x.id) for x in (*edited, added)}
    assert sorted(changed.seen) == sorted(expected)
    assert (summary.added, summary.updated, summary.deleted) == (1, 2, 1)
    assert summary.unchanged == SMALL - 3
    assert summary.version == 2 and summary.written

    version = IndexDirectory(catalogue.index_dir).load_current(embedder.fingerprint)
    assert deleted_fid not in version.listings
    assert len(version.listings) == SMALL
    _, hits = version.lexical.search("brand new title", 1)
    assert hits[0] == catalogue.fid_of(listings[0].id)


def test_full_reembeds_everything(catalogue: Catalogue, embedder) -> None:
    catalogue.reindex(Mapper(embedder))
    full = CountingMapper(embedder)
    summary = catalogue.reindex(full, replace(CONFIG, full=True))
    assert len(full.seen) == SMALL and summary.embedded == SMALL and summary.version == 2


def test_model_loaded_only_when_something_needs_embedding(
    catalogue: Catalogue, embedder, monkeypatch
) -> None:
    catalogue.reindex(Mapper(embedder))

    def refuse(*args, **kwargs):
        raise AssertionError("the model was loaded with nothing to embed")

    monkeypatch.setattr(Mapper, "load", refuse)
    assert catalogue.reindex(None).embedded == 0


def test_an_unreadable_old_index_is_rebuilt_from_the_cache(catalogue: Catalogue, embedder) -> None:
    import json

    catalogue.reindex(Mapper(embedder))
    manifest = catalogue.index_dir / "v1" / "manifest.json"
    manifest.write_text(json.dumps({**json.loads(manifest.read_text()), "format": 0}))
    rebuilt = CountingMapper(embedder)
    summary = catalogue.reindex(rebuilt)
    assert summary.written and summary.version == 2 and rebuilt.seen == []


def test_crash_between_write_and_swap_keeps_the_old_index(
    catalogue: Catalogue, embedder, monkeypatch
) -> None:
    catalogue.reindex(Mapper(embedder))
    catalogue.write([replace(catalogue.listings[0], title="Changed"), *catalogue.listings[1:]])

    def crash(self, version):
        raise OSError("simulated crash before the swap")

    with monkeypatch.context() as patch:
        patch.setattr(IndexDirectory, "swap_current", crash)
        with pytest.raises(OSError, match="simulated"):
            catalogue.reindex(Mapper(embedder))
    index_dir = IndexDirectory(catalogue.index_dir)
    old = index_dir.load_current(embedder.fingerprint)
    assert old.manifest.version == 1 and len(old.listings) == SMALL

    retry = CountingMapper(embedder)
    summary = catalogue.reindex(retry)
    assert retry.seen == []  # the crashed run's vectors were cached
    assert summary.written and summary.updated == 1
    assert index_dir.load_current(embedder.fingerprint).manifest.version == summary.version


def test_crash_mid_embedding_resumes_from_the_cache(
    catalogue: Catalogue, embedder, monkeypatch
) -> None:
    class Dies(Mapper):
        calls = 0

        def __call__(self, items, photos):
            Dies.calls += 1
            if Dies.calls == 2:
                raise KeyboardInterrupt
            return super().__call__(items, photos)

    with pytest.raises(KeyboardInterrupt):
        catalogue.reindex(Dies(embedder))
    assert IndexDirectory(catalogue.index_dir).current() is None
    resumed = CountingMapper(embedder)
    summary = catalogue.reindex(resumed)
    assert len(resumed.seen) == SMALL - CONFIG.batch_size
    assert summary.count == SMALL and summary.version == 1


def test_upsert_and_delete_are_visible_in_search(index_copy, embedder) -> None:
    version = IndexDirectory(index_copy.index_dir).load_current(embedder.fingerprint)
    with Store(index_copy.store_path, index_copy.image_dir) as store:
        records = list(store.iter_records())
        target = records[0]
        edited = replace(target.listing, title="Vintage brass telescope", image_ids=())
        store.upsert_listing(edited)
        item = next(i for i in read_items(store, index_copy.image_dir) if i.fid == target.fid)
    encoded = Mapper(embedder)([item], [[]])
    version.listings.upsert(encoded.fids, encoded.vectors)
    version.lexical.upsert(target.fid, edited.title, edited.description)
    query = embedder.embed_query("Vintage brass telescope")
    assert version.listings.search(query, 1)[1][0, 0] == target.fid
    assert version.lexical.search("telescope", 1)[1][0] == target.fid

    version.listings.delete([target.fid])
    version.lexical.delete([target.fid])
    assert target.fid not in version.listings.search(query, 10)[1][0]
    assert len(version.lexical.search("telescope", 5)[1]) == 0


def test_filtered_search_over_the_built_index(built_index, embedder) -> None:
    version = IndexDirectory(built_index.index_dir).load_current(embedder.fingerprint)
    with Store(built_index.store_path) as store:
        root = store.categories()[0].path
        allowed = store.listings_matching(category_prefix=root)
    query = embedder.embed_query("something to buy")
    _, hits = version.listings.search(query, 10, allowed)
    assert np.isin(hits[0], allowed).all() and (hits[0] >= 0).sum() == min(10, len(allowed))


def test_index_refuses_another_model(built_index) -> None:
    from indexing.index_store import IndexMismatch

    with pytest.raises(IndexMismatch, match="was built by model"):
        IndexDirectory(built_index.index_dir).load_current("0123456789abcdef")


def test_bulk_runs_reuse_the_training_feature_cache(
    catalogue: Catalogue, embedder, model_workspace
) -> None:
    config = replace(CONFIG, features_dir=model_workspace.features_dir, features_min_items=2)
    summary = catalogue.reindex(Mapper(embedder), config)
    assert summary.embedded == SMALL
    version = IndexDirectory(catalogue.index_dir).load_current(embedder.fingerprint)
    with Store(catalogue.store_path, catalogue.clean / IMAGES_DIR) as store:
        items = read_items(store, catalogue.clean / IMAGES_DIR)[:4]
    photos = load_photos(items)
    expected = embedder.embed_listings(
        [ListingContent(item.text, own) for item, own in zip(items, photos, strict=True)]
    )
    stored = np.stack([version.listings.reconstruct(item.fid) for item in items])
    # float16 cached activations (and, in bf16, another batch shape): compare directions
    assert (stored * expected).sum(axis=1).min() > (0.999 if embedder.precision == "fp32" else 0.99)


@pytest.mark.slow
def test_ray_executor_gives_the_local_vectors(catalogue: Catalogue, embedder) -> None:
    pytest.importorskip("ray")
    local = catalogue.reindex(Mapper(embedder))
    ray_config = replace(CONFIG, executor="ray", full=True, ray_num_cpus=2, torch_threads=1)
    on_ray = catalogue.reindex(None, ray_config)
    assert on_ray.embedded == SMALL and on_ray.version == local.version + 1
    index_dir = IndexDirectory(catalogue.index_dir)
    first = index_dir.version_dir(local.version)
    from indexing.index_store import IndexVersion

    a = IndexVersion.load(first, embedder.fingerprint)
    b = index_dir.load_current(embedder.fingerprint)
    for part in ("listings", "photos"):
        ours, theirs = getattr(a, part), getattr(b, part)
        ids = ours.ids()
        np.testing.assert_array_equal(ids, theirs.ids())
        assert_same_vectors(
            np.stack([ours.reconstruct(f) for f in ids]),
            np.stack([theirs.reconstruct(f) for f in ids]),
            embedder.precision,
        )


def test_reindex_command(
    tmp_path: Path, synthetic_raw_dir: Path, built_index, monkeypatch, capsys
) -> None:
    from multimodal.workspace import Workspace
    from scripts.cli import main

    monkeypatch.setenv("MARKETPLACE_HOME", str(tmp_path))
    args = ["reindex", "--data", str(synthetic_raw_dir), "--quiet"]
    assert main(args) == 2
    assert "marketplace data clean" in capsys.readouterr().err

    workspace = Workspace.for_data(synthetic_raw_dir)
    workspace.root.mkdir(parents=True)
    workspace.clean_dir.symlink_to(built_index.image_dir.parent)
    assert main(args) == 2
    assert "marketplace train" in capsys.readouterr().err

    workspace.model_dir.symlink_to(built_index.model_dir)
    shutil.copytree(built_index.index_dir, workspace.index_dir, symlinks=True)
    shutil.copy2(built_index.store_path, workspace.store_path)
    assert main(args) == 0  # the copied index is up to date: nothing to embed
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1 and "kept (up to date)" in out[0] and "embedded 0 listings" in out[0]
    assert main([*args, "--executor", "local", "--ray-address", "auto"]) == 2
