"""The first index version: text and keyword channels from the frozen encoders.

``marketplace demo`` serves this version within minutes of a first run, while
the model trains in another process: it needs each listing's text encoded
once (``multimodal.frozen``), and no photo at all. Its manifest lists only the
channels it holds (``listings`` and ``texts``: the same text vectors;
``lexical``: BM25) and names its own model bundle (``model_dir``), so a server
that serves another model takes the version up with its model, and the next
``marketplace reindex`` with the trained model replaces it like any version.

The version is written the way ``reindex.writer`` writes one: in a staging
folder under the build lock, the manifest last, committed by a rename, then
``current`` swapped.
"""

from __future__ import annotations

import shutil
import time
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from indexing.config import IndexConfig
from indexing.index_store import (
    LEXICAL,
    LISTINGS,
    TEXTS,
    Contents,
    IndexDirectory,
    IndexManifest,
    describe_parts,
)
from indexing.reindex.reader import iter_pages, store_connect, sync_catalogue
from indexing.reindex.writer import build_lexical
from indexing.store import Store
from indexing.vector_index import VectorIndex, choose_kind
from multimodal.config import ModelConfig
from multimodal.data.catalogue import IMAGES_DIR, load_clean_catalogue
from multimodal.frozen import build_frozen_bundle, frozen_model_dir
from multimodal.progress import Progress
from multimodal.workspace import Workspace

PAGE = 5_000


def build_first_index(
    workspace: Workspace,
    model_cfg: ModelConfig,
    threads: int,
    progress: Progress,
    config: IndexConfig | None = None,
) -> Path:
    """Sync the cleaned catalogue into the store, save the frozen bundle, and write and
    swap in a text-only version built with it; returns the version's folder."""
    started = time.perf_counter()
    config = config or IndexConfig()
    catalogue = load_clean_catalogue(workspace.clean_dir)
    model_dir = frozen_model_dir(workspace.root)
    with Store(workspace.store_location, image_dir=workspace.clean_dir / IMAGES_DIR) as store:
        store.restore_uploaded_photos()
        sync_catalogue(store, workspace.clean_dir)
        connect = store_connect(store)
        rows = [row for page in iter_pages(connect, PAGE) for row in page]
        manifest, vectors = build_frozen_bundle(
            [row.text for row in rows],
            [listing.root for listing in catalogue.listings],
            model_dir,
            workspace.features_dir,
            model_cfg,
            threads,
            progress,
        )
        progress.update("writing the first index", 0, 1, force=True)
        index_dir = IndexDirectory(workspace.index_dir)
        with index_dir.build_lock():
            index_dir.clean_stale()
            staging, version = index_dir.staging_dir()
            fids = np.array([row.fid for row in rows], np.int64)
            dim = vectors.shape[1]
            listings = VectorIndex.build(fids, vectors, config, dim=dim)
            listings.save(staging / LISTINGS)
            VectorIndex.build(fids, vectors, config, dim=dim).save(staging / TEXTS)
            scratch = staging.parent / f"{staging.name}-lexical"
            build_lexical(connect, scratch).save(staging)
            shutil.rmtree(scratch, ignore_errors=True)
            contents = Contents(
                fids=fids,
                hashes=np.array([row.content_hash.encode("ascii") for row in rows], "S64"),
                image_fids=np.array([f for row in rows for f in row.image_fids], np.int64),
            )
            contents.save(staging)
            IndexManifest(
                version=version,
                kind=listings.kind,
                photo_kind=choose_kind(0, config),
                dim=dim,
                count=len(fids),
                photo_count=0,
                model_fingerprint=manifest.fingerprint,
                backbones=dict(manifest.backbones),
                built_at=datetime.now(UTC).isoformat(timespec="seconds"),
                build_seconds=round(time.perf_counter() - started, 3),
                data={"store": store.location, "images": str(store.image_dir)},
                changes={"added": len(fids), "updated": 0, "deleted": 0, "unchanged": 0},
                config=asdict(config),
                channels=[LISTINGS, LEXICAL, TEXTS],
                parts=describe_parts(staging),
                model_dir=str(model_dir.resolve()),
            ).write(staging)
            path = index_dir.commit(staging, version)
            index_dir.swap_current(version)
            index_dir.prune(2)
    progress.update("writing the first index", 1, 1, force=True)
    return path
