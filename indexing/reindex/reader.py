"""Read the catalogue: sync the cleaned catalogue into the store, then list work items.

The store is the source of truth the index is built from; syncing the cleaned
``listings.jsonl`` into it first means an edit to the catalogue file and an
edit through the API reach the index the same way.

The reindex reads the store through plain SQL on its documented tables
(``listings``, ``images``), page by page, over a DB-API connection made by a
*connection factory*: a picklable callable, so Ray workers open their own
connections to the same store (``Store.connector``: SQLite or PostgreSQL); the
queries use no placeholders (ids are integers written into the SQL) and no
dialect-specific function, so one text serves both engines. No reading function
here holds more than one page.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from indexing.store import Record, Store, SyncCounts
from multimodal.data.catalogue import LISTINGS_FILE, Listing

Connect = Callable[[], Any]  # returns a DB-API 2 connection to the store
# The live listings' columns the encoders and the index need; Ray Data reads this
# (``ray.data.read_sql``), the driver pages through it keyed by fid.
LISTINGS_SQL = "SELECT fid, id, title, description, content_hash FROM listings WHERE deleted = 0"


@dataclass(frozen=True)
class Item:
    """One listing to embed: everything the encoders need, and the keys to store it under."""

    fid: int
    content_hash: str
    text: str
    image_fids: tuple[int, ...]
    image_digests: tuple[str, ...]
    image_paths: tuple[str, ...]


@dataclass(frozen=True)
class ListingRow:
    """One live listing as the reindex reads it: its text fields, hash and photos."""

    fid: int
    listing_id: str
    title: str
    description: str
    content_hash: str
    image_fids: tuple[int, ...]
    image_ids: tuple[str, ...]
    image_digests: tuple[str, ...]

    @property
    def text(self) -> str:
        """Exactly ``Listing.text``: the text the encoders see."""
        return Listing(self.listing_id, self.title, self.description, None, "", ()).text

    def item(self, image_dir: Path) -> Item:
        return Item(
            fid=self.fid,
            content_hash=self.content_hash,
            text=self.text,
            image_fids=self.image_fids,
            image_digests=self.image_digests,
            image_paths=tuple(str(image_dir / f"{i}.jpg") for i in self.image_ids),
        )


def store_connect(store: Store) -> Connect:
    """The connection factory of an open store (SQLite or PostgreSQL)."""
    return store.connector()


def iter_clean_listings(clean_dir: Path) -> Iterator[Listing]:
    """The cleaned catalogue's listings one line at a time (never the whole file at once);
    a missing catalogue fails here, not at the first listing."""
    path = clean_dir / LISTINGS_FILE
    if not path.exists():
        raise FileNotFoundError(
            f"no cleaned catalogue at {clean_dir}: run `marketplace data clean` first"
        )
    return _listings_in(path)


def _listings_in(path: Path) -> Iterator[Listing]:
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                yield Listing.from_dict(json.loads(line))


def sync_catalogue(store: Store, clean_dir: Path) -> SyncCounts:
    """Make the store's live listings exactly those of the cleaned catalogue."""
    return store.sync_listings(iter_clean_listings(clean_dir))


def to_item(record: Record, image_dir: Path) -> Item:
    return Item(
        fid=record.fid,
        content_hash=record.content_hash,
        text=record.listing.text,
        image_fids=record.image_fids,
        image_digests=record.image_digests,
        image_paths=tuple(str(image_dir / f"{i}.jpg") for i in record.listing.image_ids),
    )


def read_items(store: Store, image_dir: Path) -> list[Item]:
    """Every live listing in the store as a work item, in fid order (small stores, tests)."""
    return [to_item(record, image_dir) for record in store.iter_records()]


def _fid_list(fids: Sequence[int]) -> str:
    return ",".join(str(int(f)) for f in fids)


def with_photos(cursor: Any, rows: Sequence[tuple[int, str, str, str, str]]) -> list[ListingRow]:
    """``LISTINGS_SQL`` rows with their photos, in position order."""
    photos: dict[int, list[tuple[int, str, str]]] = {}
    if rows:
        cursor.execute(
            "SELECT l.fid, i.image_fid, i.image_id, i.digest FROM images i "
            "JOIN listings l ON l.id = i.listing_id "
            f"WHERE l.fid IN ({_fid_list([r[0] for r in rows])}) ORDER BY l.fid, i.position"
        )
        for fid, image_fid, image_id, digest in cursor.fetchall():
            photos.setdefault(fid, []).append((image_fid, image_id, digest))
    out = []
    for fid, listing_id, title, description, content_hash in rows:
        own = photos.get(fid, [])
        out.append(
            ListingRow(
                int(fid),
                listing_id,
                title,
                description,
                content_hash,
                tuple(int(p[0]) for p in own),
                tuple(p[1] for p in own),
                tuple(p[2] for p in own),
            )
        )
    return out


def iter_pages(connect: Connect, size: int) -> Iterator[list[ListingRow]]:
    """The live listings, ``size`` at a time in fid order (keyset pages: one page in memory)."""
    connection = connect()
    try:
        cursor = connection.cursor()
        last = -1
        while True:
            cursor.execute(f"{LISTINGS_SQL} AND fid > {last} ORDER BY fid LIMIT {int(size)}")
            rows = cursor.fetchall()
            if not rows:
                return
            yield with_photos(cursor, rows)
            last = int(rows[-1][0])
    finally:
        connection.close()


def count_live(connect: Connect) -> tuple[int, int]:
    """(live listings, their photos): sizes to allocate the version's arrays for."""
    connection = connect()
    try:
        cursor = connection.cursor()
        cursor.execute("SELECT COUNT(*) FROM listings WHERE deleted = 0")
        (listings,) = cursor.fetchone()
        cursor.execute(
            "SELECT COUNT(*) FROM images i JOIN listings l ON l.id = i.listing_id "
            "WHERE l.deleted = 0"
        )
        (photos,) = cursor.fetchone()
        return int(listings), int(photos)
    finally:
        connection.close()
