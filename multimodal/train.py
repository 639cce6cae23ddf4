"""Training: stage 1 on cached frozen features, stage 2 adapting the encoders' tops.

The loss on every batch of listings is

- cross-entropy on the root category, read from the text-only, photo-only and
  fused joint vectors (one classifier serves all three);
- a symmetric InfoNCE between each listing's text and its photos, so a text
  query finds photos and a photo finds texts;
- for listings with two photos, a photo → listing term (one photo must find
  its listing fused from the text and the *other* photo) and a photo ↔ photo
  term, so a buyer's own photo of an item finds its listing;
- a small term pulling each listing towards the text vector of its category's
  name, so a query like "Home & Garden" finds such listings.

Stage 1 trains the heads on pooled features of the frozen backbones (seconds
per epoch). Stage 2 also fine-tunes the top text layers and the last image
block(s) on the cached activations below them, with mirrored activation maps as
augmentation. Both stop early on validation accuracy and keep the best state.
"""

from __future__ import annotations

import copy
import logging
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

from multimodal.config import TrainConfig
from multimodal.features import ListingFeatures, length_order, pad_states, text_trunk_states
from multimodal.fusion import FusionHead, MultimodalModel
from multimodal.losses import category_loss, info_nce, symmetric_info_nce
from multimodal.photo_neighbours import PhotoNeighbours
from multimodal.photo_neighbours import fit as fit_neighbours
from multimodal.precision import autocast, resolve_precision
from multimodal.word_channel import WordChannel

log = logging.getLogger(__name__)
MODES = ("text", "image", "fused")


@dataclass
class Batch:
    """Encoder outputs for a batch of listings, before the fusion head."""

    text: torch.Tensor  # [B, text_dim]
    photos: torch.Tensor  # [B, P, image_dim]
    mask: torch.Tensor  # [B, P] bool
    labels: torch.Tensor  # [B]
    same_text: torch.Tensor  # [B, B] bool: identical texts (re-posted ads)


