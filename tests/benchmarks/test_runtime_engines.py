"""Every engine the runtime benchmark compares loads and embeds like torch in fp32."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from PIL import Image

from benchmarks.runtime_engines import ENGINE_NAMES, load_engine

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def bundle(trained_bundle_dir, tmp_path_factory):
    """A copy: the exported graphs are cached beside the bundle."""
    out = tmp_path_factory.mktemp("engines") / "model"
    shutil.copytree(trained_bundle_dir, out)
    return out


@pytest.fixture(scope="module")
def inputs(clean_synthetic) -> tuple[list[str], list[Image.Image]]:
    listings = clean_synthetic.listings[:4]
    photos = [
        Image.open(clean_synthetic.image_path(i)).convert("RGB") for i in listings[0].image_ids
    ]
    return [item.text for item in listings], photos


@pytest.fixture(scope="module")
def reference(bundle, inputs, tmp_path_factory) -> tuple[np.ndarray, np.ndarray]:
    """torch in fp32's text and photo vectors, made once for every engine."""
    texts, photos = inputs
    torch_fp32 = load_engine("torch-fp32", bundle, 1, tmp_path_factory.mktemp("reference"))
    return torch_fp32.embed_texts(texts), torch_fp32.embed_images(photos)


@pytest.mark.parametrize("name", [n for n in ENGINE_NAMES if n != "torch-fp32"])
def test_each_engine_embeds_texts_and_photos_close_to_torch(
    name, bundle, inputs, reference, tmp_path
) -> None:
    if name.startswith("openvino"):
        pytest.importorskip("openvino")
    texts, photos = inputs
    engine = load_engine(name, bundle, 1, tmp_path)
    for ours, theirs in zip(
        (engine.embed_texts(texts), engine.embed_images(photos)), reference, strict=True
    ):
        assert ours.shape == theirs.shape
        cosine = np.sum(ours * theirs, axis=1)
        # int8 text weights and bf16 are approximations (docs/runtime.md); fp32 engines match
        floor = 0.8 if name in ("onnx-int8", "openvino-bf16", "torch") else 0.999
        assert cosine.min() >= floor, (name, cosine)
