"""``bench observability`` and ``bench workers`` on the synthetic index: every figure they name."""

from __future__ import annotations

import json

import pytest

from api.settings import Settings
from benchmarks.observability import ObservabilityBenchConfig, run_observability_bench
from benchmarks.workers import WorkersBenchConfig, run_workers_bench


@pytest.mark.slow
def test_observability_bench_sends_each_request_to_both_apps(api_settings: Settings, tmp_path):
    config = ObservabilityBenchConfig(health_requests=20, text_requests=6)
    out = tmp_path / "observability_bench.json"
    report = run_observability_bench(api_settings, config, out, progress=lambda _: None)
    assert json.loads(out.read_text()) == json.loads(json.dumps(report))
    for row, n in (("healthz", 20), ("search_text", 6), ("search_text_cached", 6)):
        assert report[row]["on"]["n"] == report[row]["off"]["n"] == n
        assert set(report[row]["paired_median_difference_ms"]) == {"answered", "returned", "cpu"}
    assert report["access_lines_written"] == 20 + 6 + 6  # one a request, from the app with it only


@pytest.mark.slow
def test_workers_bench_runs_each_worker_count(fault_workspace, monkeypatch, tmp_path):
    monkeypatch.setenv("MARKETPLACE_HOME", str(fault_workspace.home))
    config = WorkersBenchConfig(latency_text=3, concurrency=(2,), seconds_per_level=1)
    out = tmp_path / "workers_bench.json"
    report = run_workers_bench(
        Settings(data=fault_workspace.data_dir), config, out, progress=lambda _: None
    )
    assert [run["workers"] for run in report["runs"]] == [1, 2]
    assert all(run["text_latency"]["n"] == 3 for run in report["runs"])
    assert report["zero_errors"]
