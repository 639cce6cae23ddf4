"""Write a complete index version beside the live one, ready to be swapped in.

Everything the server serves goes into a staging folder (joint, text-only and
per-photo vectors, the instance channel, BM25) that becomes ``v<N>`` by one
rename once all files (manifest last, with every part's size and checksum)
are on disk; pointing ``current`` at it is the runner's separate, final step.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from indexing.config import IndexConfig
from indexing.index_store import (
    Contents,
    IndexDirectory,
    IndexManifest,
    IndexVersion,
    save_version,
)
from indexing.instance_index import InstanceIndex
from indexing.lexical import LexicalIndex
from indexing.store import Record
from indexing.text_index import text_vectors
from indexing.vector_index import VectorIndex


def write_version(
    index_dir: IndexDirectory,
    records: Sequence[Record],
    vectors: dict[int, np.ndarray],
    photo_vectors: dict[int, np.ndarray],
    model: dict[str, object],
    data: dict[str, str],
    changes: dict[str, int],
    config: IndexConfig,
    started: float,
    previous: Path | None = None,
    instances: InstanceIndex | None = None,
) -> tuple[Path, int]:
    """Build and save every channel of a version; returns (folder, version).

    ``vectors`` / ``photo_vectors`` map every live fid / image fid to its
    vector; ``model`` carries ``fingerprint``, ``dim`` and ``backbones``;
    ``previous`` is a version folder whose lexical index to update rather
    than rebuild; ``instances`` is the photo-level channel, when there is one.
    """
    dim = int(model["dim"])
    fids = np.array([r.fid for r in records], dtype=np.int64)
    image_fids = np.array([f for r in records for f in r.image_fids], dtype=np.int64)
    listings = VectorIndex.build(fids, _stack(fids, vectors, dim), config, dim=dim)
    photos = VectorIndex.build(image_fids, _stack(image_fids, photo_vectors, dim), config, dim=dim)
    photo_fids = {r.fid: r.image_fids for r in records}
    texts = VectorIndex.build(
        fids, text_vectors(fids, vectors, photo_vectors, photo_fids, dim), config, dim=dim
    )
    docs = {r.fid: (r.listing.title, r.listing.description) for r in records}
    if previous is None:
        lexical = LexicalIndex.build((fid, *doc) for fid, doc in docs.items())
    else:  # start from the previous version's index: an edit rewrites one document
        lexical = LexicalIndex.load(previous)
        lexical.sync(docs)
    contents = Contents(
        fids=fids,
        hashes=np.array([r.content_hash.encode("ascii") for r in records], dtype="S64"),
        image_fids=image_fids,
    )
    staging, version = index_dir.staging_dir()
    manifest = IndexManifest(
        version=version,
        kind=listings.kind,
        photo_kind=photos.kind,
        dim=dim,
        count=len(fids),
        photo_count=len(image_fids),
        model_fingerprint=str(model["fingerprint"]),
        backbones=dict(model["backbones"]),
        built_at=datetime.now(UTC).isoformat(timespec="seconds"),
        build_seconds=round(time.perf_counter() - started, 3),
        data=data,
        changes=changes,
        config=asdict(config),
    )
    version_parts = IndexVersion(staging, manifest, listings, photos, lexical, texts, instances)
    save_version(staging, manifest, version_parts, contents)
    return index_dir.commit(staging, version), version


def _stack(ids: np.ndarray, vectors: dict[int, np.ndarray], dim: int) -> np.ndarray:
    if not len(ids):
        return np.zeros((0, dim), np.float32)
    return np.stack([vectors[int(i)] for i in ids]).astype(np.float32, copy=False)
