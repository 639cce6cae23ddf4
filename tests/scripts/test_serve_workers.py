"""``marketplace serve --workers N`` as a real subprocess: it starts, answers, counts, logs JSON."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from api.settings import Settings
from benchmarks.harness import serve
from scripts.cli import main


def _environment(settings: Settings, metrics_dir: Path) -> dict[str, str]:
    paths = ("model_dir", "index_dir", "store_path", "image_dir")
    return {
        **os.environ,
        **{f"MARKETPLACE_{name.upper()}": str(getattr(settings, name)) for name in paths},
        "MARKETPLACE_INDEX_POLL_SECONDS": "0.5",
        "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir),
    }


@pytest.mark.slow
@pytest.mark.parametrize("workers", [1, 2])
def test_serve_with_workers_answers_and_shares_its_metrics(
    api_settings: Settings, tmp_path: Path, workers: int
) -> None:
    log_path = tmp_path / "server.log"
    (tmp_path / "metrics").mkdir()
    (tmp_path / "metrics" / "counter_1.db").write_bytes(b"an earlier run's file")
    env = _environment(api_settings, tmp_path / "metrics")
    with (
        serve(api_settings.data, env=env, log_path=log_path, workers=workers) as server,
        httpx.Client(base_url=server.base_url, timeout=30) as client,
    ):
        for n in range(8):
            response = client.post("/search", json={"text": f"chair {n}", "k": 3})
            assert response.status_code == 200
            assert response.headers["X-Request-ID"]
        # /readyz answers once one worker is ready: give the others their start-up
        samples = _metric_samples(client)
        deadline = time.monotonic() + 60
        while _serving_pids(samples) < workers and time.monotonic() < deadline:
            time.sleep(0.5)
            samples = _metric_samples(client)
    searched = sum(
        s.value
        for s in samples
        if s.name == "marketplace_http_requests_total"
        and s.labels
        == {"method": "POST", "route": "/search", "status": "2xx", "query_kind": "text"}
    )
    assert searched == 8  # every worker's requests, whichever worker answered the scrape
    assert _serving_pids(samples) == workers  # each live worker reports what it serves

    lines = [json.loads(line) for line in log_path.read_text().splitlines() if line.strip()]
    access = [line for line in lines if line["logger"] == "api.access"]
    assert sum(line["route"] == "/search" for line in access) == 8
    assert all(line["request_id"] and line["status"] == 200 for line in access)
    assert sum(line["message"].startswith("ready:") for line in lines) == workers
    assert any(line["logger"].startswith("uvicorn") for line in lines)


def test_serve_refuses_zero_workers(api_settings: Settings, capsys) -> None:
    assert main(["serve", "--data", str(api_settings.data), "--workers", "0"]) == 2
    assert (
        capsys.readouterr().err.strip()
        == "marketplace serve: error: --workers must be at least 1, not 0"
    )


def _metric_samples(client: httpx.Client) -> list:
    page = client.get("/metrics").text
    return [s for family in text_string_to_metric_families(page) for s in family.samples]


def _serving_pids(samples: list) -> int:
    return len({s.labels["pid"] for s in samples if s.name == "marketplace_serving_info"})
