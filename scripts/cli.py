"""The ``marketplace`` console command.

Each sub-command lives in its own module under ``scripts/`` and exposes
``register(subparsers)``; this file only wires them together and turns
expected failures into one-line errors with a non-zero exit.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from indexing.store_schema import StoreError
from scripts.errors import CliError

COMMAND_MODULES = (
    "scripts.data",
    "scripts.train",
    "scripts.evaluate",
    "scripts.reindex",
    "scripts.serve",
    "scripts.search",
    "scripts.bench",
    "scripts.demo",
    "scripts.user_token",
    "scripts.store",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="marketplace", description=__doc__.splitlines()[0])
    subparsers = parser.add_subparsers(dest="command", required=True)
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name == name:  # that command is not built yet
                continue
            raise
        module.register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.handler(args) or 0)
    except (CliError, StoreError) as exc:  # StoreError: e.g. an unreachable database
        print(f"marketplace {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `marketplace ... | head` closed the pipe: not an error
        sys.stderr.close()
        return 0


if __name__ == "__main__":
    sys.exit(main())
