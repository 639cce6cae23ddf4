"""Text-only vectors recovered from fused and photo vectors match the model's fusion rule."""

from __future__ import annotations

import numpy as np
import torch

from indexing.config import IndexConfig
from indexing.text_index import derive_text_index, text_only
from indexing.vector_index import VectorIndex
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


def test_derived_index_holds_every_listing() -> None:
    texts, photos = unit_rows(4, 8, 2), unit_rows(2, 8, 3)
    fused = texts.copy()
    fused[0] = FusionHead.fuse(torch.from_numpy(texts[0]), torch.from_numpy(photos[0])).numpy()
    config = IndexConfig()
    listings = VectorIndex.build(np.arange(4), fused, config)
    photo_index = VectorIndex.build(np.array([10, 11]), photos, config)
    derived = derive_text_index(listings, photo_index, {0: [10]}, config)
    assert len(derived) == 4
    assert np.allclose(derived.reconstruct(0), texts[0], atol=1e-5)
    assert np.allclose(derived.reconstruct(3), texts[3], atol=1e-6)
