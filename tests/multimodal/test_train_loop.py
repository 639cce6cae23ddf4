"""The training loop on made-up encoder outputs: one ``Stage`` says what trains and how
long; early stopping ends it and the best epoch's state is kept."""

from __future__ import annotations

import copy

import numpy as np
import torch

from multimodal.bundle import new_model
from multimodal.config import (
    ImageEncoderConfig,
    ModelConfig,
    TextEncoderConfig,
    TrainConfig,
    WordConfig,
)
from multimodal.train_data import Batch
from multimodal.train_loop import ParamGroup, Stage, TensorBoardLogger, run_stage

CLASSES = 3


def test_stage_stops_after_its_patience_and_keeps_the_best_epoch(tiny_text_model_dir) -> None:
    cfg = ModelConfig(
        text=TextEncoderConfig(model=str(tiny_text_model_dir), trainable_layers=1),
        image=ImageEncoderConfig(backbone="efficientnet-lite0", image_size=64),
        word=WordConfig(n_features=0),
    )
    model = new_model(cfg, CLASSES)
    text_dim, image_dim = model.text.dim, model.image.dim
    gen = torch.Generator().manual_seed(0)
    text = torch.randn(20, text_dim, generator=gen)
    photos = torch.randn(20, 2, image_dim, generator=gen)
    labels = torch.arange(20) % CLASSES
    names = torch.randn(CLASSES, text_dim, generator=gen)

    def make_batch(idx: np.ndarray, rng: np.random.Generator) -> Batch:
        return Batch(
            text=text[idx],
            photos=photos[idx],
            mask=torch.ones(len(idx), 2, dtype=torch.bool),
            labels=labels[idx],
            same_text=torch.eye(len(idx), dtype=torch.bool),
        )

    scores = iter([0.5, 0.7, 0.6, 0.6, 0.9])  # the best is epoch 2; epoch 5 never runs
    best: dict[str, torch.Tensor] = {}

    def validate() -> dict[str, float]:
        score = next(scores)
        if score == 0.7:
            best.update(copy.deepcopy(model.head.state_dict()))
        return {"text": score, "image": score, "fused": score}

    before = copy.deepcopy(model.head.state_dict())
    stage = Stage(
        name="heads",
        param_groups=(ParamGroup(list(model.head.parameters()), 1e-2),),
        epochs=10,
        patience=2,
        batch_size=8,
        seed=0,
        make_batch=make_batch,
        category_names=lambda: names,
        validate=validate,
        train_mode=model.head.train,
    )
    history = run_stage(stage, model, list(range(20)), TrainConfig(), TensorBoardLogger(None))

    assert [row["epoch"] for row in history] == [1, 2, 3, 4]
    assert [row["val_fused"] for row in history] == [0.5, 0.7, 0.6, 0.6]
    assert all(row["stage"] == "heads" and row["loss_total"] > 0 for row in history)
    final = model.head.state_dict()
    for key, value in best.items():
        torch.testing.assert_close(final[key], value)
    assert any(not torch.equal(before[key], final[key]) for key in before)
