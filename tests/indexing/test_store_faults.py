"""The store while its database goes away and comes back: a real PostgreSQL, stopped and
started again, and a SQLite file locked by another writer."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from indexing.store import Store, StoreUnavailable
from indexing.store_database import SqliteDatabase
from multimodal.data.catalogue import Listing
from tests.fixtures.postgres import PostgresServer


def lamp(listing_id: str) -> Listing:
    return Listing(listing_id, "Brass lamp", "", 12.0, "York", ("Home & Garden",), ())


@pytest.fixture
def store(restartable_postgres: PostgresServer) -> Iterator[Store]:
    url = restartable_postgres.new_database().replace("marketplace@", "marketplace:s3cret@")
    with Store(url) as opened:
        yield opened


def test_a_restart_between_calls_is_invisible(
    store: Store, restartable_postgres: PostgresServer
) -> None:
    store.upsert_listing(lamp("before"))
    restartable_postgres.stop("fast")
    restartable_postgres.resume()
    assert store.count() == 1  # the read found its connection lost and read again
    store.upsert_listing(lamp("after"))  # BEGIN on the lost connection, begun again
    assert {r.listing.id for r in store.iter_records()} == {"before", "after"}


def test_a_stopped_server_is_unavailable_then_reconnected(
    store: Store, restartable_postgres: PostgresServer
) -> None:
    store.upsert_listing(lamp("before"))
    restartable_postgres.stop("immediate")
    try:
        with pytest.raises(StoreUnavailable) as lost:
            store.upsert_listing(lamp("refused"))
        message = str(lost.value)
        assert "postgresql://marketplace:***@127.0.0.1" in message and "s3cret" not in message
        assert lost.value.retry_after_s > 0
        with pytest.raises(StoreUnavailable, match="next attempt is in"):
            store.count()  # within the retry interval: refused without trying
        with pytest.raises(StoreUnavailable):
            store.add_event("ann", "before", "view")
    finally:
        restartable_postgres.resume()
    time.sleep(lost.value.retry_after_s)
    store.upsert_listing(lamp("after"))
    assert {r.listing.id for r in store.iter_records()} == {"before", "after"}


def test_a_sqlite_file_locked_beyond_the_busy_timeout_is_unavailable(tmp_path: Path) -> None:
    path = tmp_path / "catalogue.sqlite"
    Store(path).close()  # migrated
    writer = sqlite3.connect(path, isolation_level=None)
    writer.execute("BEGIN IMMEDIATE")  # another process holds the write lock
    database = SqliteDatabase(path, busy_timeout_s=0.05)
    try:
        with (
            pytest.raises(StoreUnavailable, match="locked by another writer"),
            database.transaction(),
        ):
            database.execute("DELETE FROM events")
        writer.execute("ROLLBACK")
        with database.transaction():
            database.execute("DELETE FROM events")
    finally:
        database.close()
        writer.close()
