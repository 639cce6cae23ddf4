"""The store's change log on both back-ends: one row per write, in its transaction; a
follower that survives out-of-order commits, pruning, and PostgreSQL's NOTIFY."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from indexing.change_log import ChangeFollower, ChangeListener, ChangeLogConfig
from indexing.store import Store
from multimodal.data.catalogue import Listing


def listing(listing_id: str, title: str = "Oak chair") -> Listing:
    return Listing(
        id=listing_id,
        title=title,
        description="Solid oak.",
        price=20.0,
        location="Leeds",
        category_path=("Home & Garden", "Furniture"),
        image_ids=(),
    )


def test_every_write_a_replica_must_see_is_logged(store_location: Path | str) -> None:
    with Store(store_location) as store:
        follower = ChangeFollower(store.changes, ChangeLogConfig())
        store.upsert_listing(listing("a"))
        store.add_event("ann", "a", "save")
        store.delete_listing("a")
        changes = follower.read().changes
        assert [(c.kind, c.key) for c in changes] == [
            ("listing", "a"),
            ("event", "ann"),
            ("deleted", "a"),
        ]
        assert follower.read().changes == []  # each change once
        assert store.changes.head() == changes[-1].seq


def test_a_failed_write_logs_nothing(store_location: Path | str) -> None:
    with Store(store_location) as store:
        follower = ChangeFollower(store.changes, ChangeLogConfig())
        with pytest.raises(Exception):  # noqa: B017 - each engine raises its own error
            store.upsert_listing(listing("b"), owner=object())  # not a value a column takes
        assert follower.read().changes == []


def test_a_follower_that_fell_behind_the_pruned_log_knows_it(store_location: Path | str) -> None:
    with Store(store_location) as store:
        follower = ChangeFollower(store.changes, ChangeLogConfig(prune_every_s=3600))
        store.upsert_listing(listing("c"))
        time.sleep(0.01)
        assert store.changes.prune(older_than_s=0) == 1
        assert follower.read().fell_behind
        follower.restart(store.changes.head())  # after re-reading the store whole
        store.upsert_listing(listing("d"))
        batch = follower.read()
        assert not batch.fell_behind and [c.key for c in batch.changes] == ["d"]


def test_a_change_committed_out_of_order_is_not_missed(postgres_url: str) -> None:
    """PostgreSQL numbers a change at insert: 2 may commit before 1. The follower sees 2,
    remembers the hole, and takes 1 when it commits."""
    import psycopg

    with Store(postgres_url) as store:
        follower = ChangeFollower(store.changes, ChangeLogConfig())
        store.upsert_listing(listing("e"))
        follower.read()
        with psycopg.connect(postgres_url) as slow:  # a writer still committing
            slow.execute("INSERT INTO changes (kind, key, ts) VALUES ('event', 'slow', 0)")
            store.add_event("fast", "e", "view")  # commits first, with the higher number
            assert [c.key for c in follower.read().changes] == ["fast"]
            slow.commit()
        assert [c.key for c in follower.read().changes] == ["slow"]
        assert follower.read().changes == []


def test_a_notify_wakes_a_listener_at_once(postgres_url: str) -> None:
    with Store(postgres_url) as store:
        listener = ChangeListener(store.connector())
        try:
            assert listener.wait(0.05) is False  # connects and listens; nothing yet
            writer = threading.Timer(0.2, store.upsert_listing, [listing("f")])
            started = time.monotonic()
            writer.start()
            assert listener.wait(10) is True
            assert time.monotonic() - started < 5  # woken by the commit, not the timeout
            writer.join()
        finally:
            listener.close()
