"""The reindex reads the store in bounded pages, and on Ray its workers read it themselves."""

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from indexing.config import ReindexConfig
from indexing.embedding_cache import EmbeddingCache
from indexing.index_store import IndexDirectory, IndexVersion
from indexing.reindex.assembler import Assembler
from indexing.reindex.embedded import Embedded
from indexing.reindex.mapper import Mapper, read_model_identity
from indexing.reindex.reader import count_live, iter_pages, store_connect
from indexing.reindex.runner import CACHE_FILE, reindex
from indexing.store import Store
from indexing.text_index import text_only
from multimodal.data.catalogue import CleanCatalogue, Listing

SMALL = 12


def listing(i: int, **changes) -> Listing:
    base = Listing(f"x{i}", f"thing {i}", f"about thing {i}", 10.0 + i, "Leeds", ("Home", "Sub"))
    return replace(base, **changes)


def test_pages_are_bounded_in_fid_order_and_hold_api_written_listings(
    tmp_path: Path, store_location: Path | str
) -> None:
    """Both engines: the pages come through the store's own connection factory."""
    images = tmp_path / "images"
    images.mkdir()
    (images / "p1.jpg").write_bytes(b"one")
    (images / "p2.jpg").write_bytes(b"two")
    with Store(store_location, image_dir=images) as store:
        store.sync_listings([listing(i) for i in range(10)])
        store.upsert_listing(listing(99, image_ids=("p2", "p1")), owner="seller-1")
        store.delete_listing("x3")
        connect = store_connect(store)
        pages = list(iter_pages(connect, 4))
        records = list(store.iter_records())
        assert count_live(connect) == (10, 2)
    assert [len(page) for page in pages] == [4, 4, 2]
    rows = [row for page in pages for row in page]
    assert [row.fid for row in rows] == [r.fid for r in records]  # fid order, x3 left out
    assert [row.content_hash for row in rows] == [r.content_hash for r in records]
    assert [row.text for row in rows] == [r.listing.text for r in records]
    written = rows[-1]
    assert written.listing_id == "x99" and written.image_ids == ("p2", "p1")
    assert written.image_fids == records[-1].image_fids
    assert written.image_digests == records[-1].image_digests


