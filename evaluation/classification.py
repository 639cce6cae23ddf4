"""Classification evaluation of a saved model on the test split, per product.

Text-only, image-only and fused predictions all come from the model's one
classifier. Besides accuracy the report carries macro-F1, per-class recall and
a confusion matrix, and the accuracy again with the Gumtree boilerplate
("Posted by … in <sub-category> in <town>. <date>") stripped from the
descriptions, since that line names the sub-category and so leaks the answer.
"""

from __future__ import annotations

import dataclasses
import re
import time
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import torch

from evaluation.plots import save_figure  # also puts matplotlib on the headless backend
from multimodal.blending import MODES, evaluate_features, predict_logits
from multimodal.data.catalogue import CleanCatalogue, Listing
from multimodal.data.splits import Split
from multimodal.features import (
    FeatureCache,
    image_trunk_namespace,
    listing_features,
    text_trunk_namespace,
)
from multimodal.fusion import MultimodalModel

BOILERPLATE = re.compile(
    r"Posted by\b[^\n]{0,80}? in [^\n]{1,160}? in [^.\n]{1,80}\.?(?:\s*\d{1,2} [A-Z][a-z]+ \d{4})?"
)
# Figures from the issue, shown beside ours in the report.
PEER_FIGURES = {
    "best public attempts": {
        "text": 0.83,
        "image": "0.60-0.66 (ResNet-50 fine-tuned, GPU)",
        "fused": 0.65,
    },
    "frozen features + logistic regression (product split 70/15/15)": {
        "text": 0.778,
        "image": 0.573,
        "fused (small MLP on both)": 0.794,
    },
    "targets": {"text": 0.86, "image": 0.68, "fused": 0.88},
}


def strip_boilerplate(description: str) -> str:
    """The description without the boilerplate line; untouched when it has none."""
    if not has_boilerplate(description):
        return description
    return " ".join(BOILERPLATE.sub(" ", description).split())


def has_boilerplate(description: str) -> bool:
    return BOILERPLATE.search(description) is not None


def _mode_report(
    logits: torch.Tensor, labels: np.ndarray, keep: np.ndarray, classes: list[str]
) -> dict[str, Any]:
    from sklearn.metrics import f1_score, recall_score

    pred = logits.argmax(1).numpy()[keep]
    true = labels[keep]
    present = sorted(set(true.tolist()))
    recall = recall_score(true, pred, labels=present, average=None, zero_division=0)
    return {
        "accuracy": float((pred == true).mean()) if len(true) else 0.0,
        "macro_f1": float(f1_score(true, pred, labels=present, average="macro", zero_division=0)),
        "listings": len(true),
        "per_class_recall": {classes[c]: float(r) for c, r in zip(present, recall, strict=True)},
    }


def confusion_png(
    logits: torch.Tensor, labels: np.ndarray, classes: list[str], path: Path, title: str
) -> list[list[int]]:
    """Write a row-normalised confusion matrix; returns the raw counts."""
    from sklearn.metrics import confusion_matrix

    counts = confusion_matrix(labels, logits.argmax(1).numpy(), labels=range(len(classes)))
    rates = counts / np.maximum(counts.sum(1, keepdims=True), 1)
    fig, ax = plt.subplots(figsize=(11, 9))
    ax.imshow(rates, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(len(classes)), classes, rotation=60, ha="right", fontsize=8)
    ax.set_yticks(range(len(classes)), classes, fontsize=8)
    for i in range(len(classes)):
        for j in range(len(classes)):
            if counts[i, j]:
                colour = "white" if rates[i, j] > 0.5 else "black"
                ax.text(j, i, str(counts[i, j]), ha="center", va="center", fontsize=7, color=colour)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title)
    save_figure(fig, path, dpi=110)
    return counts.tolist()


