"""The GPU check runs its whole course on the CPU too (small), and refuses a missing GPU."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from benchmarks import gpu_check


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
def test_without_a_gpu_the_check_stops_in_one_line(tmp_path: Path, capsys) -> None:
    assert gpu_check.main(["--out", str(tmp_path / "report.json")]) == 2
    assert "torch sees no GPU" in capsys.readouterr().err
    assert not (tmp_path / "report.json").exists()


@pytest.mark.slow
def test_the_check_runs_on_the_cpu(tmp_path: Path, tiny_text_model_dir: Path) -> None:
    out = tmp_path / "report.json"
    args = ["--device", "cpu", "--out", str(out), "--work", str(tmp_path / "work")]
    args += ["--variants", "efficientnet-lite0", "--listings", "40", "--image-size", "64"]
    args += ["--epochs", "2", "--stage2-epochs", "1", "--threads", "1"]
    assert gpu_check.main([*args, "--tokenizer", str(tiny_text_model_dir)]) == 0
    report = json.loads(out.read_text())
    assert report["environment"]["device"].startswith("cpu")
    row = report["variants"]["efficientnet-lite0"]
    assert row["search"]["title_top5"] >= 0.9 and row["search"]["photo_top5"] >= 0.9
    for kind in ("text", "photo", "listing"):
        assert row["cosine_to_cpu_fp32"]["fp32"][kind]["min"] > 0.9999
