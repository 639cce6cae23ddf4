"""Typed configuration for the model: encoders, fusion and training.

Frozen dataclasses, built once by the command line (or a test) and passed
down. The bundle saves them as JSON next to the weights, so a saved model is
rebuilt from its own config, never from whatever the defaults are today.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any

from multimodal.precision import Precision


@dataclass(frozen=True)
class TextEncoderConfig:
    """A BERT-family encoder, mean-pooled: ``model`` is ``"minilm"`` or a local checkpoint dir."""

    model: str = "minilm"
    max_tokens: int = 128
    batch_size: int = 32
    # The last ``trainable_layers`` transformer layers are fine-tuned in stage 2; the
    # layers below stay frozen, so their output is computed once and cached.
    trainable_layers: int = 2


@dataclass(frozen=True)
class ImageEncoderConfig:
    """``backbone``: ``"auto"``, ``"resnet50"`` or ``"efficientnet-lite0"``."""

    backbone: str = "auto"
    resnet50_weights: str | None = None  # a torchvision state-dict file, else the torch cache
    # The cleaned photos' own side: no resampling. On the real data 256 px beat
    # ImageNet's 224 on validation (photo-only 62.9% against 61.1%; the README).
    image_size: int = 256
    batch_size: int = 32
    # The last ``trainable_blocks`` blocks (plus the head conv) adapt in stage 2,
    # on cached activations of the frozen trunk below them.
    trainable_blocks: int = 1


@dataclass(frozen=True)
class FusionConfig:
    embed_dim: int = 256
    hidden_dim: int = 512
    dropout: float = 0.2
    init_temperature: float = 0.07


@dataclass(frozen=True)
class WordConfig:
    """The bag-of-n-grams channel (``multimodal.word_channel``); 0 features: none."""

    n_features: int = 2**16  # hashed buckets per analyser (words 1-2, characters 2-5)
    # Inverse L2 strength of its logistic regression. Weak regularisation wins: rare
    # exact tokens (model numbers, brands) are the ones worth trusting. Channel alone,
    # 4-fold CV over train+val (re-posted ads kept in one fold): C 10 → 100 80.7 → 81.3%
    # without the title block, 81.6 → 81.9% with it.
    c: float = 100.0
    max_iter: int = 2000
    # A second pair of analysers on the title alone, so title n-grams weigh apart
    # from the same n-grams in a long description (+0.6-0.9 points in that CV).
    title_block: bool = True


# What a bundle saved before a ``WordConfig`` field existed was built with.
LEGACY_WORD = {"title_block": False}


@dataclass(frozen=True)
class TrainConfig:
    seed: int = 0
    threads: int = 2
    batch_size: int = 128
    photos_per_listing: int = 2  # photos sampled per listing and step
    # stage 1: projection and classifier heads on cached frozen features
    epochs: int = 40
    lr: float = 2e-3
    weight_decay: float = 1e-4
    patience: int = 6
    # stage 2: also the top text layers and image blocks, on cached trunk activations
    stage2: bool = True
    stage2_epochs: int = 4
    stage2_batch_size: int = 32
    stage2_lr: float = 3e-4  # heads
    stage2_encoder_lr: float = 5e-5  # the unfrozen encoder layers (image blocks: twice)
    stage2_patience: int = 2
    # loss weights
    ce_weight: float = 1.0
    text_photo_weight: float = 0.5
    photo_listing_weight: float = 0.5
    label_name_weight: float = 0.2
    flip_features: bool = True  # mirror cached image activations as augmentation
    # stage 2's forward pass: bf16 autocast where the CPU has it (``multimodal.precision``)
    precision: Precision = "auto"


@dataclass(frozen=True)
class ModelConfig:
    """Everything needed to rebuild the model's modules (not how it was trained)."""

    text: TextEncoderConfig = field(default_factory=TextEncoderConfig)
    image: ImageEncoderConfig = field(default_factory=ImageEncoderConfig)
    fusion: FusionConfig = field(default_factory=FusionConfig)
    word: WordConfig = field(default_factory=WordConfig)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelConfig:
        return cls(
            text=_build(TextEncoderConfig, data.get("text", {})),
            image=_build(ImageEncoderConfig, data.get("image", {})),
            fusion=_build(FusionConfig, data.get("fusion", {})),
            # bundles from before the word channel have none; older channels lack later fields
            word=_build(WordConfig, {**LEGACY_WORD, **data.get("word", {"n_features": 0})}),
        )


def _build(kind: type, data: dict[str, Any]) -> Any:
    """Build a config dataclass, refusing keys it does not know (a typo is not a default)."""
    known = {f.name for f in fields(kind)}
    unknown = set(data) - known
    if unknown:
        raise ValueError(f"unknown {kind.__name__} keys: {sorted(unknown)}")
    return kind(**data)
