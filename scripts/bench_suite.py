"""``marketplace bench scaling``, ``marketplace bench encode``, and the run-them-all.

Registered by ``scripts/bench.py``; this module stays light (argparse only)
so ``--help`` is fast, and the handlers import the benchmarks
(``indexing.scaling_bench``, ``indexing.encode_bench``) when they run.
``marketplace bench`` with no benchmark named runs every registered one,
each with its defaults, in registration order.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from scripts.errors import CliError

DEFAULT_REPORTS = Path("reports")


def register(benchmarks: argparse._SubParsersAction) -> None:
    scaling = benchmarks.add_parser(
        "scaling",
        help="exact / IVF / HNSW latency and recall@10 at 10k, 100k, 1M synthetic vectors",
    )
    scaling.add_argument(
        "--sizes",
        default="10000,100000,1000000",
        help="comma-separated index sizes (default: %(default)s)",
    )
    scaling.add_argument("--queries", type=int, default=200, help="timed queries per setting")
    scaling.add_argument("--dim", type=int, default=256)
    scaling.add_argument(
        "--search-threads", type=int, default=1, help="FAISS threads while searching"
    )
    scaling.add_argument(
        "--build-threads", type=int, default=2, help="FAISS threads while building"
    )
    scaling.add_argument("--seed", type=int, default=0)
    scaling.add_argument(
        "--bandwidth-mib", type=int, default=512, help="buffer copied to measure memory bandwidth"
    )
    scaling.add_argument("--reports-dir", type=Path, default=DEFAULT_REPORTS)
    scaling.set_defaults(handler=run_scaling_command)

    encode = benchmarks.add_parser(
        "encode", help="per-query latency of text encoding, photo encoding and index search"
    )
    encode.add_argument(
        "--data", type=Path, help="raw data folder whose workspace holds the model and index"
    )
    encode.add_argument("--queries", type=int, default=200)
    encode.add_argument("--seed", type=int, default=0)
    encode.add_argument("--reports-dir", type=Path, default=DEFAULT_REPORTS)
    encode.set_defaults(handler=run_encode_command)


def _sizes(text: str) -> tuple[int, ...]:
    try:
        sizes = tuple(sorted({int(part.replace("_", "")) for part in text.split(",") if part}))
    except ValueError:
        raise CliError(f"--sizes takes comma-separated integers, not {text!r}") from None
    if not sizes or sizes[0] < 100:
        raise CliError("--sizes needs at least one size, each at least 100")
    return sizes


def _positive(name: str, value: int) -> int:
    if value < 1:
        raise CliError(f"--{name} must be at least 1, not {value}")
    return value


def run_scaling_command(args: argparse.Namespace) -> int:
    from indexing.scaling_bench import (
        ScalingConfig,
        run_scaling,
        summary_line,
        write_scaling_report,
    )

    config = ScalingConfig(
        sizes=_sizes(args.sizes),
        dim=_positive("dim", args.dim),
        queries=_positive("queries", args.queries),
        search_threads=_positive("search-threads", args.search_threads),
        build_threads=_positive("build-threads", args.build_threads),
        seed=args.seed,
        bandwidth_bytes=_positive("bandwidth-mib", args.bandwidth_mib) * 2**20,
    )
    report = run_scaling(config, progress=lambda msg: print(f"scaling: {msg}", file=sys.stderr))
    paths = write_scaling_report(report, args.reports_dir)
    print(summary_line(report) + f" -> {paths[0]}")
    return 0


def run_encode_command(args: argparse.Namespace) -> int:
    import torch

    from indexing.encode_bench import EncodeBenchConfig, run_encode_bench, summary_line
    from indexing.index_store import IndexDirectory, IndexMismatch, IndexNotFound
    from multimodal.bundle import BundleError
    from multimodal.data.catalogue import load_clean_catalogue
    from multimodal.embedder import Embedder
    from multimodal.workspace import Workspace, default_data_dir

    config = EncodeBenchConfig(queries=_positive("queries", args.queries), seed=args.seed)
    workspace = Workspace.for_data(args.data or default_data_dir()[0])
    torch.set_num_threads(config.torch_threads)
    try:
        catalogue = load_clean_catalogue(workspace.clean_dir)
        embedder = Embedder.load(workspace.model_dir)
        version = IndexDirectory(workspace.index_dir).load_current(embedder.fingerprint)
    except (FileNotFoundError, BundleError, IndexNotFound, IndexMismatch) as exc:
        raise CliError(str(exc).splitlines()[0]) from None
    report = run_encode_bench(catalogue, embedder, version.listings, config)
    args.reports_dir.mkdir(parents=True, exist_ok=True)
    path = args.reports_dir / "encode_bench.json"
    path.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(summary_line(report) + f" -> {path}")
    return 0


def run_all_handler(benchmarks: argparse._SubParsersAction):
    """A handler running every benchmark registered on ``benchmarks`` with its defaults.

    One failing benchmark does not stop the others; the exit code says whether
    any failed, and the last line names them.
    """

    def run_all(_args: argparse.Namespace) -> int:
        failed = []
        for name, parser in benchmarks.choices.items():
            print(f"marketplace bench {name}", file=sys.stderr)
            try:
                sub_args = parser.parse_args([])
                code = int(sub_args.handler(sub_args) or 0)
            except CliError as exc:
                print(f"marketplace bench {name}: error: {exc}", file=sys.stderr)
                code = 2
            except SystemExit as exc:  # a benchmark that cannot run on defaults
                code = int(exc.code or 0)
            if code:
                failed.append(name)
        ran = len(benchmarks.choices)
        print(
            f"bench: {ran - len(failed)}/{ran} benchmarks ran"
            + (f"; failed: {', '.join(failed)}" if failed else "")
        )
        return 1 if failed else 0

    return run_all
