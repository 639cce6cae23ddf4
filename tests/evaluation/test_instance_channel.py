"""Photo-level instance descriptors and their learned whitening, on hand-made inputs."""

from __future__ import annotations

import numpy as np
from PIL import Image

from multimodal.instance_features import Whitening, colour_histogram, describe


def test_colour_histogram_ignores_letterbox_padding() -> None:
    red = Image.new("RGB", (8, 8), (200, 0, 0))
    boxed = Image.new("RGB", (8, 16), (0, 0, 0))
    boxed.paste(red, (0, 4))
    assert np.allclose(colour_histogram(red), colour_histogram(boxed))
    assert np.isclose(np.sum(colour_histogram(red) ** 2), 1.0)  # square-rooted shares


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
