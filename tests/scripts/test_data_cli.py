"""``marketplace data``: stats as JSON, clean into the workspace, one-line errors."""

from __future__ import annotations

import json

import pytest

from scripts import cli


@pytest.fixture(autouse=True)
def only_the_data_command(monkeypatch):
    """Other commands are built in parallel; a broken one must not fail these tests."""
    monkeypatch.setattr(cli, "COMMAND_MODULES", ("scripts.data",))


def test_stats_json_is_one_object(synthetic_raw_dir, capsys):
    assert cli.main(["data", "stats", "--data", str(synthetic_raw_dir), "--json"]) == 0
    stats = json.loads(capsys.readouterr().out)
    assert stats["products"] == 300 and stats["categories"] == 6


def test_stats_table(synthetic_raw_dir, capsys):
    assert cli.main(["data", "stats", "--data", str(synthetic_raw_dir)]) == 0
    out = capsys.readouterr().out
    assert "products_per_root:" in out and "Home & Garden" in out


def test_missing_data_dir_is_a_one_line_error(tmp_path, capsys):
    assert cli.main(["data", "stats", "--data", str(tmp_path / "nowhere")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("marketplace data: error:") and "\n" not in err


def test_clean_without_data_generates_the_synthetic_default(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)  # no ../shared/marketplace from here
    monkeypatch.delenv("MARKETPLACE_DATA", raising=False)
    monkeypatch.setenv("MARKETPLACE_HOME", str(tmp_path / "home"))
    assert cli.main(["data", "clean", "--image-size", "32", "--quiet"]) == 0
    captured = capsys.readouterr()
    assert "synthetic" in captured.err and captured.out.startswith("cleaned 300/300 listings")
    assert (tmp_path / "home" / "synthetic-raw" / "Products.csv").exists()
    assert list((tmp_path / "home").glob("synthetic-raw-*/clean/listings.jsonl"))
