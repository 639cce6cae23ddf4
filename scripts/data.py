"""``marketplace data``: clean or import a catalogue, show its figures, or make a synthetic one."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from scripts.errors import CliError


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("data", help="clean, inspect or synthesise a catalogue")
    commands = parser.add_subparsers(dest="data_command", required=True)

    clean = commands.add_parser("clean", help="clean a raw catalogue into the workspace")
    clean.add_argument(
        "--data", type=Path, help="Gumtree folder or catalogue file (default: see README)"
    )
    _cleaning_options(clean)
    clean.set_defaults(handler=run_clean)

    imp = commands.add_parser(
        "import", help="import a catalogue file (JSON Lines, CSV, Parquet) into the workspace"
    )
    imp.add_argument(
        "path",
        type=Path,
        help="the catalogue file (see docs/catalogue-format.md); with --executor ray, "
        "a folder of catalogue files too (docs/catalogue-import.md)",
    )
    _cleaning_options(imp)
    imp.add_argument(
        "--executor",
        choices=("local", "ray"),
        default="local",
        help="ray: Ray Data tasks clean the files, one a task (local Ray on 2 CPUs)",
    )
    imp.set_defaults(handler=run_import)

    stats = commands.add_parser("stats", help="figures about a raw catalogue")
    stats.add_argument(
        "--data", type=Path, help="Gumtree folder or catalogue file (default: see README)"
    )
    stats.add_argument("--json", action="store_true", help="print one JSON object")
    stats.add_argument(
        "--map", action="append", default=[], metavar="FIELD=COLUMN", help="as for import"
    )
    stats.set_defaults(handler=run_stats)

    synth = commands.add_parser("synth", help="write a synthetic catalogue")
    synth.add_argument("--out", type=Path, required=True, help="folder to write")
    synth.add_argument("--n", type=int, default=300, help="number of listings")
    synth.add_argument("--seed", type=int, default=0)
    synth.add_argument(
        "--generic",
        choices=("jsonl", "csv", "parquet"),
        help="the second catalogue, a generic file in this format (default: the Gumtree layout)",
    )
    synth.set_defaults(handler=run_synth)


def _cleaning_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--map",
        action="append",
        default=[],
        metavar="FIELD=COLUMN",
        help="read FIELD from COLUMN (repeatable), e.g. --map title=headline",
    )
    parser.add_argument(
        "--currency", default="GBP", help="ISO code of prices that name none (default GBP)"
    )
    parser.add_argument("--image-size", type=int, default=256, help="cleaned photo side, px")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def resolve_data_dir(data: Path | None) -> Path:
    """The folder to work on: ``data`` if given, else the default, generated if synthetic.

    Says on stderr which data it picked and why, so a run on the synthetic
    catalogue is never mistaken for one on the real data.
    """
    from multimodal.data.raw import PRODUCTS_FILE
    from multimodal.workspace import default_data_dir

    if data is not None:
        return data
    data, why = default_data_dir()
    print(f"data: {data} ({why})", file=sys.stderr)
    if why.startswith("a synthetic") and not (data / PRODUCTS_FILE).exists():
        from multimodal.data.synthetic import generate_catalogue

        print(f"generating a synthetic catalogue at {data}", file=sys.stderr)
        generate_catalogue(data)
    return data


def run_clean(args: argparse.Namespace) -> int:
    return _clean(resolve_data_dir(args.data), args)


def run_import(args: argparse.Namespace) -> int:
    if args.executor == "ray":
        from indexing.config import ReindexConfig

        return run_ray_import(args.path, args, ReindexConfig(progress=not args.quiet))
    if not args.path.is_file():
        raise CliError(
            f"{args.path} is not a file: import takes a catalogue file "
            "(a folder of them with --executor ray)"
        )
    return _clean(args.path, args)


def run_ray_import(path: Path, args: argparse.Namespace, config) -> int:
    """Clean the catalogue at ``path`` (a file or a folder of them) into its workspace on
    Ray (``indexing.reindex.ray_import``), with ``args``' cleaning options; print as
    ``_clean`` does."""
    from multimodal.data.generic import parse_mapping
    from multimodal.data.rows import RawDataError
    from multimodal.data.sharded import ImportOptions
    from multimodal.workspace import Workspace

    try:
        import ray  # noqa: F401
    except ImportError:
        raise CliError("the ray executor needs Ray: pip install '.[distributed]'") from None
    from indexing.reindex.ray_import import import_on_ray as run

    started = time.perf_counter()
    try:
        options = ImportOptions(parse_mapping(args.map), args.currency, args.image_size)
        report = run(path, Workspace.for_data(path).clean_dir, options, config)
    except RawDataError as exc:
        raise CliError(str(exc)) from exc
    _print_report(report, started)
    return 0


def _clean(data: Path, args: argparse.Namespace) -> int:
    """Clean ``data`` into its workspace; print the summary and each problem by row."""
    from multimodal.data.cleaning import clean_catalogue
    from multimodal.data.generic import parse_mapping
    from multimodal.data.rows import RawDataError
    from multimodal.workspace import Workspace

    if args.image_size < 8:
        raise CliError(f"--image-size must be at least 8, not {args.image_size}")
    out = Workspace.for_data(data).clean_dir
    started = time.perf_counter()
    try:
        report = clean_catalogue(
            data,
            out,
            image_size=args.image_size,
            progress=not args.quiet,
            mapping=parse_mapping(args.map),
            currency=args.currency,
        )
    except RawDataError as exc:
        raise CliError(str(exc)) from exc
    _print_report(report, started)
    return 0


def _print_report(report, started: float) -> None:
    """The cleaning summary line, then each problem by row number."""
    print(f"{report.summary()} in {time.perf_counter() - started:.1f}s")
    for line in report.problem_lines():
        print(f"  {line}")


def run_stats(args: argparse.Namespace) -> int:
    from multimodal.data.generic import parse_mapping
    from multimodal.data.rows import RawDataError
    from multimodal.data.stats import catalogue_stats

    data = resolve_data_dir(args.data)
    try:
        stats = catalogue_stats(data, parse_mapping(args.map))
    except RawDataError as exc:
        raise CliError(str(exc)) from exc
    if args.json:
        print(json.dumps(stats, ensure_ascii=False))
        return 0
    for key, value in stats.items():
        if isinstance(value, dict):
            print(f"{key}:")
            width = max(map(len, value), default=0)
            for name, count in value.items():
                print(f"  {name:<{width}}  {count:>6}")
        else:
            print(f"{key:<34} {value}")
    return 0


def run_synth(args: argparse.Namespace) -> int:
    from multimodal.data.synthetic import generate_catalogue
    from multimodal.data.synthetic_generic import generate_generic_catalogue

    try:
        if args.generic:
            made = generate_generic_catalogue(
                args.out, n_listings=args.n, seed=args.seed, fmt=args.generic
            )
            print(
                f"wrote a generic synthetic catalogue of {made.rows} rows to {made.path}; "
                f"import it with: marketplace data import {made.path} "
                + " ".join(f"--map {f}={c}" for f, c in made.mapping.items())
                + f" --currency {made.currency}"
            )
            return 0
        out = generate_catalogue(args.out, n_listings=args.n, seed=args.seed)
    except ValueError as exc:
        raise CliError(str(exc)) from exc
    images = sum(1 for _ in (out / "images").glob("*.jpg"))
    print(f"wrote a synthetic catalogue of {args.n} listings and {images} photo files to {out}")
    return 0
