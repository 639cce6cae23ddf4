"""``marketplace evaluate queries``: does search understand what shoppers type?

Called by ``scripts/evaluate.py`` for its ``queries`` mode. Generates the
seeded shopper queries from the workspace's catalogue (never saved: they are
built from the listings' titles), asks them and the hand-written ones of the
service built in memory, prints the figures beside their targets and writes
``reports/queries.json``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

from scripts.errors import CliError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The queries mode's own options (``--data``, ``--seed``, ``--reports-dir`` are shared)."""
    parser.add_argument(
        "--titles", type=int, default=200, help="queries: misspelt titles to ask (default 200)"
    )
    parser.add_argument(
        "--intents", type=int, default=200, help="queries: generated intents to ask (default 200)"
    )
    parser.add_argument(
        "--show-misses",
        type=int,
        default=0,
        metavar="N",
        help="queries: print up to N misread generated intents to stderr (never saved)",
    )


def run(args: argparse.Namespace) -> int:

    from benchmarks.harness import machine_info, write_report
    from evaluation.query_evaluation import QueryEvalConfig, run_query_evaluation, summary_lines
    from evaluation.world import VectorSources
    from scripts.evaluation_inputs import open_evaluation_inputs

    for name in ("titles", "intents"):
        if getattr(args, name) < 1:
            raise CliError(f"--{name} must be at least 1, not {getattr(args, name)}")
    if args.show_misses < 0:
        raise CliError(f"--show-misses must not be negative, not {args.show_misses}")
    workspace, catalogue, embedder = open_evaluation_inputs(args)
    started = time.time()
    machine = machine_info()
    try:
        evaluation = run_query_evaluation(
            catalogue,
            embedder,
            QueryEvalConfig(seed=args.seed, titles=args.titles, intents=args.intents),
            VectorSources(features_root=workspace.features_dir),
            progress=sys.stderr.isatty(),
        )
    except ValueError as exc:  # a catalogue too small to draw queries from
        raise CliError(str(exc)) from None
    report = evaluation.report
    report["machine_at_start"] = machine
    report["machine_at_end"] = machine_info()
    report["seconds"] = round(time.time() - started, 1)
    for miss in evaluation.generated_misses[: args.show_misses]:
        print(f"misread: {json.dumps(miss, ensure_ascii=False)}", file=sys.stderr)
    as_json = getattr(args, "json", False)
    out = sys.stderr if as_json else sys.stdout
    if as_json:
        print(json.dumps(report, ensure_ascii=False, indent=1))
    print("\n".join(summary_lines(report)), file=out)
    write_report(
        report,
        args.reports_dir / "queries.json",
        f"shopper queries on {machine['cpu']} ({report['seconds']:.0f} s)",
        stream=out,
    )
    return 0
