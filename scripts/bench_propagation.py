"""``marketplace bench propagation``: how long a write through one replica takes to reach
another (``benchmarks.propagation``), on SQLite and on PostgreSQL."""

from __future__ import annotations

import argparse
from pathlib import Path

from scripts.bench import DATA_HELP, REPORTS, _data, _one_line, _positive, _print_progress


def add_propagation(benchmarks: argparse._SubParsersAction) -> None:
    parser = benchmarks.add_parser(
        "propagation",
        help="two `serve` replicas over one store: how long until a listing or an event "
        "written through A is seen through B → reports/propagation.json",
    )
    parser.add_argument("--data", type=Path, help=DATA_HELP)
    parser.add_argument("--listings", type=int, default=20, help="listings written through A")
    parser.add_argument("--events", type=int, default=20, help="user events posted through A")
    parser.add_argument(
        "--database-url",
        help="an empty PostgreSQL database to copy the store into (default: a throwaway "
        "server, when Debian's postgresql binaries are installed)",
    )
    parser.add_argument("--out", type=Path, default=REPORTS / "propagation.json")
    parser.set_defaults(handler=_one_line(run_propagation))


def run_propagation(args: argparse.Namespace) -> int:
    from api.settings import Settings
    from benchmarks.propagation import PropagationBenchConfig, run_propagation_bench

    config = PropagationBenchConfig(
        listings=_positive("listings", args.listings), events=_positive("events", args.events)
    )
    settings = Settings(data=_data(args))
    report = run_propagation_bench(settings, config, args.out, args.database_url, _print_progress)
    return 0 if report["all_within_2_s"] else 1
