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

A PostgreSQL server may also go away while a process serves (a restart, a
failover): the adapter then raises ``StoreUnavailable`` for that call, drops
the broken connection and connects again on a later one
(``PostgresDatabase``'s docstring says which calls are retried and why that
can neither duplicate nor lose a write). SQLite's analogue is a file whose
write lock another process holds beyond the busy timeout.
"""

from __future__ import annotations

import logging
import re
import sqlite3
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, ExitStack, contextmanager
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit, urlunsplit

from indexing.store_schema import StoreError

log = logging.getLogger(__name__)

POSTGRES_SCHEMES = ("postgresql", "postgres")
CONNECT_TIMEOUT_S = 5
# pg_advisory_xact_lock key that serialises schema migrations across processes.
SCHEMA_LOCK_KEY = 0x6D61726B6574  # "market"


class StoreUnavailable(StoreError):
    """The store's database cannot be reached now: at opening (unreachable, refused, not a
    valid location), or later (the connection was lost, the server is restarting, a
    SQLite file stays locked). ``retry_after_s``: when trying again may succeed."""

    def __init__(self, message: str, retry_after_s: float = 0.0) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


@dataclass(frozen=True)
class ReconnectPolicy:
    """How a PostgreSQL store waits for a server that went away.

    After a failed connection attempt, calls fail at once for
    ``retry_interval_s`` rather than each trying again: an unreachable host
    costs ``connect_timeout_s`` per attempt, and a request that needs the
    database must not hang, nor hold the store's lock, that long every time.
    """

    connect_timeout_s: float = CONNECT_TIMEOUT_S
    retry_interval_s: float = 2.0


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

    def __init__(self, path: Path | str, busy_timeout_s: float = CONNECT_TIMEOUT_S) -> None:
        self.location = str(path)
        self._busy_timeout_s = busy_timeout_s
        if self.location != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        try:
            self.conn = sqlite3.connect(
                self.location,
                timeout=busy_timeout_s,
                check_same_thread=False,
                isolation_level=None,
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
        """``BEGIN IMMEDIATE`` waits up to the busy timeout for another process's write
        lock; still locked, the write is refused before it began (``StoreUnavailable``)."""
        try:
            self.conn.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) and "busy" not in str(exc):
                raise
            raise StoreUnavailable(
                f"the catalogue store {self.location} is locked by another writer: "
                f"{_first_line(exc)}",
                retry_after_s=self._busy_timeout_s,
            ) from None
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
    """A PostgreSQL database over psycopg 3, in autocommit outside ``transaction()``.

    The connection may break while serving (the server restarted, the network
    dropped it). The call that finds it broken drops it and raises
    ``StoreUnavailable``, or, where repeating cannot change what is stored,
    repeats once on a new connection:

    - a ``SELECT`` outside a transaction (every write of the store is a
      transaction, ``Store._transaction``) is repeated: reading twice writes
      nothing;
    - a transaction whose ``BEGIN`` failed is begun again: nothing of it
      reached the server;
    - a transaction that failed after ``BEGIN``, ``COMMIT`` included, is never
      repeated: the caller gets ``StoreUnavailable`` and answers that the write
      was not done. The server rolled it back, or, if the connection broke
      during ``COMMIT``, may have committed it; repeating it here could then
      apply it twice (an event recorded twice), so the client decides.

    So no write is applied twice by this adapter, and none is lost once
    acknowledged: ``transaction()`` returns only after ``COMMIT`` succeeded,
    and the caller acknowledges a write only after that. A later call
    connects again; while connecting fails, calls fail at once for
    ``ReconnectPolicy.retry_interval_s`` (so nothing hangs).
    """

    dialect = "postgresql"
    keeps_photo_bytes = True  # replicas on other machines serve photos from here

    def __init__(self, url: str, policy: ReconnectPolicy = ReconnectPolicy()) -> None:
        self.location = redact_url(url)
        self._url = url
        self._policy = policy
        self._conn: Any = None
        self._depth = 0  # transactions open (nested ones are savepoints)
        self._next_attempt = 0.0  # monotonic time before which no connection is tried
        self._last_failure = ""
        self._conn = self._connect()

    def execute(self, sql: str, params: Sequence[object] = ()) -> Cursor:
        is_read = sql.lstrip()[:6].upper() == "SELECT"
        return self._run(lambda conn: conn.execute(_postgres_sql(sql), params), repeat=is_read)

    def executemany(self, sql: str, rows: Sequence[Sequence[object]]) -> None:
        def write(conn: Any) -> None:
            with conn.cursor() as cursor:
                cursor.executemany(_postgres_sql(sql), rows)

        self._run(write, repeat=False)

    @contextmanager
    def transaction(self) -> Iterator[None]:
        import psycopg

        try:
            with ExitStack() as stack:
                self._begin(stack)
                self._depth += 1
                try:
                    yield
                finally:
                    self._depth -= 1
        except psycopg.OperationalError as exc:
            if not self._lost():
                raise
            raise self._unavailable("lost the connection to", exc) from None

    def lock_schema(self) -> None:
        self.execute("SELECT pg_advisory_xact_lock(?)", (SCHEMA_LOCK_KEY,))

    def continue_keys(self, table: str, column: str) -> None:
        self.execute(
            f"SELECT setval(pg_get_serial_sequence(?, ?), COALESCE(MAX({column}), 0) + 1, false) "
            f"FROM {table}",
            (table, column),
        )

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()

    def connector(self) -> PostgresConnector:
        return PostgresConnector(self._url)

    # -- the connection, kept or made again -----------------------------------

    def _connect(self) -> Any:
        import psycopg
        from psycopg.conninfo import conninfo_to_dict

        try:
            params = conninfo_to_dict(self._url)
            params.setdefault("connect_timeout", round(self._policy.connect_timeout_s))
            return psycopg.connect(autocommit=True, **params)
        except psycopg.Error as exc:
            self._next_attempt = time.monotonic() + self._policy.retry_interval_s
            self._last_failure = _first_line(exc)
            raise self._unavailable("cannot connect to", exc) from None

    def _connection(self) -> Any:
        """The open connection, or a new one if it was lost (failing fast after a
        failed attempt, for ``ReconnectPolicy.retry_interval_s``)."""
        if self._conn is not None and not self._conn.closed:
            return self._conn
        self._conn = None
        wait = self._next_attempt - time.monotonic()
        if wait > 0:
            raise StoreUnavailable(
                f"the catalogue database {self.location} is unreachable "
                f"({self._last_failure}); the next attempt is in {wait:.1f} s",
                retry_after_s=wait,
            )
        self._conn = self._connect()
        log.info("connected again to the catalogue database %s", self.location)
        return self._conn

    def _lost(self) -> bool:
        """Whether the connection broke (then it is dropped) or was dropped already: an
        error on a live connection (a constraint, a bad statement) is the caller's."""
        if self._conn is not None and not self._conn.broken:
            return False
        if self._conn is not None:
            self._conn.close()
        self._conn = None
        return True

    def _run(self, action: Callable[[Any], Any], *, repeat: bool) -> Any:
        """``action(connection)``; on a lost connection, once more on a new one if
        ``repeat``. Inside a transaction a loss is ``transaction()``'s to report."""
        import psycopg

        if self._depth:
            return action(self._conn)
        for _ in range(2 if repeat else 1):
            conn = self._connection()
            try:
                return action(conn)
            except psycopg.OperationalError as exc:
                if not self._lost():
                    raise
                error = exc
        raise self._unavailable("lost the connection to", error)

    def _begin(self, stack: ExitStack) -> None:
        """``BEGIN``, once more on a new connection if the kept one was found lost:
        nothing of the transaction reached the server yet."""
        import psycopg

        if self._depth:  # a savepoint on the connection the transaction holds
            stack.enter_context(self._conn.transaction())
            return
        try:
            stack.enter_context(self._connection().transaction())
        except psycopg.OperationalError:
            if not self._lost():
                raise
            stack.enter_context(self._connection().transaction())

    def _unavailable(self, what: str, exc: BaseException) -> StoreUnavailable:
        return StoreUnavailable(
            f"{what} the catalogue database {self.location}: {_first_line(exc)}",
            retry_after_s=self._policy.retry_interval_s,
        )
