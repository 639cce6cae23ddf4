"""``marketplace bench <benchmark>``: performance figures written to ``reports/*.json``.

The benchmarks live in the ``benchmarks`` package; this file only parses
their options and calls them. Their modules are imported inside the handlers
(torch, FAISS and the model are heavy), so ``--help`` stays fast. A benchmark
that cannot run as asked raises ``BenchError``, printed here as one line
(exit 2). ``marketplace bench`` with no benchmark named runs every one, each
with its defaults, in the order they are registered.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

from benchmarks.errors import BenchError
from scripts.errors import CliError

REPORTS = Path("reports")
DATA_HELP = (
    "raw data folder whose workspace holds the model and index "
    "(default: MARKETPLACE_DATA, else ../shared/marketplace)"
)
Handler = Callable[[argparse.Namespace], int]


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "bench", help="run a benchmark (all of them if none is named), write reports/<name>.json"
    )
    from scripts.bench_propagation import add_propagation  # it imports this module's helpers

    benchmarks = parser.add_subparsers(dest="benchmark", required=False, metavar="BENCHMARK")
    for add in (
        _reindex, _reindex_memory, _scaling, _encode, _runtime, _runtime_parity, _search,
        _suggest, _reliability, _observability, _workers, _replicas, add_propagation,
    ):  # fmt: skip
        add(benchmarks)
    # No benchmark named: run them all, each with its defaults.
    parser.set_defaults(handler=run_all_handler(benchmarks))


def _one_line(run: Handler) -> Handler:
    """``run`` with a ``BenchError`` turned into the CLI's one-line error."""

    def handler(args: argparse.Namespace) -> int:
        try:
            return run(args)
        except BenchError as exc:
            raise CliError(str(exc)) from None

    return handler


def _data(args: argparse.Namespace) -> Path:
    from multimodal.workspace import default_data_dir

    return args.data or default_data_dir()[0]


def _positive(name: str, value: int) -> int:
    if value < 1:
        raise CliError(f"--{name} must be at least 1, not {value}")
    return value


# -- reindex -----------------------------------------------------------------------


def _reindex(benchmarks: argparse._SubParsersAction) -> None:
    parser = benchmarks.add_parser(
        "reindex",
        help="full reindex local vs ray, and incremental runs → reports/reindex_bench.json",
    )
    parser.add_argument("--data", type=Path, help=DATA_HELP)
    parser.add_argument("--executors", default="local,ray", help="comma-separated, in order")
    parser.add_argument("--limit", type=int, help="only the first N listings (a quick run)")
    parser.add_argument(
        "--cold-limit",
        type=int,
        help="cold runs on the first N listings only (rates and a projection are reported)",
    )
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--ray-actors", type=int, default=2)
    parser.add_argument("--out", type=Path, default=REPORTS / "reindex_bench.json")
    parser.add_argument("--home", type=Path, help="scratch folder (default: temporary)")
    parser.add_argument("--model", type=Path, help="model folder (default: the workspace's)")
    parser.add_argument(
        "--no-warm", action="store_true", help="skip the run reusing the training feature cache"
    )
    parser.set_defaults(handler=_one_line(run_reindex))


def run_reindex(args: argparse.Namespace) -> int:
    from benchmarks.reindex import BenchConfig, run_bench

    executors = tuple(e.strip() for e in args.executors.split(",") if e.strip())
    if set(executors) - {"local", "ray"} or not executors:
        raise CliError(f"--executors takes local and/or ray, not {args.executors!r}")
    run_bench(
        BenchConfig(
            data=_data(args),
            out=args.out,
            executors=executors,
            limit=args.limit,
            cold_limit=args.cold_limit,
            batch_size=args.batch_size,
            ray_actors=args.ray_actors,
            home=args.home,
            model_dir=args.model,
            warm=not args.no_warm,
        )
    )
    return 0


