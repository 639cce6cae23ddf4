"""``marketplace demo``: the main job, from raw data to a running search page.

It only chains the other sub-commands (clean → train → reindex → serve) and
skips what an earlier run already prepared, so a first run on a bare machine
does everything with progress bars and a second run starts serving in
seconds. Each step is the same code a user would run by hand.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from scripts.errors import CliError


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "demo", help="prepare what is missing (clean, train, index), then serve the search page"
    )
    parser.add_argument("--data", type=Path, help="raw data folder (default: see README)")
    parser.add_argument("--host", help="interface to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, help="port to bind (default 8000)")
    parser.add_argument(
        "--no-serve", action="store_true", help="prepare the model and index, then stop"
    )
    parser.set_defaults(handler=run)


def _step(title: str, argv: list[str]) -> None:
    from scripts.cli import main

    print(f"\n==> {title}: marketplace {' '.join(argv)}", file=sys.stderr, flush=True)
    code = main(argv)
    if code:
        raise CliError(f"step '{title}' failed (exit {code})")


def run(args: argparse.Namespace) -> int:
    from multimodal.bundle import MANIFEST
    from multimodal.workspace import Workspace
    from scripts.data import resolve_data_dir

    data = resolve_data_dir(args.data)
    ws = Workspace.for_data(data)
    data_args = ["--data", str(data)]

    _step("clean the catalogue", ["data", "clean", *data_args])
    if (ws.model_dir / MANIFEST).exists():
        print(f"\n==> model: reusing {ws.model_dir}", file=sys.stderr)
    else:
        _step("train the model", ["train", *data_args])
    _step("build the index (incremental)", ["reindex", *data_args])
    if args.no_serve:
        return 0
    serve_args = [*data_args]
    if args.host:
        serve_args += ["--host", args.host]
    if args.port:
        serve_args += ["--port", str(args.port)]
    _step("serve", ["serve", *serve_args])
    return 0
