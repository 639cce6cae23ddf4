"""The search benchmark: its arithmetic, and a short run over HTTP on the scratch index."""

from __future__ import annotations

import json

import pytest

from api.settings import Settings
from benchmarks.search import HttpBenchConfig, _check, run_search_bench, summary_line


def test_targets_say_which_way_is_better() -> None:
    assert _check(12.0, 15.0)["met"]
    assert not _check(120.0, 100.0)["met"]
    assert _check(120.0, 100.0, higher_is_better=True)["met"]


def test_summary_line_names_every_figure() -> None:
    latency = {"p50_ms": 10.0, "p99_ms": 40.0}
    report = {
        "http": {
            "start_to_ready_s": 4.25,
            "latency": {
                "text": latency,
                "text_facets": {"p50_ms": 11.5},
                "photo": latency,
                "text_and_photo": latency,
            },
            "throughput": [{"concurrency": 16, "qps": 120.0}],
            "zero_errors": True,
        },
        "scale": {
            "size": 1_000_000,
            "index_kind": "ivf",
            "text_query": {"p50_ms": 20.0},
            "recall_at_10": 0.97,
        },
    }
    line = summary_line(report)
    assert "start to /readyz 4.25 s" in line
    assert "text p50 10.0" in line
    assert "with facets p50 11.5" in line
    assert "c16 120" in line
    assert "no errors" in line
    assert "1,000,000 vectors (ivf)" in line


@pytest.mark.slow
def test_search_bench_over_http_records_start_to_ready(fault_workspace, monkeypatch, tmp_path):
    """A short HTTP run on the scratch index: the report holds every figure it names."""
    monkeypatch.setenv("MARKETPLACE_HOME", str(fault_workspace.home))
    config = HttpBenchConfig(
        latency_text=5,
        latency_photo=3,
        latency_both=3,
        throughput_texts=10,
        concurrency=(1, 2),
        seconds_per_level=1,
    )
    out = tmp_path / "search_bench.json"
    report = run_search_bench(Settings(data=fault_workspace.data_dir), out, config, None)
    assert json.loads(out.read_text()) == json.loads(json.dumps(report))
    http = report["http"]
    assert 0 < http["start_to_ready_s"] <= config.startup_timeout_s
    assert http["latency"]["text"]["n"] == 5
    assert [t["concurrency"] for t in http["throughput"]] == [1, 2]
    assert http["server"]["index"]["count"] == 60
    assert f"start to /readyz {http['start_to_ready_s']:.2f} s" in summary_line(report)
