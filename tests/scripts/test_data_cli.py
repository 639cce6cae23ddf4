"""``marketplace data``: stats as JSON, clean into the workspace, one-line errors."""

from __future__ import annotations

import json

import pytest

from multimodal.data.synthetic_generic import COLUMNS
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


def _one_line_error(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert err.startswith("marketplace data: error:") and "\n" not in err
    return err


def test_import_the_generic_synthetic_catalogue(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("MARKETPLACE_HOME", str(tmp_path / "home"))
    out = tmp_path / "raw"
    assert cli.main(["data", "synth", "--generic", "csv", "--out", str(out), "--n", "60"]) == 0
    hint = capsys.readouterr().out
    assert "--map id=sku" in hint and "--currency EUR" in hint
    maps = [f"--map={field}={column}" for field, column in COLUMNS.items()]
    argv = ["data", "import", str(out / "catalogue.csv"), *maps, "--currency", "EUR"]
    assert cli.main([*argv, "--image-size", "16", "--quiet"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("cleaned 54/60 listings (6 dropped)")
    assert sum("missing title" in line for line in lines) == 2
    assert all(line.startswith("  row ") for line in lines[1:])
    report = json.loads(next((tmp_path / "home").glob("catalogue-*/clean/report.json")).read_text())
    assert report["format"] == "csv" and report["default_currency"] == "EUR"


def test_clean_detects_a_generic_file(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("MARKETPLACE_HOME", str(tmp_path / "home"))
    path = tmp_path / "shop.jsonl"
    path.write_text('{"id": "1", "title": "Kettle", "price": "€4", "category": "Kitchen"}\n')
    assert cli.main(["data", "clean", "--data", str(path), "--quiet"]) == 0
    assert capsys.readouterr().out.startswith("cleaned 1/1 listings")


@pytest.mark.parametrize(
    ("name", "content", "words"),
    [
        ("people.csv", b"name,age\nAnn,3\n", "not a catalogue"),
        ("latin1.csv", "id,title\n1,Caf\xe9\n".encode("latin-1"), "not UTF-8"),
        ("empty.jsonl", b"", "is empty"),
    ],
)
def test_import_refuses_a_file_that_is_no_catalogue(
    tmp_path, monkeypatch, capsys, name, content, words
):
    monkeypatch.setenv("MARKETPLACE_HOME", str(tmp_path / "home"))
    path = tmp_path / name
    path.write_bytes(content)
    assert cli.main(["data", "import", str(path), "--quiet"]) == 2
    assert words in _one_line_error(capsys)


def test_import_refuses_bad_options(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("MARKETPLACE_HOME", str(tmp_path / "home"))
    path = tmp_path / "shop.jsonl"
    path.write_text('{"id": "1", "title": "Kettle"}\n')
    assert cli.main(["data", "import", str(tmp_path), "--quiet"]) == 2
    assert "not a file" in _one_line_error(capsys)
    assert cli.main(["data", "import", str(path), "--map", "colour=hue"]) == 2
    assert "unknown field 'colour'" in _one_line_error(capsys)
    assert cli.main(["data", "import", str(path), "--currency", "euro"]) == 2
    assert "ISO code" in _one_line_error(capsys)
