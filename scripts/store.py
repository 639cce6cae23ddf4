"""``marketplace store copy FROM TO``: move the catalogue store between SQLite and PostgreSQL.

Every row keeps its keys (``indexing.store_copy``), so the index versions
built from ``FROM`` serve ``TO`` unchanged: copy, then restart the service
with ``MARKETPLACE_DATABASE_URL`` set. ``FROM`` and ``TO`` are each a SQLite
file path or a ``postgresql://`` URL; ``TO`` must hold no listing yet.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from scripts.errors import CliError


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("store", help="catalogue store tools (copy between back-ends)")
    commands = parser.add_subparsers(dest="store_command", required=True)
    copy = commands.add_parser(
        "copy", help="copy every row of one store into an empty one, keeping every key"
    )
    copy.add_argument("source", help="SQLite file or postgresql:// URL to copy from")
    copy.add_argument("target", help="SQLite file or postgresql:// URL to copy into (empty)")
    copy.set_defaults(handler=run_copy)


def run_copy(args: argparse.Namespace) -> int:
    from indexing.store_copy import copy_store
    from indexing.store_database import is_database_url, redact_url

    source = args.source if is_database_url(args.source) else Path(args.source)
    if isinstance(source, Path) and not source.is_file():
        raise CliError(f"no catalogue store at {source}")
    target = args.target if is_database_url(args.target) else Path(args.target)
    copied = copy_store(source, target)  # a StoreError is the CLI's one-line error
    shown = redact_url(args.target) if isinstance(target, str) else target
    print(f"copied into {shown}: " + ", ".join(f"{n} {table}" for table, n in copied.items()))
    return 0
