"""One worker process against two, over SQLite and over PostgreSQL, under the same load.

``marketplace bench replicas`` answers issue 21's "Measured": text-query
throughput and p50/p99 at concurrency 16 with 1 and with 2 ``serve --workers``
processes, with the catalogue in SQLite and in a throwaway PostgreSQL; and
the reliability bench's mixed load (text, photo, listing pages, "similar",
``benchmarks.reliability.load.request_mix``) at concurrency 16 against the
same servers, per request kind.

Fair on a shared machine: for each store back-end, every server under test
is started first and kept up (idle ones cost nothing), then the load visits
them in turn, ``rounds`` times, each visit a slice of the time. A load that
comes and goes on the machine weighs on every server alike, as
``benchmarks.search.measure_paired`` does for single queries. Each text
query is a string no server has seen (until the strings wrap round), so no
worker answers from its embedding cache.

PostgreSQL is Debian's server in a temporary folder (``benchmarks.postgres``),
the workspace's SQLite store copied into it with ``indexing.store_copy``
(every key kept, so the same index version serves it). A server may carry
extra ``MARKETPLACE_*`` variables (``ServerSpec.env``): an experiment measured
beside the default in the same run. With ``profile_dir``, py-spy samples each
server's processes through its mixed load, and the report gives each kind of
work's share of the CPU samples (``benchmarks.profile_shares``).
"""

from __future__ import annotations

import itertools
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx

from api.settings import Settings
from benchmarks.errors import BenchError
from benchmarks.harness import RunningServer, machine_info, percentiles, serve, write_report
from benchmarks.profile_shares import profile_shares
from benchmarks.reliability.load import RequestSpec, request_mix, send
from benchmarks.search import QueryMaterial

BACKENDS = ("sqlite", "postgresql")
MIXED_P99_TARGET_MS = 250.0  # issue 21: the mixed load's p99 with 2 workers
TEXT_KIND = "text search"


@dataclass(frozen=True)
class ServerSpec:
    """One server under test: its worker count and any extra ``MARKETPLACE_*`` settings."""

    workers: int
    env: dict[str, str] = field(default_factory=dict)

    @classmethod
    def parse(cls, text: str) -> ServerSpec:
        """``N:VAR=VALUE[,VAR=VALUE]``, as ``bench replicas --variant`` takes it."""
        workers, _, settings = text.partition(":")
        pairs = [pair.partition("=") for pair in settings.split(",") if pair]
        if not workers.isdigit() or int(workers) < 1 or any(not eq or not k for k, eq, _ in pairs):
            raise BenchError(f"--variant takes N:VAR=VALUE[,VAR=VALUE], not {text!r}")
        return cls(int(workers), {k.strip(): v.strip() for k, _, v in pairs})

    @property
    def label(self) -> str:
        extra = " ".join(
            f"{k.removeprefix('MARKETPLACE_').lower()}={v}" for k, v in self.env.items()
        )
        return f"{self.workers} worker{'s' if self.workers > 1 else ''}" + (
            f" ({extra})" if extra else ""
        )


@dataclass(frozen=True)
class ReplicaLoadConfig:
    servers: tuple[ServerSpec, ...] = (ServerSpec(1), ServerSpec(2))
    backends: tuple[str, ...] = BACKENDS
    mixed_backends: tuple[str, ...] = ("sqlite",)  # where the mixed load runs too
    concurrency: int = 16
    text_seconds: float = 20.0  # per server, over all rounds
    mixed_seconds: float = 60.0  # per server, over all rounds; 0: no mixed load
    warmup_seconds: float = 5.0  # mixed load on each server before anything is timed
    rounds: int = 2
    k: int = 20
    mixed_texts: int = 2000  # text searches in the mix, as the reliability bench sends
    startup_timeout_s: float = 600.0
    timeout_s: float = 30.0  # per request; a slower answer counts as an error
    seed: int = 0
    profile_dir: Path | None = None  # py-spy stacks of each server's mixed load, kept here


# -- the load ---------------------------------------------------------------------------


