"""The photo-level instance channel: photos indexed by instance descriptors.

A photo query is answered by the joint vectors (listing and per-photo) and,
with this channel, also by ``multimodal.instance_features`` descriptors of
every indexed photo, so a buyer's own photo of an item finds the listing that
shows the same item. The search service fuses its hits by rank like any
other list. Keyed by image fid, like the photo index.

Describing a whole catalogue's photos takes minutes (every photo is opened
for its colour histogram), and fitting the whitening needs training's photo
pairs, so the reindex builds the channel (``InstanceIndex``) and saves it in
the index version it belongs to; a server only loads it and pairs it with
the model's image encoder (``InstanceChannel``) to describe query photos.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from indexing.config import IndexConfig
from indexing.vector_index import VectorIndex
from multimodal.instance_features import (
    InstanceProjection,
    RawDescriptors,
    describe_files,
    describe_images,
)

KEY_FILE = "key.json"
PROJECTION_FILE = "projection.npz"
# Bumped whenever the descriptors change, so a channel saved by an older
# version of this code is rebuilt by the next reindex rather than read wrongly.
DESCRIPTOR_VERSION = 2


def _projection_key(projection: InstanceProjection) -> str:
    """Names the whitening: descriptors projected by another one live in another space."""
    h = hashlib.sha256()
    for name, array in sorted(projection.arrays().items()):
        h.update(name.encode() + np.ascontiguousarray(array, np.float32).tobytes())
    return h.hexdigest()[:16]


@dataclass
class InstanceIndex:
    """The saved channel: a fitted projection and the photos' projected descriptors."""

    projection: InstanceProjection
    index: VectorIndex
    key: str

    @classmethod
    def build(
        cls,
        encoder,
        image_fids: Sequence[int],
        paths: Sequence[Path],
        pairs: Sequence[tuple[Path, Path]],
        features_root: Path,
        config: IndexConfig,
        threads: int = 1,
    ) -> InstanceIndex:
        """Index the photos at ``paths`` under ``image_fids``, the whitening fitted on
        ``pairs`` (two photos of one listing each; listings never asked about).
        ``threads`` decode photos at once for their colour histograms."""
        if not pairs:
            raise ValueError("the instance whitening needs pairs of photos of one listing")
        # Most pair photos are indexed photos too: describe each distinct file once.
        distinct = list(dict.fromkeys([*paths, *(p for pair in pairs for p in pair)]))
        row = {path: n for n, path in enumerate(distinct)}
        raw = describe_files(encoder, distinct, features_root, threads=threads)
        first = raw.take([row[a] for a, _ in pairs])
        second = raw.take([row[b] for _, b in pairs])
        projection = InstanceProjection.fit(first, second)
        vectors = projection(raw.take([row[path] for path in paths]))
        index = VectorIndex.build(np.asarray(image_fids, np.int64), vectors, config)
        return cls(projection, index, _projection_key(projection))

    def extended(
        self,
        encoder,
        keep: Sequence[int],
        image_fids: Sequence[int],
        paths: Sequence[Path],
        features_root: Path,
        config: IndexConfig,
        threads: int = 1,
    ) -> InstanceIndex:
        """A new index with this one's ``keep`` photos and the photos at ``paths`` added,
        under the same projection (an incremental reindex does not refit it)."""
        keep = np.asarray(keep, np.int64)
        kept = self.index.reconstruct_many(keep)
        added = (
            self.projection(describe_files(encoder, list(paths), features_root, threads=threads))
            if len(paths)
            else np.zeros((0, self.index.dim), np.float32)
        )
        ids = np.concatenate([keep, np.asarray(image_fids, np.int64)])
        vectors = np.concatenate([kept, added])
        index = VectorIndex.build(ids, vectors, config, dim=self.index.dim)
        return InstanceIndex(self.projection, index, self.key)

    def save(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.index.save(directory)
        np.savez(directory / PROJECTION_FILE, **self.projection.arrays())
        key = {"kind": self.index.kind, "projection": self.key, "descriptor": DESCRIPTOR_VERSION}
        (directory / KEY_FILE).write_text(json.dumps(key))

    @classmethod
    def load(cls, directory: Path, config: IndexConfig) -> InstanceIndex:
        key = json.loads((directory / KEY_FILE).read_text())
        if key.get("descriptor") != DESCRIPTOR_VERSION:
            raise ValueError(
                f"{directory} holds older instance descriptors: run `marketplace reindex --full`"
            )
        with np.load(directory / PROJECTION_FILE) as saved:
            projection = InstanceProjection.from_arrays(saved)
        return cls(projection, VectorIndex.load(directory, key["kind"], config), key["projection"])

    @staticmethod
    def reusable(directory: Path) -> bool:
        """Whether a saved channel holds this code's descriptors (else the reindex refits)."""
        try:
            return json.loads((directory / KEY_FILE).read_text()).get("descriptor") == (
                DESCRIPTOR_VERSION
            )
        except (OSError, ValueError):
            return False


@dataclass
class InstanceChannel:
    """A saved channel with the image encoder (its frozen trunk, read-only) that
    describes query photos the way the catalogue's were described."""

    encoder: object
    saved: InstanceIndex

    @classmethod
    def build(
        cls,
        encoder,
        image_fids: Sequence[int],
        paths: Sequence[Path],
        pairs: Sequence[tuple[Path, Path]],
        features_root: Path,
        config: IndexConfig,
    ) -> InstanceChannel:
        """``InstanceIndex.build`` with its encoder (evaluation builds one in memory)."""
        return cls(
            encoder, InstanceIndex.build(encoder, image_fids, paths, pairs, features_root, config)
        )

    @property
    def index(self) -> VectorIndex:
        return self.saved.index

    @property
    def projection(self) -> InstanceProjection:
        return self.saved.projection

    def describe(self, images: Sequence[Image.Image]) -> np.ndarray:
        """Projected descriptors of photos (a query's, or a listing's being written)."""
        return self.saved.projection(describe_images(self.encoder, images))

    def search(self, image: Image.Image, k: int, allowed: np.ndarray | None = None) -> np.ndarray:
        """Image fids of the ``k`` photos most like ``image``, best first."""
        return self.nearest(describe_images(self.encoder, [image]), k, allowed)

    def nearest(self, raw: RawDescriptors, k: int, allowed: np.ndarray | None = None) -> np.ndarray:
        """``search`` from one photo's raw descriptors (``describe_images``): the
        projection and the scan, which need no model, so they run outside its lock."""
        _, ids = self.saved.index.search(self.saved.projection(raw), k, allowed)
        return ids[0][ids[0] >= 0]

    def describe_files(self, paths: Sequence[Path], features_root: Path) -> np.ndarray:
        """Query vectors of catalogue photos (evaluation), trunk outputs from the cache."""
        return self.saved.projection(describe_files(self.encoder, paths, features_root))
