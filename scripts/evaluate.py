"""``marketplace evaluate [classification|retrieval]``: measure the saved model.

``classification`` (the default) scores the test split per product for
text-only, image-only and fused predictions and writes
``reports/classification.json`` and ``reports/confusion_matrix.png``.
``retrieval`` is ``scripts/evaluate_retrieval.py`` (search-quality figures),
``queries`` is ``scripts/evaluate_queries.py`` (typos, spoken filters, re-posts).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from scripts import evaluate_queries, evaluate_retrieval
from scripts.errors import CliError

MODES = ("classification", "retrieval", "queries")


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "evaluate", help="classification, retrieval or shopper-query figures"
    )
    parser.add_argument("mode", nargs="?", choices=MODES, default="classification")
    parser.add_argument("--data", type=Path, help="raw catalogue folder (default: see README)")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    evaluate_retrieval.add_arguments(parser)  # --seed, --max-queries, --reports-dir
    evaluate_queries.add_arguments(parser)  # --titles, --intents, --show-misses
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    if args.mode == "retrieval":
        return evaluate_retrieval.run(args)
    if args.mode == "queries":
        return evaluate_queries.run(args)
    return run_classification(args)


def run_classification(args: argparse.Namespace) -> int:
    import torch

    from benchmarks.harness import write_report
    from evaluation.classification import classification_report
    from multimodal.baselines import load_baseline_results
    from multimodal.bundle import BundleError, load_model
    from multimodal.data.catalogue import load_clean_catalogue
    from multimodal.data.splits import Split
    from multimodal.workspace import Workspace
    from scripts.data import resolve_data_dir

    if args.threads < 1:
        raise CliError(f"--threads must be at least 1, not {args.threads}")
    torch.set_num_threads(args.threads)
    ws = Workspace.for_data(resolve_data_dir(args.data))
    try:
        catalogue = load_clean_catalogue(ws.clean_dir)
        model, manifest, _ = load_model(ws.model_dir)
        split = Split.load(ws.split_file)
    except (FileNotFoundError, BundleError, ValueError) as exc:
        raise CliError(str(exc).splitlines()[0]) from None
    reports = args.reports_dir
    report = classification_report(
        model,
        manifest,
        catalogue,
        split,
        ws.features_dir,
        reports / "confusion_matrix.png",
        baselines=load_baseline_results(ws),
    )
    if args.json:
        print(json.dumps(report, ensure_ascii=False, indent=1))
    acc = report["accuracy"]
    stripped = report["boilerplate"]["accuracy_stripped"]
    write_report(
        report,
        reports / "classification.json",
        f"test accuracy per product ({report['test_listings']} listings): text {acc['text']:.3f}, "
        f"image {acc['image']:.3f}, fused {acc['fused']:.3f} (boilerplate stripped: "
        f"text {stripped['text']:.3f}, fused {stripped['fused']:.3f})",
        stream=sys.stderr if args.json else sys.stdout,
    )
    return 0
