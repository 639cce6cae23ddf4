"""Write a complete index version beside the live one, ready to be swapped in.

Everything the server serves goes into the run's staging folder (joint,
text-only and per-photo vectors, the instance channel, BM25) that becomes
``v<N>`` by one rename once all files (manifest last, with every part's size
and checksum) are on disk; pointing ``current`` at it is the runner's
separate, final step.

The parts are the ones ``index_store.save_version`` writes, but built and
saved one at a time, each dropped before the next is built: a channel's
vectors are in memory twice while FAISS copies them, never all channels at
once. The BM25 index is built page by page from the store into a SQLite file
(not in memory), so it never weighs on the process either.
"""

from __future__ import annotations

import shutil
import sqlite3
import time
from dataclasses import asdict, replace
from datetime import UTC, datetime
from pathlib import Path

from indexing.config import IndexConfig
from indexing.index_store import (
    INSTANCES,
    LEXICAL,
    LISTINGS,
    PHOTOS,
    TEXTS,
    IndexDirectory,
    IndexManifest,
    describe_parts,
)
from indexing.instance_index import InstanceIndex
from indexing.lexical import LexicalIndex
from indexing.reindex.assembler import Assembler
from indexing.reindex.reader import Connect, iter_pages
from indexing.vector_index import VectorIndex, choose_kind

LEXICAL_PAGE = 5_000


def build_lexical(connect: Connect, scratch: Path) -> LexicalIndex:
    """BM25 over every live listing's title and description, in a file under ``scratch``."""
    scratch.mkdir(parents=True, exist_ok=True)
    connection = sqlite3.connect(scratch / "lexical.sqlite", check_same_thread=False)
    connection.isolation_level = None
    lexical = LexicalIndex(connection)
    for page in iter_pages(connect, LEXICAL_PAGE):
        lexical.upsert_many((row.fid, row.title, row.description) for row in page)
    return lexical


def _save_channel(ids, vectors, directory: Path, config: IndexConfig, dim: int) -> str:
    """Build one vector channel, save it, and let it go; returns its kind."""
    index = VectorIndex.build(ids, vectors, config, dim=dim)
    index.save(directory)
    return index.kind


def write_version(
    index_dir: IndexDirectory,
    staging: Path,
    version: int,
    assembler: Assembler,
    connect: Connect,
    model: dict[str, object],
    data: dict[str, str],
    changes: dict[str, int],
    config: IndexConfig,
    started: float,
    instances: InstanceIndex | None = None,
) -> Path:
    """Build and save every channel of a version in ``staging``; returns its final folder.

    ``assembler`` holds the run's vectors (taken from it channel by channel);
    ``connect`` reads the store for BM25; ``model`` carries ``fingerprint``,
    ``dim``, ``backbones`` and ``dir`` (the bundle's folder, which the manifest
    names); ``instances`` is the photo-level channel, when there is one.
    ``staging`` holds nothing else by now (the run's shards are gone).
    """
    dim = int(model["dim"])
    contents = assembler.contents()
    channels = [LISTINGS, LEXICAL, TEXTS]
    kind = _save_channel(*assembler.take_listings(), staging / LISTINGS, config, dim)
    _save_channel(*assembler.take_texts(), staging / TEXTS, config, dim)
    image_fids, image_vectors = assembler.take_photos()
    photo_kind = choose_kind(len(image_fids), config)
    if len(image_fids):
        photo_kind = _save_channel(image_fids, image_vectors, staging / PHOTOS, config, dim)
        channels.append(PHOTOS)
    del image_vectors
    if instances is not None:
        instances.save(staging / INSTANCES)
        channels.append(INSTANCES)
    scratch = staging.parent / f"{staging.name}-lexical"  # a staging name: swept after a crash
    build_lexical(connect, scratch).save(staging)
    shutil.rmtree(scratch, ignore_errors=True)
    contents.save(staging)
    manifest = IndexManifest(
        version=version,
        kind=kind,
        photo_kind=photo_kind,
        dim=dim,
        count=len(contents.fids),
        photo_count=len(contents.image_fids),
        model_fingerprint=str(model["fingerprint"]),
        backbones=dict(model["backbones"]),
        built_at=datetime.now(UTC).isoformat(timespec="seconds"),
        build_seconds=round(time.perf_counter() - started, 3),
        data=data,
        changes=changes,
        config=asdict(config),
        model_dir=str(model.get("dir", "")),
    )
    replace(manifest, channels=channels, parts=describe_parts(staging)).write(staging)
    return index_dir.commit(staging, version)
