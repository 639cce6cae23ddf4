"""The saved model directory: weights, config, backbone names, labels, data and metrics.

Layout of a bundle::

    model/
      manifest.json   what built it, from which data, with which metrics
      weights.pt      the whole model's state dict (encoders included)
      labels.json     the LabelEncoder's classes
      text/           tokenizer + transformer config (the architecture, no weights)

``load_model`` rebuilds the modules from the manifest's config alone, without
the training code or the pretrained backbone files, and refuses a bundle whose
parts disagree (unknown format, labels or weights not matching the manifest).
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from multimodal.config import ModelConfig
from multimodal.data.labels import LabelEncoder
from multimodal.encoders.image import BACKBONES as IMAGE_BACKBONES
from multimodal.encoders.image import BackboneChoice, ImageEncoder
from multimodal.encoders.text import TextEncoder
from multimodal.fusion import FusionHead, MultimodalModel
from multimodal.photo_neighbours import PhotoNeighbours
from multimodal.torchvision_compat import import_torchvision
from multimodal.word_channel import WordChannel

FORMAT = "marketplace-model/1"
MANIFEST = "manifest.json"
WEIGHTS = "weights.pt"
LABELS = "labels.json"
TEXT_DIR = "text"


class BundleError(ValueError):
    """A model directory that is missing, incomplete or inconsistent."""


@dataclass(frozen=True)
class Manifest:
    config: ModelConfig
    backbones: dict[
        str, str
    ]  # role → backbone name (text → "minilm", image → "efficientnet-lite0")
    backbone_fingerprints: dict[str, str]  # role → what keys its cached features
    labels: list[str]
    data: dict[str, Any]  # which data trained it: data dir, catalogue fingerprint, split sizes
    metrics: dict[str, Any]
    training: dict[str, Any]  # train config, timings
    fingerprint: str  # hash of the weights file: what indexes record
    created: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "fingerprint": self.fingerprint,
            "created": self.created,
            "config": self.config.to_dict(),
            "backbones": self.backbones,
            "backbone_fingerprints": self.backbone_fingerprints,
            "labels": self.labels,
            "data": self.data,
            "metrics": self.metrics,
            "training": self.training,
        }

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> Manifest:
        if raw.get("format") != FORMAT:
            raise BundleError(f"unknown model format {raw.get('format')!r}; expected {FORMAT}")
        try:
            return cls(
                config=ModelConfig.from_dict(raw["config"]),
                backbones=dict(raw["backbones"]),
                backbone_fingerprints=dict(raw["backbone_fingerprints"]),
                labels=list(raw["labels"]),
                data=dict(raw["data"]),
                metrics=dict(raw["metrics"]),
                training=dict(raw["training"]),
                fingerprint=str(raw["fingerprint"]),
                created=str(raw["created"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise BundleError(f"invalid manifest: {exc}") from exc


def new_model(cfg: ModelConfig, n_classes: int) -> MultimodalModel:
    """A model with pretrained encoders and fresh heads, for training."""
    text = TextEncoder(cfg.text)
    image = ImageEncoder(cfg.image)
    head = FusionHead(cfg.fusion, text.dim, image.dim, n_classes)
    return MultimodalModel(text, image, head, word_channel(cfg, n_classes))


def word_channel(cfg: ModelConfig, n_classes: int) -> WordChannel | None:
    return WordChannel(cfg.word, n_classes) if cfg.word.n_features else None


def _file_sha1(path: Path) -> str:
    digest = hashlib.sha1()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def save_bundle(
    directory: Path,
    model: MultimodalModel,
    cfg: ModelConfig,
    labels: LabelEncoder,
    data: dict[str, Any],
    metrics: dict[str, Any],
    training: dict[str, Any],
) -> Manifest:
    """Write the bundle atomically enough: the manifest, written last, marks it complete."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / MANIFEST).unlink(missing_ok=True)
    torch.save(model.state_dict(), directory / WEIGHTS)
    labels.save(directory / LABELS)
    model.text.save_architecture(directory / TEXT_DIR)
    manifest = Manifest(
        config=cfg,
        backbones={"text": model.text.name, "image": model.image.name},
        backbone_fingerprints={"text": model.text.fingerprint, "image": model.image.fingerprint},
        labels=labels.classes,
        data=data,
        metrics=metrics,
        training=training,
        fingerprint=_file_sha1(directory / WEIGHTS)[:16],
        created=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    )
    tmp = directory / (MANIFEST + ".tmp")
    tmp.write_text(json.dumps(manifest.to_dict(), indent=1, ensure_ascii=False))
    tmp.replace(directory / MANIFEST)
    return manifest


