"""The device choice: ``auto`` says where it runs, ``cuda`` without a GPU is a clear error,
and ``--device cpu`` leaves the CPU path as it was."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest
import torch

from multimodal.device import DeviceUnavailable, resolve_device, to_device
from multimodal.precision import resolve_precision
from scripts import cli

needs_no_gpu = pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")


def test_auto_picks_cuda_only_where_torch_sees_a_gpu(caplog) -> None:
    with caplog.at_level(logging.INFO, logger="multimodal.device"):
        device = resolve_device("auto")
    assert device.type == ("cuda" if torch.cuda.is_available() else "cpu")
    lines = [r.getMessage() for r in caplog.records if r.name == "multimodal.device"]
    assert len(lines) == 1 and lines[0].startswith(f"device: {device.type}")


def test_cpu_is_the_cpu(caplog) -> None:
    with caplog.at_level(logging.INFO, logger="multimodal.device"):
        assert resolve_device("cpu") == torch.device("cpu")
    assert "device: cpu" in caplog.text and "asked for" in caplog.text


@needs_no_gpu
def test_cuda_without_a_gpu_is_refused() -> None:
    with pytest.raises(DeviceUnavailable, match="torch sees no GPU"):
        resolve_device("cuda")


def test_unknown_device_is_refused() -> None:
    with pytest.raises(ValueError, match="device must be one of"):
        resolve_device("tpu")


def test_to_device_leaves_cpu_tensors_alone() -> None:
    tensor = torch.ones(3)
    assert to_device(tensor, torch.device("cpu")) is tensor


def test_the_cpu_keeps_its_precision_choice() -> None:
    for requested in ("auto", "fp32", "bf16"):
        assert resolve_precision(requested, "cpu") == resolve_precision(requested)


@needs_no_gpu
@pytest.mark.parametrize("command", ["train", "reindex", "serve"])
def test_cli_device_cuda_without_a_gpu_is_one_line_and_exit_2(
    command: str, tmp_path: Path, capsys, monkeypatch
) -> None:
    """Each command refuses ``--device cuda`` first, in one line, before any long work
    (here there is not even a catalogue: that would be the next complaint)."""
    monkeypatch.setenv("MARKETPLACE_HOME", str(tmp_path / "home"))
    code = cli.main([command, "--data", str(tmp_path), "--device", "cuda"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert len(err) == 1, err
    assert err[0].startswith(f"marketplace {command}: error: device cuda asked for, but torch")


@needs_no_gpu
def test_serve_reads_the_device_from_the_environment(tmp_path: Path, capsys, monkeypatch) -> None:
    monkeypatch.setenv("MARKETPLACE_DEVICE", "cuda")
    assert cli.main(["serve", "--data", str(tmp_path)]) == 2
    assert "device cuda asked for" in capsys.readouterr().err


def test_embedder_on_the_cpu_gives_cpu_float32(trained_bundle_dir: Path) -> None:
    from multimodal.embedder import Embedder

    embedder = Embedder.load(trained_bundle_dir, "fp32", "cpu")
    assert embedder.device == torch.device("cpu")
    vectors = embedder.embed_texts(["red mountain bike", "sofa"])
    assert vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)


def test_the_tuned_tops_outputs_stand_in_for_running_the_tops(tiny_training, clean_synthetic):
    """After training on a GPU the tuning reads the fine-tuned tops' outputs, computed once
    (``train._tuned_pooled``), in ``frozen_pooled``'s layout: the same vectors as running
    the tops. Checked here on the CPU, where the layout is the same."""
    from multimodal.blending import evaluate_features
    from multimodal.bundle import load_model
    from multimodal.features import listing_features
    from multimodal.train import _tuned_pooled

    ws, _, _ = tiny_training
    model, manifest, _ = load_model(ws.model_dir)
    listings = list(clean_synthetic.listings)[:40]
    feats = listing_features(model, listings, clean_synthetic, ws.features_dir)
    labels = torch.tensor([manifest.labels.index(listing.root) for listing in listings])
    idx = list(range(len(listings)))
    ran_tops = evaluate_features(model, feats, idx, labels)
    from_outputs = evaluate_features(model, feats, idx, labels, _tuned_pooled(model, feats))
    assert ran_tops[0] == from_outputs[0]
    for kind in ("text", "image", "fused"):
        torch.testing.assert_close(ran_tops[2][kind], from_outputs[2][kind], atol=1e-5, rtol=0)
