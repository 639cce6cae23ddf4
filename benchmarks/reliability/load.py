"""A bounded load run over loopback: fixed duration, fixed concurrency, every answer checked.

Each worker thread has its own HTTP connection and cycles through a mix of
requests until the deadline. Anything but a 200 (or a transport error) counts
as an error. The server's resident memory is read from ``/proc`` after a
warm-up (so thread pools and caches are already there) and again at the end:
growth beyond a few percent under a steady load is a leak.
"""

from __future__ import annotations

import base64
import random
import threading
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import httpx

from benchmarks.harness import percentiles
from multimodal.data.catalogue import Listing


@dataclass(frozen=True)
class RequestSpec:
    name: str
    method: str
    path: str
    request: dict[str, Any]  # httpx.request keyword arguments


@dataclass(frozen=True)
class LoadResult:
    duration_s: float
    concurrency: int
    requests: int
    errors: int
    error_samples: list[str]
    qps: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    max_ms: float
    by_kind: dict[str, int]
    rss_before_mb: float | None
    rss_after_mb: float | None
    rss_growth: float | None  # (after - before) / before

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def request_mix(
    listings: Sequence[Listing], image_dir: Path, *, n_texts: int = 400, seed: int = 0
) -> list[RequestSpec]:
    """What a busy front page sends: mostly text searches, some filtered or paged,
    some photo searches, listing pages and "similar" strips, shuffled.

    Queries are a few words of real titles, varied enough that the service's
    query-embedding cache does not turn the run into a cache benchmark.
    """
    rng = random.Random(seed)
    with_photos = [listing for listing in listings if listing.image_ids]
    specs: list[RequestSpec] = []
    for _ in range(n_texts):
        words = rng.choice(listings).title.split()
        start = rng.randrange(max(1, len(words) - 2))
        text = " ".join(words[start : start + rng.randint(1, 3)]) or "chair"
        body: dict[str, Any] = {"text": text, "k": 20}
        roll = rng.random()
        if roll < 0.15:
            body["filters"] = {"price_max": float(rng.choice([20, 50, 100, 500]))}
        elif roll < 0.25:
            body["filters"] = {"category": rng.choice(listings).root}
        elif roll < 0.35:
            body["offset"] = 20
        specs.append(RequestSpec("text search", "POST", "/search", {"json": body}))
    for listing in rng.sample(with_photos, min(len(with_photos), max(1, n_texts // 20))):
        photo = (image_dir / f"{listing.image_ids[0]}.jpg").read_bytes()
        body = {"image": base64.b64encode(photo).decode(), "k": 20}
        specs.append(RequestSpec("photo search", "POST", "/search", {"json": body}))
    for listing in rng.sample(list(listings), min(len(listings), max(1, n_texts // 10))):
        specs.append(RequestSpec("listing", "GET", f"/listings/{listing.id}", {}))
        specs.append(
            RequestSpec("similar", "GET", f"/listings/{listing.id}/similar", {"params": {"k": 10}})
        )
    rng.shuffle(specs)
    return specs


def rss_bytes(pid: int) -> int | None:
    """Resident set size of a process (Linux ``/proc``); ``None`` where unavailable."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


class _Tally:
    """Latencies and errors from all workers, behind one lock."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.latencies: list[float] = []
        self.errors = 0
        self.error_samples: list[str] = []
        self.by_kind: dict[str, int] = {}

    def record(self, kind: str, seconds: float, error: str | None) -> None:
        with self.lock:
            self.latencies.append(seconds)
            self.by_kind[kind] = self.by_kind.get(kind, 0) + 1
            if error is not None:
                self.errors += 1
                if len(self.error_samples) < 10:
                    self.error_samples.append(f"{kind}: {error}")


def send(client: httpx.Client, spec: RequestSpec) -> str | None:
    """Send one request of the load: None on a 200, else what went wrong, in one line
    (every load over these specs counts errors the same way)."""
    try:
        response = client.request(spec.method, spec.path, **spec.request)
    except httpx.HTTPError as exc:
        return f"{type(exc).__name__}: {exc}"
    if response.status_code != 200:
        return f"HTTP {response.status_code}: {response.text[:200]}"
    return None


def _worker(
    base_url: str,
    specs: list[RequestSpec],
    start: int,
    deadline: float,
    tally: _Tally,
    timeout_s: float,
) -> None:
    with httpx.Client(base_url=base_url, timeout=timeout_s) as client:
        i = start
        while time.perf_counter() < deadline:
            spec = specs[i % len(specs)]
            i += 1
            began = time.perf_counter()
            error = send(client, spec)
            tally.record(spec.name, time.perf_counter() - began, error)


def _hammer(
    base_url: str, specs: list[RequestSpec], seconds: float, concurrency: int, timeout_s: float
) -> tuple[_Tally, float]:
    tally = _Tally()
    began = time.perf_counter()
    deadline = began + seconds
    threads = [
        threading.Thread(
            target=_worker,
            args=(base_url, specs, i * 7, deadline, tally, timeout_s),
            daemon=True,
        )
        for i in range(concurrency)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return tally, time.perf_counter() - began


def run_load(
    base_url: str,
    specs: list[RequestSpec],
    *,
    seconds: float,
    concurrency: int,
    server_pid: int | None,
    warmup_seconds: float = 2.0,
    timeout_s: float = 10.0,
) -> LoadResult:
    """Warm up, read RSS, hold ``concurrency`` clients for ``seconds``, read RSS again."""
    if warmup_seconds > 0:
        _hammer(base_url, specs, warmup_seconds, concurrency, timeout_s)
    before = rss_bytes(server_pid) if server_pid else None
    tally, elapsed = _hammer(base_url, specs, seconds, concurrency, timeout_s)
    after = rss_bytes(server_pid) if server_pid else None
    stats = percentiles(tally.latencies)
    requests = len(tally.latencies)
    return LoadResult(
        duration_s=round(elapsed, 2),
        concurrency=concurrency,
        requests=requests,
        errors=tally.errors,
        error_samples=tally.error_samples,
        qps=round(requests / elapsed, 1) if elapsed > 0 else 0.0,
        p50_ms=stats.get("p50_ms", 0.0),
        p95_ms=stats.get("p95_ms", 0.0),
        p99_ms=stats.get("p99_ms", 0.0),
        max_ms=stats.get("max_ms", 0.0),
        by_kind=dict(sorted(tally.by_kind.items())),
        rss_before_mb=_mib(before),
        rss_after_mb=_mib(after),
        rss_growth=round((after - before) / before, 4) if before and after else None,
    )


def _mib(n: int | None) -> float | None:
    return round(n / 2**20, 1) if n is not None else None
