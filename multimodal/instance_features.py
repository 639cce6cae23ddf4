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

A second part adds second-order texture statistics: the Gram matrix of the
trunk's stride-16 map (which channels fire together, wherever they fire),
reduced and whitened on its own and then joined to the first. A photo of the
back of a phone shares little layout with one of its front, but the same
surface, finish and lighting: in ``marketplace evaluate retrieval --split val``
on the real data this part lifted the channel's other-photo recall@10 from
0.766 to 0.781 and recall@1 from 0.601 to 0.639. (The same statistics of the
last map added nothing: the pooled parts already hold that layer.)

Only the encoder's frozen ``trunk`` is used, read-only; its output is the one
training caches, so a catalogue's descriptors come from that cache.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image

if TYPE_CHECKING:
    import torch

HIST_BINS = (16, 4, 4)  # hue, saturation, value
HIST_WEIGHT = 0.5  # share of the colour part against each pooled-trunk part
GEM_POWER = 3.0
TEXTURE_CHANNELS = 128  # wider mid maps are averaged in channel groups down to this
TEXTURE_DIMS = 1024  # principal directions of the texture part kept before whitening
TEXTURE_WEIGHT = 0.7  # its share of the similarity against the colour-and-trunk part
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


def texture_statistics(mid: torch.Tensor) -> np.ndarray:
    """``[n, g(g+1)/2]`` signed-square-rooted, unit-length Gram matrices of mid maps
    ``[n, c, h, w]`` (a torch tensor), channels averaged in groups down to ``g``."""
    import torch

    x = mid.float()
    n, c = x.shape[:2]
    groups = min(c, TEXTURE_CHANNELS)
    if c % groups:
        raise ValueError(f"{c} mid-map channels do not split into {groups} groups")
    x = x.reshape(n, groups, c // groups, -1).mean(dim=2)
    gram = torch.bmm(x, x.transpose(1, 2)) / x.shape[2]
    rows, cols = torch.triu_indices(groups, groups)
    upper = gram[:, rows, cols]
    return _unit((upper.sign() * upper.abs().sqrt()).numpy()).astype(np.float32)


@dataclass(frozen=True)
class RawDescriptors:
    """Per photo, the colour-and-trunk part (``describe``) and the texture part."""

    pooled: np.ndarray  # [n, 2c + 256]
    texture: np.ndarray  # [n, g(g+1)/2]

    def take(self, rows) -> RawDescriptors:
        return RawDescriptors(self.pooled[rows], self.texture[rows])


def describe_images(encoder, images: Sequence[Image.Image]) -> RawDescriptors:
    """Raw descriptors of query photos (one trunk pass), as the feature cache holds them."""
    import torch

    from multimodal.data.transforms import eval_transform

    preprocess = eval_transform(encoder.cfg.image_size, encoder.normalise)
    pixels = torch.stack([preprocess(image.convert("RGB")) for image in images])
    with torch.inference_mode():
        maps, mid = encoder.trunk.forward_with_mid(pixels)
    histograms = np.stack([colour_histogram(i) for i in images])
    return RawDescriptors(describe(maps.float().numpy(), histograms), texture_statistics(mid))


def describe_files(encoder, paths: Sequence[Path], features_root: Path) -> RawDescriptors:
    """Raw descriptors of catalogue photos, trunk outputs from the training feature cache."""
    from multimodal.data.transforms import eval_transform
    from multimodal.features import image_texture_statistics, image_trunk_maps

    preprocess = eval_transform(encoder.cfg.image_size, encoder.normalise)
    maps, _ = image_trunk_maps(encoder, list(paths), preprocess, features_root)
    texture, _ = image_texture_statistics(encoder, list(paths), preprocess, features_root)
    histograms = []
    for path in paths:
        with Image.open(path) as image:
            histograms.append(colour_histogram(image))
    pooled = describe(np.stack(maps), np.stack(histograms))
    return RawDescriptors(pooled, np.stack(texture).astype(np.float32))


@dataclass(frozen=True)
class PrincipalAxes:
    """Unit-length descriptors, centred, on their ``k`` principal directions: a few
    thousand photo pairs cannot estimate a whitening over thousands of dimensions."""

    mean: np.ndarray  # [d]
    axes: np.ndarray  # [d, k]

    @classmethod
    def fit(cls, descriptors: np.ndarray, keep: int) -> PrincipalAxes:
        x = _unit(descriptors.astype(np.float64))
        mean = x.mean(axis=0)
        centred = x - mean
        if len(x) < x.shape[1]:  # few photos (a small catalogue): the thin SVD is cheaper
            directions = np.linalg.svd(centred, full_matrices=False)[2].T
        else:
            directions = np.linalg.eigh(centred.T @ centred)[1][:, ::-1]
        axes = directions[:, : min(keep, directions.shape[1])]
        return cls(mean.astype(np.float32), np.ascontiguousarray(axes, np.float32))

    def __call__(self, descriptors: np.ndarray) -> np.ndarray:
        return (_unit(np.asarray(descriptors, np.float32)) - self.mean) @ self.axes


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


@dataclass(frozen=True)
class InstanceProjection:
    """Both parts whitened on their own (the texture part on its principal axes
    first), then joined: the inner product of two projected photos is (pooled
    similarity + ``TEXTURE_WEIGHT`` x texture similarity) / (1 + ``TEXTURE_WEIGHT``)."""

    pooled: Whitening
    texture_axes: PrincipalAxes
    texture: Whitening

    @classmethod
    def fit(cls, first: RawDescriptors, second: RawDescriptors) -> InstanceProjection:
        """From pairs of photos of one listing; the texture axes from the same photos."""
        axes = PrincipalAxes.fit(np.concatenate([first.texture, second.texture]), TEXTURE_DIMS)
        return cls(
            Whitening.fit(first.pooled, second.pooled),
            axes,
            Whitening.fit(axes(first.texture), axes(second.texture)),
        )

    def __call__(self, raw: RawDescriptors) -> np.ndarray:
        """``[n, d]`` unit-length vectors to index and to query with."""
        texture = self.texture(self.texture_axes(raw.texture))
        parts = [self.pooled(raw.pooled), np.sqrt(TEXTURE_WEIGHT) * texture]
        return (np.concatenate(parts, axis=1) / np.sqrt(1 + TEXTURE_WEIGHT)).astype(np.float32)

    def arrays(self) -> dict[str, np.ndarray]:
        """What ``from_arrays`` reads back (saved with the channel)."""
        return {
            "pooled_mean": self.pooled.mean,
            "pooled_projection": self.pooled.projection,
            "axes_mean": self.texture_axes.mean,
            "axes": self.texture_axes.axes,
            "texture_mean": self.texture.mean,
            "texture_projection": self.texture.projection,
        }

    @classmethod
    def from_arrays(cls, arrays) -> InstanceProjection:
        return cls(
            Whitening(arrays["pooled_mean"], arrays["pooled_projection"]),
            PrincipalAxes(arrays["axes_mean"], arrays["axes"]),
            Whitening(arrays["texture_mean"], arrays["texture_projection"]),
        )
