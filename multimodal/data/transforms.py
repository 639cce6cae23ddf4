"""Photo → tensor pipelines for training (augmented) and evaluation (plain).

Cleaned photos are already square and letterboxed, so both pipelines resize
the whole photo and never crop: a centre crop would cut off the object of a
wide or tall photo. Each image backbone scales pixels its own way, so the
final normalisation is passed in by the caller (``imagenet_normalise`` or
``tf_normalise``).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from PIL import Image

from multimodal.torchvision_compat import import_torchvision

Normalise = Callable[[torch.Tensor], torch.Tensor]
ImageTransform = Callable[[Image.Image], torch.Tensor]

_IMAGENET_MEAN = torch.tensor([0.485, 0.456, 0.406]).view(3, 1, 1)
_IMAGENET_STD = torch.tensor([0.229, 0.224, 0.225]).view(3, 1, 1)


def imagenet_normalise(x: torch.Tensor) -> torch.Tensor:
    """Torchvision-style backbones: per-channel ImageNet mean and std on [0, 1] pixels."""
    return (x - _IMAGENET_MEAN) / _IMAGENET_STD


def tf_normalise(x: torch.Tensor) -> torch.Tensor:
    """TF-ported backbones (EfficientNet-Lite): pixels to about [-1, 1] as ``(p - 127) / 128``."""
    return (x * 255 - 127) / 128


def train_transform(size: int, normalise: Normalise) -> ImageTransform:
    """Mild augmentation: flips, a few degrees of affine, a little colour jitter.

    Mild because the two photos of a listing are usually the same object from
    nearly the same angle; heavy crops or colour shifts would teach the model
    to ignore the very colours that tell listings apart.
    """
    t = import_torchvision().transforms
    return t.Compose(
        [
            t.Resize((size, size), antialias=True),
            t.RandomHorizontalFlip(),
            t.RandomAffine(degrees=5, translate=(0.05, 0.05), scale=(0.93, 1.07), fill=0),
            t.ColorJitter(brightness=0.15, contrast=0.15, saturation=0.15, hue=0.02),
            t.ToTensor(),
            normalise,
        ]
    )


def eval_transform(size: int, normalise: Normalise) -> ImageTransform:
    """Deterministic: resize the whole square photo, to tensor, normalise."""
    t = import_torchvision().transforms
    return t.Compose([t.Resize((size, size), antialias=True), t.ToTensor(), normalise])
