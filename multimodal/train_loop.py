"""The training loop, and the two stages it runs.

Stage 1 trains the heads on pooled features of the frozen backbones (seconds
per epoch). Stage 2 also fine-tunes the top text layers and the last image
block(s) on the cached activations below them, with mirrored activation maps as
augmentation. Both stop early on validation accuracy and keep the best state.
"""

from __future__ import annotations

import copy
import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from multimodal.blending import evaluate_features, selection_score
from multimodal.config import TrainConfig
from multimodal.device import device_of, to_device
from multimodal.features import pad_states
from multimodal.fusion import MultimodalModel
from multimodal.losses import joint_losses
from multimodal.precision import Resolved, autocast, resolve_precision
from multimodal.progress import Progress
from multimodal.train_data import Batch, TrainData, same_text_matrix, sample_photo_rows

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ParamGroup:
    """Parameters that train at one peak learning rate."""

    params: list[nn.Parameter]
    lr: float


@dataclass(frozen=True)
class Stage:
    """One stage of training: which parameters train and how fast, on which batches,
    for how long, and what decides when it stops."""

    name: str
    param_groups: tuple[ParamGroup, ...]
    epochs: int
    patience: int  # epochs without a better validation score before stopping
    batch_size: int
    seed: int  # of the batch order and the photos sampled
    # (rows of ``TrainData.feats`` of the batch's listings, rng) → their encoder outputs
    make_batch: Callable[[np.ndarray, np.random.Generator], Batch]
    category_names: Callable[[], torch.Tensor]  # text features of the category names
    validate: Callable[[], dict[str, float]]  # validation accuracy per mode
    train_mode: Callable[[], None]  # puts the modules that train in training mode
    # per training listing: batches are made of similar lengths (less padding); None: shuffled
    lengths: np.ndarray | None = None
    # the forward pass (autocast: fp32 weights and optimiser state, half-precision
    # matrix products; fp16 only on a GPU without bf16, with its gradients scaled)
    precision: Resolved = "fp32"


class TensorBoardLogger:
    """TensorBoard scalars under ``runs_dir`` (nothing when ``runs_dir`` is None)."""

    def __init__(self, runs_dir: Path | None, progress: Progress | None = None) -> None:
        self.writer = None
        # where another process follows the loop (``multimodal.progress``): batches done
        self.progress = progress or Progress(None)
        if runs_dir is not None:
            from torch.utils.tensorboard import SummaryWriter

            run = runs_dir / time.strftime("%Y%m%d-%H%M%S")
            self.writer = SummaryWriter(log_dir=str(run))
        self.step = 0

    def scalars(self, prefix: str, values: dict[str, float], step: int | None = None) -> None:
        if self.writer is not None:
            for key, value in values.items():
                self.writer.add_scalar(f"{prefix}/{key}", float(value), step or self.step)

    def batch_done(self, stage: str, epoch: int, epochs: int, done: int, per_epoch: int) -> None:
        """``done`` batches of ``epoch`` are finished: the stage's share, for the progress."""
        at = (epoch - 1) * per_epoch + done
        self.progress.update(stage, at, epochs * per_epoch, f"epoch {epoch}/{epochs}")

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