def evaluate_split(
    model: MultimodalModel,
    listings: list[Listing],
    classes: list[str],
    catalogue: CleanCatalogue,
    features_root: Path,
    texts: list[str] | None = None,
) -> tuple[dict[str, Any], dict[str, torch.Tensor], np.ndarray, dict[str, Any] | None]:
    """Per-mode figures for ``listings`` (through the feature cache), logits and labels,
    and, when the model has a word channel, the figures of the encoders alone (no
    word channel, no photo-neighbour vote: what those two add), from the same pass."""
    index = {label: i for i, label in enumerate(classes)}
    labels = np.array([index[item.root] for item in listings])
    feats = listing_features(model, listings, catalogue, features_root, texts=texts)
    idx = list(range(len(listings)))
    word_log_probs = None
    if model.word is not None:
        texts = texts if texts is not None else [listing.text for listing in listings]
        word_log_probs = model.word.log_probs(texts)
    _, logits, vectors = evaluate_features(
        model, feats, idx, torch.from_numpy(labels), word_log_probs=word_log_probs
    )
    has_image = vectors["has_image"].numpy()
    everyone = np.ones(len(listings), dtype=bool)

    def per_mode(mode_logits: dict[str, torch.Tensor]) -> dict[str, Any]:
        return {
            mode: _mode_report(
                mode_logits[mode], labels, has_image if mode == "image" else everyone, classes
            )
            for mode in MODES
        }

    encoders_only = (
        per_mode(predict_logits(model.head, vectors)) if word_log_probs is not None else None
    )
    return per_mode(logits), logits, labels, encoders_only


def classification_report(
    model: MultimodalModel,
    manifest,
    catalogue: CleanCatalogue,
    split: Split,
    features_root: Path,
    png_path: Path,
    baselines: dict[str, Any],
) -> dict[str, Any]:
    """The whole ``reports/classification.json`` content (and the confusion-matrix PNG)."""
    started = time.perf_counter()
    classes = list(manifest.labels)
    by_id = catalogue.by_id()
    test = [by_id[i] for i in split.test if i in by_id and by_id[i].root in classes]
    report, logits, labels, encoders_only = evaluate_split(
        model, test, classes, catalogue, features_root
    )
    stripped_texts = [
        dataclasses.replace(item, description=strip_boilerplate(item.description)).text
        for item in test
    ]
    stripped, *_ = evaluate_split(
        model, test, classes, catalogue, features_root, texts=stripped_texts
    )
    counts = confusion_png(
        logits["fused"], labels, classes, png_path, "Fused (text + photos), test split, per product"
    )
    with_bp = [i for i, item in enumerate(test) if has_boilerplate(item.description)]
    timings = manifest.training.get("timings", {})
    return {
        "data": manifest.data,
        "model": {
            "fingerprint": manifest.fingerprint,
            "backbones": manifest.backbones,
            "config": manifest.config.to_dict(),
        },
        "test_listings": len(test),
        "test_listings_with_photos": report["image"]["listings"],
        "accuracy": {mode: report[mode]["accuracy"] for mode in MODES},
        "macro_f1": {mode: report[mode]["macro_f1"] for mode in MODES},
        "per_class_recall": {mode: report[mode]["per_class_recall"] for mode in MODES},
        "boilerplate": {
            "test_listings_with_boilerplate": len(with_bp),
            "accuracy_as_is": {mode: report[mode]["accuracy"] for mode in MODES},
            "accuracy_stripped": {mode: stripped[mode]["accuracy"] for mode in MODES},
        },
        "confusion_matrix": {"mode": "fused", "classes": classes, "counts": counts},
        "baselines": {
            **(
                {
                    "encoders alone (no word channel, no photo vote)": {
                        mode: encoders_only[mode]["accuracy"] for mode in MODES
                    }
                }
                if encoders_only
                else {}
            ),
            "frozen features (stage 1 heads only)": manifest.metrics.get("stage1_test", {}),
            **baselines,
        },
        "peers": PEER_FIGURES,
        "duplicates": (
            f"Re-posted ads (listings sharing a normalised title, a normalised description of "
            f"40+ characters, or both; linked transitively) are kept within one "
            f"split by the split module: {split.duplicate_groups} such groups "
            f"({split.listings_in_duplicate_groups} listings) each sit wholly in train, val "
            f"or test, and all photos of a listing share its split."
        ),
        "timings": {
            "training": timings,
            "feature_extraction": extraction_stats(features_root, model),
            "evaluation_seconds": time.perf_counter() - started,
        },
    }


def extraction_stats(features_root: Path, model: MultimodalModel) -> dict[str, Any]:
    """How long filling the frozen-feature caches took (the cold part of a first run).

    ``complete`` is false when the recorded time does not cover every cached item
    (a fill that was interrupted and resumed), so a partial figure is never taken
    for the whole.
    """
    out = {}
    for name, namespace in (
        ("texts", text_trunk_namespace(model.text)),
        ("photos", image_trunk_namespace(model.image)),
    ):
        cache = FeatureCache(features_root, namespace)
        stats = cache.stats()
        out[name] = {**stats, "cached_items": len(cache), "complete": stats["items"] >= len(cache)}
    return out
