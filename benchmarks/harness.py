"""What every benchmark shares: a real server subprocess, percentiles, the machine, the report.

One copy of each, so every report measures and describes things the same way:

- ``serve`` starts ``marketplace serve`` in a subprocess on a free loopback
  port, waits for the first 200 from ``/readyz`` (recording how long that took
  from the spawn: ``start_to_ready_s``), and stops it by its own pid;
- ``wait_until_ready`` is that wait alone, for a server started some other way
  (the browser tests run uvicorn in a thread);
- ``percentiles`` turns latencies in seconds into the p50/p95/p99 milliseconds
  every report carries;
- ``machine_info`` names the CPU (model, vendor, family and model numbers,
  cores, the vector/matrix extensions that decide how fast the model runs) and
  how busy the machine was;
- ``write_report`` writes a report as JSON and prints its one-line summary,
  ending with the CPU (``machine_line``).
"""

from __future__ import annotations

import json
import os
import platform
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import IO, Any

import httpx
import numpy as np

from benchmarks.errors import BenchError
from benchmarks.without_avx512 import MARKER as HIDDEN_ISA_MARKER

REPO_ROOT = Path(__file__).resolve().parents[1]
# CPU extensions that change how fast the encoders and FAISS run (bf16/AMX matmuls, AVX-512).
CPU_FLAGS = (
    "avx2",
    "fma",
    "f16c",
    "avx_vnni",
    "avx512f",
    "avx512bw",
    "avx512_vnni",
    "avx512_bf16",
    "avx512_fp16",
    "amx_tile",
    "amx_bf16",
    "amx_int8",
)
LIBRARIES = ("numpy", "faiss-cpu", "torch")
# Variables that keep torch's kernels (ATen, oneDNN, MKL) and OpenBLAS's (numpy,
# scipy, FAISS) below the CPU's own instruction set: a run under them stands in for
# a CPU without AVX-512 or bf16, and its report must say so next to the flags the
# CPU itself has. ONNX Runtime has no such switch: it picks its kernels from cpuid.
ISA_LIMITS = (
    "ATEN_CPU_CAPABILITY",
    "ONEDNN_MAX_CPU_ISA",
    "MKL_ENABLE_INSTRUCTIONS",
    "OPENBLAS_CORETYPE",
    HIDDEN_ISA_MARKER,  # benchmarks.without_avx512
)


# -- the server under test ---------------------------------------------------------