def read_manifest(directory: Path) -> Manifest:
    path = directory / MANIFEST
    if not path.is_file():
        raise BundleError(f"no model at {directory} (no {MANIFEST}): run `marketplace train`")
    try:
        raw = json.loads(path.read_text())
    except ValueError as exc:
        raise BundleError(f"{path} is not valid JSON: {exc}") from exc
    return Manifest.from_dict(raw)


def update_metrics(directory: Path, metrics: dict[str, Any]) -> None:
    """Merge evaluation figures into a saved manifest (the weights are untouched)."""
    path = directory / MANIFEST
    raw = json.loads(path.read_text())
    raw["metrics"] = {**raw.get("metrics", {}), **metrics}
    tmp = directory / (MANIFEST + ".tmp")
    tmp.write_text(json.dumps(raw, indent=1, ensure_ascii=False))
    tmp.replace(path)


def load_model(directory: Path) -> tuple[MultimodalModel, Manifest, LabelEncoder]:
    """Rebuild the model from its bundle alone; any disagreement raises ``BundleError``."""
    manifest = read_manifest(directory)
    weights = directory / WEIGHTS
    if not weights.is_file():
        raise BundleError(f"model at {directory} has no {WEIGHTS}")
    if _file_sha1(weights)[:16] != manifest.fingerprint:
        raise BundleError(
            f"{weights} does not match its manifest (fingerprint differs): "
            "the bundle was changed after it was saved"
        )
    try:
        labels = LabelEncoder.load(directory / LABELS)
    except (OSError, ValueError) as exc:
        raise BundleError(f"model at {directory}: cannot read {LABELS}: {exc}") from exc
    if labels.classes != manifest.labels:
        raise BundleError(
            f"{LABELS} ({len(labels)} classes) does not match the manifest's "
            f"{len(manifest.labels)} labels"
        )
    cfg = manifest.config
    prints = manifest.backbone_fingerprints
    image_name = manifest.backbones["image"]
    if image_name not in IMAGE_BACKBONES or image_name == "auto":
        raise BundleError(f"model at {directory} names an unknown image backbone {image_name!r}")
    state = torch.load(weights, map_location="cpu", weights_only=True)
    import_torchvision()  # before transformers, which imports torchvision
    from transformers.initialization import no_init_weights

    # Every weight is overwritten by the bundle's state below (strictly: a missing one
    # raises), so random initialisation would only lengthen a server's start.
    with no_init_weights():
        text = TextEncoder(cfg.text, saved=directory / TEXT_DIR, fingerprint=prints["text"])
        choice = BackboneChoice(image_name, None, "rebuilt from the bundle")
        image = ImageEncoder(cfg.image, choice=choice, fingerprint=prints["image"])
        head = FusionHead(cfg.fusion, text.dim, image.dim, len(labels))
        # The neighbours' size is the training set's, known only from the weights; a bundle
        # saved before they existed has none and predicts photos with the head alone.
        neighbours = PhotoNeighbours.from_state(state, len(labels))
        model = MultimodalModel(text, image, head, word_channel(cfg, len(labels)), neighbours)
    try:
        model.load_state_dict(state)
    except RuntimeError as exc:
        first = str(exc).strip().splitlines()[0]
        raise BundleError(
            f"weights in {directory} do not fit the manifest's config: {first}"
        ) from exc
    return model.eval(), manifest, labels
