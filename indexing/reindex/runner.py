"""The reindex pipeline: store → work items → vectors (cached) → new index version → swap.

Incremental by default: vectors come from the embedding cache whenever the
listing's content hash (text + photo bytes) and the model are unchanged, so
only new or edited listings reach the encoders, and a run where nothing
changed writes nothing at all. ``full`` ignores the cache and re-embeds
everything. Vectors are cached batch by batch as they are produced, so a run
that dies half way resumes from there; the old version keeps serving until
the new one is complete and ``current`` is swapped (see ``index_store``).
"""

from __future__ import annotations

import hashlib
import shutil
import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from indexing.config import ReindexConfig
from indexing.embedding_cache import EmbeddingCache
from indexing.index_store import Contents, IndexDirectory, IndexManifest, IndexMismatch
from indexing.reindex import executors
from indexing.reindex.assembler import Assembler
from indexing.reindex.instances import PhotoListing, build_instances, photo_listing
from indexing.reindex.mapper import Mapper, read_model_identity
from indexing.reindex.reader import Connect, iter_pages, store_connect, sync_catalogue
from indexing.reindex.writer import write_version
from indexing.store import Store, SyncCounts
from multimodal.data.catalogue import IMAGES_DIR
from multimodal.workspace import Workspace

CACHE_FILE = "embeddings.sqlite"
SHARDS = "shards"  # Ray workers' embedding shards, inside the new version's staging folder


@dataclass(frozen=True)
class ReindexSummary:
    """What one run did, relative to the version that was current before it."""

    version: int
    path: Path
    kind: str
    count: int
    photo_count: int
    added: int
    updated: int
    deleted: int
    unchanged: int
    embedded: int  # listings that went through the encoders
    embedded_photos: int
    seconds: float
    written: bool  # False when nothing changed and the current version was kept

    @property
    def items_per_second(self) -> float:
        return self.embedded / self.seconds if self.seconds > 0 else 0.0

    def line(self) -> str:
        what = f"v{self.version}" if self.written else f"v{self.version} kept (up to date)"
        return (
            f"reindex {what}: {self.added} added, {self.updated} updated, "
            f"{self.deleted} deleted, {self.unchanged} unchanged; embedded {self.embedded} "
            f"listings + {self.embedded_photos} photos in {self.seconds:.2f} s "
            f"({self.items_per_second:.1f} items/s); {self.count} listings, "
            f"{self.photo_count} photos, {self.kind} index"
        )


def diff(previous: Contents | None, current: Contents) -> dict[str, int]:
    """Added / updated / deleted / unchanged listings between a version and the store."""
    if previous is None:
        previous = Contents(np.zeros(0, np.int64), np.zeros(0, "S64"), np.zeros(0, np.int64))
    common, ours, theirs = np.intersect1d(
        current.fids, previous.fids, assume_unique=True, return_indices=True
    )
    unchanged = int((current.hashes[ours] == previous.hashes[theirs]).sum())
    return {
        "added": len(current.fids) - len(common),
        "updated": len(common) - unchanged,
        "deleted": len(previous.fids) - len(common),
        "unchanged": unchanged,
    }


def _previous(index_dir: IndexDirectory) -> tuple[IndexManifest | None, Contents | None]:
    """The current version's manifest and contents; None when there is none we can read
    (an index of an older format is simply rebuilt)."""
    current = index_dir.current()
    if current is None:
        return None, None
    try:
        return IndexManifest.read(current), Contents.load(current)
    except IndexMismatch:
        return None, None


def snapshot(connect: Connect, with_photo_listings: bool) -> tuple[Contents, list[PhotoListing]]:
    """What the store holds now, page by page: its listings' fids, content hashes and
    photo fids (what the new version's contents will be) and, for the instance channel,
    the listings with photos."""
    fids, hashes, image_fids, photo_listings = [], [], [], []
    for page in iter_pages(connect, executors.PAGE):
        fids.append(np.array([row.fid for row in page], np.int64))
        hashes.append(np.array([row.content_hash.encode("ascii") for row in page], "S64"))
        image_fids.append(np.array([f for row in page for f in row.image_fids], np.int64))
        if with_photo_listings:
            photo_listings.extend(photo_listing(row) for row in page if row.image_fids)
    contents = Contents(
        np.concatenate([np.zeros(0, np.int64), *fids]),
        np.concatenate([np.zeros(0, "S64"), *hashes]),
        np.concatenate([np.zeros(0, np.int64), *image_fids]),
    )
    return contents, photo_listings


def _data_digest(contents: Contents) -> str:
    h = hashlib.sha256()
    for start in range(0, len(contents.fids), 10_000):  # a slice at a time: no 1M-item list
        end = start + 10_000
        fids, hashes = contents.fids[start:end].tolist(), contents.hashes[start:end].tolist()
        for fid, content in zip(fids, hashes, strict=True):
            h.update(f"{fid}:{content.decode('ascii')}\n".encode())
    return h.hexdigest()[:16]


