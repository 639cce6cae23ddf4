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

A second part adds second-order texture statistics (``multimodal.texture``): the
Gram matrix of the trunk's stride-16 map (which channels fire together, wherever
they fire), reduced and whitened on its own and then joined to the first. A
photo of the back of a phone shares little layout with one of its front, but
the same surface, finish and lighting, and on the real data's validation photos
this part finds the other photo of a listing more often.

The settings are an ``InstanceConfig``. The texture part's weight is saved with
the fitted projection; the others shape the raw descriptors, so a catalogue and
its queries must be described with the same ones (the defaults, unless a caller
rebuilds the whole channel with others).

Only the encoder's frozen ``trunk`` is used, read-only; its output is the one
training caches, so a catalogue's descriptors come from that cache.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image

from multimodal.config import InstanceConfig
from multimodal.device import device_of
from multimodal.features import image_texture_statistics, image_trunk_maps
from multimodal.texture import texture_statistics

if TYPE_CHECKING:
    from collections.abc import Mapping

    import torch

_DARK = 8  # letterbox padding is black: pixels at or below this value are not the photo


def _unit(x: np.ndarray) -> np.ndarray:
    return x / np.clip(np.linalg.norm(x, axis=-1, keepdims=True), 1e-9, None)


def colour_histogram(image: Image.Image, cfg: InstanceConfig | None = None) -> np.ndarray:
    """``[prod(cfg.hist_bins)]`` square-rooted HSV histogram of the photo's non-padding
    pixels (256 cells by default).

    The cell of each pixel is computed on the uint8 planes in place of an
    ``[pixels, 3]`` int64 copy: the same counts, in about half the time of the
    reindex's pass over every photo."""
    cfg = cfg or InstanceConfig()
    bins = cfg.hist_bins
    hsv = np.asarray(image.convert("RGB").convert("HSV"))
    hue, saturation, value = (hsv[..., k] // np.uint16(256 // b) for k, b in enumerate(bins))
    cells = (hue.astype(np.int32) * bins[1] + saturation) * bins[2] + value
    counts = np.bincount(cells[hsv[..., 2] > _DARK], minlength=int(np.prod(bins)))
    counts = counts.astype(np.float32)
    return np.sqrt(counts / max(1.0, float(counts.sum())))


def _file_histogram(path: Path, cfg: InstanceConfig) -> np.ndarray:
    with Image.open(path) as image:
        return colour_histogram(image, cfg)


def describe(
    maps: np.ndarray, histograms: np.ndarray, cfg: InstanceConfig | None = None
) -> np.ndarray:
    """``[n, 2c + 256]`` raw descriptors from trunk maps ``[n, c, h, w]`` and histograms."""
    cfg = cfg or InstanceConfig()
    maps = np.asarray(maps, dtype=np.float32)
    gem = np.clip(maps, 1e-6, None) ** cfg.gem_power
    gem = gem.mean(axis=(2, 3)) ** (1.0 / cfg.gem_power)
    mean = maps.mean(axis=(2, 3))
    colour = cfg.hist_weight * _unit(np.asarray(histograms, np.float32))
    return np.concatenate([_unit(gem), _unit(mean), colour], axis=1).astype(np.float32)


@dataclass(frozen=True)
class RawDescriptors:
    """Per photo, the colour-and-trunk part (``describe``) and the texture part."""

    pooled: np.ndarray  # [n, 2c + 256]
    texture: np.ndarray  # [n, g(g+1)/2]

    def take(self, rows) -> RawDescriptors:
        return RawDescriptors(self.pooled[rows], self.texture[rows])


@dataclass(frozen=True)
class PreparedPhotos:
    """Query photos as the trunk takes them, with their colour histograms: the part
    of a descriptor that needs no model, so a caller can make it beside another
    thread's forward pass."""

    pixels: torch.Tensor  # [n, 3, s, s], preprocessed
    histograms: np.ndarray  # [n, prod(hist_bins)]


def prepare_images(
    encoder, images: Sequence[Image.Image], cfg: InstanceConfig | None = None
) -> PreparedPhotos:
    """Preprocessed pixels and colour histograms of query photos."""
    import torch

    from multimodal.data.transforms import eval_transform

    cfg = cfg or InstanceConfig()
    preprocess = eval_transform(encoder.cfg.image_size, encoder.normalise)
    pixels = torch.stack([preprocess(image.convert("RGB")) for image in images])
    return PreparedPhotos(pixels, np.stack([colour_histogram(i, cfg) for i in images]))


def describe_prepared(
    encoder,
    prepared: PreparedPhotos,
    cfg: InstanceConfig | None = None,
    model_lock: AbstractContextManager | None = None,
) -> RawDescriptors:
    """Raw descriptors of prepared photos: one trunk pass, held under ``model_lock``
    (a server's one-pass-at-a-time lock), then the pooling and the texture
    statistics, which need the lock no longer."""
    import torch

    cfg = cfg or InstanceConfig()
    with model_lock or nullcontext(), torch.inference_mode():
        maps, mid = encoder.trunk.forward_with_mid(prepared.pixels.to(device_of(encoder)))
    maps, mid = maps.cpu(), mid.cpu()
    return RawDescriptors(
        describe(maps.float().numpy(), prepared.histograms, cfg),
        texture_statistics(mid, cfg.texture_channels),
    )


def describe_images(
    encoder, images: Sequence[Image.Image], cfg: InstanceConfig | None = None
) -> RawDescriptors:
    """Raw descriptors of query photos (one trunk pass), as the feature cache holds them."""
    return describe_prepared(encoder, prepare_images(encoder, images, cfg), cfg)


def describe_files(
    encoder,
    paths: Sequence[Path],
    features_root: Path,
    cfg: InstanceConfig | None = None,
    threads: int = 1,
) -> RawDescriptors:
    """Raw descriptors of catalogue photos, trunk outputs from the training feature cache.

    The colour histograms decode every photo again; ``threads`` decode at once
    (PIL and numpy release the GIL), in the photos' order.
    """
    from multimodal.data.transforms import eval_transform

    cfg = cfg or InstanceConfig()
    preprocess = eval_transform(encoder.cfg.image_size, encoder.normalise)
    channels = cfg.texture_channels
    maps, _ = image_trunk_maps(encoder, list(paths), preprocess, features_root, channels)
    texture, _ = image_texture_statistics(encoder, list(paths), preprocess, features_root, channels)
    with ThreadPoolExecutor(max(1, threads)) as pool:
        histograms = list(pool.map(partial(_file_histogram, cfg=cfg), paths))
    pooled = describe(np.stack(maps), np.stack(histograms), cfg)
    return RawDescriptors(pooled, np.stack(texture).astype(np.float32))


@dataclass(frozen=True)
class PrincipalAxes:
    """Unit-length descriptors, centred, on their ``k`` principal directions: a few
    thousand photo pairs cannot estimate a whitening over thousands of dimensions."""

    mean: np.ndarray  # [d]
    axes: np.ndarray  # [d, k]

    @classmethod
    def fit(cls, descriptors: np.ndarray, keep: int) -> PrincipalAxes:
        """The ``keep`` leading axes. With more photos than dimensions, only those
        eigenpairs of the float32 scatter matrix are computed (LAPACK's ``syevr``): on
        the real catalogue's 7,760 x 6,328 texture part they span the subspace a full
        float64 ``eigh`` gives to a principal-angle cosine of 0.999999, in 11 s
        against 31 s, a third of a full reindex before (docs/experiments.md)."""
        from scipy.linalg import eigh

        x = _unit(descriptors.astype(np.float64))
        mean = x.mean(axis=0)
        centred = x - mean
        dims = x.shape[1]
        keep = min(keep, dims)
        if len(x) < dims:  # few photos (a small catalogue): the thin SVD is cheaper
            axes = np.linalg.svd(centred, full_matrices=False)[2].T[:, :keep]
        else:
            centred = centred.astype(np.float32)
            scatter = centred.T @ centred
            axes = eigh(scatter, subset_by_index=[dims - keep, dims - 1], driver="evr")[1][:, ::-1]
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
    similarity + ``texture_weight`` x texture similarity) / (1 + ``texture_weight``)."""

    pooled: Whitening
    texture_axes: PrincipalAxes
    texture: Whitening
    texture_weight: float = InstanceConfig().texture_weight

    @classmethod
    def fit(
        cls, first: RawDescriptors, second: RawDescriptors, cfg: InstanceConfig | None = None
    ) -> InstanceProjection:
        """From pairs of photos of one listing; the texture axes from the same photos."""
        cfg = cfg or InstanceConfig()
        texture = np.concatenate([first.texture, second.texture])
        axes = PrincipalAxes.fit(texture, cfg.texture_dims)
        return cls(
            Whitening.fit(first.pooled, second.pooled),
            axes,
            Whitening.fit(axes(first.texture), axes(second.texture)),
            cfg.texture_weight,
        )

    def __call__(self, raw: RawDescriptors) -> np.ndarray:
        """``[n, d]`` unit-length vectors to index and to query with."""
        weight = self.texture_weight
        texture = self.texture(self.texture_axes(raw.texture))
        parts = [self.pooled(raw.pooled), np.sqrt(weight) * texture]
        return (np.concatenate(parts, axis=1) / np.sqrt(1 + weight)).astype(np.float32)

    def arrays(self) -> dict[str, np.ndarray]:
        """What ``from_arrays`` reads back (saved with the channel)."""
        return {
            "pooled_mean": self.pooled.mean,
            "pooled_projection": self.pooled.projection,
            "axes_mean": self.texture_axes.mean,
            "axes": self.texture_axes.axes,
            "texture_mean": self.texture.mean,
            "texture_projection": self.texture.projection,
            "texture_weight": np.array(self.texture_weight),
        }

    @classmethod
    def from_arrays(cls, arrays: Mapping[str, np.ndarray]) -> InstanceProjection:
        """A projection saved before its texture weight was saved was fitted with the
        default one."""
        weight = arrays.get("texture_weight")
        return cls(
            Whitening(arrays["pooled_mean"], arrays["pooled_projection"]),
            PrincipalAxes(arrays["axes_mean"], arrays["axes"]),
            Whitening(arrays["texture_mean"], arrays["texture_projection"]),
            InstanceConfig().texture_weight if weight is None else float(weight),
        )