def sample_photo_rows(
    rows: Sequence[np.ndarray], per_listing: int, rng: np.random.Generator | None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Up to ``per_listing`` photo rows per listing (random ones when ``rng`` is given)."""
    index = torch.zeros(len(rows), per_listing, dtype=torch.long)
    mask = torch.zeros(len(rows), per_listing, dtype=torch.bool)
    for i, own in enumerate(rows):
        chosen = rng.permutation(own)[:per_listing] if rng is not None else own[:per_listing]
        index[i, : len(chosen)] = torch.from_numpy(np.asarray(chosen, dtype=np.int64))
        mask[i, : len(chosen)] = True
    return index, mask


def same_text_matrix(keys: Sequence[str]) -> torch.Tensor:
    codes = {k: i for i, k in enumerate(dict.fromkeys(keys))}
    ids = torch.tensor([codes[k] for k in keys])
    return ids[:, None] == ids[None, :]


def joint_losses(
    head: FusionHead, batch: Batch, names: torch.Tensor, cfg: TrainConfig
) -> dict[str, torch.Tensor]:
    """All loss terms for one batch; ``names`` are text features of the category names."""
    b, p, d = batch.photos.shape
    text = head.embed_text(batch.text)
    photos = head.embed_photos(batch.photos.reshape(b * p, d)).reshape(b, p, -1)
    has = batch.mask.any(1)
    pooled = head.pool_photos(photos, batch.mask)
    fused = torch.where(has[:, None], F.normalize(text + pooled, dim=-1), text)
    y = batch.labels

    ce = category_loss(head.classify(text), y) + category_loss(head.classify(fused), y)
    ce = ce + (category_loss(head.classify(pooled[has]), y[has]) if has.any() else 0.0)
    scale = head.scale
    zero = text.new_zeros(())
    text_photo = (
        symmetric_info_nce(text[has], pooled[has], scale, batch.same_text[has][:, has])
        if has.sum() > 1
        else zero
    )
    two = batch.mask[:, 1] if p > 1 else torch.zeros(b, dtype=torch.bool)
    if two.sum() > 1:
        first, second = photos[two, 0], photos[two, 1]
        others = F.normalize(text[two] + second, dim=-1)
        same = batch.same_text[two][:, two]
        photo_listing = 0.5 * (
            info_nce(first, others, scale, same) + symmetric_info_nce(first, second, scale, same)
        )
    else:
        photo_listing = zero
    name_vectors = head.embed_text(names)
    label_name = category_loss(scale * fused @ name_vectors.T, y)
    total = (
        cfg.ce_weight * ce / 3
        + cfg.text_photo_weight * text_photo
        + cfg.photo_listing_weight * photo_listing
        + cfg.label_name_weight * label_name
    )
    return {
        "total": total,
        "ce": ce.detach() / 3,
        "text_photo": text_photo.detach(),
        "photo_listing": photo_listing.detach(),
        "label_name": label_name.detach(),
    }


@torch.no_grad()
def joint_vectors(
    head: FusionHead,
    text: torch.Tensor,
    photo_feats: torch.Tensor,
    rows: Sequence[np.ndarray],
) -> dict[str, torch.Tensor]:
    """Text-only, image-only and fused joint vectors of listings, using all their photos.

    ``photo_feats`` holds one feature row per photo; ``rows[i]`` are listing i's rows.
    ``has_image`` marks the listings that have photos.
    """
    head.eval()
    t = head.embed_text(text)
    v, has = photo_joint_vectors(head, photo_feats, rows)
    fused = torch.where(has[:, None], F.normalize(t + v, dim=-1), t)
    return {"text": t, "image": v, "fused": fused, "has_image": has}


@torch.no_grad()
def photo_joint_vectors(
    head: FusionHead, photo_feats: torch.Tensor, rows: Sequence[np.ndarray]
) -> tuple[torch.Tensor, torch.Tensor]:
    """Image-only joint vectors of listings (zero without photos) and which have photos."""
    head.eval()
    per_photo = head.embed_photos(photo_feats) if len(photo_feats) else photo_feats
    most = max((len(r) for r in rows), default=0) or 1
    index, mask = sample_photo_rows(rows, most, rng=None)
    dim = head.cfg.embed_dim
    gathered = per_photo[index] if len(per_photo) else torch.zeros(len(rows), most, dim)
    return head.pool_photos(gathered, mask), mask.any(1)


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
        for mode in ("text", "fused"):
            out[mode] = word.blend(out[mode], word_log_probs)
    return out


MIX_GRID = [(a, b) for a in (0.0, 0.5, 1.0, 2.0) for b in (0.0, 0.25, 0.5, 1.0)]
# The weakly regularised word channel is confident, so its weight beside the encoders'
# log-probabilities ranged 2-5 on validation across its settings: a top of 3 cut some off.
WORD_GRID = (0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 5.0, 6.0, 8.0)
BLENDED = ("text", "fused")  # the predictions the word channel joins


@torch.no_grad()
def tune_mix_weights(
    head: FusionHead,
    vectors: dict[str, torch.Tensor],
    labels: torch.Tensor,
    word: WordChannel | None = None,
    word_log_probs: torch.Tensor | None = None,
) -> dict[str, float | tuple[float, float]]:
    """Pick the ``mix_weights`` (and the word channel's weight) with the best validation
    accuracy: the fused prediction's, plus the text-only one's for the word weight,
    which both use. Ties go to the simplest (earliest in the grids)."""
    best, best_acc = ((0.0, 0.0), 0.0), -1.0
    for word_weight in WORD_GRID if word is not None else (0.0,):
        if word is not None:
            word.weight.fill_(word_weight)
        for weights in MIX_GRID:
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


# -- encoder outputs from cached trunk activations ------------------------------------


def top_text_features(
    model: MultimodalModel, feats: ListingFeatures, idx: Sequence[int], batch_size: int = 64
) -> torch.Tensor:
    """Pooled text features through the (possibly fine-tuned) top layers, no grad."""
    model.text.eval()
    idx = list(idx)
    order = length_order([feats.text_states[i] for i in idx])
    out = torch.zeros(len(idx), model.text.dim)
    with torch.no_grad():
        for start in range(0, len(order), batch_size):
            rows = order[start : start + batch_size]
            states = [feats.text_states[idx[r]] for r in rows]
            out[rows] = model.text.top(*pad_states(states))
    return out


def top_photo_features(
    model: MultimodalModel, maps: np.ndarray, batch_size: int = 64
) -> torch.Tensor:
    """Pooled photo features through the (possibly fine-tuned) top blocks, no grad."""
    model.image.eval()
    out = []
    with torch.no_grad():
        for start in range(0, len(maps), batch_size):
            chunk = torch.from_numpy(maps[start : start + batch_size].astype(np.float32))
            out.append(model.image.top(chunk))
    return torch.cat(out) if out else torch.zeros(0, model.image.dim)


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
    photos, local = _photo_features(model, feats, idx, pooled)
    text = pooled[0][list(idx)] if pooled is not None else top_text_features(model, feats, idx)
    vectors = joint_vectors(model.head, text, photos, local)
    word = word_log_probs[list(idx)] if word_log_probs is not None else None
    logits = predict_logits(model.head, vectors, model.word, word, model.neighbours)
    return accuracies(logits, labels, vectors["has_image"]), logits, vectors


def _photo_features(
    model: MultimodalModel,
    feats: ListingFeatures,
    idx: Sequence[int],
    pooled: tuple[torch.Tensor, torch.Tensor] | None,
) -> tuple[torch.Tensor, list[np.ndarray]]:
    """Pooled features of the photos of listings ``idx`` and each listing's rows in them."""
    rows_all = [feats.photo_rows[i] for i in idx]
    photo_rows = np.concatenate(rows_all) if rows_all else np.zeros(0, np.int64)
    local, start = [], 0
    for r in rows_all:
        local.append(np.arange(start, start + len(r)))
        start += len(r)
    if pooled is not None:
        return pooled[1][torch.from_numpy(photo_rows.astype(np.int64)), 0], local
    return top_photo_features(model, feats.maps[photo_rows]), local


def fit_photo_neighbours(
    model: MultimodalModel,
    data: TrainData,
    val_vectors: dict[str, torch.Tensor],
    pooled: tuple[torch.Tensor, torch.Tensor] | None = None,
) -> dict[str, float]:
    """Set ``model.neighbours`` to the training listings' image-only joint vectors, with
    the vote's settings tuned on validation image-only accuracy (``photo_neighbours.fit``).

    ``val_vectors`` are the final model's vectors of ``data.val_idx``; the training ones
    come from the same features (``pooled``: the frozen tops, when stage 2 did not run).
    Returns the chosen settings and the validation image-only accuracy before and after.
    """
    photos, local = _photo_features(model, data.feats, data.train_idx, pooled)
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
    )
    return chosen.to_dict()


# -- the two stages ---------------------------------------------------------------------


@dataclass
class TrainData:
    feats: ListingFeatures
    labels: torch.Tensor  # per listing in ``feats``
    train_idx: list[int]
    val_idx: list[int]
    label_names: list[str]
    word_log_probs: torch.Tensor | None = None  # per listing, from the fitted word channel


def _batches(
    n: int, size: int, rng: np.random.Generator, lengths: np.ndarray | None = None
) -> Iterator[np.ndarray]:
    """Shuffled batches of positions; with ``lengths``, of similar lengths (less padding),
    in random order. Batches of one are dropped: contrastive terms need two listings."""
    if lengths is None:
        order = rng.permutation(n)
    else:  # sort by length with jitter, so batches differ between epochs
        order = np.argsort(lengths * rng.uniform(0.8, 1.25, size=n), kind="stable")
    chunks = [order[start : start + size] for start in range(0, n, size)]
    for i in rng.permutation(len(chunks)):
        if len(chunks[i]) > 1:
            yield chunks[i]


def _freeze_batchnorm(module: nn.Module) -> None:
    """Keep pretrained BatchNorm statistics: small batches would only add noise."""
    for m in module.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            m.eval()


class _Logger:
    """TensorBoard scalars under ``runs_dir`` (nothing when ``runs_dir`` is None)."""

    def __init__(self, runs_dir: Path | None) -> None:
        self.writer = None
        if runs_dir is not None:
            from torch.utils.tensorboard import SummaryWriter

            run = runs_dir / time.strftime("%Y%m%d-%H%M%S")
            self.writer = SummaryWriter(log_dir=str(run))
        self.step = 0

    def scalars(self, prefix: str, values: dict[str, float], step: int | None = None) -> None:
        if self.writer is not None:
            for key, value in values.items():
                self.writer.add_scalar(f"{prefix}/{key}", float(value), step or self.step)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


def _run_stage(
    name: str,
    model: MultimodalModel,
    data: TrainData,
    make_batch: Callable[[np.ndarray, np.random.Generator], Batch],
    lengths: np.ndarray | None,
    names: Callable[[], torch.Tensor],
    validate: Callable[[], dict[str, float]],
    params: list[dict],
    epochs: int,
    patience: int,
    batch_size: int,
    cfg: TrainConfig,
    logger: _Logger,
    set_train_mode: Callable[[], None],
    precision: Literal["fp32", "bf16"] = "fp32",
) -> list[dict]:
    """One stage's loop: AdamW + cosine schedule, early stopping, best state restored.

    The forward pass runs in ``precision`` (autocast: fp32 weights and optimiser
    state, bf16 matrix products), the backward pass follows it."""
    rng = np.random.default_rng(cfg.seed + (0 if name == "stage1" else 1))
    optimiser = torch.optim.AdamW(params, weight_decay=cfg.weight_decay)
    steps = max(1, epochs * ((len(data.train_idx) + batch_size - 1) // batch_size))
    schedule = torch.optim.lr_scheduler.OneCycleLR(
        optimiser,
        max_lr=[g["lr"] for g in params],
        total_steps=steps,
        pct_start=0.1,
        anneal_strategy="cos",
    )
    best_score, best_state, stale, history = -1.0, None, 0, []
    train_idx = np.asarray(data.train_idx)
    for epoch in range(1, epochs + 1):
        set_train_mode()
        batches = list(_batches(len(train_idx), batch_size, rng, lengths))
        sums: dict[str, float] = {}
        bar = tqdm(batches, desc=f"{name} epoch {epoch}/{epochs}", unit="batch", leave=False)
        for chunk in bar:
            with autocast(precision):
                batch = make_batch(train_idx[chunk], rng)
                losses = joint_losses(model.head, batch, names(), cfg)
            optimiser.zero_grad()
            losses["total"].backward()
            optimiser.step()
            if schedule.last_epoch + 1 < steps:
                schedule.step()
            logger.step += 1
            logger.scalars(f"{name}/loss", {k: float(v.detach()) for k, v in losses.items()})
            logger.scalars(f"{name}/lr", {"head": optimiser.param_groups[0]["lr"]})
            for key, value in losses.items():
                sums[key] = sums.get(key, 0.0) + float(value.detach())
            bar.set_postfix(loss=f"{float(losses['total'].detach()):.3f}")
        acc = validate()
        score = selection_score(acc)
        row = {
            "stage": name,
            "epoch": epoch,
            **{f"loss_{k}": v / max(1, len(batches)) for k, v in sums.items()},
            **{f"val_{k}": v for k, v in acc.items()},
        }
        history.append(row)
        logger.scalars(f"{name}/val_accuracy", acc, step=logger.step)
        log.info(
            "%s epoch %d: loss %.3f, val text %.3f image %.3f fused %.3f",
            name,
            epoch,
            row["loss_total"],
            acc["text"],
            acc["image"],
            acc["fused"],
        )
        if score > best_score:
            best_score, stale = score, 0
            best_state = copy.deepcopy(model.state_dict())
        else:
            stale += 1
            if stale >= patience:
                break
    if best_state is not None:
        model.load_state_dict(best_state)
    return history


def _name_states(model: MultimodalModel, names: Sequence[str], root: Path):
    states, _ = text_trunk_states(model.text, list(names), root)
    return pad_states(states)


def train_model(
    model: MultimodalModel,
    data: TrainData,
    cfg: TrainConfig,
    features_root: Path,
    pooled: tuple[torch.Tensor, torch.Tensor],
    runs_dir: Path | None = None,
    after_stage1: Callable[[], None] | None = None,
) -> dict:
    """Train ``model`` in place; returns the history, per-stage val accuracies and timings.

    ``after_stage1`` runs between the stages (to record the frozen-feature figures).
    """
    torch.manual_seed(cfg.seed)
    logger = _Logger(runs_dir)
    feats, labels = data.feats, data.labels
    timings: dict[str, float] = {}
    name_hidden, name_mask = _name_states(model, data.label_names, features_root)
    with torch.no_grad():
        frozen_names = model.text.top(name_hidden, name_mask)

    # stage 1: heads only, on pooled frozen features
    text_pooled, photo_pooled = pooled
    model.text.requires_grad_(False)
    model.image.requires_grad_(False)

    def stage1_batch(idx: np.ndarray, rng: np.random.Generator) -> Batch:
        index, mask = sample_photo_rows([feats.photo_rows[i] for i in idx], 2, rng)
        view = torch.from_numpy(rng.integers(0, 2, size=index.shape)) if cfg.flip_features else 0
        photos = photo_pooled[index, view] if len(photo_pooled) else _no_photos(index, model)
        return Batch(
            text=text_pooled[idx],
            photos=photos,
            mask=mask,
            labels=labels[idx],
            same_text=same_text_matrix([feats.text_keys[i] for i in idx]),
        )

    def stage1_val() -> dict[str, float]:
        return evaluate_features(model, feats, data.val_idx, labels[data.val_idx], pooled)[0]

    start = time.perf_counter()
    history = _run_stage(
        "stage1",
        model,
        data,
        stage1_batch,
        None,
        lambda: frozen_names,
        stage1_val,
        [{"params": list(model.head.parameters()), "lr": cfg.lr}],
        cfg.epochs,
        cfg.patience,
        cfg.batch_size,
        cfg,
        logger,
        lambda: model.head.train(),
    )
    timings["stage1_seconds"] = time.perf_counter() - start
    result = {"stage1_val": stage1_val(), "history": history}
    if after_stage1 is not None:
        after_stage1()

    if cfg.stage2:
        start = time.perf_counter()
        text_params = model.text.top_parameters()
        image_params = list(model.image.top.parameters())
        for p in text_params + image_params:
            p.requires_grad_(True)

        def stage2_batch(idx: np.ndarray, rng: np.random.Generator) -> Batch:
            states = [feats.text_states[i] for i in idx]
            text = model.text.top(*pad_states(states))
            index, mask = sample_photo_rows(
                [feats.photo_rows[i] for i in idx], cfg.photos_per_listing, rng
            )
            chosen = index[mask]
            if len(chosen):
                maps = torch.from_numpy(feats.maps[chosen.numpy()].astype(np.float32))
                if cfg.flip_features:
                    flip = torch.from_numpy(rng.random(len(maps)) < 0.5)
                    maps = torch.where(flip[:, None, None, None], maps.flip(3), maps)
                pooled_maps = model.image.top(maps)
                photos = pooled_maps.new_zeros(*index.shape, model.image.dim)
                photos[mask] = pooled_maps
            else:
                photos = _no_photos(index, model)
            return Batch(
                text=text,
                photos=photos,
                mask=mask,
                labels=labels[idx],
                same_text=same_text_matrix([feats.text_keys[i] for i in idx]),
            )

        def stage2_names() -> torch.Tensor:
            return model.text.top(name_hidden, name_mask)

        def stage2_val() -> dict[str, float]:
            return evaluate_features(model, feats, data.val_idx, labels[data.val_idx])[0]

        def stage2_mode() -> None:
            model.train()
            _freeze_batchnorm(model.image)

        history += _run_stage(
            "stage2",
            model,
            data,
            stage2_batch,
            np.array([len(feats.text_states[i]) for i in data.train_idx], dtype=np.float64),
            stage2_names,
            stage2_val,
            [
                {"params": list(model.head.parameters()), "lr": cfg.stage2_lr},
                {"params": text_params, "lr": cfg.stage2_encoder_lr},
                {"params": image_params, "lr": cfg.stage2_encoder_lr * 2},
            ],
            cfg.stage2_epochs,
            cfg.stage2_patience,
            cfg.stage2_batch_size,
            cfg,
            logger,
            stage2_mode,
            resolve_precision(cfg.precision),
        )
        timings["stage2_seconds"] = time.perf_counter() - start
    val_labels = labels[data.val_idx]
    # Without stage 2 the tops are still the frozen ones, so their cached outputs serve
    # (running the text layers and image block over validation again costs ~20 s).
    frozen = None if cfg.stage2 else pooled
    _, _, vectors = evaluate_features(model, feats, data.val_idx, val_labels, frozen)
    word = data.word_log_probs
    val_word = None if word is None else word[data.val_idx]
    result["mix"] = tune_mix_weights(model.head, vectors, val_labels, model.word, val_word)
    start = time.perf_counter()
    result["neighbours"] = fit_photo_neighbours(model, data, vectors, frozen)
    timings["neighbours_seconds"] = time.perf_counter() - start
    has_image = vectors["has_image"]
    blended = predict_logits(model.head, vectors, model.word, val_word, model.neighbours)
    result["final_val"] = accuracies(blended, val_labels, has_image)
    result["encoders_val"] = accuracies(predict_logits(model.head, vectors), val_labels, has_image)
    logger.close()
    model.eval()
    model.requires_grad_(False)
    result["timings"] = timings
    return result


def _no_photos(index: torch.Tensor, model: MultimodalModel) -> torch.Tensor:
    return torch.zeros(*index.shape, model.image.dim)


# -- the whole run: data → features → training → bundle ----------------------------------


def catalogue_fingerprint(listings: Sequence) -> str:
    """What the model was trained on: ids, categories, texts and photo ids of the listings."""
    import hashlib

    digest = hashlib.sha1()
    for listing in sorted(listings, key=lambda item: item.id):
        digest.update(
            "\x1f".join([listing.id, listing.category, listing.text, *listing.image_ids]).encode()
        )
        digest.update(b"\x1e")
    return digest.hexdigest()[:16]


def run_training(catalogue, ws, model_cfg, cfg: TrainConfig) -> tuple:
    """Train on ``catalogue`` (a ``CleanCatalogue``) and save the bundle in ``ws.model_dir``.

    ``ws`` (a ``Workspace``) also gives the split file, feature cache and runs
    folder. Returns the manifest and the result dict (history, timings). The
    saved split decides train/val/test; the test split is only used to record
    the frozen-feature (stage-1) figures as a baseline.
    """
    from multimodal.bundle import new_model, save_bundle
    from multimodal.data.labels import LabelEncoder
    from multimodal.data.splits import load_or_make_split
    from multimodal.features import frozen_pooled, listing_features

    started = time.perf_counter()
    torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    listings = list(catalogue.listings)
    split = load_or_make_split(ws.split_file, listings)
    labels = LabelEncoder.fit(listing.root for listing in listings)
    by_id = catalogue.by_id()
    ordered = [by_id[i] for name in ("train", "val", "test") for i in split.ids(name)]
    n_train, n_val = len(split.train), len(split.val)

    model = new_model(model_cfg, len(labels))
    feats = listing_features(model, ordered, catalogue, ws.features_dir)
    features_done = time.perf_counter()
    pooled = frozen_pooled(model, feats, ws.features_dir)
    pooled_done = time.perf_counter()
    y = torch.tensor([labels.encode(listing.root) for listing in ordered])
    word_log_probs, word_reused = None, False
    if model.word is not None:  # fitted first, on the training texts only
        word_reused = model.word.fit_cached(
            [listing.text for listing in ordered[:n_train]],
            y[:n_train].numpy(),
            ws.features_dir / "word-channel",
        )
        word_log_probs = model.word.log_probs([listing.text for listing in ordered])
    word_done = time.perf_counter()
    data = TrainData(
        feats=feats,
        labels=y,
        train_idx=list(range(n_train)),
        val_idx=list(range(n_train, n_train + n_val)),
        label_names=labels.classes,
        word_log_probs=word_log_probs,
    )
    test_idx = list(range(n_train + n_val, len(ordered)))
    stage1_test: dict[str, float] = {}

    def record_stage1_test() -> None:
        if test_idx:
            stage1_test.update(evaluate_features(model, feats, test_idx, y[test_idx], pooled)[0])

    result = train_model(
        model,
        data,
        cfg,
        ws.features_dir,
        pooled,
        runs_dir=ws.runs_dir,
        after_stage1=record_stage1_test,
    )
    timings = {
        "feature_seconds": features_done - started,
        "pooled_seconds": pooled_done - features_done,
        "word_channel_seconds": word_done - pooled_done,
        **result["timings"],
        "total_seconds": time.perf_counter() - started,
        "extracted": feats.computed,
        "cold": any(feats.computed.values()),
        "word_channel_reused": word_reused,
    }
    metrics = {
        "val": result["final_val"],
        "val_encoders_only": result["encoders_val"],
        "mix_weights": list(result["mix"]["mix_weights"]),
        "word_weight": result["mix"]["word_weight"],
        "photo_neighbours": result["neighbours"],
        "stage1_val": result["stage1_val"],
        "stage1_test": stage1_test,
    }
    manifest = save_bundle(
        ws.model_dir,
        model,
        model_cfg,
        labels,
        data={
            "data_dir": str(ws.data_dir),
            "catalogue_fingerprint": catalogue_fingerprint(listings),
            "listings": len(listings),
            "split": {name: len(split.ids(name)) for name in ("train", "val", "test")},
            "split_seed": split.seed,
            "duplicate_groups": split.duplicate_groups,
        },
        metrics=metrics,
        training={"config": _asdict(cfg), "timings": timings, "history": result["history"]},
    )
    return manifest, {**result, "timings": timings}


def _asdict(cfg: TrainConfig) -> dict:
    from dataclasses import asdict

    return asdict(cfg)
