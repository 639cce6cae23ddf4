"""The first run's timings: ``marketplace demo`` from a bare workspace to the trained model.

Starts ``marketplace demo`` as a child process (its own output to a log
file), then polls the server: the first ``POST /search`` with a text query
that answers with results (the first page), and the first ``GET /progress``
that says the trained model serves (the whole first run). Prints both, from
the command's start, writes them to ``reports/first_run.json`` with the
machine's description and how long each training step took (the step that
``/progress`` names, polled every 2 s), and stops the demo with Ctrl-C's signal.

    python -m benchmarks.first_run --data DATA --home HOME [--precision fp32]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from benchmarks.harness import cli_command, fp32_peak, machine_info, stop_process, write_report

QUERY = {"text": "oak dining table", "k": 10}


def _post(url: str, body: dict) -> dict | None:
    request = urllib.request.Request(
        url, json.dumps(body).encode(), {"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.loads(response.read())
    except (OSError, ValueError):
        return None


def _get(url: str) -> dict | None:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return json.loads(response.read())
    except (OSError, ValueError):
        return None


def step_seconds(starts: list[tuple[float, str]], end: float | None) -> dict[str, float]:
    """Seconds each step took, from when ``/progress`` first named it to when it named
    the next one; the last ends at ``end`` (the trained model serving), or is left
    out when the run did not get there."""
    if not starts:
        return {}
    bounds = [*(t for t, _ in starts[1:]), end]
    return {
        step: round(stop - start, 1)
        for (start, step), stop in zip(starts, bounds, strict=True)
        if stop is not None
    }


def note_step(starts: list[tuple[float, str]], progress: dict | None, at: float) -> None:
    """Append ``(at, step)`` when a ``/progress`` answer names a step other than the last."""
    step = ((progress or {}).get("training") or {}).get("stage")
    if step and (not starts or starts[-1][1] != step):
        starts.append((at, step))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--home", type=Path, required=True, help="a fresh MARKETPLACE_HOME")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--precision", default="auto")
    parser.add_argument("--limit-s", type=float, default=3600.0)
    parser.add_argument("--out", type=Path, default=Path("reports/first_run.json"))
    args = parser.parse_args(argv)

    args.home.mkdir(parents=True, exist_ok=True)
    log = args.home / "demo.log"
    env = {**os.environ, "MARKETPLACE_HOME": str(args.home)}
    command = cli_command(
        "demo", "--data", str(args.data), "--port", str(args.port), "--precision", args.precision
    )
    peak_before = fp32_peak(threads=2)  # how fast the machine is this hour, before and after
    started = time.monotonic()
    with log.open("wb") as out:
        demo = subprocess.Popen(command, stdout=out, stderr=out, env=env)
    base = f"http://127.0.0.1:{args.port}"
    figures: dict[str, float | None] = {"first_page_s": None, "trained_serving_s": None}
    steps: list[tuple[float, str]] = []  # (seconds from the start, the step /progress names)
    try:
        while time.monotonic() - started < args.limit_s and demo.poll() is None:
            time.sleep(2)
            if figures["first_page_s"] is None:
                found = _post(f"{base}/search", QUERY)
                if found and found.get("results"):
                    figures["first_page_s"] = round(time.monotonic() - started, 1)
                    print(f"first page answers a text query after {figures['first_page_s']} s")
                continue
            now = _get(f"{base}/progress")
            note_step(steps, now, round(time.monotonic() - started, 1))
            if now and now.get("model") == "trained":
                found = _post(f"{base}/search", QUERY)
                if found and found.get("results"):
                    figures["trained_serving_s"] = round(time.monotonic() - started, 1)
                    print(f"the trained model serves after {figures['trained_serving_s']} s")
                    break
    finally:
        stop_process(demo, signal.SIGINT, timeout_s=60)  # Ctrl-C: the demo stops its children
    used = resource.getrusage(resource.RUSAGE_CHILDREN)  # the demo and its children
    peak_after = fp32_peak(threads=2)
    report = {
        **figures,
        # on a loaded machine the wall times stretch; the CPU time does not
        "cpu_seconds_all_processes": round(used.ru_utime + used.ru_stime, 1),
        "training_step_seconds": step_seconds(steps, figures["trained_serving_s"]),
        # a 4096² fp32 GEMM on 2 threads: the same code's timings follow this machine's drift
        "fp32_peak_gflops_before_after": [round(peak_before / 1e9, 1), round(peak_after / 1e9, 1)],
        "command": " ".join(command),
        "precision": args.precision,
        "machine": machine_info(),  # at the end: its load average covers the run
        "demo_exit": demo.returncode,
    }
    write_report(report, args.out, f"first run: {json.dumps(figures)}")
    return 0 if figures["trained_serving_s"] is not None else 1


if __name__ == "__main__":
    sys.exit(main())
