"""Text search with 1 and with N worker processes, side by side on the same index.

``marketplace serve --workers N`` is started for each count in turn (the same
data, model and index), and from this process the benchmark measures text
latency one query at a time (p50/p99) and text throughput under a closed
loop at each concurrency level, with query strings that server has not seen
(so no worker answers from its embedding cache until the strings wrap round),
as ``bench search`` does.
"""

from __future__ import annotations

import itertools
import tempfile
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import httpx

from api.settings import Settings
from benchmarks.errors import BenchError
from benchmarks.harness import machine_info, serve, write_report
from benchmarks.search import QueryMaterial, measure_latency, measure_throughput


@dataclass(frozen=True)
class WorkersBenchConfig:
    workers: tuple[int, ...] = (1, 2)
    latency_text: int = 200
    concurrency: tuple[int, ...] = (4, 16)
    seconds_per_level: float = 10.0
    k: int = 20
    startup_timeout_s: float = 600.0
    seed: int = 0


def run_workers_bench(
    settings: Settings, config: WorkersBenchConfig, out: Path, progress: Callable[[str], None]
) -> dict:
    material = QueryMaterial.from_store(settings, config.seed)
    needed = config.latency_text * len(config.workers)
    if len(material.texts) < needed * 2:
        raise BenchError("the catalogue is too small for the benchmark's query set")
    texts = iter(material.texts)
    latency_texts = {n: list(itertools.islice(texts, config.latency_text)) for n in config.workers}
    # Each server is fresh, so the runs may share strings; within a run they wrap round
    # only after every remaining one was sent.
    load_bodies = itertools.cycle({"text": t, "k": config.k} for t in texts)
    runs = []
    for workers in config.workers:
        latency_bodies = [{"text": t, "k": config.k} for t in latency_texts[workers]]
        log_path = Path(tempfile.gettempdir()) / f"marketplace-workers-bench-{workers}.log"
        progress(f"{workers} worker(s): starting")
        with serve(
            settings.data,
            ready_timeout_s=config.startup_timeout_s,
            log_path=log_path,
            workers=workers,
        ) as server:
            with httpx.Client(base_url=server.base_url, timeout=60) as client:
                progress(f"{workers} worker(s): text latency")
                latency = measure_latency(client, latency_bodies)
            throughput = []
            for concurrency in config.concurrency:
                progress(f"{workers} worker(s): concurrency {concurrency}")
                throughput.append(
                    measure_throughput(
                        server.base_url, load_bodies, concurrency, config.seconds_per_level
                    )
                )
        runs.append(
            {
                "workers": workers,
                "start_to_ready_s": server.start_to_ready_s,
                "text_latency": latency,
                "text_throughput": throughput,
            }
        )
    report = {
        "machine": machine_info(),
        "data": str(settings.data),
        "runs": runs,
        "zero_errors": all(
            run["text_latency"]["errors"] == 0
            and all(level["errors"] == 0 for level in run["text_throughput"])
            for run in runs
        ),
        "config": asdict(config),
    }
    write_report(report, out, summary_line(report))
    return report


def summary_line(report: dict) -> str:
    parts = []
    for run in report["runs"]:
        top = run["text_throughput"][-1]
        parts.append(
            f"{run['workers']} worker(s): text p50 {run['text_latency']['p50_ms']:.1f} / "
            f"p99 {run['text_latency']['p99_ms']:.1f} ms, "
            f"c{top['concurrency']} {top['qps']:.0f} QPS (p99 {top['p99_ms']:.0f} ms)"
        )
    errors = "no" if report["zero_errors"] else "SOME"
    return "workers bench: " + "; ".join(parts) + f", {errors} errors"