def _reindex_memory(benchmarks: argparse._SubParsersAction) -> None:
    parser = benchmarks.add_parser(
        "reindex-memory",
        help="Ray reindex driver's peak RSS vs index size at 100k and 1M synthetic listings "
        "→ reports/reindex_memory.json",
    )
    parser.add_argument(
        "--sizes", default="100000,1000000", help="comma-separated listing counts (%(default)s)"
    )
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--shard-rows", type=int, default=10_000, help="listings per Ray block")
    parser.add_argument("--ray-actors", type=int, default=1)
    parser.add_argument(
        "--index",
        choices=("exact", "default"),
        default="exact",
        help="exact vectors at every size, or the served default (HNSW past 200k: slow to build)",
    )
    parser.add_argument(
        "--baseline-code", type=Path, help="another tree's code, run on the same stores"
    )
    parser.add_argument(
        "--baseline-sizes", default="100000", help="sizes the baseline runs at (%(default)s)"
    )
    parser.add_argument(
        "--cached-sizes",
        default="1000000",
        help="sizes whose vectors are seeded in the embedding cache, so the encoders do not "
        "run (%(default)s; 0: none)",
    )
    parser.add_argument("--out", type=Path, default=REPORTS / "reindex_memory.json")
    parser.add_argument("--home", type=Path, help="scratch folder, kept (default: temporary)")
    parser.set_defaults(handler=_one_line(run_reindex_memory))


def _counts(name: str, text: str) -> tuple[int, ...]:
    try:
        sizes = tuple(int(s) for s in text.split(",") if s.strip())
    except ValueError:
        raise CliError(f"--{name} takes comma-separated integers, not {text!r}") from None
    if not sizes or min(sizes) < 1:
        raise CliError(f"--{name} takes positive integers, not {text!r}")
    return sizes


def run_reindex_memory(args: argparse.Namespace) -> int:
    from benchmarks.reindex_memory import MemoryBenchConfig, run_bench

    run_bench(
        MemoryBenchConfig(
            sizes=_counts("sizes", args.sizes),
            out=args.out,
            home=args.home,
            batch_size=_positive("batch-size", args.batch_size),
            shard_rows=_positive("shard-rows", args.shard_rows),
            ray_actors=_positive("ray-actors", args.ray_actors),
            index=args.index,
            baseline_code=args.baseline_code,
            baseline_sizes=_counts("baseline-sizes", args.baseline_sizes),
            cached_sizes=()
            if args.cached_sizes == "0"
            else _counts("cached-sizes", args.cached_sizes),
        )
    )
    return 0


# -- scaling and encode ----------------------------------------------------------------


def _scaling(benchmarks: argparse._SubParsersAction) -> None:
    parser = benchmarks.add_parser(
        "scaling",
        help="exact / IVF / HNSW latency and recall@10 at 10k, 100k, 1M synthetic vectors",
    )
    parser.add_argument(
        "--sizes",
        default="10000,100000,1000000",
        help="comma-separated index sizes (default: %(default)s)",
    )
    parser.add_argument("--queries", type=int, default=200, help="timed queries per setting")
    parser.add_argument("--dim", type=int, default=256)
    parser.add_argument("--search-threads", type=int, default=1, help="FAISS threads searching")
    parser.add_argument("--build-threads", type=int, default=2, help="FAISS threads building")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--bandwidth-mib", type=int, default=512, help="buffer copied to measure memory bandwidth"
    )
    parser.add_argument("--reports-dir", type=Path, default=REPORTS)
    parser.set_defaults(handler=_one_line(run_scaling))


def _sizes(text: str) -> tuple[int, ...]:
    try:
        sizes = tuple(sorted({int(part.replace("_", "")) for part in text.split(",") if part}))
    except ValueError:
        raise CliError(f"--sizes takes comma-separated integers, not {text!r}") from None
    if not sizes or sizes[0] < 100:
        raise CliError("--sizes needs at least one size, each at least 100")
    return sizes


def run_scaling(args: argparse.Namespace) -> int:
    from benchmarks.scaling import ScalingConfig, run_scaling
    from benchmarks.scaling_report import write_scaling_report

    config = ScalingConfig(
        sizes=_sizes(args.sizes),
        dim=_positive("dim", args.dim),
        queries=_positive("queries", args.queries),
        search_threads=_positive("search-threads", args.search_threads),
        build_threads=_positive("build-threads", args.build_threads),
        seed=args.seed,
        bandwidth_bytes=_positive("bandwidth-mib", args.bandwidth_mib) * 2**20,
    )
    report = run_scaling(config, lambda msg: print(f"scaling: {msg}", file=sys.stderr))
    write_scaling_report(report, args.reports_dir)
    return 0


