"""The search benchmark's arithmetic (the run itself is ``marketplace bench search``)."""

from __future__ import annotations

from benchmarks.search import _check, summary_line


def test_targets_say_which_way_is_better() -> None:
    assert _check(12.0, 15.0)["met"]
    assert not _check(120.0, 100.0)["met"]
    assert _check(120.0, 100.0, higher_is_better=True)["met"]


def test_summary_line_names_every_figure() -> None:
    latency = {"p50_ms": 10.0, "p99_ms": 40.0}
    report = {
        "http": {
            "start_to_ready_s": 4.25,
            "latency": {"text": latency, "photo": latency, "text_and_photo": latency},
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
    assert "c16 120" in line
    assert "no errors" in line
    assert "1,000,000 vectors (ivf)" in line
