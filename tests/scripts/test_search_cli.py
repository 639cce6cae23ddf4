"""``marketplace search`` prints a results table through the same service as the API."""

from __future__ import annotations

import pytest

from api.settings import Settings
from scripts.cli import main


@pytest.fixture
def env_settings(api_settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("model_dir", "index_dir", "store_path", "image_dir"):
        monkeypatch.setenv(f"MARKETPLACE_{name.upper()}", str(getattr(api_settings, name)))


def test_search_prints_a_table(env_settings, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["search", "acoustic guitar", "--k", "3", "--price-max", "1000"]) == 0
    out = capsys.readouterr().out
    lines = out.strip().splitlines()
    assert lines[0].split()[:3] == ["#", "score", "price"]
    assert len(lines) == 1 + 3 + 1  # header, three results, summary
    assert "acoustic" in out.lower()
    assert "candidates in" in lines[-1]


def test_search_errors_are_one_line(env_settings, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["search"]) == 2
    assert main(["search", "sofa", "--price-min", "9", "--price-max", "1"]) == 2
    assert main(["search", "--image", "/no/such/photo.jpg"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 3
    assert all(line.startswith("marketplace search: error: ") for line in err)


def test_serve_with_an_out_of_range_setting_is_one_line(
    tmp_path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Settings are checked before anything loads: a bad port is named, not a traceback."""
    monkeypatch.setenv("MARKETPLACE_HOME", str(tmp_path))
    assert main(["serve", "--data", str(tmp_path), "--port", "0"]) == 2
    monkeypatch.setenv("MARKETPLACE_TORCH_THREADS", "-3")
    assert main(["serve", "--data", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2
    assert err[0].startswith("marketplace serve: error: port: ")
    assert err[1].startswith("marketplace serve: error: torch_threads: ")


def test_prices_are_printed_in_their_own_currency() -> None:
    from scripts.search import format_price

    assert format_price(1234.0, "GBP") == "£1,234"
    assert format_price(25.0, "EUR") == "€25"
    assert format_price(30.0, "CHF") == "30 CHF"
    assert format_price(None, "EUR") == "-"