def _encode(benchmarks: argparse._SubParsersAction) -> None:
    parser = benchmarks.add_parser(
        "encode", help="per-query latency of text encoding, photo encoding and index search"
    )
    parser.add_argument("--data", type=Path, help=DATA_HELP)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--reports-dir", type=Path, default=REPORTS)
    _engine_argument(parser)
    parser.set_defaults(handler=_one_line(run_encode))


def _engine_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--engine",
        choices=("auto", "onnx", "torch"),
        default="auto",
        help="what runs the encoders; auto: the ONNX runtime, falling back to torch",
    )


def run_encode(args: argparse.Namespace) -> int:
    from benchmarks.encode import EncodeBenchConfig, run_encode_bench_on_workspace

    config = EncodeBenchConfig(
        queries=_positive("queries", args.queries), seed=args.seed, engine=args.engine
    )
    run_encode_bench_on_workspace(_data(args), config, args.reports_dir)
    return 0


# -- the runtime's engines and parity ----------------------------------------------------


def _runtime(benchmarks: argparse._SubParsersAction) -> None:
    from benchmarks.runtime_engines import ENGINE_NAMES

    parser = benchmarks.add_parser(
        "runtime",
        help="photo rate, text latency and throughput per engine, side by side "
        "→ reports/runtime_bench.json",
    )
    parser.add_argument("--data", type=Path, help=DATA_HELP)
    parser.add_argument("--model", type=Path, help="model folder (default: the workspace's)")
    parser.add_argument(
        "--engines",
        default=",".join(ENGINE_NAMES),
        help="comma-separated, measured in this order each round (default: %(default)s)",
    )
    parser.add_argument("--photos", type=int, default=128, help="photos embedded per round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", type=Path, default=REPORTS / "runtime_bench.json")
    parser.set_defaults(handler=_one_line(run_runtime))


def run_runtime(args: argparse.Namespace) -> int:
    from benchmarks.runtime import RuntimeBenchConfig, run_runtime_bench_on_workspace

    config = RuntimeBenchConfig(
        engines=tuple(e.strip() for e in args.engines.split(",") if e.strip()),
        photos=_positive("photos", args.photos),
        rounds=_positive("rounds", args.rounds),
        threads=_positive("threads", args.threads),
    )
    run_runtime_bench_on_workspace(_data(args), config, args.out, args.model)
    return 0


def _runtime_parity(benchmarks: argparse._SubParsersAction) -> None:
    parser = benchmarks.add_parser(
        "runtime-parity",
        help="cosine of every vector kind, the runtime against torch fp32, on real listings "
        "→ reports/runtime_parity.json",
    )
    parser.add_argument("--data", type=Path, help=DATA_HELP)
    parser.add_argument("--model", type=Path, help="model folder (default: the workspace's)")
    parser.add_argument("--listings", type=int, default=1000)
    parser.add_argument("--out", type=Path, default=REPORTS / "runtime_parity.json")
    parser.set_defaults(handler=_one_line(run_runtime_parity))


def run_runtime_parity(args: argparse.Namespace) -> int:
    from benchmarks.runtime_parity import ParityConfig, run_parity_on_workspace

    config = ParityConfig(listings=_positive("listings", args.listings))
    run_parity_on_workspace(_data(args), config, args.out, args.model)
    return 0


# -- search ---------------------------------------------------------------------------


