"""A short training run on the synthetic catalogue with a tiny BERT: the loss goes down,
both stages run, and the bundle is complete."""

import json
from pathlib import Path

import pytest

from multimodal.bundle import read_manifest
from multimodal.config import ImageEncoderConfig, ModelConfig, TextEncoderConfig, TrainConfig
from multimodal.data.catalogue import CleanCatalogue
from multimodal.workspace import Workspace


@pytest.fixture(scope="module")
def tiny_run(
    clean_synthetic: CleanCatalogue,
    synthetic_raw_dir: Path,
    model_workspace: Workspace,
    tiny_text_model_dir: Path,
    tmp_path_factory: pytest.TempPathFactory,
):
    from multimodal.train import run_training

    ws = Workspace.for_data(synthetic_raw_dir, home=tmp_path_factory.mktemp("tiny-home"))
    ws.root.mkdir(parents=True)
    # the feature cache is keyed by content, so sharing it with the other fixtures is safe
    model_workspace.features_dir.mkdir(parents=True, exist_ok=True)
    ws.features_dir.symlink_to(model_workspace.features_dir.resolve())
    cfg = ModelConfig(
        text=TextEncoderConfig(model=str(tiny_text_model_dir), trainable_layers=1),
        image=ImageEncoderConfig(backbone="efficientnet-lite0", image_size=64),
    )
    train = TrainConfig(epochs=8, patience=8, stage2_epochs=1, threads=1)
    manifest, result = run_training(clean_synthetic, ws, cfg, train)
    return ws, manifest, result


def test_loss_goes_down(tiny_run) -> None:
    _, _, result = tiny_run
    stage1 = [row["loss_total"] for row in result["history"] if row["stage"] == "stage1"]
    assert len(stage1) >= 3
    assert stage1[-1] < stage1[0]


def test_both_stages_ran_and_were_timed(tiny_run) -> None:
    _, _, result = tiny_run
    assert {row["stage"] for row in result["history"]} == {"stage1", "stage2"}
    timings = result["timings"]
    for key in ("feature_seconds", "stage1_seconds", "stage2_seconds", "total_seconds"):
        assert timings[key] >= 0


def test_bundle_is_complete(tiny_run) -> None:
    ws, manifest, _ = tiny_run
    saved = read_manifest(ws.model_dir)
    assert saved.fingerprint == manifest.fingerprint
    assert saved.backbones == {"text": "tiny-bert0", "image": "efficientnet-lite0"}
    assert len(saved.labels) == 6
    assert saved.data["split"]["train"] > saved.data["split"]["test"] > 0
    for mode in ("text", "image", "fused"):
        assert 0.0 <= saved.metrics["val"][mode] <= 1.0
        assert 0.0 <= saved.metrics["stage1_test"][mode] <= 1.0
    assert json.loads((ws.model_dir / "labels.json").read_text())["classes"] == saved.labels
    assert any(ws.runs_dir.iterdir())  # TensorBoard logs
    assert ws.split_file.is_file()
