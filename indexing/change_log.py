"""The store's change log: what every serving replica must apply, in the order it was written.

Each store write another replica must see (a listing written or deleted, a
user event) appends one row to ``changes`` in the same transaction as the
write (``record``), so a change is in the log exactly when the write is in
the store. On PostgreSQL the transaction also ``NOTIFY``s ``CHANNEL``, so a
follower listening on its own connection (``ChangeListener``) wakes at
commit; a SQLite follower polls. Listings synced from the catalogue file by a
reindex are not logged: they come to every replica with the index version
built from them.

The log is pruned by age (``ChangeLog.prune``); the highest sequence pruned
is kept in ``change_log_pruned``, so a follower that has not yet seen a
pruned change knows it fell behind the log and must re-read the store whole.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from indexing.store_database import Database

ChangeKind = Literal["listing", "deleted", "event"]
LISTING_WRITTEN: ChangeKind = "listing"  # key: the listing id
LISTING_DELETED: ChangeKind = "deleted"  # key: the listing id
EVENT: ChangeKind = "event"  # key: the user id
CHANNEL = "marketplace_changes"  # PostgreSQL's NOTIFY channel


@dataclass(frozen=True)
class ChangeLogConfig:
    """How long the log keeps changes and how a follower treats holes in it."""

    # Changes older than this are pruned; a replica that stalled longer re-reads the store.
    retention_s: float = 3600.0
    # Each follower prunes at most this often.
    prune_every_s: float = 60.0
    # A missing sequence number is waited for this long (a transaction still
    # committing), then taken for a rolled-back one.
    gap_wait_s: float = 30.0


@dataclass(frozen=True)
class Change:
    seq: int
    kind: ChangeKind
    key: str  # a listing id, or a user id for an event
    ts: float


@dataclass(frozen=True)
class ChangeBatch:
    """What a follower read: the new changes, or that it fell behind the log."""

    changes: list[Change]
    fell_behind: bool = False


def record(conn: Database, kind: ChangeKind, key: str) -> None:
    """Append a change inside the writer's transaction (and wake PostgreSQL listeners)."""
    conn.execute("INSERT INTO changes (kind, key, ts) VALUES (?, ?, ?)", (kind, key, time.time()))
    if conn.dialect == "postgresql":
        conn.execute(f"NOTIFY {CHANNEL}")  # delivered at commit, never for a rollback


class ChangeLog:
    """Reading and pruning the log, over the store's connection and behind its lock."""

    def __init__(self, db: Database, lock: threading.RLock) -> None:
        self._db = db
        self._lock = lock

    @property
    def notifies(self) -> bool:
        """Whether writes wake listeners (PostgreSQL); otherwise followers poll."""
        return self._db.dialect == "postgresql"

    def head(self) -> int:
        """The highest sequence written so far (0 for an empty log)."""
        with self._lock:
            row = self._db.execute("SELECT COALESCE(MAX(seq), 0) FROM changes").fetchone()
            return max(row[0], self.pruned_upto())

    def pruned_upto(self) -> int:
        with self._lock:
            return self._db.execute("SELECT upto FROM change_log_pruned").fetchone()[0]

    def since(self, after: int) -> list[Change]:
        """Changes with a sequence above ``after``, in sequence order."""
        with self._lock:
            rows = self._db.execute(
                "SELECT seq, kind, key, ts FROM changes WHERE seq > ? ORDER BY seq", (after,)
            ).fetchall()
        return [Change(*row) for row in rows]

    def present(self, low: int, high: int) -> set[int]:
        """The sequences in ``(low, high]`` the log holds now."""
        with self._lock:
            rows = self._db.execute(
                "SELECT seq FROM changes WHERE seq > ? AND seq <= ?", (low, high)
            ).fetchall()
        return {seq for (seq,) in rows}

    def prune(self, older_than_s: float) -> int:
        """Delete the changes older than ``older_than_s`` seconds; returns how many."""
        cutoff = time.time() - older_than_s
        with self._lock, self._db.transaction():
            (upto,) = self._db.execute(
                "SELECT MAX(seq) FROM changes WHERE ts < ?", (cutoff,)
            ).fetchone()
            if upto is None:
                return 0
            gone = self._db.execute("DELETE FROM changes WHERE seq <= ?", (upto,)).rowcount
            self._db.execute("UPDATE change_log_pruned SET upto = ? WHERE upto < ?", (upto, upto))
            return gone


