"""Keeping one serving replica level with the writes the others make, through the store.

Every replica (a ``marketplace serve`` process, a ``--workers`` worker, a
process on another machine) serves from memory: the ``Snapshot`` of live
listings with its re-post groups, facets and language (typos, suggestions),
the loaded index channels, cached user profiles and price contexts. A write
through one replica goes to the store with a row in its change log
(``indexing.change_log``); ``ReplicaSync.catch_up`` reads the rows this
replica has not applied and brings its memory level:

- a listing written elsewhere comes with the vectors its writer stored
  (``indexing.written_vectors``), so nothing is embedded here, and its
  uploaded photos are written into this machine's photo folder from the
  database (PostgreSQL), so every replica serves and searches them;
- a deleted listing leaves every channel and the snapshot;
- an event drops that user's cached profile (the service does it), so their
  next personalised search here reads their events anew.

Applying is idempotent: the listing is compared with what this replica
already serves, so its own writes (which are in the log too) cost a
comparison, and a change read twice does no harm. A replica that fell
behind the pruned log re-reads the store whole, as a reload does.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

from api.observability.metrics import changes_applied
from api.serving_state import (
    Channels,
    Snapshot,
    drop_from_channels,
    level_with_store,
    serve_stored,
)
from indexing.change_log import (
    EVENT,
    ChangeBatch,
    ChangeFollower,
    ChangeListener,
    ChangeLogConfig,
)
from indexing.store import Record, Store

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CaughtUp:
    """What one catch-up changed: the snapshot to serve and whose profiles to drop."""

    live: Snapshot
    listings: int = 0  # listings written, changed or removed here
    users: tuple[str, ...] = ()  # users with new events
    resynced: bool = False  # fell behind the log: the store was re-read whole
    kinds: dict[str, int] = field(default_factory=dict)

    @property
    def count(self) -> int:
        return self.listings + len(self.users)


class ReplicaSync:
    """This replica's place in the store's change log, and how it waits for the next change."""

    def __init__(self, store: Store, config: ChangeLogConfig) -> None:
        """Take it *before* reading the store's listings: a write committed between the
        two is then applied by the first catch-up instead of being missed."""
        self.store = store
        self.follower = ChangeFollower(store.changes, config)
        self._listener = ChangeListener(store.connector()) if store.changes.notifies else None

    def wait(self, timeout_s: float) -> None:
        """Until a change commits (PostgreSQL's ``NOTIFY``) or ``timeout_s`` passes."""
        if self._listener is None:
            time.sleep(timeout_s)
        else:
            self._listener.wait(timeout_s)

    def close(self) -> None:
        if self._listener is not None:
            self._listener.close()

    def catch_up(self, live: Snapshot, channels: Channels, model: str) -> CaughtUp:
        """Apply the changes since the last call to ``channels`` (in place) and ``live``
        (a new snapshot is returned). The caller holds the writer lock."""
        batch: ChangeBatch = self.follower.read()
        if batch.fell_behind:
            return self._resync(live, channels, model)
        users = tuple(dict.fromkeys(c.key for c in batch.changes if c.kind == EVENT))
        ids = list(dict.fromkeys(c.key for c in batch.changes if c.kind != EVENT))
        live, changed = apply_listings(ids, live, channels, self.store, model)
        kinds = {"listing": changed, "event": len(users)}
        caught = CaughtUp(live, changed, users, kinds={k: n for k, n in kinds.items() if n})
        _report(caught)
        return caught

    def _resync(self, live: Snapshot, channels: Channels, model: str) -> CaughtUp:
        """Fell behind the pruned log: read every live listing, as a reload does."""
        head = self.store.changes.head()  # before the read, so nothing falls between
        records = list(self.store.iter_records())
        self.store.restore_uploaded_photos()
        level_with_store(channels, self.store, records, model)
        fresh = Snapshot.of(records)
        drop_from_channels(
            channels,
            [f for f in live.rows if f not in fresh.rows],
            [i for i in live.photo_owner if i not in fresh.photo_owner],
        )
        self.follower.restart(head)
        caught = CaughtUp(fresh, len(records), resynced=True, kinds={"resync": 1})
        _report(caught)
        return caught


def apply_listings(
    ids: list[str], live: Snapshot, channels: Channels, store: Store, model: str
) -> tuple[Snapshot, int]:
    """Serve each listing in ``ids`` as the store has it now; returns the new snapshot
    and how many listings changed (those already served as stored are skipped)."""
    records = {r.listing.id: r for r in store.iter_records(ids)}
    written: list[Record] = []
    removed = 0
    for listing_id in ids:
        record, fid = records.get(listing_id), live.fids.get(listing_id)
        if record is None:  # deleted (or never live)
            if fid is not None:
                drop_from_channels(channels, [fid], live.photos_of(fid))
                live = live.without(fid)
                removed += 1
            continue
        served = fid == record.fid and live.rows[fid] == record.listing
        if served and set(live.photos_of(fid)) == set(record.image_fids):
            continue  # this replica's own write, or one it applied already
        if fid is not None:  # stale vectors out, whether or not new ones are stored
            drop_from_channels(channels, [fid], live.photos_of(fid))
        written.append(record)
    if written:
        store.restore_uploaded_photos([i for r in written for i in r.listing.image_ids])
        unready = serve_stored(channels, store, written, model)
        if unready:
            log.warning(
                "%d listings written by another replica have no stored vectors for this "
                "model: keyword search only until `marketplace reindex`",
                unready,
            )
        for record in written:
            live = live.with_listing(
                record.fid, record.listing, record.image_fids, record.image_digests
            )
    return live, len(written) + removed


def _report(caught: CaughtUp) -> None:
    if not caught.count:
        return
    for kind, n in caught.kinds.items():
        changes_applied(kind, n)
    log.info(
        "caught up with other replicas: %d listings, %d users' events%s",
        caught.listings,
        len(caught.users),
        " (fell behind the change log: re-read the store)" if caught.resynced else "",
        extra={"fields": {"listings": caught.listings, "users": len(caught.users)}},
    )