def free_port() -> int:
    """A loopback port nothing listens on now (the OS picks it)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def cli_command(*args: str) -> list[str]:
    """``marketplace <args>`` as this interpreter runs it, for a subprocess."""
    return [sys.executable, "-m", "scripts.cli", *args]


@dataclass(frozen=True)
class RunningServer:
    base_url: str
    pid: int
    start_to_ready_s: float  # from spawning the process to the first 200 from /readyz


def wait_until_ready(
    base_url: str, timeout_s: float, stopped: Callable[[], str | None], poll_s: float = 0.05
) -> None:
    """Poll ``/readyz`` until it answers 200.

    ``stopped`` says why the server can no longer become ready (it exited), or
    None while it still can; either that or the timeout raises ``BenchError``.
    The short poll keeps the measured start-to-ready time within 50 ms.
    """
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        reason = stopped()
        if reason is not None:
            raise BenchError(reason)
        try:
            if httpx.get(f"{base_url}/readyz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(poll_s)
    raise BenchError(f"the server at {base_url} was not ready within {timeout_s:.0f} s")


@contextmanager
def serve(
    data: Path,
    *,
    env: Mapping[str, str] | None = None,
    ready_timeout_s: float = 300,
    log_path: Path | None = None,
    workers: int = 1,
) -> Iterator[RunningServer]:
    """``marketplace serve --data <data> --workers <workers>`` on a free loopback port,
    ready, then stopped.

    ``env`` replaces the environment (default: this process's). The server's
    output goes to ``log_path`` (default: a temporary file); if it exits before
    it is ready, ``BenchError`` carries the last line it wrote. On leaving, the
    process gets SIGTERM, then SIGKILL after 20 s.
    """
    port = free_port()
    command = cli_command(
        "serve", "--data", str(data), "--host", "127.0.0.1", "--port", str(port),
        "--workers", str(workers),
    )  # fmt: skip
    base_url = f"http://127.0.0.1:{port}"
    with _log_file(log_path) as log:
        started = time.perf_counter()
        proc = subprocess.Popen(
            command,
            cwd=REPO_ROOT,
            env=dict(env if env is not None else os.environ),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            wait_until_ready(base_url, ready_timeout_s, lambda: _exited(proc, log))
            ready_s = time.perf_counter() - started
            yield RunningServer(base_url, proc.pid, round(ready_s, 3))
        finally:
            stop_process(proc)


@contextmanager
def _log_file(path: Path | None) -> Iterator[IO[str]]:
    if path is None:
        with tempfile.TemporaryFile(mode="w+") as log:
            yield log
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w+") as log:
        yield log


def _exited(proc: subprocess.Popen, log: IO[str]) -> str | None:
    if proc.poll() is None:
        return None
    log.flush()
    log.seek(0)
    lines = [line.strip() for line in log.read().splitlines() if line.strip()]
    last = lines[-1] if lines else "no output"
    return f"the server exited with {proc.returncode} before it was ready: {last}"


def stop_process(
    proc: subprocess.Popen, sig: signal.Signals = signal.SIGTERM, timeout_s: float = 20
) -> None:
    """Ask a child to stop with ``sig``; kill it if it has not within ``timeout_s``."""
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


# -- measuring and describing --------------------------------------------------------


def percentiles(seconds: Sequence[float]) -> dict[str, float]:
    """Latencies in seconds as milliseconds: n, p50, p95, p99, mean and max (``{"n": 0}``
    for none). Four decimals: an exact search of a small index takes microseconds."""
    ms = np.asarray(seconds, dtype=np.float64) * 1000
    if not len(ms):
        return {"n": 0}
    return {
        "n": len(ms),
        "p50_ms": round(float(np.percentile(ms, 50)), 4),
        "p95_ms": round(float(np.percentile(ms, 95)), 4),
        "p99_ms": round(float(np.percentile(ms, 99)), 4),
        "mean_ms": round(float(ms.mean()), 4),
        "max_ms": round(float(ms.max()), 4),
    }


def machine_info() -> dict[str, Any]:
    """What the figures were measured on, and how busy it was at the time."""
    cpu = _cpu()
    versions = {}
    for name in LIBRARIES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return {
        "cpu": cpu.name,
        "cpu_id": cpu.identity,
        "cores": os.cpu_count(),
        "cpu_flags": [flag for flag in CPU_FLAGS if flag in cpu.flags],
        "isa_limits": {name: os.environ[name] for name in ISA_LIMITS if os.environ.get(name)},
        "load_average_1_5_15": list(os.getloadavg()),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "libraries": versions,
        "utc": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def fp32_peak(threads: int, n: int = 4096, repeats: int = 5) -> float:
    """The machine's fp32 FLOP/s on ``threads`` threads: the best of a few n×n GEMMs.

    The compute bound of the runtime bench, and a first run's measure of how fast
    this shared machine was that hour (its speed drifts by a quarter between hours)."""
    import torch

    torch.set_num_threads(threads)
    a, b = torch.randn(n, n), torch.randn(n, n)
    torch.mm(a, b)
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        torch.mm(a, b)
        best = min(best, time.perf_counter() - started)
    return 2 * n**3 / best


@dataclass(frozen=True)
class Cpu:
    """The CPU as ``/proc/cpuinfo`` names it.

    Under a hypervisor the model name is often generic ("AMD EPYC", "Intel(R)
    Xeon(R) Processor"), so the vendor, family and model numbers are kept too:
    they tell one generation from another (family 25 model 17 is a Zen 4)."""

    name: str
    identity: str  # "AuthenticAMD family 25 model 17 stepping 1", or "" where unknown
    flags: frozenset[str]


def _cpu() -> Cpu:
    """The first CPU's fields in ``/proc/cpuinfo`` where there is one."""
    fields: dict[str, str] = {}
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if not line.strip():
                    break  # the first processor's block ends here
                key, _, value = (part.strip() for part in line.partition(":"))
                fields.setdefault(key, value)
    except OSError:
        pass
    identity = ""
    if "vendor_id" in fields and "cpu family" in fields:
        identity = (
            f"{fields['vendor_id']} family {fields['cpu family']} "
            f"model {fields.get('model', '?')} stepping {fields.get('stepping', '?')}"
        )
    return Cpu(
        name=fields.get("model name") or platform.processor() or platform.machine(),
        identity=identity,
        flags=frozenset(fields.get("flags", "").split()),
    )


def machine_line() -> str:
    """The CPU a figure was measured on, in the words a summary line ends with."""
    cpu = _cpu()
    hidden = os.environ.get(HIDDEN_ISA_MARKER)
    parts = [cpu.name, cpu.identity, f"{os.cpu_count()} cores"]
    if hidden:
        parts.append(f"{hidden} hidden")
    return ", ".join(part for part in parts if part)


# -- the report ----------------------------------------------------------------------


def save_report(report: Mapping[str, Any], path: Path) -> Path:
    """``report`` as indented JSON at ``path`` (its folder made if needed)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return path


def write_report(
    report: Mapping[str, Any], path: Path, summary: str, stream: IO[str] | None = None
) -> Path:
    """Save ``report`` and print ``summary [the CPU] -> path``: the last line a
    benchmark prints, naming the machine so a figure copied from it keeps its CPU."""
    save_report(report, path)
    print(f"{summary} [{machine_line()}] -> {path}", file=stream or sys.stdout)
    return path
