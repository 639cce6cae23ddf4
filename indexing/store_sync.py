"""Applying a cleaned catalogue file to the store, a bounded page of listings at a time.

``Store.sync_listings`` hands its work here. The file may hold a million
listings, so nothing is read for the whole catalogue at once: each page of
``PAGE`` listings from the file looks up only its own stored rows, photos and
photo-file memos, and the ids the file named are kept in a temporary table of
the store's own connection instead of a Python set. The listings the file no
longer holds are then found by SQL against that table. Memory stays that of
one page whatever the catalogue's size; the counts and content hashes are the
ones the whole-catalogue version gave.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterable, Iterator, Sequence
from itertools import islice
from typing import TYPE_CHECKING

from indexing.store_database import Database
from indexing.store_records import SyncCounts, content_hash
from multimodal.data.catalogue import Listing

if TYPE_CHECKING:
    from indexing.store import Store

PAGE = 900  # listings per page: one ``IN (...)``, under SQLite's bound-parameter limit
_SEEN = "sync_seen"  # the file's ids during one sync: a temporary table, this connection only


def catalogue_hash(values: tuple, image_ids: Sequence[str]) -> str:
    """Everything the catalogue file states about a listing, as one digest."""
    return hashlib.sha256(json.dumps([list(values), list(image_ids)]).encode()).hexdigest()


def _pages(listings: Iterable[Listing], size: int) -> Iterator[list[Listing]]:
    it = iter(listings)
    while page := list(islice(it, size)):
        yield page


def _marks(values: list) -> str:
    return ",".join("?" * len(values))


def _stored_rows(conn: Database, ids: list[str]) -> dict[str, tuple]:
    """id → (title, description, price, location, category, currency, content_hash,
    deleted, catalogue_hash) of the page's listings the store already holds."""
    cur = conn.execute(
        "SELECT id, title, description, price, location, category, currency, "
        f"content_hash, deleted, catalogue_hash FROM listings WHERE id IN ({_marks(ids)})",
        ids,
    )
    return {row[0]: row[1:] for row in cur.fetchall()}


def _stored_images(conn: Database, ids: list[str]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    cur = conn.execute(
        f"SELECT listing_id, image_id FROM images WHERE listing_id IN ({_marks(ids)}) "
        "ORDER BY listing_id, position",
        ids,
    )
    for listing_id, image_id in cur.fetchall():
        out.setdefault(listing_id, []).append(image_id)
    return out


def _file_memo(conn: Database, image_ids: list[str]) -> dict[str, tuple]:
    """image_id → (size, mtime_ns, digest) of the page's photos, PAGE ids per query."""
    memo: dict[str, tuple] = {}
    for start in range(0, len(image_ids), PAGE):
        chunk = image_ids[start : start + PAGE]
        cur = conn.execute(f"SELECT * FROM image_files WHERE image_id IN ({_marks(chunk)})", chunk)
        memo.update({row[0]: row[1:] for row in cur.fetchall()})
    return memo


def sync_listings(store: Store, listings: Iterable[Listing], page_size: int = PAGE) -> SyncCounts:
    """``Store.sync_listings``, ``page_size`` listings at a time (at most ``PAGE``: one
    ``IN (...)``); see that method for what it decides."""
    if not 1 <= page_size <= PAGE:
        raise ValueError(f"page_size must be 1 to {PAGE}, not {page_size}")
    added = updated = unchanged = 0
    now = time.time()
    with store._transaction() as conn:
        conn.execute(f"CREATE TEMP TABLE IF NOT EXISTS {_SEEN} (id TEXT PRIMARY KEY)")
        conn.execute(f"DELETE FROM {_SEEN}")
        for page in _pages(listings, page_size):
            ids = list(dict.fromkeys(listing.id for listing in page))
            rows = _stored_rows(conn, ids)
            images = _stored_images(conn, ids)
            memo = _file_memo(conn, [i for listing in page for i in listing.image_ids])
            conn.executemany(
                f"INSERT INTO {_SEEN} (id) VALUES (?) ON CONFLICT (id) DO NOTHING",
                [(listing_id,) for listing_id in ids],
            )
            for listing in page:
                digests = [store._image_digest(conn, i, memo) for i in listing.image_ids]
                values = (*store._row_values(listing), content_hash(listing.text, digests))
                stated = catalogue_hash(values, listing.image_ids)
                row = rows.get(listing.id)
                if row is not None and row[-1] == stated:
                    unchanged += 1  # the file says what it said last time
                    continue
                live = row is not None and not row[-2]
                if (
                    live
                    and row[:-2] == values
                    and images.get(listing.id, []) == list(listing.image_ids)
                ):
                    unchanged += 1
                else:
                    added += not live
                    updated += live
                    store._upsert(conn, listing, now, digests)
                conn.execute(
                    "UPDATE listings SET catalogue_hash = ? WHERE id = ?", (stated, listing.id)
                )
        # Only listings the file once held are dropped with it; forgetting
        # their hash lets the file bring one back later.
        gone = [
            listing_id
            for (listing_id,) in conn.execute(
                "SELECT id FROM listings WHERE deleted = 0 AND catalogue_hash IS NOT NULL "
                f"AND id NOT IN (SELECT id FROM {_SEEN})"
            ).fetchall()
        ]
        conn.executemany(
            "UPDATE listings SET deleted = 1, catalogue_hash = NULL, updated_at = ? WHERE id = ?",
            [(now, listing_id) for listing_id in gone],
        )
        conn.execute(f"DROP TABLE {_SEEN}")
    return SyncCounts(added, updated, len(gone), unchanged)