def reindex(
    store: Store,
    index_root: Path,
    model_dir: Path,
    config: ReindexConfig,
    mapper: Mapper | None = None,
) -> ReindexSummary:
    """Bring the index under ``index_root`` up to date with ``store``.

    ``mapper`` is an already loaded model for the local executor; without it
    the model is loaded from ``model_dir`` only if something needs embedding.
    The store is read through SQL a page at a time (``reader``), never whole.
    """
    started = time.perf_counter()
    if store.image_dir is None:
        raise ValueError("the store needs its image folder to read photos for embedding")
    connect = store_connect(store)
    # absolute paths: Ray workers need not share this process's working directory
    image_dir = store.image_dir.resolve()
    index_dir = IndexDirectory(index_root)
    with index_dir.build_lock():
        index_dir.clean_stale()
        model = mapper.identity() if mapper else read_model_identity(model_dir)
        manifest, contents = _previous(index_dir)
        instances_wanted = (
            config.split_file is not None and config.instance_features_dir is not None
        )
        current, photo_listings = snapshot(connect, instances_wanted)
        changes = diff(contents, current)
        same_model = manifest is not None and manifest.model_fingerprint == model.fingerprint
        if (
            not config.full
            and same_model
            and contents is not None
            and np.array_equal(contents.fids, current.fids)
            and np.array_equal(contents.image_fids, current.image_fids)
            and changes["unchanged"] == len(current.fids)
        ):
            return _summary(manifest, index_dir, changes, 0, 0, started, written=False)

        staging, version = index_dir.staging_dir()
        scratch = staging.parent / f"{staging.name}-vectors"  # a staging name: swept if we die
        scratch.mkdir()
        assembler = Assembler(len(current.fids), len(current.image_fids), model.dim, scratch)
        cache = EmbeddingCache(index_root / CACHE_FILE, model.fingerprint, model.dim)
        try:
            for batch in executors.embed(
                connect, image_dir, cache, config, model_dir, model, staging / SHARDS, mapper
            ):
                batch.put_new_in(cache)  # as they come: a run that dies resumes from here
                assembler.add(batch)
        finally:
            cache.close()
        shutil.rmtree(staging / SHARDS, ignore_errors=True)
        loaded = [mapper] if mapper else []

        def image_encoder():
            if not loaded:
                loaded.append(
                    Mapper.load(
                        model_dir,
                        config.torch_threads,
                        config.precision,
                        config.device,
                        config.engine,
                    )
                )
            return loaded[0].embedder.model.image

        previous = None if contents is None else index_dir.current()
        instances = build_instances(
            photo_listings,
            image_dir,
            config,
            image_encoder,
            previous,
            _hashes_of(contents, [r.fid for r in photo_listings]),
            model.fingerprint,
        )
        path = write_version(
            index_dir,
            staging,
            version,
            assembler,
            connect,
            model={
                "fingerprint": model.fingerprint,
                "dim": model.dim,
                "backbones": model.backbones,
                "dir": str(Path(model_dir).resolve()),
            },
            data={
                "store": store.location,
                "images": str(store.image_dir),
                "digest": _data_digest(current),
            },
            changes=changes,
            config=config.index,
            started=started,
            instances=instances,
        )
        scratch.rmdir()
        index_dir.swap_current(version)
        index_dir.prune(config.keep_versions)
    return _summary(
        IndexManifest.read(path),
        index_dir,
        changes,
        assembler.embedded,
        assembler.embedded_photos,
        started,
        written=True,
    )


def _hashes_of(contents: Contents | None, fids: list[int]) -> dict[int, bytes]:
    """The previous version's content hashes of ``fids`` (only those: not a whole-catalogue map)."""
    if contents is None or not fids:
        return {}
    keep = np.isin(contents.fids, np.array(fids, np.int64))
    return dict(zip(contents.fids[keep].tolist(), contents.hashes[keep].tolist(), strict=True))


def _summary(
    manifest: IndexManifest,
    index_dir: IndexDirectory,
    changes: dict[str, int],
    embedded: int,
    embedded_photos: int,
    started: float,
    written: bool,
) -> ReindexSummary:
    return ReindexSummary(
        version=manifest.version,
        path=index_dir.version_dir(manifest.version),
        kind=manifest.kind,
        count=manifest.count,
        photo_count=manifest.photo_count,
        embedded=embedded,
        embedded_photos=embedded_photos,
        seconds=time.perf_counter() - started,
        written=written,
        **changes,
    )


def sync_and_reindex(
    clean_dir: Path,
    store_location: Path | str,
    index_root: Path,
    model_dir: Path,
    config: ReindexConfig,
    mapper: Mapper | None = None,
) -> tuple[SyncCounts, ReindexSummary]:
    """Sync a cleaned catalogue into the store (a SQLite path or a database URL), then
    bring the index up to date."""
    with Store(store_location, image_dir=clean_dir / IMAGES_DIR) as store:
        store.restore_uploaded_photos()  # sellers' photos uploaded on other machines
        synced = sync_catalogue(store, clean_dir)
        summary = reindex(store, index_root, model_dir, config, mapper)
    return synced, summary


def reindex_workspace(
    workspace: Workspace, config: ReindexConfig, mapper: Mapper | None = None
) -> tuple[SyncCounts, ReindexSummary]:
    """``sync_and_reindex`` with every path taken from the dataset's workspace; its
    split and training feature cache feed the instance channel unless ``config``
    names others."""
    config = replace(
        config,
        split_file=config.split_file or workspace.split_file,
        instance_features_dir=config.instance_features_dir or workspace.features_dir,
    )
    return sync_and_reindex(
        workspace.clean_dir,
        workspace.store_location,
        workspace.index_dir,
        workspace.model_dir,
        config,
        mapper,
    )