def _unit(rng: np.random.Generator, n: int, dim: int) -> np.ndarray:
    v = rng.normal(size=(n, dim)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def _batch(fids, counts, dim, rng) -> Embedded:
    m = int(sum(counts))
    return Embedded(
        fids=np.array(fids, np.int64),
        hashes=np.array([f"{f:064d}" for f in fids]),
        vectors=_unit(rng, len(fids), dim),
        photo_counts=np.array(counts, np.int64),
        embedded=np.ones(len(fids), bool),
        image_fids=np.arange(100 * fids[0], 100 * fids[0] + m, dtype=np.int64),
        image_digests=np.array([f"d{f}" for f in range(m)]),
        image_vectors=_unit(rng, m, dim),
    )


def test_assembler_sorts_contents_and_derives_text_vectors(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    late, early = _batch([7, 5], [2, 0], 8, rng), _batch([2, 3], [0, 1], 8, rng)
    batch = Embedded.load(_saved(early, tmp_path / "shard.npz"))  # a shard round trip
    assembler = Assembler(listings=1, photos=1, dim=8, scratch=tmp_path)  # too small: grows
    assembler.add(late)
    assembler.add(batch)
    contents = assembler.contents()
    np.testing.assert_array_equal(contents.fids, [2, 3, 5, 7])
    assert contents.hashes[0] == f"{2:064d}".encode()
    np.testing.assert_array_equal(contents.image_fids, [200, 700, 701])
    fids, texts = assembler.take_texts()
    np.testing.assert_array_equal(fids, [7, 5, 2, 3])
    np.testing.assert_allclose(texts[0], text_only(late.vectors[0], late.image_vectors[:2]))
    np.testing.assert_array_equal(texts[1], late.vectors[1])  # no photos: the fused vector
    assert assembler.embedded == 4 and assembler.embedded_photos == 3
    assembler.take_listings(), assembler.take_photos()
    assert [p.name for p in tmp_path.iterdir()] == ["shard.npz"]  # the vector files are gone


def _saved(batch: Embedded, path: Path) -> Path:
    batch.save(path)
    return path


@pytest.mark.slow
def test_ray_reads_the_store_and_matches_the_local_executor(
    tmp_path: Path, clean_synthetic: CleanCatalogue, trained_bundle_dir: Path, local_ray
) -> None:
    listings = [x for x in clean_synthetic.listings if x.image_ids][:SMALL]
    # fp32: in bf16 a vector moves slightly with the batch it was computed in
    config = ReindexConfig(
        progress=False, batch_size=4, shard_rows=5, torch_threads=1, precision="fp32"
    )
    with Store(tmp_path / "store.sqlite", image_dir=clean_synthetic.image_dir) as store:
        store.sync_listings(listings)
        # written through the API: not in any catalogue file, one photo of another listing
        store.upsert_listing(
            replace(
                listings[0], id="api-1", title="Seller's own", image_ids=listings[1].image_ids[:1]
            ),
            owner="seller-1",
        )
        mapper = Mapper.load(trained_bundle_dir, 1, "fp32")
        local = reindex(store, tmp_path / "local", trained_bundle_dir, config, mapper)
        on_ray = reindex(
            store, tmp_path / "ray", trained_bundle_dir, replace(config, executor="ray")
        )
        api_fid = store.faiss_id("api-1")
    assert local.count == on_ray.count == SMALL + 1 and on_ray.embedded == SMALL + 1
    fingerprint = mapper.identity().fingerprint
    a = IndexDirectory(tmp_path / "local").load_current(fingerprint)
    b = IndexDirectory(tmp_path / "ray").load_current(fingerprint)  # parts checked
    assert api_fid in b.listings
    assert a.manifest.channels == b.manifest.channels
    for part in ("listings", "texts", "photos"):
        ours, theirs = getattr(a, part), getattr(b, part)
        ids = np.sort(ours.ids())
        np.testing.assert_array_equal(ids, np.sort(theirs.ids()))
        np.testing.assert_allclose(
            ours.reconstruct_many(ids), theirs.reconstruct_many(ids), atol=1e-5
        )
    assert not list((tmp_path / "ray").glob(".staging-*"))  # shards went with the staging


@pytest.mark.slow
def test_ray_takes_unchanged_listings_from_the_cache_and_writes_bounded_shards(
    tmp_path: Path, clean_synthetic: CleanCatalogue, trained_bundle_dir: Path, local_ray
) -> None:
    from indexing.reindex.ray_executor import run_ray

    listings = [x for x in clean_synthetic.listings if x.image_ids][:SMALL]
    config = ReindexConfig(
        executor="ray", progress=False, batch_size=4, shard_rows=5, torch_threads=1
    )
    index_root = tmp_path / "index"
    with Store(tmp_path / "store.sqlite", image_dir=clean_synthetic.image_dir) as store:
        store.sync_listings(listings)
        reindex(store, index_root, trained_bundle_dir, config)
        store.upsert_listing(replace(listings[2], title="Edited through the API"))
        summary = reindex(store, index_root, trained_bundle_dir, config)
        assert (summary.updated, summary.embedded, summary.unchanged) == (1, 1, SMALL - 1)

        shards = tmp_path / "shards"
        model = read_model_identity(trained_bundle_dir)
        seen = []
        for batch in run_ray(
            store_connect(store),
            clean_synthetic.image_dir,
            index_root / CACHE_FILE,
            config,
            trained_bundle_dir,
            model,
            shards,
        ):
            assert len(batch) <= config.shard_rows
            seen.extend(batch.fids.tolist())
            assert not batch.embedded.any()  # every vector is cached by now
        assert sorted(seen) == [r.fid for r in store.iter_records()]
        assert not list(shards.iterdir())  # each shard is deleted once read
    cache = EmbeddingCache(index_root / CACHE_FILE, model.fingerprint, model.dim)
    assert len(cache) >= SMALL + 1  # the edited listing's vector was cached beside the rest
    cache.close()
    version = IndexVersion.load(IndexDirectory(index_root).require_current(), model.fingerprint)
    _, hits = version.lexical.search("Edited through the API", 1)
    assert len(hits) == 1
