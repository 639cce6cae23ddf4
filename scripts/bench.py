"""``marketplace bench <benchmark>``: performance figures written to ``reports/*.json``.

Each benchmark lives beside the code it measures (``indexing/bench.py`` for
the reindex, ...) and exposes ``register(subparsers)``, which adds its own
sub-command with a ``handler``; this file only lists them. Benchmark modules
keep heavy imports (torch, the model) inside their handler, so ``--help``
stays fast.
"""

from __future__ import annotations

import argparse
import importlib

BENCHMARK_MODULES = (
    "indexing.bench",
    "scripts.bench_suite",
    "api.bench",
    "api.reliability_bench",
)


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "bench", help="run a benchmark (all of them if none is named), write reports/<name>.json"
    )
    benchmarks = parser.add_subparsers(dest="benchmark", required=False, metavar="BENCHMARK")
    for name in BENCHMARK_MODULES:
        importlib.import_module(name).register(benchmarks)
    # No benchmark named: run them all, each with its defaults.
    parser.set_defaults(
        handler=importlib.import_module("scripts.bench_suite").run_all_handler(benchmarks)
    )
