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
import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from indexing.config import ReindexConfig
from indexing.embedding_cache import LISTING, PHOTO, EmbeddingCache
from indexing.index_store import Contents, IndexDirectory, IndexManifest, IndexMismatch
from indexing.reindex import executors
from indexing.reindex.instances import build_instances
from indexing.reindex.mapper import Encoded, Mapper, read_model_identity
from indexing.reindex.reader import Item, sync_catalogue, to_item
from indexing.reindex.writer import write_version
from indexing.store import Record, Store, SyncCounts
from multimodal.data.catalogue import IMAGES_DIR
from multimodal.workspace import Workspace

CACHE_FILE = "embeddings.sqlite"


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


def diff(previous: dict[int, bytes], records: list[Record]) -> dict[str, int]:
    """Added / updated / deleted / unchanged listings between a version and the store."""
    current = {r.fid: r.content_hash.encode("ascii") for r in records}
    unchanged = sum(1 for fid, h in current.items() if previous.get(fid) == h)
    added = sum(1 for fid in current if fid not in previous)
    return {
        "added": added,
        "updated": len(current) - added - unchanged,
        "deleted": sum(1 for fid in previous if fid not in current),
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


def _data_digest(records: list[Record]) -> str:
    h = hashlib.sha256()
    for record in records:
        h.update(f"{record.fid}:{record.content_hash}\n".encode())
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
    """
    started = time.perf_counter()
    if store.image_dir is None:
        raise ValueError("the store needs its image folder to read photos for embedding")
    index_dir = IndexDirectory(index_root)
    with index_dir.build_lock():
        index_dir.clean_stale()
        records = list(store.iter_records())
        model = mapper.identity() if mapper else read_model_identity(model_dir)
        manifest, contents = _previous(index_dir)
        changes = diff(contents.hash_by_fid() if contents else {}, records)
        same_model = manifest is not None and manifest.model_fingerprint == model.fingerprint
        if (
            not config.full
            and same_model
            and contents is not None
            and np.array_equal(contents.fids, [r.fid for r in records])
            and np.array_equal(contents.image_fids, [f for r in records for f in r.image_fids])
            and changes["unchanged"] == len(records)
        ):
            return _summary(manifest, index_dir, changes, 0, 0, started, written=False)

        cache = EmbeddingCache(index_root / CACHE_FILE, model.fingerprint, model.dim)
        try:
            # absolute paths: Ray workers need not share this process's working directory
            image_dir = store.image_dir.resolve()
            vectors, photo_vectors, todo = _from_cache(cache, records, image_dir, config)
            embedded_photos = 0
            record_of = {r.fid: r for r in records}
            for encoded in executors.run(todo, config, model_dir, mapper):
                _cache_batch(cache, encoded, record_of)
                vectors.update(zip(encoded.fids.tolist(), encoded.vectors, strict=True))
                photo_vectors.update(
                    zip(encoded.image_fids.tolist(), encoded.image_vectors, strict=True)
                )
                embedded_photos += len(encoded.image_fids)
        finally:
            cache.close()
        loaded = [mapper] if mapper else []

        def image_encoder():
            if not loaded:
                loaded.append(
                    Mapper.load(model_dir, config.torch_threads, config.precision, config.device)
                )
            return loaded[0].embedder.model.image

        previous = None if contents is None else index_dir.current()
        instances = build_instances(
            records,
            image_dir,
            config,
            image_encoder,
            previous,
            contents.hash_by_fid() if contents else {},
            model.fingerprint,
        )
        path, version = write_version(
            index_dir,
            records,
            vectors,
            photo_vectors,
            model={
                "fingerprint": model.fingerprint,
                "dim": model.dim,
                "backbones": model.backbones,
            },
            data={
                "store": str(store.path),
                "images": str(store.image_dir),
                "digest": _data_digest(records),
            },
            changes=changes,
            config=config.index,
            started=started,
            previous=None if config.full else previous,
            instances=instances,
        )
        index_dir.swap_current(version)
        index_dir.prune(config.keep_versions)
    return _summary(
        IndexManifest.read(path),
        index_dir,
        changes,
        len(todo),
        embedded_photos,
        started,
        written=True,
    )


def _cache_batch(cache: EmbeddingCache, encoded: Encoded, record_of: dict[int, Record]) -> None:
    """Store a batch's vectors under their content keys as soon as they exist."""
    records = [record_of[int(fid)] for fid in encoded.fids]
    cache.put(LISTING, {r.content_hash: v for r, v in zip(records, encoded.vectors, strict=True)})
    digest_of = {f: d for r in records for f, d in zip(r.image_fids, r.image_digests, strict=True)}
    cache.put(
        PHOTO,
        {
            digest_of[int(f)]: v
            for f, v in zip(encoded.image_fids, encoded.image_vectors, strict=True)
        },
    )


def _from_cache(
    cache: EmbeddingCache, records: list[Record], image_dir: Path, config: ReindexConfig
) -> tuple[dict[int, np.ndarray], dict[int, np.ndarray], list[Item]]:
    """Vectors already known (none with ``full``) and the items still to embed."""
    by_hash, by_digest = {}, {}
    if not config.full:
        by_hash = cache.get(LISTING, (r.content_hash for r in records))
        by_digest = cache.get(PHOTO, (d for r in records for d in r.image_digests))
    vectors: dict[int, np.ndarray] = {}
    photo_vectors: dict[int, np.ndarray] = {}
    todo = []
    for record in records:
        if record.content_hash in by_hash and all(d in by_digest for d in record.image_digests):
            vectors[record.fid] = by_hash[record.content_hash]
            for image_fid, digest in zip(record.image_fids, record.image_digests, strict=True):
                photo_vectors[image_fid] = by_digest[digest]
        else:
            todo.append(to_item(record, image_dir))
    # Batches of similar length pad less: a batch is as slow as its longest text.
    todo.sort(key=lambda item: len(item.text))
    return vectors, photo_vectors, todo


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
    store_path: Path,
    index_root: Path,
    model_dir: Path,
    config: ReindexConfig,
    mapper: Mapper | None = None,
) -> tuple[SyncCounts, ReindexSummary]:
    """Sync a cleaned catalogue into the store, then bring the index up to date."""
    with Store(store_path, image_dir=clean_dir / IMAGES_DIR) as store:
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
        workspace.store_path,
        workspace.index_dir,
        workspace.model_dir,
        config,
        mapper,
    )
