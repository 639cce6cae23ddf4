"""Where the catalogue store's rows live: a SQLite file or a PostgreSQL database.

``indexing.store`` writes its SQL once, in the dialect both engines share
(``?`` placeholders, ``INSERT ... ON CONFLICT``), and runs it through one of
these two small adapters; only the schema (``indexing.store_schema`` and
``indexing.store_schema_postgres``) is written per engine. A location is a
file path (SQLite, the embedded default) or a ``postgresql://`` URL.

Both adapters hold one connection, used behind the store's lock: a serving
process's reads are single-row or single-query and far cheaper than the
embedding they sit beside, so a pool would buy nothing yet. Opening one
never hangs: an unreachable server is a ``StoreUnavailable`` within
``CONNECT_TIMEOUT_S`` (unless the URL sets its own ``connect_timeout``),
its message naming the database with the password hidden.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit, urlunsplit

from indexing.store_schema import StoreError

POSTGRES_SCHEMES = ("postgresql", "postgres")
CONNECT_TIMEOUT_S = 5
# pg_advisory_xact_lock key that serialises schema migrations across processes.
SCHEMA_LOCK_KEY = 0x6D61726B6574  # "market"


class StoreUnavailable(StoreError):
    """The store's database cannot be opened (unreachable, refused, not a valid location)."""


class Cursor(Protocol):
    rowcount: int
    description: Sequence[Sequence[object]] | None

    def fetchone(self) -> tuple | None: ...

    def fetchall(self) -> list[tuple]: ...

    def fetchmany(self, size: int) -> list[tuple]: ...

    def __iter__(self) -> Iterator[tuple]: ...


class Database(Protocol):
    """One connection to the store's database, in the SQL dialect ``indexing.store`` writes."""

    dialect: str  # "sqlite" or "postgresql": which migrations apply
    location: str  # where it is, for messages (a URL's password hidden)
    keeps_photo_bytes: bool  # uploaded photos' bytes live in the database too

    def execute(self, sql: str, params: Sequence[object] = ()) -> Cursor: ...

    def executemany(self, sql: str, rows: Sequence[Sequence[object]]) -> None: ...

    def transaction(self) -> AbstractContextManager[None]: ...

    def lock_schema(self) -> None:
        """Inside a transaction: no other process migrates the schema until it ends."""

    def continue_keys(self, table: str, column: str) -> None:
        """After rows were copied in with their keys: new rows get keys above them."""

    def close(self) -> None: ...

    def connector(self) -> Callable[[], Any]:
        """A picklable factory of new DB-API connections to the same database: the
        reindex's readers (Ray workers among them) open their own."""
        ...


@dataclass(frozen=True)
class SqliteConnector:
    """New read-only connections to a SQLite store (WAL lets them read beside writers)."""

    path: str

    def __call__(self) -> sqlite3.Connection:
        return sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, check_same_thread=False)


@dataclass(frozen=True)
class PostgresConnector:
    """New connections to a PostgreSQL store (the URL, password included, stays private)."""

    url: str = field(repr=False)

    def __call__(self) -> Any:
        import psycopg

        return psycopg.connect(self.url, connect_timeout=CONNECT_TIMEOUT_S)


def is_database_url(location: Path | str) -> bool:
    return isinstance(location, str) and urlsplit(location).scheme in POSTGRES_SCHEMES


def open_database(location: Path | str) -> Database:
    """A ``postgresql://`` URL opens PostgreSQL; anything else is a SQLite file path."""
    if is_database_url(location):
        return PostgresDatabase(str(location))
    return SqliteDatabase(location)


def redact_url(url: str) -> str:
    """``url`` with its password shown as ``***`` (in the user part and in the query)."""
    parts = urlsplit(url)
    netloc = parts.netloc
    if parts.password is not None:
        userinfo, _, hosts = netloc.rpartition("@")
        netloc = f"{userinfo.split(':', 1)[0]}:***@{hosts}"
    query = re.sub(r"(?i)(^|&)(password=)[^&]*", r"\1\2***", parts.query)
    return urlunsplit(parts._replace(netloc=netloc, query=query))


def _first_line(exc: BaseException) -> str:
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return lines[0] if lines else type(exc).__name__


class SqliteDatabase:
    """A SQLite file in WAL mode; a write transaction takes the file's write lock at once."""

    dialect = "sqlite"
    keeps_photo_bytes = False  # one machine: the photo folder is shared already

    def __init__(self, path: Path | str) -> None:
        self.location = str(path)
        if self.location != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        try:
            self.conn = sqlite3.connect(
                self.location, check_same_thread=False, isolation_level=None
            )
            self.conn.execute("PRAGMA journal_mode=WAL")
        except sqlite3.Error as exc:
            raise StoreUnavailable(
                f"cannot open the catalogue store {self.location}: {_first_line(exc)}"
            ) from None
        self.conn.execute("PRAGMA synchronous=NORMAL")
        self.conn.execute("PRAGMA foreign_keys=ON")

    def execute(self, sql: str, params: Sequence[object] = ()) -> Cursor:
        return self.conn.execute(sql, params)

    def executemany(self, sql: str, rows: Sequence[Sequence[object]]) -> None:
        self.conn.executemany(sql, rows)

    @contextmanager
    def transaction(self) -> Iterator[None]:
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        self.conn.execute("COMMIT")

    def lock_schema(self) -> None:
        """``BEGIN IMMEDIATE`` already holds the file's only write lock."""

    def continue_keys(self, table: str, column: str) -> None:
        """``AUTOINCREMENT`` already follows the largest key inserted."""

    def close(self) -> None:
        self.conn.close()

    def connector(self) -> SqliteConnector:
        return SqliteConnector(str(Path(self.location).resolve()))


@lru_cache(maxsize=512)
def _postgres_sql(sql: str) -> str:
    """``?`` placeholders as psycopg's ``%s`` (a literal ``%`` doubled first)."""
    return sql.replace("%", "%%").replace("?", "%s")


class PostgresDatabase:
    """A PostgreSQL database over psycopg 3, in autocommit outside ``transaction()``."""

    dialect = "postgresql"
    keeps_photo_bytes = True  # replicas on other machines serve photos from here

    def __init__(self, url: str) -> None:
        import psycopg
        from psycopg.conninfo import conninfo_to_dict

        self.location = redact_url(url)
        self._url = url
        try:
            params = conninfo_to_dict(url)
            params.setdefault("connect_timeout", CONNECT_TIMEOUT_S)
            self.conn = psycopg.connect(autocommit=True, **params)
        except psycopg.Error as exc:
            raise StoreUnavailable(
                f"cannot connect to the catalogue database {self.location}: {_first_line(exc)}"
            ) from None

    def execute(self, sql: str, params: Sequence[object] = ()) -> Cursor:
        return self.conn.execute(_postgres_sql(sql), params)

    def executemany(self, sql: str, rows: Sequence[Sequence[object]]) -> None:
        with self.conn.cursor() as cursor:
            cursor.executemany(_postgres_sql(sql), rows)

    @contextmanager
    def transaction(self) -> Iterator[None]:
        with self.conn.transaction():
            yield

    def lock_schema(self) -> None:
        self.execute("SELECT pg_advisory_xact_lock(?)", (SCHEMA_LOCK_KEY,))

    def continue_keys(self, table: str, column: str) -> None:
        self.execute(
            f"SELECT setval(pg_get_serial_sequence(?, ?), COALESCE(MAX({column}), 0) + 1, false) "
            f"FROM {table}",
            (table, column),
        )

    def close(self) -> None:
        self.conn.close()

    def connector(self) -> PostgresConnector:
        return PostgresConnector(self._url)
