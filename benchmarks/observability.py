"""What the observability middleware costs: the same requests with it and without, in-process.

Two apps over one loaded service, one with ``api.observability`` (request id,
metrics, the JSON access log written to a file, as ``serve`` writes it) and
one without (``MARKETPLACE_OBSERVABILITY=false``). Each request is sent to
both, in alternating order, straight through ASGI (no sockets), so the only
difference between a pair is the middleware:

- ``GET /healthz``: the middleware alone, on a route that does nothing;
- ``POST /search`` with a text query, the query-embedding cache off so every
  query runs the model as an unseen one does (the text row of ``bench search``).

The report gives each app's percentiles and the median of the paired
differences (``on - off``), the figure checked against the 0.5 ms budget.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from api.settings import Settings
from benchmarks.harness import machine_info, percentiles, write_report
from benchmarks.search import QueryMaterial

BUDGET_MS = 0.5


@dataclass(frozen=True)
class ObservabilityBenchConfig:
    health_requests: int = 2000
    text_requests: int = 400
    k: int = 20
    seed: int = 0


def _scope(method: str, path: str, body: bytes) -> dict:
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [
            (b"host", b"bench"),
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
        ],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
        "state": {},
    }


async def _call(app, method: str, path: str, body: bytes = b"") -> float:
    """Seconds for ``app`` to answer one request; a non-2xx answer is an error."""
    delivered = False
    status = 0

    async def receive() -> dict:
        nonlocal delivered
        if delivered:
            return {"type": "http.disconnect"}
        delivered = True
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]

    started = time.perf_counter()
    await app(_scope(method, path, body), receive, send)
    seconds = time.perf_counter() - started
    if not 200 <= status < 300:
        raise RuntimeError(f"{method} {path} answered {status}")
    return seconds


async def _paired(apps: dict, requests: list[tuple[str, str, bytes]]) -> dict:
    """Each request to both apps, the first one alternating; percentiles and paired deltas."""
    times: dict[str, list[float]] = {name: [] for name in apps}
    names = list(apps)
    for n, (method, path, body) in enumerate(requests):
        for name in names if n % 2 == 0 else reversed(names):
            times[name].append(await _call(apps[name], method, path, body))
    deltas_ms = (np.asarray(times["on"]) - np.asarray(times["off"])) * 1000
    on, off = percentiles(times["on"]), percentiles(times["off"])
    return {
        "on": on,
        "off": off,
        "p50_difference_ms": round(on["p50_ms"] - off["p50_ms"], 4),
        "paired_median_difference_ms": round(float(np.median(deltas_ms)), 4),
    }


def run_observability_bench(
    settings: Settings, config: ObservabilityBenchConfig, out: Path, progress: Callable[[str], None]
) -> dict:
    from api.main import create_app
    from api.observability.logs import json_logging, logging_config
    from api.service import SearchService

    # No embedding cache: each text query runs the model, however often it is sent.
    base = settings.model_copy(update={"query_cache_size": 0, "index_poll_seconds": 0})
    progress("loading the service")
    service = SearchService.open(base)
    service.warm_up()
    apps = {}
    for name, on in (("on", True), ("off", False)):
        apps[name] = create_app(base.model_copy(update={"observability": on}), service)
        apps[name].state.service = service  # what the lifespan would set
    material = QueryMaterial.from_store(settings, config.seed)
    texts = list(itertools.islice(material.texts, config.text_requests))
    text_requests = [
        ("POST", "/search", json.dumps({"text": text, "k": config.k}).encode()) for text in texts
    ]
    health_requests = [("GET", "/healthz", b"")] * config.health_requests
    with tempfile.TemporaryDirectory(prefix="observability-bench-") as tmp:
        log_config = logging_config()
        log_config["handlers"]["stderr"] = {
            "class": "logging.FileHandler",
            "filename": str(Path(tmp) / "server.log"),
            "formatter": "json",
        }
        try:
            with json_logging(log_config):
                progress("GET /healthz")
                health = asyncio.run(_paired(apps, health_requests))
                progress("POST /search (text)")
                text = asyncio.run(_paired(apps, text_requests))
                logged = sum(1 for _ in (Path(tmp) / "server.log").open())
        finally:
            service.close()
    report = {
        "machine": machine_info(),
        "data": str(settings.data),
        "listings": service.size,
        "healthz": health,
        "search_text": text,
        "access_lines_written": logged,
        "budget_ms": BUDGET_MS,
        "within_budget": text["paired_median_difference_ms"] <= BUDGET_MS,
        "config": asdict(config),
        "method": "in-process ASGI, two apps over one service, each request sent to both "
        "(alternating which first); the JSON access log written to a file",
    }
    summary = (
        f"observability bench: text p50 {text['off']['p50_ms']:.2f} ms off, "
        f"{text['on']['p50_ms']:.2f} ms on "
        f"(paired median +{text['paired_median_difference_ms']:.3f} ms); "
        f"/healthz +{health['paired_median_difference_ms']:.3f} ms"
    )
    write_report(report, out, summary)
    return report