class ChangeFollower:
    """One replica's place in the log: which changes it has applied, robust to holes.

    PostgreSQL hands out sequence numbers when a transaction inserts, not when
    it commits, so two concurrent writers can commit 8 before 7: a reader
    that only asked for ``seq > last`` after seeing 8 would never see 7. The
    follower therefore remembers every number it skipped over (a *gap*) with
    the time it noticed it, and asks for those again with each read until they
    appear or ``gap_wait_s`` passes (a rolled-back transaction leaves a number
    that never appears; a write commits within moments of its insert, the log
    row being its last statement). SQLite commits one writer at a time, so
    there it never waits on a gap. Applying a change is idempotent on the
    service side, so reading one twice (after a re-read) does no harm.
    """

    def __init__(self, log: ChangeLog, config: ChangeLogConfig) -> None:
        """Start at the log's head: what was written before, the caller has read from the
        store (take the follower *before* reading the store, so nothing falls between)."""
        self.log = log
        self.config = config
        self.last = 0
        self._gaps: dict[int, float] = {}  # skipped sequence -> when first noticed
        self._pruned_at = 0.0
        self.restart(log.head())

    def read(self) -> ChangeBatch:
        """The changes since the last read; ``fell_behind`` when some were pruned unseen."""
        now = time.monotonic()
        self._prune(now)
        if self.log.pruned_upto() > self.last:
            return ChangeBatch([], fell_behind=True)
        read_from = min(self._gaps, default=self.last + 1) - 1
        changes = [c for c in self.log.since(read_from) if c.seq > self.last or c.seq in self._gaps]
        for change in changes:
            self._gaps.pop(change.seq, None)
            if change.seq > self.last:
                self._gaps.update(dict.fromkeys(range(self.last + 1, change.seq), now))
                self.last = change.seq
        self._gaps = {s: t for s, t in self._gaps.items() if now - t < self.config.gap_wait_s}
        return ChangeBatch(changes)

    def restart(self, head: int) -> None:
        """Go on from ``head`` after reading the store whole (at start, or having fallen
        behind), waiting a while for the numbers below it not committed at the time."""
        now = time.monotonic()
        low = max(self.last, self.log.pruned_upto())
        present = self.log.present(low, head)
        self._gaps = {s: now for s in range(low + 1, head + 1) if s not in present}
        self.last = head

    def _prune(self, now: float) -> None:
        if now - self._pruned_at >= self.config.prune_every_s:
            self._pruned_at = now
            self.log.prune(self.config.retention_s)


class ChangeListener:
    """A PostgreSQL connection of its own that ``LISTEN``s for the writers' ``NOTIFY``.

    ``wait`` returns as soon as a change commits anywhere, or after its
    timeout; a lost connection (the database restarting) is reopened on a
    later wait, and meanwhile the follower's polling carries on alone.
    """

    def __init__(self, connect: Callable[[], Any]) -> None:
        self._connect = connect
        self._conn: Any = None
        self._lock = threading.Lock()  # close() waits for a wait in progress
        self._closed = False

    def wait(self, timeout_s: float) -> bool:
        """True when woken by a change, False when the timeout passed."""
        import psycopg

        with self._lock:
            if self._closed:
                return False
            try:
                if self._conn is None:
                    self._conn = self._connect()
                    self._conn.autocommit = True
                    self._conn.execute(f"LISTEN {CHANNEL}")
                for _ in self._conn.notifies(timeout=timeout_s, stop_after=1):
                    return True
                return False
            except psycopg.Error:
                self._drop()
        time.sleep(timeout_s)
        return False

    def close(self) -> None:
        with self._lock:
            self._closed = True
            self._drop()

    def _drop(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()
            finally:
                self._conn = None
