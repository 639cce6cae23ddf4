"""``reindex --from-catalogue`` refuses a wrong combination in one line, exit 2, before Ray."""

from __future__ import annotations

from pathlib import Path

import pytest

from scripts import cli


@pytest.mark.parametrize(
    ("arguments", "says"),
    [
        (["--from-catalogue", "shop"], "--from-catalogue needs --executor ray"),
        (["--map", "id=sku"], "go with --from-catalogue"),
        (["--currency", "EUR"], "go with --from-catalogue"),
        (
            ["--executor", "ray", "--from-catalogue", "shop", "--data", "other"],
            "leave out --data",
        ),
        (["--executor", "ray", "--from-catalogue", "shop"], "data import PATH --executor ray"),
    ],
)
def test_a_wrong_combination_is_one_line_and_exit_2(
    tmp_path: Path, monkeypatch, capsys, arguments: list[str], says: str
) -> None:
    monkeypatch.setenv("MARKETPLACE_HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)
    assert cli.main(["reindex", *arguments, "--quiet"]) == 2
    error = capsys.readouterr().err.strip()
    assert says in error and len(error.splitlines()) == 1


def test_import_of_a_folder_needs_the_ray_executor(tmp_path: Path, capsys) -> None:
    assert cli.main(["data", "import", str(tmp_path)]) == 2
    assert "a folder of them with --executor ray" in capsys.readouterr().err
