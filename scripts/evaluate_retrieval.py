"""``marketplace evaluate retrieval``: every search method on the test split, one run.

Called by ``scripts/evaluate.py`` for its ``retrieval`` mode. Writes
``reports/retrieval.json`` and its plots; the evaluation builds its own
indexes in a temporary folder and never touches the serving index.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from scripts.errors import CliError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The retrieval mode's options (``--data`` and ``--seed`` may already exist)."""
    existing = {a for action in parser._actions for a in action.option_strings}
    if "--data" not in existing:
        parser.add_argument("--data", type=Path, help="raw data folder (default: the real data)")
    if "--seed" not in existing:
        parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--max-queries",
        type=int,
        default=None,
        help="retrieval: at most this many test listings per task (default: all)",
    )
    parser.add_argument(
        "--reports-dir", type=Path, default=Path("reports"), help="where reports are written"
    )
    parser.add_argument(
        "--split",
        choices=("val", "test"),
        default="test",
        help="retrieval: 'val' asks validation queries and users, for tuning ranking knobs "
        "(writes retrieval_val.*); 'test' (default) is what the README reports",
    )


def run(args: argparse.Namespace) -> int:

    from benchmarks.harness import machine_info, write_report
    from evaluation.report import markdown_tables, plot_retrieval_report, summary_line
    from evaluation.retrieval import run_evaluation
    from evaluation.world import EvalConfig, VectorSources
    from multimodal.data.splits import Split, load_or_make_split
    from scripts.evaluation_inputs import open_evaluation_inputs

    if args.max_queries is not None and args.max_queries < 1:
        raise CliError(f"--max-queries must be at least 1, not {args.max_queries}")
    workspace, catalogue, embedder = open_evaluation_inputs(args)
    # The split the model was trained on: its own seed, whatever --seed says.
    split_seed = Split.load(workspace.split_file).seed if workspace.split_file.exists() else 0
    split = load_or_make_split(workspace.split_file, catalogue.listings, seed=split_seed)
    started = time.time()
    machine = machine_info()
    report = run_evaluation(
        catalogue,
        split,
        embedder,
        EvalConfig(seed=args.seed, split=args.split, max_queries=args.max_queries),
        VectorSources(features_root=workspace.features_dir),
        progress=sys.stderr.isatty(),
    )
    report["machine_at_start"] = machine
    report["machine_at_end"] = machine_info()
    report["seconds"] = round(time.time() - started, 1)
    stem = "retrieval" if args.split == "test" else f"retrieval_{args.split}"
    as_json = getattr(args, "json", False)
    if as_json:
        print(json.dumps(report, ensure_ascii=False, indent=1))
    write_report(
        report,
        args.reports_dir / f"{stem}.json",
        summary_line(report) + f" ({report['seconds']:.0f} s)",
        stream=sys.stderr if as_json else sys.stdout,
    )
    plot_retrieval_report(report, args.reports_dir, stem)
    (args.reports_dir / f"{stem}.md").write_text(markdown_tables(report), encoding="utf-8")
    return 0
