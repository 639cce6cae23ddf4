"""The photo-level instance channel of a new version, built by the reindex alone.

Fitting its whitening needs pairs of photos of training listings (from the
workspace's split) and describing every photo reads the training feature
cache: offline work that has no place in a server's start-up. An incremental
run keeps the previous version's projection and descriptors of unchanged
photos and describes only new ones; a full run, another model, a first build
or descriptors of an older code version fit it afresh.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import NamedTuple

from indexing.config import ReindexConfig
from indexing.index_store import INSTANCES, IndexManifest
from indexing.instance_index import InstanceIndex
from indexing.reindex.reader import ListingRow

log = logging.getLogger(__name__)


class PhotoListing(NamedTuple):
    """What the channel needs of a listing with photos (no text: the driver keeps these)."""

    fid: int
    listing_id: str
    content_hash: str
    image_fids: tuple[int, ...]
    image_ids: tuple[str, ...]


def photo_listing(row: ListingRow) -> PhotoListing:
    return PhotoListing(row.fid, row.listing_id, row.content_hash, row.image_fids, row.image_ids)


def build_instances(
    records: Sequence[PhotoListing],
    image_dir: Path,
    config: ReindexConfig,
    encoder: Callable[[], object],
    previous: Path | None,
    previous_hashes: dict[int, bytes],
    model_fingerprint: str,
) -> InstanceIndex | None:
    """The channel over every photo of ``records`` (the listings with photos, in fid
    order); None when it cannot be built.

    ``encoder`` loads the model's image encoder (only when a photo needs
    describing); ``previous`` is the current version's folder, whose channel
    is extended when it was built by this model (``previous_hashes``: its
    listings' content hashes, to tell unchanged photos).
    """
    if config.split_file is None or config.instance_features_dir is None:
        return None
    fids = [f for r in records for f in r.image_fids]
    if not fids:
        return None
    path_of = {
        f: image_dir / f"{i}.jpg"
        for r in records
        for f, i in zip(r.image_fids, r.image_ids, strict=True)
    }
    saved = _reusable(previous, model_fingerprint, config)
    if saved is not None:
        held = set(saved.index.ids().tolist())
        keep = [
            f
            for r in records
            if previous_hashes.get(r.fid) == r.content_hash.encode("ascii")
            for f in r.image_fids
            if f in held
        ]
        kept = set(keep)
        new = [f for f in fids if f not in kept]
        return saved.extended(
            encoder() if new else None,
            keep,
            new,
            [path_of[f] for f in new],
            config.instance_features_dir,
            config.index,
            threads=config.torch_threads,
        )
    pairs = _training_pairs(records, image_dir, config.split_file)
    if not pairs:
        log.warning("no instance channel: no training listing has two photos")
        return None
    return InstanceIndex.build(
        encoder(),
        fids,
        [path_of[f] for f in fids],
        pairs,
        config.instance_features_dir,
        config.index,
        threads=config.torch_threads,
    )


def _reusable(
    previous: Path | None, model_fingerprint: str, config: ReindexConfig
) -> InstanceIndex | None:
    if config.full or previous is None or not InstanceIndex.reusable(previous / INSTANCES):
        return None
    if IndexManifest.read(previous).model_fingerprint != model_fingerprint:
        return None
    return InstanceIndex.load(previous / INSTANCES, config.index)


def _training_pairs(
    records: Sequence[PhotoListing], image_dir: Path, split_file: Path
) -> list[tuple[Path, Path]]:
    """The first two photos of every training listing that has two."""
    from multimodal.data.splits import Split

    if not split_file.is_file():
        log.warning("no instance channel: no split at %s", split_file)
        return []
    train = set(Split.load(split_file).train)
    return [
        (image_dir / f"{r.image_ids[0]}.jpg", image_dir / f"{r.image_ids[1]}.jpg")
        for r in records
        if r.listing_id in train and len(r.image_ids) >= 2
    ]
