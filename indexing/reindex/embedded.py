"""A batch of listings with their vectors and keys: what either executor hands the driver.

The same batch is what a Ray worker writes as an embedding shard (``save`` /
``load``: one ``.npz`` per block, no pickle), so the driver takes a local batch
and a shard from a remote worker alike. Vectors come from the embedding cache
where the listing's content hash and every photo digest are known to it, and
from the encoders otherwise (``embedded`` says which, so only new vectors are
written back to the cache).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np

from indexing.embedding_cache import LISTING, PHOTO, EmbeddingCache
from indexing.reindex.mapper import Encoded
from indexing.reindex.reader import Item


@dataclass(frozen=True)
class Embedded:
    """``n`` listings and their ``m`` photos, in item order (a listing's photos contiguous)."""

    fids: np.ndarray  # [n] int64
    hashes: np.ndarray  # [n] content hashes, str
    vectors: np.ndarray  # [n, dim] float32, fused
    photo_counts: np.ndarray  # [n] int64
    embedded: np.ndarray  # [n] bool: went through the encoders in this run
    image_fids: np.ndarray  # [m] int64
    image_digests: np.ndarray  # [m] str
    image_vectors: np.ndarray  # [m, dim] float32

    def __len__(self) -> int:
        return len(self.fids)

    def save(self, path: Path) -> None:
        np.savez(path, **{f.name: getattr(self, f.name) for f in fields(self)})

    @classmethod
    def load(cls, path: Path) -> Embedded:
        with np.load(path, allow_pickle=False) as data:
            return cls(**{f.name: data[f.name] for f in fields(cls)})

    def put_new_in(self, cache: EmbeddingCache) -> None:
        """Cache the vectors this run computed (those read from the cache are there)."""
        new = self.embedded
        cache.put(LISTING, dict(zip(self.hashes[new].tolist(), self.vectors[new], strict=True)))
        photos = np.repeat(new, self.photo_counts)
        digests = self.image_digests[photos].tolist()
        cache.put(PHOTO, dict(zip(digests, self.image_vectors[photos], strict=True)))


def _strings(values: Sequence[str]) -> np.ndarray:
    return np.array(list(values), dtype=str) if len(values) else np.zeros(0, dtype="U1")


def concatenate(parts: Sequence[Embedded], dim: int) -> Embedded:
    """One batch from several (an empty one when there are none)."""
    if not parts:
        empty = np.zeros((0, dim), np.float32)
        ints = np.zeros(0, np.int64)
        return Embedded(
            ints, _strings([]), empty, ints, np.zeros(0, bool), ints, _strings([]), empty
        )
    return Embedded(
        **{f.name: np.concatenate([getattr(p, f.name) for p in parts]) for f in fields(Embedded)}
    )


def from_encoded(items: Sequence[Item], encoded: Encoded) -> Embedded:
    """The encoders' output for ``items`` (in the same order), with its cache keys."""
    return Embedded(
        fids=encoded.fids,
        hashes=_strings([item.content_hash for item in items]),
        vectors=encoded.vectors,
        photo_counts=np.array([len(item.image_fids) for item in items], dtype=np.int64),
        embedded=np.ones(len(items), bool),
        image_fids=encoded.image_fids,
        image_digests=_strings([d for item in items for d in item.image_digests]),
        image_vectors=encoded.image_vectors,
    )


def split_cached(
    cache: EmbeddingCache | None, items: Sequence[Item], dim: int
) -> tuple[Embedded, list[Item]]:
    """The items whose vectors the cache holds, as a batch, and those still to embed.

    A listing comes from the cache only if its content hash and every one of its
    photos' digests do (``cache`` None: everything is to embed, as with ``--full``).
    """
    by_hash = by_digest = {}
    if cache is not None:
        by_hash = cache.get(LISTING, (item.content_hash for item in items))
        by_digest = cache.get(PHOTO, (d for item in items for d in item.image_digests))
    hits, todo = [], []
    for item in items:
        known = item.content_hash in by_hash and all(d in by_digest for d in item.image_digests)
        (hits if known else todo).append(item)
    digests = [d for item in hits for d in item.image_digests]
    batch = Embedded(
        fids=np.array([item.fid for item in hits], dtype=np.int64),
        hashes=_strings([item.content_hash for item in hits]),
        vectors=np.array([by_hash[item.content_hash] for item in hits], np.float32).reshape(
            -1, dim
        ),
        photo_counts=np.array([len(item.image_fids) for item in hits], dtype=np.int64),
        embedded=np.zeros(len(hits), bool),
        image_fids=np.array([f for item in hits for f in item.image_fids], dtype=np.int64),
        image_digests=_strings(digests),
        image_vectors=np.array([by_digest[d] for d in digests], np.float32).reshape(-1, dim),
    )
    return batch, todo
