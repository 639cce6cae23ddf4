"""Photo-level instance descriptors and their learned whitening, on hand-made inputs."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from PIL import Image

from multimodal.data.transforms import imagenet_normalise
from multimodal.instance_features import (
    InstanceProjection,
    PrincipalAxes,
    RawDescriptors,
    Whitening,
    colour_histogram,
    describe,
    describe_images,
    describe_prepared,
    prepare_images,
    texture_statistics,
)


def test_colour_histogram_ignores_letterbox_padding() -> None:
    red = Image.new("RGB", (8, 8), (200, 0, 0))
    boxed = Image.new("RGB", (8, 16), (0, 0, 0))
    boxed.paste(red, (0, 4))
    assert np.allclose(colour_histogram(red), colour_histogram(boxed))
    assert np.isclose(np.sum(colour_histogram(red) ** 2), 1.0)  # square-rooted shares


@pytest.mark.parametrize("bins", [(16, 4, 4), (32, 8, 1), (1, 1, 1)])
def test_colour_histogram_counts_each_pixel_in_its_hsv_cell(bins) -> None:
    """Against a pixel-by-pixel count of PIL's HSV values."""
    from multimodal.config import InstanceConfig

    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, (12, 10, 3), dtype=np.uint8)
    pixels[:3] = rng.integers(0, 9, (3, 10, 3), dtype=np.uint8)  # dark rows: not counted
    image = Image.fromarray(pixels)
    counts = np.zeros(int(np.prod(bins)))
    for h, s, v in image.convert("HSV").getdata():
        if v > 8:
            h, s, v = h // (256 // bins[0]), s // (256 // bins[1]), v // (256 // bins[2])
            counts[(h * bins[1] + s) * bins[2] + v] += 1
    expected = np.sqrt(counts / counts.sum())
    got = colour_histogram(image, InstanceConfig(hist_bins=bins))
    np.testing.assert_allclose(got, expected, rtol=1e-6)


def test_descriptor_parts_are_normalised_and_weighted() -> None:
    maps = np.random.default_rng(0).normal(size=(2, 3, 4, 4)).astype(np.float32)
    hist = np.abs(np.random.default_rng(1).normal(size=(2, 256))).astype(np.float32)
    out = describe(maps, hist)
    assert out.shape == (2, 3 + 3 + 256)
    assert np.allclose(np.linalg.norm(out[:, :3], axis=1), 1.0)
    assert np.allclose(np.linalg.norm(out[:, 6:], axis=1), 0.5)


def test_whitening_brings_two_photos_of_one_item_together() -> None:
    """Items differ in the first 8 dimensions; two photos of one item differ
    (much more) in the last 8, as lighting and angle would."""
    rng = np.random.default_rng(0)
    n, half = 300, 8
    items = np.hstack([rng.normal(size=(n, half)), np.zeros((n, half))])

    def photo() -> np.ndarray:
        return items + np.hstack([0.1 * rng.normal(size=(n, half)), 3 * rng.normal(size=(n, half))])

    first, second = photo(), photo()
    whiten = Whitening.fit(first, second, ridge=1e-6)  # the toy differences are tiny
    a, b = whiten(first), whiten(second)
    assert np.allclose(np.linalg.norm(a, axis=1), 1.0, atol=1e-5)

    def recall_at_1(x: np.ndarray, y: np.ndarray) -> float:
        x = x / np.linalg.norm(x, axis=1, keepdims=True)
        y = y / np.linalg.norm(y, axis=1, keepdims=True)
        return float(np.mean(np.argmax(x @ y.T, axis=1) == np.arange(len(x))))

    assert recall_at_1(a, b) > 0.9 > recall_at_1(first, second)


def test_texture_statistics_by_hand() -> None:
    """One photo, two channels over two positions: a = (1, 3), b = (2, 0).
    Gram / positions: aa = 5, ab = 1, bb = 2; signed square roots, unit length."""
    mid = torch.tensor([[[[1.0, 3.0]], [[2.0, 0.0]]]])  # [1, 2, 1, 2]
    expected = np.sqrt([5.0, 1.0, 2.0])
    np.testing.assert_allclose(texture_statistics(mid)[0], expected / np.linalg.norm(expected))
    assert texture_statistics(-mid)[0] == pytest.approx(texture_statistics(mid)[0])


