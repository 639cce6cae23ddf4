"""Inference precision: the choice, and that bf16 vectors match fp32 ones."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from multimodal.precision import native_bf16, resolve_precision


def test_auto_picks_bf16_only_where_the_cpu_has_it() -> None:
    assert resolve_precision("auto") == ("bf16" if native_bf16() else "fp32")
    assert resolve_precision("fp32") == "fp32"
    assert resolve_precision("bf16") == "bf16"


def test_unknown_precision_is_refused() -> None:
    with pytest.raises(ValueError, match="precision must be one of"):
        resolve_precision("fp8")


def test_bf16_vectors_match_fp32(trained_bundle_dir) -> None:
    from multimodal.embedder import Embedder, ListingContent

    texts = ["red mountain bike", "office chair, black leather", "xbox one with two pads"]
    photo = Image.new("RGB", (64, 64), (200, 30, 30))
    items = [ListingContent(t, [photo]) for t in texts]
    fp32 = Embedder.load(trained_bundle_dir, "fp32")
    bf16 = Embedder.load(trained_bundle_dir, "bf16")
    for method, arg in (("embed_texts", texts), ("embed_listings", items)):
        a, b = getattr(fp32, method)(arg), getattr(bf16, method)(arg)
        assert b.dtype == np.float32
        np.testing.assert_allclose(np.linalg.norm(b, axis=1), 1.0, atol=1e-5)
        assert (a * b).sum(1).min() > 0.98, method
    probs = bf16.predict_category("red mountain bike", [photo])
    assert sum(probs.values()) == pytest.approx(1.0, abs=1e-4)
