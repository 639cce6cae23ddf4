"""A short training run on the synthetic catalogue with a tiny BERT: the loss goes down,
both stages run, and the bundle is complete."""

import json

from multimodal.bundle import read_manifest


def test_loss_goes_down(tiny_training) -> None:
    _, _, result = tiny_training
    stage1 = [row["loss_total"] for row in result["history"] if row["stage"] == "stage1"]
    assert len(stage1) >= 3
    assert stage1[-1] < stage1[0]


def test_both_stages_ran_and_were_timed(tiny_training) -> None:
    _, _, result = tiny_training
    assert {row["stage"] for row in result["history"]} == {"stage1", "stage2"}
    timings = result["timings"]
    for key in ("feature_seconds", "stage1_seconds", "stage2_seconds", "total_seconds"):
        assert timings[key] >= 0


def test_bundle_is_complete(tiny_training) -> None:
    ws, manifest, _ = tiny_training
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


def test_without_stage2_the_final_pass_reads_the_frozen_features(trained_bundle_dir) -> None:
    """The heads-only bundle is scored on the same cached features stage 1 validated on."""
    metrics = read_manifest(trained_bundle_dir).metrics
    for mode in ("text", "image"):  # fused depends on the mix weights tuned afterwards
        assert metrics["val_encoders_only"][mode] == metrics["stage1_val"][mode]