def test_wide_maps_are_averaged_in_channel_groups() -> None:
    wide = torch.randn(3, 256, 2, 2)
    grouped = wide.reshape(3, 128, 2, 2, 2).mean(dim=2)
    np.testing.assert_allclose(texture_statistics(wide), texture_statistics(grouped), atol=1e-6)
    assert texture_statistics(wide).shape == (3, 128 * 129 // 2)
    with pytest.raises(ValueError, match="groups"):
        texture_statistics(torch.randn(1, 200, 2, 2))


def test_principal_axes_keep_the_strongest_directions() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(500, 6)) * np.array([10, 5, 1, 0.1, 0.1, 0.1])
    axes = PrincipalAxes.fit(x, keep=2)
    assert axes(x).shape == (500, 2)
    kept = np.abs(axes.axes).argmax(axis=0)
    assert sorted(kept) == [0, 1]


def test_principal_axes_span_what_a_full_eigendecomposition_keeps() -> None:
    """Only the leading eigenpairs, in float32: the same subspace as every eigenpair
    in float64 (each principal angle's cosine near 1), ordered strongest first."""
    rng = np.random.default_rng(1)
    x = rng.normal(size=(900, 40)) @ rng.normal(size=(40, 120)) + rng.normal(size=(900, 120))
    axes = PrincipalAxes.fit(x, keep=25)
    unit = x / np.linalg.norm(x, axis=1, keepdims=True)
    centred = unit - unit.mean(axis=0)
    vectors = np.linalg.eigh(centred.T @ centred)[1]
    expected = vectors[:, ::-1][:, :25]
    cosines = np.linalg.svd(expected.T @ axes.axes.astype(np.float64), compute_uv=False)
    assert axes.axes.shape == (120, 25)
    assert cosines.min() > 0.9999
    variances = np.einsum("ij,jk,ki->i", axes.axes.T, centred.T @ centred, axes.axes)
    assert np.all(np.diff(variances) <= 1e-3 * variances[0])


def test_projection_joins_the_two_similarities_at_their_weight() -> None:
    from multimodal.config import InstanceConfig

    texture_weight = InstanceConfig().texture_weight

    rng = np.random.default_rng(0)

    def raw(n: int) -> RawDescriptors:
        return RawDescriptors(rng.normal(size=(n, 12)), rng.normal(size=(n, 21)))

    first, second = raw(200), raw(200)
    projection = InstanceProjection.fit(first, second)
    queries, photos = raw(3), raw(4)
    joined = projection(queries) @ projection(photos).T
    pooled = projection.pooled(queries.pooled) @ projection.pooled(photos.pooled).T

    def texture(r: RawDescriptors) -> np.ndarray:
        return projection.texture(projection.texture_axes(r.texture))

    textured = texture(queries) @ texture(photos).T
    np.testing.assert_allclose(
        joined, (pooled + texture_weight * textured) / (1 + texture_weight), atol=1e-5
    )
    again = InstanceProjection.from_arrays(projection.arrays())
    np.testing.assert_allclose(again(photos), projection(photos))


class _LockWatchingTrunk(torch.nn.Module):
    """A small trunk that notes, at each pass, whether ``lock`` is held."""

    def __init__(self, lock: threading.Lock) -> None:
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 8, kernel_size=4, stride=4)
        self.lock = lock
        self.held_during_pass: list[bool] = []

    def forward_with_mid(self, pixels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        self.held_during_pass.append(self.lock.locked())
        maps = torch.relu(self.conv(pixels))
        return maps, maps


def test_a_query_photo_is_prepared_without_the_model_and_only_its_trunk_pass_holds_it() -> None:
    """What a server's photo query relies on to make its instance descriptor beside
    the joint vector's forward pass (``api.search_pipeline``)."""
    lock = threading.Lock()
    trunk = _LockWatchingTrunk(lock)
    encoder = SimpleNamespace(
        cfg=SimpleNamespace(image_size=32), normalise=imagenet_normalise, trunk=trunk
    )
    encoder.parameters = trunk.parameters
    rng = np.random.default_rng(0)
    photos = [Image.fromarray(rng.integers(0, 256, (40, 48, 3), dtype=np.uint8)) for _ in range(2)]
    with lock, ThreadPoolExecutor(1) as pool:  # another thread's forward pass holds the model
        prepared = pool.submit(prepare_images, encoder, photos).result(timeout=30)
    assert prepared.pixels.shape == (2, 3, 32, 32)
    raw = describe_prepared(encoder, prepared, model_lock=lock)
    assert trunk.held_during_pass == [True]
    assert not lock.locked()
    whole = describe_images(encoder, photos)
    np.testing.assert_array_equal(raw.pooled, whole.pooled)
    np.testing.assert_array_equal(raw.texture, whole.texture)
