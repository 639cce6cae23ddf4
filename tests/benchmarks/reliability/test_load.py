"""A short load run against a real server subprocess: zero errors, memory steady.

The full form (60 s at concurrency 16 on the real index) is
``marketplace bench reliability``; this one holds 10 s at concurrency 8 on the
synthetic scratch index. Latencies are recorded, never asserted (performance
is reported by the benchmark, not judged by tests).
"""

from __future__ import annotations

import pytest

from benchmarks.reliability.load import request_mix, run_load
from multimodal.data.catalogue import load_clean_catalogue

pytestmark = pytest.mark.slow


def test_short_load_has_no_errors_and_steady_memory(fault_workspace):
    catalogue = load_clean_catalogue(fault_workspace.workspace.clean_dir)
    specs = request_mix(catalogue.listings, catalogue.image_dir, n_texts=200)
    with fault_workspace.serve() as server:
        result = run_load(
            server.base_url,
            specs,
            seconds=10,
            concurrency=8,
            server_pid=server.pid,
            warmup_seconds=3,
        )
    print(result.as_dict())
    assert result.requests > 0
    assert result.errors == 0, result.error_samples
    assert result.p99_ms > 0
    assert result.rss_growth is not None and abs(result.rss_growth) <= 0.10, result.as_dict()
