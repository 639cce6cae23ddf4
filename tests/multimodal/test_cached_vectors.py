"""Vectors from the training feature cache match the embedder's own."""

import numpy as np
import pytest

from multimodal.cached_vectors import photo_vectors, text_vectors

pytestmark = pytest.mark.slow


def _cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a * b).sum(axis=1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)


def _agreement(embedder) -> float:
    """float16-cached activations agree to 0.999; in bf16 (where the CPU has it) the
    cached path's fp32 trunk and the embedder's bf16 one differ a little more."""
    return 0.999 if embedder.precision == "fp32" else 0.98


def test_text_vectors_match_the_embedder(clean_synthetic, embedder, model_workspace):
    texts = [listing.text for listing in clean_synthetic.listings[:24]]
    cached = text_vectors(embedder, texts, model_workspace.features_dir, batch=7)
    assert cached.shape == (24, embedder.dim)
    assert _cosines(cached, embedder.embed_texts(texts)).min() > _agreement(embedder)


def test_photo_vectors_match_the_embedder(clean_synthetic, embedder, model_workspace):
    from PIL import Image

    ids = [i for listing in clean_synthetic.listings[:20] for i in listing.image_ids][:16]
    cached = photo_vectors(embedder, clean_synthetic, ids, model_workspace.features_dir, batch=5)
    images = [Image.open(clean_synthetic.image_path(i)).convert("RGB") for i in ids]
    assert _cosines(cached, embedder.embed_images(images)).min() > _agreement(embedder)


def test_tops_on_the_runtime_match_torch(
    clean_synthetic, embedder, trained_bundle_dir, model_workspace
):
    """The runtime's top graphs over cached token states and maps, against torch's
    top layers (fp32): what a reindex runs over training's cache."""
    from multimodal.embedder import Embedder

    on_torch = Embedder.load(trained_bundle_dir, precision="fp32", engine="torch")
    assert (embedder.engine, on_torch.engine) == ("onnx", "torch")
    features = model_workspace.features_dir
    texts = [listing.text for listing in clean_synthetic.listings[:24]]
    runtime, torch_tops = (text_vectors(e, texts, features, batch=7) for e in (embedder, on_torch))
    assert _cosines(runtime, torch_tops).min() >= 0.999
    ids = [i for listing in clean_synthetic.listings[:20] for i in listing.image_ids][:16]
    runtime = photo_vectors(embedder, clean_synthetic, ids, features)
    torch_tops = photo_vectors(on_torch, clean_synthetic, ids, features)
    assert _cosines(runtime, torch_tops).min() >= 0.999