def shuffled_batches(
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


def run_stage(
    stage: Stage,
    model: MultimodalModel,
    train_idx: list[int],
    cfg: TrainConfig,
    logger: TensorBoardLogger,
) -> list[dict]:
    """One stage's loop: AdamW + cosine schedule, early stopping, best state restored.

    ``cfg`` gives the loss weights and the weight decay, the same for every stage.
    It runs where the model's heads are (``stage.make_batch`` puts batches there).
    Returns one history row per epoch (mean losses and validation accuracies).
    """
    device = device_of(model.head)
    # fp16's narrow range underflows small gradients: scale the loss (a no-op otherwise)
    scaler = torch.amp.GradScaler(device.type, enabled=stage.precision == "fp16")
    groups = [{"params": group.params, "lr": group.lr} for group in stage.param_groups]
    rng = np.random.default_rng(stage.seed)
    # The fused kernel gives the same updates as the per-tensor loop (bit for bit in a
    # 50-step check) in a fifth of the time on a 2-core CPU (2.4 against 11 ms a step)
    fused = device.type in ("cpu", "cuda")
    optimiser = torch.optim.AdamW(groups, weight_decay=cfg.weight_decay, fused=fused)
    steps = max(1, stage.epochs * ((len(train_idx) + stage.batch_size - 1) // stage.batch_size))
    schedule = torch.optim.lr_scheduler.OneCycleLR(
        optimiser,
        max_lr=[group.lr for group in stage.param_groups],
        total_steps=steps,
        pct_start=0.1,
        anneal_strategy="cos",
    )
    best_score, best_state, stale, history = -1.0, None, 0, []
    listings = np.asarray(train_idx)
    for epoch in range(1, stage.epochs + 1):
        stage.train_mode()
        batches = list(shuffled_batches(len(listings), stage.batch_size, rng, stage.lengths))
        sums: dict[str, float] = {}
        desc = f"{stage.name} epoch {epoch}/{stage.epochs}"
        bar = tqdm(batches, desc=desc, unit="batch", leave=False)
        for position, chunk in enumerate(bar, 1):
            with autocast(stage.precision, device.type):
                batch = stage.make_batch(listings[chunk], rng)
                losses = joint_losses(model.head, batch, stage.category_names(), cfg)
            optimiser.zero_grad()
            scaler.scale(losses["total"]).backward()
            scaler.step(optimiser)
            scaler.update()
            if schedule.last_epoch + 1 < steps:
                schedule.step()
            logger.step += 1
            logger.scalars(f"{stage.name}/loss", {k: float(v.detach()) for k, v in losses.items()})
            logger.scalars(f"{stage.name}/lr", {"head": optimiser.param_groups[0]["lr"]})
            for key, value in losses.items():
                sums[key] = sums.get(key, 0.0) + float(value.detach())
            bar.set_postfix(loss=f"{float(losses['total'].detach()):.3f}")
            logger.batch_done(stage.name, epoch, stage.epochs, position, len(batches))
        acc = stage.validate()
        score = selection_score(acc)
        row = {
            "stage": stage.name,
            "epoch": epoch,
            **{f"loss_{k}": v / max(1, len(batches)) for k, v in sums.items()},
            **{f"val_{k}": v for k, v in acc.items()},
        }
        history.append(row)
        logger.scalars(f"{stage.name}/val_accuracy", acc, step=logger.step)
        log.info(
            "%s epoch %d: loss %.3f, val text %.3f image %.3f fused %.3f",
            stage.name,
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
            if stale >= stage.patience:
                break
    if best_state is not None:
        model.load_state_dict(best_state)
    return history


# -- the two stages ---------------------------------------------------------------------


def heads_stage(
    model: MultimodalModel,
    data: TrainData,
    pooled: tuple[torch.Tensor, torch.Tensor],
    frozen_names: torch.Tensor,
    cfg: TrainConfig,
) -> Stage:
    """Stage 1: the heads alone, on ``pooled`` (``features.frozen_pooled``: the frozen
    tops' text features and photo features, each photo also mirrored, on the heads'
    device). The encoders stop taking gradients here."""
    device = device_of(model.head)
    feats, labels = data.feats, to_device(data.labels, device)
    text_pooled, photo_pooled = pooled
    model.text.requires_grad_(False)
    model.image.requires_grad_(False)

    def make_batch(idx: np.ndarray, rng: np.random.Generator) -> Batch:
        index, mask = sample_photo_rows([feats.photo_rows[i] for i in idx], 2, rng)
        view = torch.from_numpy(rng.integers(0, 2, size=index.shape)) if cfg.flip_features else 0
        photos = photo_pooled[index, view] if len(photo_pooled) else _no_photos(index, model)
        return Batch(
            text=text_pooled[idx],
            photos=photos,
            mask=mask,
            labels=labels[idx],
            same_text=same_text_matrix([feats.text_keys[i] for i in idx]),
        ).to(device)

    def validate() -> dict[str, float]:
        return evaluate_features(model, feats, data.val_idx, labels[data.val_idx], pooled)[0]

    return Stage(
        name="stage1",
        param_groups=(ParamGroup(list(model.head.parameters()), cfg.lr),),
        epochs=cfg.epochs,
        patience=cfg.patience,
        batch_size=cfg.batch_size,
        seed=cfg.seed,
        make_batch=make_batch,
        category_names=lambda: frozen_names,
        validate=validate,
        train_mode=lambda: model.head.train(),
    )


def tops_stage(
    model: MultimodalModel,
    data: TrainData,
    name_states: tuple[torch.Tensor, torch.Tensor],
    cfg: TrainConfig,
) -> Stage:
    """Stage 2: the heads, the top text layers and the top image blocks, on the cached
    trunk outputs below them (``name_states``: the category names' padded trunk
    states and mask, on the heads' device). Those tops start taking gradients here."""
    device = device_of(model.head)
    feats, labels = data.feats, to_device(data.labels, device)
    text_params = model.text.top_parameters()
    image_params = list(model.image.top.parameters())
    for p in text_params + image_params:
        p.requires_grad_(True)

    def make_batch(idx: np.ndarray, rng: np.random.Generator) -> Batch:
        states = [feats.text_states[i] for i in idx]
        text = model.text.top(*pad_states(states, device))
        index, mask = sample_photo_rows(
            [feats.photo_rows[i] for i in idx], cfg.photos_per_listing, rng
        )
        chosen = index[mask]
        if len(chosen):
            maps = torch.from_numpy(feats.maps[chosen.numpy()].astype(np.float32))
            maps = to_device(maps, device)
            if cfg.flip_features:
                flip = to_device(torch.from_numpy(rng.random(len(maps)) < 0.5), device)
                maps = torch.where(flip[:, None, None, None], maps.flip(3), maps)
            pooled_maps = model.image.top(maps)
            photos = pooled_maps.new_zeros(*index.shape, model.image.dim)
            photos[to_device(mask, device)] = pooled_maps
        else:
            photos = _no_photos(index, model)
        return Batch(
            text=text,
            photos=photos,
            mask=mask,
            labels=labels[idx],
            same_text=same_text_matrix([feats.text_keys[i] for i in idx]),
        ).to(device)

    def validate() -> dict[str, float]:
        return evaluate_features(model, feats, data.val_idx, labels[data.val_idx])[0]

    def train_mode() -> None:
        model.train()
        _freeze_batchnorm(model.image)

    return Stage(
        name="stage2",
        param_groups=(
            ParamGroup(list(model.head.parameters()), cfg.stage2_lr),
            ParamGroup(text_params, cfg.stage2_encoder_lr),
            ParamGroup(image_params, cfg.stage2_encoder_lr * 2),
        ),
        epochs=cfg.stage2_epochs,
        patience=cfg.stage2_patience,
        batch_size=cfg.stage2_batch_size,
        seed=cfg.seed + 1,
        make_batch=make_batch,
        category_names=lambda: model.text.top(*name_states),
        validate=validate,
        train_mode=train_mode,
        lengths=np.array([len(feats.text_states[i]) for i in data.train_idx], dtype=np.float64),
        precision=resolve_precision(cfg.precision, device.type),
    )


def _freeze_batchnorm(module: nn.Module) -> None:
    """Keep pretrained BatchNorm statistics: small batches would only add noise."""
    for m in module.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            m.eval()


def _no_photos(index: torch.Tensor, model: MultimodalModel) -> torch.Tensor:
    return torch.zeros(*index.shape, model.image.dim, device=device_of(model.head))
