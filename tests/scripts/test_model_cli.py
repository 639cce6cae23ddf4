"""``marketplace train`` / ``marketplace evaluate``: one-line errors, and (slow) a whole run."""

from __future__ import annotations

import json

import pytest

from scripts import cli


@pytest.fixture(autouse=True)
def only_model_commands(monkeypatch, tmp_path):
    """Other commands are built in parallel; a broken one must not fail these tests."""
    monkeypatch.setattr(cli, "COMMAND_MODULES", ("scripts.train", "scripts.evaluate"))
    monkeypatch.setenv("MARKETPLACE_HOME", str(tmp_path / "home"))


def _one_line_error(capsys, command: str) -> str:
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith(f"marketplace {command}: error:")
    return err


def test_train_rejects_bad_numbers(synthetic_raw_dir, capsys):
    assert cli.main(["train", "--data", str(synthetic_raw_dir), "--epochs", "0"]) == 2
    assert "--epochs must be at least 1" in _one_line_error(capsys, "train")


def test_train_rejects_missing_weights_file(synthetic_raw_dir, tmp_path, capsys):
    args = ["train", "--data", str(synthetic_raw_dir), "--resnet50-weights", str(tmp_path / "x")]
    assert cli.main(args) == 2
    assert "no such file" in _one_line_error(capsys, "train")


def test_evaluate_without_a_model_is_a_one_line_error(synthetic_raw_dir, capsys):
    assert cli.main(["evaluate", "--data", str(synthetic_raw_dir)]) == 2
    _one_line_error(capsys, "evaluate")


@pytest.mark.slow
def test_train_then_evaluate(synthetic_raw_dir, tmp_path, capsys):
    train = ["train", "--data", str(synthetic_raw_dir), "--image-size", "64", "--epochs", "4"]
    assert cli.main([*train, "--stage2-epochs", "1", "--threads", "1"]) == 0
    assert "val accuracy text" in capsys.readouterr().out
    reports = tmp_path / "reports"
    evaluate = ["evaluate", "--data", str(synthetic_raw_dir), "--json", "--reports-dir"]
    assert cli.main([*evaluate, str(reports)]) == 0
    report = json.loads(capsys.readouterr().out)
    assert set(report["accuracy"]) == {"text", "image", "fused"}
    assert (reports / "classification.json").is_file()
    assert (reports / "confusion_matrix.png").is_file()
