"""Typed configuration for the model: encoders, fusion and training.

Frozen dataclasses, built once by the command line (or a test) and passed
down. The bundle saves them as JSON next to the weights, so a saved model is
rebuilt from its own config, never from whatever the defaults are today.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any

from multimodal.device import Device
from multimodal.precision import Precision
from multimodal.runtime.engine import Engine


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
    # The cleaned photos' own side: no resampling (it also beat ImageNet's 224 on validation).
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
    # exact tokens (model numbers, brands) are the ones worth trusting.
    c: float = 100.0
    max_iter: int = 2000
    # A second pair of analysers on the title alone, so title n-grams weigh apart
    # from the same n-grams in a long description.
    title_block: bool = True


# What a bundle saved before a ``WordConfig`` field existed was built with.
LEGACY_WORD = {"title_block": False}


@dataclass(frozen=True)
class NeighbourGrid:
    """The photo-neighbour vote settings tried on validation (``photo_neighbours.fit``).

    Each grid is tried in order and a tie keeps the earlier setting, so the simplest
    (fewer neighbours, a lower temperature, a smaller share) wins a tie.
    """

    k: tuple[int, ...] = (5, 10, 20, 30)
    temperature: tuple[float, ...] = (0.03, 0.05, 0.1)
    # The vote's share of the mixed log-probabilities: 0 is the head alone (off),
    # 1 the vote alone.
    weight: tuple[float, ...] = (0.0, 0.2, 0.35, 0.5, 0.65, 0.8, 0.9, 1.0)


@dataclass(frozen=True)
class InstanceConfig:
    """How photo-level instance descriptors are built (``multimodal.instance_features``).

    The catalogue's descriptors and a query's must be built with the same settings;
    the index stores only the projection, so callers keep to these defaults unless
    they rebuild the whole channel.
    """

    hist_bins: tuple[int, int, int] = (16, 4, 4)  # hue, saturation, value
    hist_weight: float = 0.5  # share of the colour part against each pooled-trunk part
    gem_power: float = 3.0
    # Wider mid maps are averaged in channel groups down to this many channels. The
    # statistics are cached with the trunk maps, under a name that records the count.
    texture_channels: int = 128
    texture_dims: int = 1024  # principal directions of the texture part kept before whitening
    texture_weight: float = 0.7  # its share of the similarity against the colour-and-trunk part


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
    # 3, not 4: the fourth epoch cost a first run 71-105 s for no gain beyond noise
    # (docs/first-run.md, "Stage 2 for three epochs")
    stage2_epochs: int = 3
    stage2_batch_size: int = 32
    stage2_lr: float = 3e-4  # heads
    stage2_encoder_lr: float = 5e-5  # the unfrozen encoder layers (image blocks: twice)
    stage2_patience: int = 2
    # loss weights
    ce_weight: float = 1.0
    text_photo_weight: float = 0.5
    photo_listing_weight: float = 0.5
    label_name_weight: float = 0.2
    # the categories are noisy ("Other Goods" overlaps everything)
    label_smoothing: float = 0.1
    flip_features: bool = True  # mirror cached image activations as augmentation
    # stage 2's forward pass: bf16 autocast where the CPU has it, the GPU's half type on
    # a GPU (``multimodal.precision``)
    precision: Precision = "auto"
    # where training runs (``multimodal.device``): auto is CUDA when torch sees a GPU
    device: Device = "auto"
    # what encodes the frozen layers' outputs on the CPU (``multimodal.runtime``):
    # auto = the ONNX runtime (4x eager fp32 torch on photos), torch = torch
    engine: Engine = "auto"
    # a JSON file other processes follow training by (``multimodal.progress``)
    progress_file: str | None = None
    # after training, tuned on validation: the head's ``mix_weights`` (fused prediction's
    # share of the text-only and image-only ones), tried in order, ties keep the earlier
    mix_grid: tuple[tuple[float, float], ...] = tuple(
        (a, b) for a in (0.0, 0.5, 1.0, 2.0) for b in (0.0, 0.25, 0.5, 1.0)
    )
    # The weakly regularised word channel is confident, so its weight beside the
    # encoders' log-probabilities must reach well above 1.
    word_grid: tuple[float, ...] = (0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 5.0, 6.0, 8.0)
    neighbours: NeighbourGrid = field(default_factory=NeighbourGrid)


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
