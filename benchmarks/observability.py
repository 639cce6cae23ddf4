"""What the observability middleware costs: the same requests with it and without, in-process.

Two apps over one loaded service, one with ``api.observability`` (request id,
metrics, the JSON access log written to a file, as ``serve`` writes it) and
one without (``MARKETPLACE_OBSERVABILITY=false``). Each request is sent to
both, in alternating order, straight through ASGI (no sockets), so the only
difference between a pair is the middleware:

- ``GET /healthz``: the middleware alone, on a route that does nothing;
- ``POST /search`` with a text query, the query-embedding cache off so every
  query runs the model as an unseen one does (the text row of ``bench search``);
- ``POST /search`` with one text query again and again, answered from the
  cache: the whole search route without the model's run-to-run noise.

The report gives each app's percentiles of the time to the last byte of the
answer (what a client waits for) and the median of the paired differences
(``on - off``) in that time, in the time until the app returned (the access
line and the metrics are written after the last byte) and in CPU time. The
last-byte difference on the text row is the figure checked against the
0.5 ms budget; the CPU difference is what the middleware costs the machine.
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


async def _call(app, method: str, path: str, body: bytes = b"") -> dict[str, float]:
    """One request: seconds until its last byte was sent (what a client waits for),
    until the app returned (the access log and metrics run after the last byte), and
    CPU seconds of this process (all threads) until it returned. A non-2xx is an error."""
    delivered = False
    status = 0
    answered = 0.0

    async def receive() -> dict:
        nonlocal delivered
        if delivered:
            return {"type": "http.disconnect"}
        delivered = True
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict) -> None:
        nonlocal status, answered
        if message["type"] == "http.response.start":
            status = message["status"]
        elif message["type"] == "http.response.body" and not message.get("more_body"):
            answered = time.perf_counter()

    started, cpu_started = time.perf_counter(), time.process_time()
    await app(_scope(method, path, body), receive, send)
    returned, cpu_seconds = time.perf_counter(), time.process_time() - cpu_started
    if not 200 <= status < 300:
        raise RuntimeError(f"{method} {path} answered {status}")
    return {"answered": answered - started, "returned": returned - started, "cpu": cpu_seconds}


async def _paired(apps: dict, requests: list[tuple[str, str, bytes]]) -> dict:
    """Each request to both apps, the first one alternating. Per app: percentiles of the
    time to the last byte; per measure (``answered``: last byte, ``returned``: app done,
    ``cpu``: CPU time, the steadiest on a busy machine), the median paired difference."""
    times: dict[str, dict[str, list[float]]] = {
        name: {"answered": [], "returned": [], "cpu": []} for name in apps
    }
    names = list(apps)
    for n, (method, path, body) in enumerate(requests):
        for name in names if n % 2 == 0 else reversed(names):
            for measure, seconds in (await _call(apps[name], method, path, body)).items():
                times[name][measure].append(seconds)

    def median_difference_ms(measure: str) -> float:
        deltas = np.asarray(times["on"][measure]) - np.asarray(times["off"][measure])
        return round(float(np.median(deltas)) * 1000, 4)

    on, off = (percentiles(times[name]["answered"]) for name in ("on", "off"))
    return {
        "on": on,
        "off": off,
        "cpu_p50_ms": {name: percentiles(times[name]["cpu"])["p50_ms"] for name in names},
        "p50_difference_ms": round(on["p50_ms"] - off["p50_ms"], 4),
        "paired_median_difference_ms": {
            measure: median_difference_ms(measure) for measure in ("answered", "returned", "cpu")
        },
    }


def _apps_over(service, settings: Settings) -> dict:
    """The app with observability and the app without, over the one ``service``."""
    from api.main import create_app

    apps = {}
    for name, on in (("on", True), ("off", False)):
        apps[name] = create_app(settings.model_copy(update={"observability": on}), service)
        apps[name].state.service = service  # what the lifespan would set
    return apps


def _rows(settings: Settings, rows: dict[str, list], progress: Callable[[str], None]) -> dict:
    """Each row's requests sent in pairs, over one service opened with ``settings``."""
    from api.service import SearchService

    progress("loading the service")
    service = SearchService.open(settings)
    try:
        service.warm_up()
        apps = _apps_over(service, settings)
        measured = {}
        for name, requests in rows.items():
            progress(name)
            measured[name] = asyncio.run(_paired(apps, requests))
        measured["listings"] = service.size
        return measured
    finally:
        service.close()


def run_observability_bench(
    settings: Settings, config: ObservabilityBenchConfig, out: Path, progress: Callable[[str], None]
) -> dict:
    from api.observability.logs import ACCESS_LOGGER, json_logging, logging_config

    settings = settings.model_copy(update={"index_poll_seconds": 0})
    texts = list(itertools.islice(QueryMaterial.from_store(settings, config.seed).texts,
                                  config.text_requests))  # fmt: skip
    text_bodies = [json.dumps({"text": text, "k": config.k}).encode() for text in texts]
    with tempfile.TemporaryDirectory(prefix="observability-bench-") as tmp:
        log_file = Path(tmp) / "server.log"
        log_config = logging_config()
        log_config["handlers"]["stderr"] = {
            "class": "logging.FileHandler",
            "filename": str(log_file),
            "formatter": "json",
        }
        with json_logging(log_config):
            # No embedding cache: each text query runs the model, however often it is sent.
            uncached = _rows(
                settings.model_copy(update={"query_cache_size": 0}),
                {
                    "healthz": [("GET", "/healthz", b"")] * config.health_requests,
                    "search_text": [("POST", "/search", body) for body in text_bodies],
                },
                progress,
            )
            # One query again and again from the cache: the route without the model's noise.
            cached = _rows(
                settings,
                {
                    "search_text_cached": [("POST", "/search", text_bodies[0])]
                    * config.text_requests
                },
                progress,
            )
            # access lines only: the service's own start-up lines (the device picked) share the log
            logged = sum(
                json.loads(line).get("logger") == ACCESS_LOGGER for line in log_file.open()
            )
    text = uncached["search_text"]
    report = {
        "machine": machine_info(),
        "data": str(settings.data),
        "listings": uncached["listings"],
        "healthz": uncached["healthz"],
        "search_text": text,
        "search_text_cached": cached["search_text_cached"],
        "access_lines_written": logged,
        "budget_ms": BUDGET_MS,
        "config": asdict(config),
        "method": "in-process ASGI, two apps over one service, each request sent to both "
        "(alternating which first); the JSON access log written to a file; latency to the "
        "last byte of the answer",
    }
    rows = {"text": text, "cached text": cached["search_text_cached"]}
    rows["/healthz"] = uncached["healthz"]
    summary = (
        f"observability bench: text p50 {text['off']['p50_ms']:.2f} ms off, "
        f"{text['on']['p50_ms']:.2f} ms on; paired median last byte / app done / CPU: "
        + ", ".join(
            f"{name} "
            + " / ".join(f"{v:+.3f}" for v in row["paired_median_difference_ms"].values())
            + " ms"
            for name, row in rows.items()
        )
    )
    write_report(report, out, summary)
    return report
