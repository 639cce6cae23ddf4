"""Text-only listing vectors, recovered from an index version's fused and photo vectors.

A title typed into search is closest to the listing's *text* vector: the
fused vector (text + photos) is what ranks a listing for a mixed or vague
query, but its photo half blurs an exact title. A version stores fused and
per-photo vectors only; since the model fuses by ``normalise(t + p)`` with
``p`` the normalised sum of the photo vectors (``multimodal.fusion.FusionHead``),
the text vector is exactly ``t = 2 (f·p) f - p`` (``|t| = 1`` fixes the scale),
so the text index is derived at start-up without re-embedding anything.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from indexing.config import IndexConfig
from indexing.vector_index import VectorIndex


def text_only(fused: np.ndarray, photos: np.ndarray) -> np.ndarray:
    """The text vector of a listing from its fused vector and its photos' vectors
    (``photos`` may be empty: without photos the fused vector is the text vector)."""
    fused = np.asarray(fused, dtype=np.float64)
    if not len(photos):
        return fused.astype(np.float32)
    pooled = np.asarray(photos, dtype=np.float64).sum(axis=0)
    pooled /= max(float(np.linalg.norm(pooled)), 1e-12)
    text = 2.0 * float(fused @ pooled) * fused - pooled
    return (text / max(float(np.linalg.norm(text)), 1e-12)).astype(np.float32)


def derive_text_index(
    listings: VectorIndex,
    photos: VectorIndex,
    photo_fids: Mapping[int, Sequence[int]],
    config: IndexConfig,
) -> VectorIndex:
    """A text-only index over every listing of ``listings`` (``photo_fids``: fid → its
    image fids, all of them in ``photos``)."""
    fids = listings.ids()
    vectors = [
        text_only(
            listings.reconstruct(int(fid)),
            np.array([photos.reconstruct(int(i)) for i in photo_fids.get(int(fid), ())]),
        )
        for fid in fids
    ]
    matrix = np.stack(vectors) if vectors else np.zeros((0, listings.dim), np.float32)
    return VectorIndex.build(fids, matrix, config, dim=listings.dim)