def _search(benchmarks: argparse._SubParsersAction) -> None:
    parser = benchmarks.add_parser(
        "search",
        help="start to /readyz, search latency (text, photo, both) and QPS over HTTP "
        "→ reports/search_bench.json",
    )
    parser.add_argument("--data", type=Path, help=DATA_HELP)
    parser.add_argument("--seconds", type=float, default=10.0, help="per concurrency level")
    parser.add_argument(
        "--scale",
        type=int,
        default=0,
        metavar="N",
        help="also time text queries against N synthetic vectors, e.g. 1000000 (slow to build)",
    )
    parser.add_argument(
        "--approximate",
        choices=("hnsw", "ivf"),
        help="approximate index kind for --scale (default: the server's, IndexConfig)",
    )
    parser.add_argument(
        "--skip-http", action="store_true", help="only the --scale run; keep the HTTP figures"
    )
    parser.add_argument("--out", type=Path, default=REPORTS / "search_bench.json")
    _engine_argument(parser)
    parser.set_defaults(handler=_one_line(run_search))


def run_search(args: argparse.Namespace) -> int:
    from api.settings import Settings
    from benchmarks.search import HttpBenchConfig, ScaleBenchConfig, run_search_bench

    run_search_bench(
        Settings(data=_data(args)),
        args.out,
        http=None
        if args.skip_http
        else HttpBenchConfig(seconds_per_level=args.seconds, engine=args.engine),
        scale=ScaleBenchConfig(size=args.scale, approximate=args.approximate)
        if args.scale
        else None,
    )
    return 0


# -- suggest --------------------------------------------------------------------------


def _suggest(benchmarks: argparse._SubParsersAction) -> None:
    parser = benchmarks.add_parser(
        "suggest",
        help="/suggest latency over HTTP and the text search p50 with query understanding "
        "on and off → reports/suggest_bench.json",
    )
    parser.add_argument("--data", type=Path, help=DATA_HELP)
    parser.add_argument("--prefixes", type=int, default=500, help="timed /suggest requests")
    parser.add_argument(
        "--searches",
        type=int,
        default=200,
        help="queries, each searched with understanding on and off",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=REPORTS / "suggest_bench.json")
    parser.set_defaults(handler=_one_line(run_suggest))


def run_suggest(args: argparse.Namespace) -> int:
    from api.settings import Settings
    from benchmarks.suggest import SuggestBenchConfig, run_suggest_bench

    config = SuggestBenchConfig(
        prefixes=_positive("prefixes", args.prefixes),
        searches=_positive("searches", args.searches),
        seed=args.seed,
    )
    run_suggest_bench(Settings(data=_data(args)), config, args.out)
    return 0


# -- reliability ----------------------------------------------------------------------


def _reliability(benchmarks: argparse._SubParsersAction) -> None:
    parser = benchmarks.add_parser(
        "reliability",
        help="bad inputs, killed reindexes, swaps, writes during reindex, and a held load",
    )
    parser.add_argument("--data", type=Path, help=DATA_HELP)
    parser.add_argument("--seconds", type=float, default=60.0, help="load duration")
    parser.add_argument("--concurrency", type=int, default=16, help="concurrent load clients")
    parser.add_argument(
        "--fault-listings", type=int, default=300, help="listings in the scratch fault workspace"
    )
    parser.add_argument("--kills", type=int, default=4, help="reindexes killed at random points")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--reports-dir", type=Path, default=REPORTS)
    parser.set_defaults(handler=_one_line(run_reliability))


def run_reliability(args: argparse.Namespace) -> int:
    from benchmarks.reliability.benchmark import ReliabilityConfig, run_reliability_bench

    report = run_reliability_bench(
        ReliabilityConfig(
            data=_data(args),
            seconds=args.seconds,
            concurrency=args.concurrency,
            fault_listings=args.fault_listings,
            kills=args.kills,
            seed=args.seed,
            reports_dir=args.reports_dir,
        )
    )
    return 0 if report["ok"] else 1


# -- serving: observability cost, worker processes ---------------------------------------


def _observability(benchmarks: argparse._SubParsersAction) -> None:
    parser = benchmarks.add_parser(
        "observability",
        help="what the metrics + access-log middleware adds to a text search, in-process "
        "→ reports/observability_bench.json",
    )
    parser.add_argument("--data", type=Path, help=DATA_HELP)
    parser.add_argument("--requests", type=int, default=400, help="text queries sent to each app")
    parser.add_argument("--out", type=Path, default=REPORTS / "observability_bench.json")
    parser.set_defaults(handler=_one_line(run_observability))