class _Answers:
    """Every answer's (kind, seconds, error) from all client threads, behind one lock."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.seconds: dict[str, list[float]] = {}
        self.errors: dict[str, int] = {}
        self.error_samples: list[str] = []
        self.elapsed_s = 0.0

    def record(self, kind: str, seconds: float, error: str | None) -> None:
        with self.lock:
            self.seconds.setdefault(kind, []).append(seconds)
            self.errors[kind] = self.errors.get(kind, 0) + (error is not None)
            if error is not None and len(self.error_samples) < 10:
                self.error_samples.append(f"{kind}: {error}")

    def figures(self) -> dict[str, Any]:
        """All requests together, then each kind: requests, errors, QPS and percentiles."""

        def row(seconds: list[float], errors: int) -> dict[str, Any]:
            stats = {k: v for k, v in percentiles(seconds).items() if k != "n"}
            qps = len(seconds) / self.elapsed_s if self.elapsed_s else 0.0
            return {"requests": len(seconds), "errors": errors, "qps": round(qps, 1), **stats}

        every = [s for kind in sorted(self.seconds) for s in self.seconds[kind]]
        return {
            **row(every, sum(self.errors.values())),
            "seconds": round(self.elapsed_s, 2),
            "by_kind": {
                kind: row(self.seconds[kind], self.errors[kind]) for kind in sorted(self.seconds)
            },
            "error_samples": self.error_samples,
        }


def _closed_loop(
    base_url: str,
    next_spec: Callable[[], RequestSpec],
    seconds: float,
    concurrency: int,
    answers: _Answers,
    timeout_s: float,
) -> None:
    """``concurrency`` clients, each with its own connection, sending the next request on a
    reply until ``seconds`` are up; anything but a 200 in time is an error."""
    deadline = time.perf_counter() + seconds

    def client() -> None:
        with httpx.Client(base_url=base_url, timeout=timeout_s) as http:
            while time.perf_counter() < deadline:
                spec = next_spec()
                began = time.perf_counter()
                error = send(http, spec)
                answers.record(spec.name, time.perf_counter() - began, error)

    started = time.perf_counter()
    threads = [threading.Thread(target=client, daemon=True) for _ in range(concurrency)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    with answers.lock:
        answers.elapsed_s += time.perf_counter() - started


def _shared(specs: Iterator[RequestSpec]) -> Callable[[], RequestSpec]:
    """``next(specs)`` safe to call from every client thread."""
    lock = threading.Lock()

    def take() -> RequestSpec:
        with lock:
            return next(specs)

    return take


# -- the stores ---------------------------------------------------------------------------


@contextmanager
def store_environment(backend: str, settings: Settings) -> Iterator[dict[str, str]]:
    """The variables that point a server at ``backend``: nothing for the workspace's SQLite
    file; for PostgreSQL, a throwaway server holding a copy of that file."""
    if backend == "sqlite":
        yield {}
        return
    from benchmarks.postgres import postgres_bindir, throwaway_postgres
    from indexing.store_copy import copy_store

    bindir = postgres_bindir()
    if bindir is None:
        raise BenchError(
            "no PostgreSQL server binaries (initdb, pg_ctl): install Debian's postgresql "
            "package, or run with --backends sqlite"
        )
    with throwaway_postgres(bindir) as server:
        url = server.new_database()
        copy_store(settings.resolved_store_path, url)
        yield {"MARKETPLACE_DATABASE_URL": url}


# -- profiling ------------------------------------------------------------------------------


@contextmanager
def profiled(server: RunningServer, seconds: float, out: Path | None) -> Iterator[None]:
    """py-spy sampling ``server`` and its worker processes for ``seconds`` (collapsed stacks
    at ``out``, for ``benchmarks.profile_shares`` or a flame graph tool); nothing when
    ``out`` is None."""
    if out is None:
        yield
        return
    py_spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    if not Path(py_spy).is_file():
        raise BenchError("--profile needs py-spy (pip install py-spy)")
    out.parent.mkdir(parents=True, exist_ok=True)
    command = [
        py_spy, "record", "--subprocesses", "--nonblocking", "-r", "50",
        "-d", str(max(1, round(seconds))), "-f", "raw", "-o", str(out),
        "-p", str(server.pid),
    ]  # fmt: skip
    with subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) as spy:
        try:
            yield
        finally:
            spy.wait(timeout=seconds + 60)


# -- the benchmark ------------------------------------------------------------------------


def run_replica_load_bench(
    settings: Settings, config: ReplicaLoadConfig, out: Path, progress: Callable[[str], None]
) -> dict:
    from multimodal.data.catalogue import load_clean_catalogue

    if config.concurrency < 1 or config.rounds < 1 or not config.servers:
        raise BenchError("the bench needs a concurrency, a round and a server of at least 1")
    unknown = set(config.backends) - set(BACKENDS)
    if unknown or not config.backends:
        raise BenchError(f"--backends takes {' and/or '.join(BACKENDS)}, not {sorted(unknown)}")
    store = settings.resolved_store_path
    if not store.is_file():
        raise BenchError(f"no catalogue store at {store}: reindex first")
    material = QueryMaterial.from_store(settings, config.seed)
    if not material.texts:
        raise BenchError("the catalogue has no titles to query")
    texts = itertools.cycle(
        RequestSpec(TEXT_KIND, "POST", "/search", {"json": {"text": t, "k": config.k}})
        for t in material.texts
    )
    catalogue = load_clean_catalogue(settings.workspace.clean_dir)
    mix = request_mix(
        catalogue.listings, catalogue.image_dir, n_texts=config.mixed_texts, seed=config.seed
    )
    results: dict[str, list[dict]] = {}
    for backend in config.backends:
        mixed = config.mixed_seconds > 0 and backend in config.mixed_backends
        results[backend] = _measure_backend(
            settings, config, backend, _shared(texts), mix if mixed else None, progress
        )
    report = {
        "machine": machine_info(),
        "data": str(settings.data),
        "backends": results,
        "zero_errors": all(
            part["errors"] == 0
            for runs in results.values()
            for run in runs
            for part in (run["text"], run.get("mixed", {"errors": 0}))
        ),
        "target": _target(results),
        "config": {
            **asdict(config),
            "servers": [asdict(s) for s in config.servers],
            "profile_dir": None if config.profile_dir is None else str(config.profile_dir),
        },
        "method": "servers of one back-end all up at once; the load visits them in turn, "
        f"{config.rounds} round(s), closed loop at concurrency {config.concurrency}; text: "
        "title prefixes not sent before; mixed: the reliability bench's request mix",
    }
    write_report(report, out, summary_line(report))
    print(table(report), file=sys.stderr)
    return report


def _measure_backend(
    settings: Settings,
    config: ReplicaLoadConfig,
    backend: str,
    next_text: Callable[[], RequestSpec],
    mix: list[RequestSpec] | None,
    progress: Callable[[str], None],
) -> list[dict]:
    with store_environment(backend, settings) as store_env, ExitStack() as stack:
        servers = []
        for spec in config.servers:
            progress(f"{backend}: starting {spec.label}")
            log_path = Path(tempfile.gettempdir()) / (
                f"marketplace-replicas-{backend}-{spec.workers}-{len(servers)}.log"
            )
            env = {**os.environ, **store_env, **spec.env}
            servers.append(
                stack.enter_context(
                    serve(
                        settings.data,
                        env=env,
                        ready_timeout_s=config.startup_timeout_s,
                        log_path=log_path,
                        workers=spec.workers,
                    )
                )
            )
        warm_mix = mix or [next_text() for _ in range(64)]
        for spec, server in zip(config.servers, servers, strict=True):
            progress(f"{backend}: warming {spec.label}")
            _closed_loop(
                server.base_url,
                _shared(itertools.cycle(warm_mix)),
                config.warmup_seconds,
                config.concurrency,
                _Answers(),
                config.timeout_s,
            )
        text = [_Answers() for _ in servers]
        mixed = [_Answers() for _ in servers]
        stacks: list[list[Path]] = [[] for _ in servers]
        for round_ in range(config.rounds):
            for i, (spec, server) in enumerate(zip(config.servers, servers, strict=True)):
                progress(f"{backend}: text, {spec.label}, round {round_ + 1}/{config.rounds}")
                _closed_loop(
                    server.base_url,
                    next_text,
                    config.text_seconds / config.rounds,
                    config.concurrency,
                    text[i],
                    config.timeout_s,
                )
        if mix is not None:
            next_mixed = _shared(itertools.cycle(mix))
            slice_s = config.mixed_seconds / config.rounds
            for round_ in range(config.rounds):
                for i, (spec, server) in enumerate(zip(config.servers, servers, strict=True)):
                    progress(f"{backend}: mixed, {spec.label}, round {round_ + 1}/{config.rounds}")
                    raw = (
                        None
                        if config.profile_dir is None
                        else config.profile_dir / f"{backend}-{i}-{spec.workers}w-r{round_}.txt"
                    )
                    if raw is not None:
                        stacks[i].append(raw)
                    with profiled(server, slice_s, raw):
                        _closed_loop(
                            server.base_url,
                            next_mixed,
                            slice_s,
                            config.concurrency,
                            mixed[i],
                            config.timeout_s,
                        )
    runs = []
    for i, (spec, server) in enumerate(zip(config.servers, servers, strict=True)):
        run: dict[str, Any] = {
            "label": spec.label,
            "workers": spec.workers,
            "env": spec.env,
            "start_to_ready_s": server.start_to_ready_s,
            "text": text[i].figures(),
        }
        if mix is not None:
            run["mixed"] = mixed[i].figures()
        if stacks[i]:
            run["profile"] = {
                "stacks": [str(path) for path in stacks[i]],
                "cpu_shares": profile_shares(stacks[i]),
            }
        runs.append(run)
    return runs


def _target(results: dict[str, list[dict]]) -> dict[str, Any] | None:
    """Issue 21's target: the mixed load's p99 with 2 workers (default settings) ≤ 250 ms,
    zero errors, per back-end it ran on."""
    checks = {}
    for backend, runs in results.items():
        for run in runs:
            if run["workers"] == 2 and not run["env"] and "mixed" in run:
                mixed = run["mixed"]
                checks[backend] = {
                    "p99_ms": mixed.get("p99_ms"),
                    "errors": mixed["errors"],
                    "target_p99_ms": MIXED_P99_TARGET_MS,
                    "met": mixed["errors"] == 0
                    and mixed.get("p99_ms", float("inf")) <= MIXED_P99_TARGET_MS,
                }
    return checks or None


# -- what it prints ------------------------------------------------------------------------


def table(report: dict) -> str:
    """The report as a plain-text table: one row a server and load, then each mixed kind."""
    header = (
        f"{'store':<11} {'server':<40} {'load':<18} "
        f"{'QPS':>7} {'p50 ms':>8} {'p99 ms':>8} {'errors':>6}"
    )
    lines = [header, "-" * len(header)]

    def line(backend: str, label: str, load: str, row: dict) -> str:
        return (
            f"{backend:<11} {label:<40} {load:<18} {row['qps']:>7.1f} "
            f"{row.get('p50_ms', 0):>8.1f} {row.get('p99_ms', 0):>8.1f} {row['errors']:>6}"
        )

    for backend, runs in report["backends"].items():
        for run in runs:
            lines.append(line(backend, run["label"], "text", run["text"]))
            if "mixed" in run:
                lines.append(line(backend, run["label"], "mixed: all", run["mixed"]))
                for kind, row in run["mixed"]["by_kind"].items():
                    lines.append(line(backend, run["label"], f"  {kind}", row))
            if "profile" in run:
                shares = ", ".join(
                    f"{kind} {share:.0%}" for kind, share in run["profile"]["cpu_shares"].items()
                )
                lines.append(f"{backend:<11} {run['label']:<40} CPU samples: {shares}")
    return "\n".join(lines)


def summary_line(report: dict) -> str:
    parts = []
    for backend, runs in report["backends"].items():
        for run in runs:
            text = run["text"]
            part = (
                f"{backend} {run['label']}: text {text['qps']:.0f} QPS "
                f"p50 {text.get('p50_ms', 0):.0f} / p99 {text.get('p99_ms', 0):.0f} ms"
            )
            if "mixed" in run:
                part += f", mixed p99 {run['mixed'].get('p99_ms', 0):.0f} ms"
            parts.append(part)
    errors = "no" if report["zero_errors"] else "SOME"
    return "replicas bench: " + "; ".join(parts) + f"; {errors} errors"
