"""``marketplace reindex``: sync the cleaned catalogue into the store and rebuild the index.

Incremental by default (only new or edited listings are embedded), ``--full``
re-embeds everything. A bulk run on the local executor reuses the frozen-layer
outputs that training cached in the workspace (``--no-feature-cache`` to
run the whole encoders instead). ``--executor ray`` runs the reindex on Ray Data, on a
local Ray (``ray.init(num_cpus=2)``) or, with ``--ray-address``, on a cluster
whose nodes have this package installed and see the same store, model, photo
and index paths: the workers read the store and write embedding shards that
this process streams in (``docs/distributed-reindex.md``). With
``--from-catalogue PATH`` it first imports that catalogue (a file, or a folder
of Parquet / JSON Lines files) on the same Ray, its files cleaned by Ray Data
tasks (``docs/catalogue-import.md``). Also runnable as
``python scripts/reindex.py``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from scripts.device_option import add_device_argument, check_device
from scripts.errors import CliError


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "reindex", help="embed the catalogue and build the search index (incremental)"
    )
    add_arguments(parser)
    parser.set_defaults(handler=run)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--data",
        type=Path,
        help="raw data folder whose workspace holds the cleaned catalogue, model and index "
        "(default: MARKETPLACE_DATA, else ../shared/marketplace, else synthetic)",
    )
    parser.add_argument(
        "--from-catalogue",
        type=Path,
        metavar="PATH",
        help="with --executor ray: import this catalogue file or folder of files first, on "
        "Ray, into its own workspace (instead of --data; docs/catalogue-import.md)",
    )
    parser.add_argument(
        "--map",
        action="append",
        default=[],
        metavar="FIELD=COLUMN",
        help="with --from-catalogue: read FIELD from COLUMN, as data import does",
    )
    parser.add_argument(
        "--currency", default="GBP", help="with --from-catalogue: ISO code of prices that name none"
    )
    parser.add_argument(
        "--image-size", type=int, default=256, help="with --from-catalogue: cleaned photo side"
    )
    parser.add_argument("--full", action="store_true", help="re-embed every listing")
    parser.add_argument("--executor", choices=("local", "ray"), default="local")
    parser.add_argument(
        "--ray-address", help="Ray cluster address (e.g. ray://head:10001); default: local Ray"
    )
    parser.add_argument("--ray-actors", type=int, default=1, help="encoder actors on Ray")
    parser.add_argument("--batch-size", type=int, default=32, help="listings per model batch")
    parser.add_argument(
        "--no-feature-cache",
        action="store_true",
        help="do not reuse the frozen-layer outputs training cached (local executor)",
    )
    parser.add_argument(
        "--precision",
        choices=("auto", "fp32", "bf16"),
        default="auto",
        help="encoder number format; auto: bf16 where the CPU has it natively",
    )
    add_device_argument(parser)
    parser.add_argument(
        "--engine",
        choices=("auto", "onnx", "torch"),
        default="auto",
        help="what runs the encoders; auto: the ONNX runtime, falling back to torch",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def config_from(args: argparse.Namespace, features_dir: Path | None = None):
    from indexing.config import ReindexConfig

    if args.batch_size < 1:
        raise CliError(f"--batch-size must be at least 1, not {args.batch_size}")
    if args.ray_actors < 1:
        raise CliError(f"--ray-actors must be at least 1, not {args.ray_actors}")
    if args.executor == "ray":
        try:
            import ray  # noqa: F401
        except ImportError:
            raise CliError("the ray executor needs Ray: pip install '.[distributed]'") from None
    elif args.ray_address:
        raise CliError("--ray-address needs --executor ray")
    return ReindexConfig(
        full=args.full,
        executor=args.executor,
        batch_size=args.batch_size,
        ray_address=args.ray_address,
        ray_actors=args.ray_actors,
        # each actor asks Ray for a GPU when the run asks for CUDA
        ray_gpus_per_actor=1.0 if args.executor == "ray" and args.device == "cuda" else 0.0,
        progress=not args.quiet,
        precision=args.precision,
        device=args.device,
        engine=args.engine,
        features_dir=None if args.no_feature_cache else features_dir,
    )


def run(args: argparse.Namespace) -> int:
    from multimodal.workspace import Workspace, default_data_dir
    from scripts.logs import show_progress_log

    show_progress_log()
    if args.executor == "local":  # Ray's actors may find GPUs this machine lacks
        check_device(args.device)
    source = _catalogue_source(args)
    data = source or args.data or default_data_dir()[0]
    workspace = Workspace.for_data(data)
    config = config_from(args, workspace.features_dir)
    if source is None:
        _check_clean_catalogue(workspace)
    if not (workspace.model_dir / "manifest.json").is_file():
        first = "`marketplace data import PATH --executor ray`, then " if source else ""
        raise CliError(f"no model at {workspace.model_dir}: run {first}`marketplace train` first")
    if source is None:
        return _reindex(workspace, config)
    from indexing.reindex.ray_session import ray_session
    from scripts.data import run_ray_import

    with ray_session(config):  # one Ray for the import and the reindex
        run_ray_import(source, args, config)
        return _reindex(workspace, config)


def _catalogue_source(args: argparse.Namespace) -> Path | None:
    """The catalogue ``--from-catalogue`` names; its cleaning options refused without it."""
    if args.from_catalogue is None:
        if args.map or args.currency != "GBP" or args.image_size != 256:
            raise CliError("--map, --currency and --image-size go with --from-catalogue")
        return None
    if args.executor != "ray":
        raise CliError(
            "--from-catalogue needs --executor ray (or run `marketplace data import` first)"
        )
    if args.data is not None:
        raise CliError("--from-catalogue names the catalogue and its workspace: leave out --data")
    return args.from_catalogue


def _check_clean_catalogue(workspace) -> None:
    from multimodal.data.catalogue import LISTINGS_FILE

    if not (workspace.clean_dir / LISTINGS_FILE).is_file():
        raise CliError(
            f"no cleaned catalogue at {workspace.clean_dir}: run `marketplace data clean` first"
        )


def _reindex(workspace, config) -> int:
    from indexing.reindex.runner import reindex_workspace

    _check_clean_catalogue(workspace)  # after a Ray import too: it wrote one
    try:
        _, summary = reindex_workspace(workspace, config)
    except (RuntimeError, ValueError, FileNotFoundError) as exc:
        # another reindex holds the lock, an unreadable model manifest, a missing photo
        raise CliError(str(exc)) from exc
    print(summary.line())
    return 0


if __name__ == "__main__":
    from scripts.cli import main

    sys.exit(main(["reindex", *sys.argv[1:]]))
