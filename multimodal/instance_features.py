"""Instance descriptors of photos: is this the *same item*, not just the same kind?

The joint embedding is trained to put a photo near its listing's text and
category, which blurs what tells two sofas apart. A buyer's own photo of an
item is best matched by lower-level evidence: the frozen backbone trunk's
activation map (pooled two ways: generalised-mean, which keeps strong local
parts, and plain mean) and the photo's colour distribution (the same item in
the same room under the same light). On the real data's validation photos
each part adds recall; together, with a whitening learned from pairs of
photos of the same listing, they find the other photo of a listing far more
often than the pooled backbone features do.

Only the encoder's frozen ``trunk`` is used, read-only; its output is the one
training caches, so a catalogue's descriptors come from that cache.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

HIST_BINS = (16, 4, 4)  # hue, saturation, value
HIST_WEIGHT = 0.5  # share of the colour part against each pooled-trunk part
GEM_POWER = 3.0
_DARK = 8  # letterbox padding is black: pixels at or below this value are not the photo


def _unit(x: np.ndarray) -> np.ndarray:
    return x / np.clip(np.linalg.norm(x, axis=-1, keepdims=True), 1e-9, None)


def colour_histogram(image: Image.Image) -> np.ndarray:
    """``[256]`` square-rooted HSV histogram of the photo's non-padding pixels."""
    hsv = np.asarray(image.convert("RGB").convert("HSV")).reshape(-1, 3)
    hsv = hsv[hsv[:, 2] > _DARK]
    steps = np.array([256 // b for b in HIST_BINS])
    cells = hsv // steps
    s, v = HIST_BINS[1], HIST_BINS[2]
    flat = cells[:, 0] * s * v + cells[:, 1] * v + cells[:, 2]
    counts = np.bincount(flat, minlength=int(np.prod(HIST_BINS))).astype(np.float32)
    return np.sqrt(counts / max(1.0, float(counts.sum())))


def describe(maps: np.ndarray, histograms: np.ndarray) -> np.ndarray:
    """``[n, 2c + 256]`` raw descriptors from trunk maps ``[n, c, h, w]`` and histograms."""
    maps = np.asarray(maps, dtype=np.float32)
    gem = np.clip(maps, 1e-6, None) ** GEM_POWER
    gem = gem.mean(axis=(2, 3)) ** (1.0 / GEM_POWER)
    mean = maps.mean(axis=(2, 3))
    parts = [_unit(gem), _unit(mean), HIST_WEIGHT * _unit(np.asarray(histograms, np.float32))]
    return np.concatenate(parts, axis=1).astype(np.float32)


def trunk_maps(encoder, images: Sequence[Image.Image]) -> np.ndarray:
    """The frozen trunk's maps of photos, computed as training's feature cache does."""
    import torch

    from multimodal.data.transforms import eval_transform

    preprocess = eval_transform(encoder.cfg.image_size, encoder.normalise)
    pixels = torch.stack([preprocess(image.convert("RGB")) for image in images])
    with torch.inference_mode():
        return encoder.trunk(pixels).float().numpy()


def describe_images(encoder, images: Sequence[Image.Image]) -> np.ndarray:
    """Raw descriptors of query photos (one trunk pass each)."""
    return describe(trunk_maps(encoder, images), np.stack([colour_histogram(i) for i in images]))


def describe_files(encoder, paths: Sequence[Path], features_root: Path) -> np.ndarray:
    """Raw descriptors of catalogue photos, trunk maps from the training feature cache."""
    from multimodal.data.transforms import eval_transform
    from multimodal.features import image_trunk_maps

    preprocess = eval_transform(encoder.cfg.image_size, encoder.normalise)
    maps, _ = image_trunk_maps(encoder, list(paths), preprocess, features_root)
    histograms = []
    for path in paths:
        with Image.open(path) as image:
            histograms.append(colour_histogram(image))
    return describe(np.stack(maps), np.stack(histograms))


@dataclass(frozen=True)
class Whitening:
    """Learned whitening (Radenović et al.): what varies between two photos of one
    item is shrunk, what varies between items is kept.

    Fitted from pairs of photos of the same listing (training listings only):
    whiten by the covariance of pair differences, then rotate onto the
    principal axes of the whitened descriptors.
    """

    mean: np.ndarray  # [d]
    projection: np.ndarray  # [d, d]

    @classmethod
    def fit(cls, first: np.ndarray, second: np.ndarray, ridge: float = 1e-3) -> Whitening:
        a, b = _unit(first.astype(np.float64)), _unit(second.astype(np.float64))
        mean = np.concatenate([a, b]).mean(axis=0)
        diff = a - b
        within = diff.T @ diff / len(diff) + ridge * np.eye(diff.shape[1])
        values, vectors = np.linalg.eigh(within)
        whiten = vectors @ np.diag(values**-0.5) @ vectors.T
        x = (np.concatenate([a, b]) - mean) @ whiten.T
        _, axes = np.linalg.eigh(x.T @ x / len(x))
        return cls(mean.astype(np.float32), (whiten.T @ axes[:, ::-1]).astype(np.float32))

    def __call__(self, descriptors: np.ndarray) -> np.ndarray:
        """``[n, d]`` unit-length whitened descriptors."""
        return _unit((_unit(np.asarray(descriptors, np.float32)) - self.mean) @ self.projection)
