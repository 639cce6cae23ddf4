"""Text-only vectors recovered from fused and photo vectors match the model's fusion rule."""

from __future__ import annotations

import numpy as np
import torch

from indexing.text_index import text_only, text_vectors
from multimodal.fusion import FusionHead


def unit_rows(n: int, dim: int, seed: int) -> np.ndarray:
    x = np.random.default_rng(seed).normal(size=(n, dim)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def test_text_vector_is_recovered_exactly() -> None:
    text, photos = unit_rows(1, 16, 0)[0], unit_rows(3, 16, 1)
    mask = torch.ones(1, 3, dtype=torch.bool)
    pooled = FusionHead.pool_photos(torch.from_numpy(photos).unsqueeze(0), mask)[0]
    fused = FusionHead.fuse(torch.from_numpy(text), pooled).numpy()
    assert np.allclose(text_only(fused, photos), text, atol=1e-5)
    assert np.allclose(text_only(text, np.zeros((0, 16))), text)  # no photos: fused is text


def test_text_vectors_of_listings_with_and_without_photos() -> None:
    texts, photos = unit_rows(4, 8, 2), unit_rows(2, 8, 3)
    fused = texts.copy()
    fused[0] = FusionHead.fuse(torch.from_numpy(texts[0]), torch.from_numpy(photos[0])).numpy()
    derived = text_vectors(
        [0, 1, 2, 3], dict(enumerate(fused)), {10: photos[0], 11: photos[1]}, {0: [10]}, 8
    )
    assert derived.shape == (4, 8)
    assert np.allclose(derived[0], texts[0], atol=1e-5)
    assert np.allclose(derived[3], texts[3], atol=1e-6)
