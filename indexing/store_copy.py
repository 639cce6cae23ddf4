"""Copy a whole catalogue store into another, empty one: SQLite to PostgreSQL, or back.

Every row keeps its keys, the fids above all: an index version built from
the source serves the copy as it is, and the user events, the API's writes
and their stored vectors all come along. So moving a running service from
its SQLite file to a shared PostgreSQL is one copy and a restart with
``MARKETPLACE_DATABASE_URL`` set (``docs/postgresql.md``).
"""

from __future__ import annotations

from pathlib import Path

from indexing.store import Store, StoreError
from indexing.store_database import Database, open_database
from indexing.store_schema import SCHEMA_VERSION, applied_version

# Every table, parents before the tables that reference them.
TABLES = (
    "listings",
    "images",
    "image_files",
    "categories",
    "events",
    "listing_vectors",
    "photo_vectors",
    "uploaded_photos",
)
# Keys the database hands out, which the target must continue after the copied ones.
GENERATED_KEYS = (("listings", "fid"), ("images", "image_fid"), ("events", "id"))
BATCH_ROWS = 1000


def copy_store(source: Path | str, target: Path | str) -> dict[str, int]:
    """Copy every row of ``source`` into ``target`` (both SQLite paths or database URLs),
    in one transaction; returns the rows copied per table. ``target`` is migrated to
    the current schema and must hold no listing; ``source`` must be at the current
    schema already, and is only read."""
    Store(target).close()
    dst = open_database(target)
    try:
        if dst.execute("SELECT COUNT(*) FROM listings").fetchone()[0]:
            raise StoreError(f"{dst.location} already holds listings: copy into an empty store")
        src = open_database(source)
        try:
            _check_current(src)
            with dst.transaction():
                copied = {table: _copy_table(src, dst, table) for table in TABLES}
                for table, column in GENERATED_KEYS:
                    dst.continue_keys(table, column)
        finally:
            src.close()
    finally:
        dst.close()
    return copied


def _check_current(src: Database) -> None:
    try:
        version = applied_version(src)
    except Exception as exc:  # sqlite3 and psycopg raise their own types
        raise StoreError(f"{src.location} is not a catalogue store: {exc}") from None
    if version != SCHEMA_VERSION:
        raise StoreError(
            f"{src.location} has schema version {version}, not {SCHEMA_VERSION}: "
            "open it once with this version (e.g. `marketplace reindex`) before copying"
        )


def _copy_table(src: Database, dst: Database, table: str) -> int:
    """The columns both sides have (PostgreSQL's ``uploaded_photos`` also keeps bytes)."""
    wanted = {d[0] for d in dst.execute(f"SELECT * FROM {table} WHERE 1 = 0").description}
    rows = src.execute(f"SELECT * FROM {table}")
    names = [d[0] for d in rows.description]
    keep = [n for n, name in enumerate(names) if name in wanted]
    columns = ", ".join(names[n] for n in keep)
    insert = f"INSERT INTO {table} ({columns}) VALUES ({', '.join('?' * len(keep))})"
    count = 0
    while batch := rows.fetchmany(BATCH_ROWS):
        dst.executemany(insert, [[row[n] for n in keep] for row in batch])
        count += len(batch)
    return count
