"""The instance descriptors' settings (``InstanceConfig``): what is saved with a fitted
projection, and how the feature cache keeps statistics of other settings apart."""

from __future__ import annotations

import numpy as np
import torch

from multimodal.config import ImageEncoderConfig, InstanceConfig
from multimodal.features import image_texture_namespace
from multimodal.instance_features import InstanceProjection, RawDescriptors
from multimodal.texture import texture_statistics


def _raw(rng: np.random.Generator, n: int) -> RawDescriptors:
    return RawDescriptors(rng.normal(size=(n, 12)), rng.normal(size=(n, 21)))


def test_projection_carries_its_texture_weight_and_older_ones_load_with_the_default() -> None:
    rng = np.random.default_rng(0)
    light = InstanceConfig(texture_weight=0.3)
    projection = InstanceProjection.fit(_raw(rng, 100), _raw(rng, 100), light)
    photos = _raw(rng, 5)
    saved = projection.arrays()
    again = InstanceProjection.from_arrays(saved)
    assert again.texture_weight == 0.3
    np.testing.assert_allclose(again(photos), projection(photos))
    del saved["texture_weight"]  # as a channel saved before the weight was
    assert InstanceProjection.from_arrays(saved).texture_weight == InstanceConfig().texture_weight


def test_texture_statistics_of_another_channel_count_are_cached_under_another_name() -> None:
    from multimodal.encoders.image import ImageEncoder

    encoder = ImageEncoder(ImageEncoderConfig(backbone="efficientnet-lite0", image_size=64))
    first = image_texture_namespace(encoder, 128)  # the count older caches were written at
    assert first == f"image-{encoder.trunk_fingerprint}-texture"  # so they stay valid
    assert image_texture_namespace(encoder, 64) != first
    mid = torch.randn(2, 128, 3, 3)
    assert texture_statistics(mid, 64).shape == (2, 64 * 65 // 2)
    assert texture_statistics(mid).shape == (2, 128 * 129 // 2)