def run_observability(args: argparse.Namespace) -> int:
    from api.settings import Settings
    from benchmarks.observability import ObservabilityBenchConfig, run_observability_bench

    config = ObservabilityBenchConfig(text_requests=_positive("requests", args.requests))
    run_observability_bench(Settings(data=_data(args)), config, args.out, _print_progress)
    return 0


def _workers(benchmarks: argparse._SubParsersAction) -> None:
    parser = benchmarks.add_parser(
        "workers",
        help="text latency and QPS with 1 and with N `serve --workers` processes "
        "→ reports/workers_bench.json",
    )
    parser.add_argument("--data", type=Path, help=DATA_HELP)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2], help="counts to run")
    parser.add_argument("--seconds", type=float, default=10.0, help="per concurrency level")
    parser.add_argument("--out", type=Path, default=REPORTS / "workers_bench.json")
    parser.set_defaults(handler=_one_line(run_workers))


def run_workers(args: argparse.Namespace) -> int:
    from api.settings import Settings
    from benchmarks.workers import WorkersBenchConfig, run_workers_bench

    config = WorkersBenchConfig(
        workers=tuple(_positive("workers", n) for n in args.workers),
        seconds_per_level=args.seconds,
    )
    run_workers_bench(Settings(data=_data(args)), config, args.out, _print_progress)
    return 0


def _replicas(benchmarks: argparse._SubParsersAction) -> None:
    parser = benchmarks.add_parser(
        "replicas",
        help="text QPS and p50/p99 at concurrency 16 and the mixed load, 1 vs 2 "
        "`serve --workers`, over SQLite and PostgreSQL → reports/replicas_bench.json",
    )
    parser.add_argument("--data", type=Path, help=DATA_HELP)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2], help="counts to run")
    parser.add_argument(
        "--variant",
        action="append",
        default=[],
        metavar="N:VAR=VALUE[,VAR=VALUE]",
        help="also a server of N workers with these MARKETPLACE_* settings, measured beside "
        "the others (repeatable), e.g. 2:MARKETPLACE_MAX_TEXT_BATCH=8",
    )
    parser.add_argument("--backends", default="sqlite,postgresql", help="%(default)s")
    parser.add_argument(
        "--mixed-on", default="sqlite", help="back-ends the mixed load runs on (%(default)s)"
    )
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--text-seconds", type=float, default=20.0, help="per server")
    parser.add_argument(
        "--mixed-seconds", type=float, default=60.0, help="per server (0: no mixed load)"
    )
    parser.add_argument("--rounds", type=int, default=2, help="visits to each server per load")
    parser.add_argument("--profile", type=Path, help="folder for py-spy flame graphs (mixed load)")
    parser.add_argument("--out", type=Path, default=REPORTS / "replicas_bench.json")
    parser.set_defaults(handler=_one_line(run_replicas))


def run_replicas(args: argparse.Namespace) -> int:
    from api.settings import Settings
    from benchmarks.replica_load import ReplicaLoadConfig, ServerSpec, run_replica_load_bench

    servers = tuple(ServerSpec(_positive("workers", n)) for n in args.workers)
    config = ReplicaLoadConfig(
        servers=servers + tuple(ServerSpec.parse(v) for v in args.variant),
        backends=tuple(b.strip() for b in args.backends.split(",") if b.strip()),
        mixed_backends=tuple(b.strip() for b in args.mixed_on.split(",") if b.strip()),
        concurrency=_positive("concurrency", args.concurrency),
        text_seconds=args.text_seconds,
        mixed_seconds=args.mixed_seconds,
        rounds=_positive("rounds", args.rounds),
        profile_dir=args.profile,
    )
    report = run_replica_load_bench(Settings(data=_data(args)), config, args.out, _print_progress)
    return 0 if report["zero_errors"] else 1


def _print_progress(what: str) -> None:
    print(what, file=sys.stderr)


# -- all of them ------------------------------------------------------------------------


def run_all_handler(benchmarks: argparse._SubParsersAction) -> Handler:
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
