"""Text-only listing vectors, recovered from a listing's fused and photo vectors.

A title typed into search is closest to the listing's *text* vector: the
fused vector (text + photos) is what ranks a listing for a mixed or vague
query, but its photo half blurs an exact title. The embedding cache keeps
fused and per-photo vectors only; since the model fuses by ``normalise(t + p)``
with ``p`` the normalised sum of the photo vectors
(``multimodal.fusion.FusionHead``), the text vector is exactly
``t = 2 (f·p) f - p`` (``|t| = 1`` fixes the scale), so the reindex (and a
listing written through the API) gets it without embedding anything again.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np


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


def text_vectors(
    fids: Sequence[int],
    fused: Mapping[int, np.ndarray],
    photos: Mapping[int, np.ndarray],
    photo_fids: Mapping[int, Sequence[int]],
    dim: int,
) -> np.ndarray:
    """``[len(fids), dim]`` text vectors, from each listing's fused vector and the
    vectors of its photos (``photo_fids``: fid → its image fids, keys of ``photos``)."""
    rows = [
        text_only(
            fused[int(fid)],
            np.array([photos[int(i)] for i in photo_fids.get(int(fid), ())]).reshape(-1, dim),
        )
        for fid in fids
    ]
    return np.stack(rows) if rows else np.zeros((0, dim), np.float32)
