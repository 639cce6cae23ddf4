"""Predictions from joint vectors, their accuracies, and the settings tuned on validation.

After training, three things are chosen on the validation listings, each from a
grid in ``TrainConfig``: the head's ``mix_weights`` (how much the text-only and
image-only predictions add to the fused one), the word channel's weight, and the
photo-neighbour vote (``photo_neighbours.fit``). They travel with the weights.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from multimodal.config import NeighbourGrid, TrainConfig
from multimodal.features import ListingFeatures
from multimodal.fusion import FusionHead, MultimodalModel
from multimodal.listing_vectors import (
    joint_vectors,
    listing_photo_features,
    photo_joint_vectors,
    top_text_features,
)
from multimodal.photo_neighbours import PhotoNeighbours
from multimodal.photo_neighbours import fit as fit_neighbours
from multimodal.train_data import TrainData
from multimodal.word_channel import WordChannel

MODES = ("text", "image", "fused")
BLENDED = ("text", "fused")  # the predictions the word channel joins


@torch.no_grad()
def predict_logits(
    head: FusionHead,
    vectors: dict[str, torch.Tensor],
    word: WordChannel | None = None,
    word_log_probs: torch.Tensor | None = None,
    neighbours: PhotoNeighbours | None = None,
) -> dict[str, torch.Tensor]:
    """Text-only and image-only logits from their vectors; fused from ``classify_listing``.

    With a ``word`` channel and its log-probabilities for these listings, the text and
    fused predictions blend them in (the image-only one has no text to read). With
    ``neighbours``, the image-only prediction blends in their vote.
    """
    head.eval()
    out = {mode: head.classify(vectors[mode]) for mode in ("text", "image")}
    if neighbours is not None:
        out["image"] = neighbours.blend(out["image"], vectors["image"])
    out["fused"] = head.classify_listing(
        vectors["fused"], vectors["text"], vectors["image"], vectors["has_image"]
    )
    if word is not None and word_log_probs is not None:
        for mode in BLENDED:
            out[mode] = word.blend(out[mode], word_log_probs)
    return out


@torch.no_grad()
def tune_mix_weights(
    head: FusionHead,
    vectors: dict[str, torch.Tensor],
    labels: torch.Tensor,
    cfg: TrainConfig,
    word: WordChannel | None = None,
    word_log_probs: torch.Tensor | None = None,
) -> dict[str, float | tuple[float, float]]:
    """Pick the ``mix_weights`` (``cfg.mix_grid``) and the word channel's weight
    (``cfg.word_grid``) with the best validation accuracy: the fused prediction's,
    plus the text-only one's for the word weight, which both use. Ties go to the
    simplest (earliest in the grids)."""
    best, best_acc = ((0.0, 0.0), 0.0), -1.0
    for word_weight in cfg.word_grid if word is not None else (0.0,):
        if word is not None:
            word.weight.fill_(word_weight)
        for weights in cfg.mix_grid:
            head.mix_weights.copy_(torch.tensor(weights))
            logits = predict_logits(head, vectors, word, word_log_probs)
            acc = sum(float((logits[m].argmax(1) == labels).float().mean()) for m in BLENDED)
            if acc > best_acc + 1e-9:
                best, best_acc = (weights, word_weight), acc
    head.mix_weights.copy_(torch.tensor(best[0]))
    if word is not None:
        word.weight.fill_(best[1])
    return {"mix_weights": best[0], "word_weight": best[1]}


def accuracies(
    logits: dict[str, torch.Tensor], labels: torch.Tensor, has_image: torch.Tensor
) -> dict[str, float]:
    """Per-listing accuracy; image-only counts only the listings that have photos."""
    out = {}
    for mode in MODES:
        keep = has_image if mode == "image" else torch.ones_like(has_image)
        hits = logits[mode].argmax(1)[keep] == labels[keep]
        out[mode] = float(hits.float().mean()) if keep.any() else 0.0
    return out


def selection_score(acc: dict[str, float]) -> float:
    """What early stopping maximises: all three modes count, so none is sacrificed."""
    return sum(acc.values()) / len(acc)


def evaluate_features(
    model: MultimodalModel,
    feats: ListingFeatures,
    idx: Sequence[int],
    labels: torch.Tensor,
    pooled: tuple[torch.Tensor, torch.Tensor] | None = None,
    word_log_probs: torch.Tensor | None = None,
) -> tuple[dict[str, float], dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """Accuracies, logits and joint vectors for listings ``idx`` of ``feats``.

    With ``pooled`` (stage 1) the frozen features are used; otherwise the tops run.
    ``word_log_probs`` (rows aligned with ``feats``) blend in the model's word channel.
    """
    photos, local = listing_photo_features(model, feats, idx, pooled)
    text = pooled[0][list(idx)] if pooled is not None else top_text_features(model, feats, idx)
    vectors = joint_vectors(model.head, text, photos, local)
    word = word_log_probs[list(idx)] if word_log_probs is not None else None
    logits = predict_logits(model.head, vectors, model.word, word, model.neighbours)
    return accuracies(logits, labels, vectors["has_image"]), logits, vectors


def fit_photo_neighbours(
    model: MultimodalModel,
    data: TrainData,
    val_vectors: dict[str, torch.Tensor],
    grid: NeighbourGrid,
    pooled: tuple[torch.Tensor, torch.Tensor] | None = None,
) -> dict[str, float]:
    """Set ``model.neighbours`` to the training listings' image-only joint vectors, with
    the vote's settings from ``grid`` tuned on validation image-only accuracy
    (``photo_neighbours.fit``).

    ``val_vectors`` are the final model's vectors of ``data.val_idx``; the training ones
    come from the same features (``pooled``: the frozen tops, when stage 2 did not run).
    Returns the chosen settings and the validation image-only accuracy before and after.
    """
    photos, local = listing_photo_features(model, data.feats, data.train_idx, pooled)
    train_vectors, _ = photo_joint_vectors(model.head, photos, local)
    has = val_vectors["has_image"]
    val_images = val_vectors["image"][has]
    with torch.no_grad():
        head_logits = model.head.classify(val_images)
    model.neighbours, chosen = fit_neighbours(
        train_vectors,
        data.labels[data.train_idx],
        len(data.label_names),
        val_images,
        data.labels[data.val_idx][has],
        head_logits,
        grid,
    )
    return chosen.to_dict()
