"""The photo-level instance channel: photos indexed by instance descriptors.

A photo query is answered by the joint vectors (listing and per-photo) and,
with this channel, also by ``multimodal.instance_features`` descriptors of
every indexed photo, so a buyer's own photo of an item finds the listing that
shows the same item. The search service fuses its hits by rank like any
other list. Keyed by image fid, like the photo index.

Describing a whole catalogue's photos takes minutes (every photo is opened
for its colour histogram), so a built channel is saved beside the index
version it describes and reused while that version, the model and the set of
photos stay the same.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from indexing.config import IndexConfig
from indexing.vector_index import VectorIndex
from multimodal.instance_features import InstanceProjection, describe_files, describe_images

KEY_FILE = "key.json"
PROJECTION_FILE = "projection.npz"
# Bumped whenever the descriptors change, so a channel saved by an older
# version of this code is rebuilt rather than read wrongly.
DESCRIPTOR_VERSION = 2


def _fids_digest(image_fids: Sequence[int]) -> str:
    ids = np.sort(np.asarray(image_fids, np.int64))
    return hashlib.sha256(ids.tobytes()).hexdigest()[:16]


@dataclass
class InstanceChannel:
    """Image encoder (its frozen trunk, read-only), a fitted projection, the index."""

    encoder: object
    projection: InstanceProjection
    index: VectorIndex

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
        """Index the photos at ``paths`` under ``image_fids``, the whitening fitted on
        ``pairs`` (two photos of one listing each; listings never asked about)."""
        if not pairs:
            raise ValueError("the instance whitening needs pairs of photos of one listing")
        # Most pair photos are indexed photos too: describe each distinct file once.
        distinct = list(dict.fromkeys([*paths, *(p for pair in pairs for p in pair)]))
        row = {path: n for n, path in enumerate(distinct)}
        raw = describe_files(encoder, distinct, features_root)
        first = raw.take([row[a] for a, _ in pairs])
        second = raw.take([row[b] for _, b in pairs])
        projection = InstanceProjection.fit(first, second)
        vectors = projection(raw.take([row[path] for path in paths]))
        index = VectorIndex.build(np.asarray(image_fids, np.int64), vectors, config)
        return cls(encoder, projection, index)

    @classmethod
    def load_or_build(
        cls,
        directory: Path,
        model_fingerprint: str,
        encoder,
        image_fids: Sequence[int],
        paths: Sequence[Path],
        pairs: Sequence[tuple[Path, Path]],
        features_root: Path,
        config: IndexConfig,
    ) -> InstanceChannel:
        """The channel saved in ``directory`` if it describes these photos with this
        model; else built (``build``) and saved there for the next start."""
        key = {
            "model": model_fingerprint,
            "photos": _fids_digest(image_fids),
            "descriptor": DESCRIPTOR_VERSION,
        }
        try:
            saved = json.loads((directory / KEY_FILE).read_text())
            if {name: saved.get(name) for name in key} == key:
                return cls.load(directory, encoder, config)
        except (OSError, ValueError):
            pass  # absent or unreadable: build it again
        channel = cls.build(encoder, image_fids, paths, pairs, features_root, config)
        channel.save(directory, key)
        return channel

    def save(self, directory: Path, key: dict) -> None:
        """Write beside, then rename: a crash never leaves a half-written channel."""
        tmp = directory.with_name(directory.name + ".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        self.index.save(tmp)
        np.savez(tmp / PROJECTION_FILE, **self.projection.arrays())
        (tmp / KEY_FILE).write_text(json.dumps({**key, "kind": self.index.kind}))
        shutil.rmtree(directory, ignore_errors=True)
        tmp.rename(directory)

    @classmethod
    def load(cls, directory: Path, encoder, config: IndexConfig) -> InstanceChannel:
        kind = json.loads((directory / KEY_FILE).read_text())["kind"]
        with np.load(directory / PROJECTION_FILE) as saved:
            projection = InstanceProjection.from_arrays(saved)
        return cls(encoder, projection, VectorIndex.load(directory, kind, config))

    def search(self, image: Image.Image, k: int, allowed: np.ndarray | None = None) -> np.ndarray:
        """Image fids of the ``k`` photos most like ``image``, best first."""
        query = self.projection(describe_images(self.encoder, [image]))
        _, ids = self.index.search(query, k, allowed)
        return ids[0][ids[0] >= 0]

    def upsert(self, image_fids: np.ndarray, images: Sequence[Image.Image]) -> None:
        """Add or replace photos written since start-up."""
        if len(image_fids):
            self.index.upsert(image_fids, self.projection(describe_images(self.encoder, images)))

    def describe_files(self, paths: Sequence[Path], features_root: Path) -> np.ndarray:
        """Query vectors of catalogue photos (evaluation), trunk outputs from the cache."""
        return self.projection(describe_files(self.encoder, paths, features_root))
