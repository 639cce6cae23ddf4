"""The catalogue store, the single source of truth: SQLite (embedded) or PostgreSQL (shared).

Listings, their photos, the category tree and user events live here; the
vector and lexical indexes are derived from it and can always be rebuilt.
Listing ids are the ``Products.csv`` strings; each listing also gets a
never-reused int64 ``fid`` because FAISS can only key vectors by integers
(photos likewise get an ``image_fid``).

A listing's ``content_hash`` covers exactly what the encoders see (its text
and the bytes of its photos), so the reindex can tell which vectors are
stale without ever re-reading a photo that did not change: photo digests are
memoised by file size and modification time.

Where the rows live is the location's business (``indexing.store_database``):
a file path is a SQLite file, a ``postgresql://`` URL a PostgreSQL database
that several serving processes share. Every write goes through
``Store._transaction``, the one place a change feed would hook in.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from indexing import change_log, store_sync, written_vectors
from indexing.store_database import Database, StoreUnavailable, open_database
from indexing.store_records import (
    CATEGORY_SEPARATOR,
    EVENT_TYPES,
    Category,
    Event,
    EventType,
    ListingNotFound,
    Record,
    SyncCounts,
    content_hash,
    file_digest,
)
from indexing.store_schema import StoreError, migrate
from indexing.written_vectors import ListingVectors, StoredListing, StoredPhoto
from multimodal.data.catalogue import DEFAULT_CURRENCY, Listing

__all__ = [
    "CATEGORY_SEPARATOR",
    "EVENT_TYPES",
    "Category",
    "Event",
    "EventType",
    "ListingNotFound",
    "Record",
    "Store",
    "StoreError",
    "StoreUnavailable",
    "SyncCounts",
    "content_hash",
    "file_digest",
]

_LISTING_COLUMNS = "fid, id, title, description, price, location, category, currency, content_hash"
_CHUNK = 900  # ids per ``IN (...)``: under SQLite's bound-parameter limit


def _chunks(ids: Sequence[str]) -> Iterator[list[str]]:
    for start in range(0, len(ids), _CHUNK):
        yield list(ids[start : start + _CHUNK])


class Store:
    """Thread-safe access to one catalogue database.

    ``location`` is a SQLite file path or a ``postgresql://`` URL; opening
    applies any migration the database lacks, and a database that cannot be
    reached raises ``StoreUnavailable`` (one line, password hidden).
    ``image_dir`` is where the listings' photos live (the cleaned catalogue's
    ``images/``); the store reads them to hash them and, with PostgreSQL,
    keeps uploaded ones' bytes so another machine can restore them. One
    connection behind a lock keeps it simple: the API's reads are single-row
    or single-query and far cheaper than the embedding they sit beside.
    """

    def __init__(self, location: Path | str, image_dir: Path | None = None) -> None:
        self.image_dir = image_dir
        self._lock = threading.RLock()
        self._db: Database = open_database(location)
        self.location = self._db.location  # for messages: a URL's password is hidden
        try:
            self.schema_version = migrate(self._db)
        except BaseException:
            self._db.close()
            raise
        self.changes = change_log.ChangeLog(self._db, self._lock)  # what replicas follow

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def connector(self) -> Callable[[], Any]:
        """A picklable factory of new connections to this store, for readers that run
        beside it (the reindex pages through it, Ray workers read it with ``read_sql``)."""
        return self._db.connector()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def _transaction(self) -> Iterator[Database]:
        """The one way to write: all of the block or none of it."""
        with self._lock, self._db.transaction():
            yield self._db

    # -- listings -------------------------------------------------------------

    def upsert_listing(
        self,
        listing: Listing,
        vectors: ListingVectors | None = None,
        *,
        owner: str | None = None,
        uploaded: Sequence[str] = (),
    ) -> int:
        """Insert or replace one listing (reviving it if deleted); returns its fid.

        ``vectors``, when given, are stored in the same transaction
        (``indexing.written_vectors``): the listing is never saved without them.
        ``owner`` is the user it belongs to (``None``: nobody, only the admin may
        change it); ``uploaded``: its photo ids whose files came with this write.
        """
        with self._transaction() as conn:
            fid = self._upsert(conn, listing, time.time())
            conn.execute("UPDATE listings SET owner = ? WHERE fid = ?", (owner, fid))
            conn.executemany(
                "INSERT INTO uploaded_photos (image_id, listing_id) VALUES (?, ?) "
                "ON CONFLICT (image_id) DO UPDATE SET listing_id = excluded.listing_id",
                [(image_id, listing.id) for image_id in uploaded],
            )
            if conn.keeps_photo_bytes and self.image_dir is not None:
                conn.executemany(
                    "UPDATE uploaded_photos SET data = ? WHERE image_id = ?",
                    [(self._photo_file(i).read_bytes(), i) for i in uploaded],
                )
            if vectors is not None:
                (content,) = conn.execute(
                    "SELECT content_hash FROM listings WHERE fid = ?", (fid,)
                ).fetchone()
                own = [
                    image_fid
                    for (image_fid,) in conn.execute(
                        "SELECT image_fid FROM images WHERE listing_id = ? ORDER BY position",
                        (listing.id,),
                    )
                ]
                written_vectors.write(conn, fid, content, own, vectors)
            change_log.record(conn, change_log.LISTING_WRITTEN, listing.id)
            return fid

    def written_listing_vectors(self, model: str, fids: Sequence[int]) -> dict[int, StoredListing]:
        """The API-written vectors of these listings under ``model``."""
        with self._lock:
            return written_vectors.read_listings(self._db, model, fids)

    def written_photo_vectors(
        self, model: str, image_fids: Sequence[int]
    ) -> dict[int, StoredPhoto]:
        with self._lock:
            return written_vectors.read_photos(self._db, model, image_fids)

    def sync_listings(self, listings: Iterable[Listing]) -> SyncCounts:
        """Apply the cleaned catalogue to the store, touching only what the file changed.

        A listing the file states exactly as at the last sync is left alone,
        so a write through the API since then (an edit, a delete, a new
        listing) is never undone by the next reindex; what the file added,
        changed or dropped since is applied, the newer write winning. A
        listing is unchanged when its fields, its photo ids and its content
        hash (photo bytes included, via the size/mtime memo) all match.
        ``indexing.store_sync`` does it a bounded page at a time.
        """
        return store_sync.sync_listings(self, listings)

    def delete_listing(self, listing_id: str) -> None:
        """Soft delete: the fid stays reserved so a re-added listing keeps it."""
        with self._transaction() as conn:
            cur = conn.execute(
                "UPDATE listings SET deleted = 1, updated_at = ? WHERE id = ? AND deleted = 0",
                (time.time(), listing_id),
            )
            if cur.rowcount == 0:
                raise ListingNotFound(listing_id)
            change_log.record(conn, change_log.LISTING_DELETED, listing_id)

    def owner_of(self, listing_id: str) -> str | None:
        """The user a live listing belongs to; ``None`` for catalogue and admin listings."""
        rows = self._query("SELECT owner FROM listings WHERE id = ? AND deleted = 0", (listing_id,))
        if not rows:
            raise ListingNotFound(listing_id)
        return rows[0][0]

    def uploaded_photos(self, listing_id: str) -> list[str]:
        """The photo ids whose files were uploaded with this listing and are still kept."""
        return [
            image_id
            for (image_id,) in self._query(
                "SELECT image_id FROM uploaded_photos WHERE listing_id = ? ORDER BY image_id",
                (listing_id,),
            )
        ]

    def forget_uploaded(self, image_ids: Sequence[str]) -> None:
        """Drop the record of uploaded photos whose files have been removed."""
        with self._transaction() as conn:
            conn.executemany(
                "DELETE FROM uploaded_photos WHERE image_id = ?", [(i,) for i in image_ids]
            )

    def restore_uploaded_photos(self, image_ids: Sequence[str] | None = None) -> list[str]:
        """Write the files of uploaded photos (``image_ids``, default all) missing from
        ``image_dir``, from the bytes the database keeps; returns the ids restored.

        A photo uploaded through a replica on another machine reaches this one
        so: its bytes are the file's, so its digest (and the listing's content
        hash) are the same here. SQLite keeps no bytes: its photo folder is on
        the one machine already.
        """
        if not self._db.keeps_photo_bytes or self.image_dir is None:
            return []
        if image_ids is None:
            image_ids = [i for (i,) in self._query("SELECT image_id FROM uploaded_photos")]
        missing = [i for i in image_ids if not self._photo_file(i).is_file()]
        restored = []
        for chunk in _chunks(missing):
            marks = ",".join("?" * len(chunk))
            for image_id, data in self._query(
                "SELECT image_id, data FROM uploaded_photos "
                f"WHERE data IS NOT NULL AND image_id IN ({marks})",
                chunk,
            ):
                target = self._photo_file(image_id)
                target.parent.mkdir(parents=True, exist_ok=True)
                partial = target.with_suffix(f".restore-{os.getpid()}")
                partial.write_bytes(data)
                partial.replace(target)  # never a half-written photo under its name
                restored.append(image_id)
        return restored

    def get_listing(self, listing_id: str) -> Listing | None:
        rows = self._query(
            f"SELECT {_LISTING_COLUMNS} FROM listings WHERE id = ? AND deleted = 0", (listing_id,)
        )
        return self._to_records(rows)[0].listing if rows else None

    def get_listings_by_fid(self, fids: Sequence[int]) -> dict[int, Listing]:
        """Live listings for search hits, keyed by fid (deleted ones are left out)."""
        wanted = [int(f) for f in fids]
        if not wanted:
            return {}
        marks = ",".join("?" * len(wanted))
        rows = self._query(
            f"SELECT {_LISTING_COLUMNS} FROM listings WHERE fid IN ({marks}) AND deleted = 0",
            wanted,
        )
        return {record.fid: record.listing for record in self._to_records(rows)}

    def iter_listings(self) -> Iterator[Listing]:
        for record in self.iter_records():
            yield record.listing

    def iter_records(self, ids: Sequence[str] | None = None) -> Iterator[Record]:
        """Every live listing (or those of ``ids``) with its ids and hashes, in fid order."""
        sql = f"SELECT {_LISTING_COLUMNS} FROM listings WHERE deleted = 0"
        chunks = [[]] if ids is None else _chunks(ids)
        in_ids = "" if ids is None else " AND id IN ({})"
        rows = [
            row
            for chunk in chunks
            for row in self._query(sql + in_ids.format(",".join("?" * len(chunk))), chunk)
        ]
        yield from self._to_records(sorted(rows))

    def main_currency(self) -> str:
        """The currency most live listings are priced in: the one price filters compare in.

        A catalogue holds one currency in practice; with several, a price
        filter still compares bare amounts (see ``docs/operations.md``).
        """
        rows = self._query(
            "SELECT currency FROM listings WHERE deleted = 0 "
            "GROUP BY currency ORDER BY COUNT(*) DESC, currency LIMIT 1"
        )
        return rows[0][0] if rows else DEFAULT_CURRENCY

    def count(self) -> int:
        return self._query("SELECT COUNT(*) FROM listings WHERE deleted = 0")[0][0]

    def faiss_id(self, listing_id: str) -> int | None:
        rows = self._query("SELECT fid FROM listings WHERE id = ? AND deleted = 0", (listing_id,))
        return rows[0][0] if rows else None

    def listing_id(self, fid: int) -> str | None:
        rows = self._query("SELECT id FROM listings WHERE fid = ? AND deleted = 0", (int(fid),))
        return rows[0][0] if rows else None

    def listings_matching(
        self,
        price_min: float | None = None,
        price_max: float | None = None,
        category_prefix: str | None = None,
        location_substring: str | None = None,
    ) -> np.ndarray:
        """Fids of the live listings passing every given filter (int64, ascending).

        ``category_prefix`` matches a root or a whole path prefix
        ("Home & Garden" or "Home & Garden / Garden"), case-insensitively;
        ``location_substring`` is a case-insensitive substring.
        """
        where, params = ["deleted = 0"], []
        if price_min is not None:
            where.append("price >= ?")
            params.append(price_min)
        if price_max is not None:
            where.append("price <= ?")
            params.append(price_max)
        if category_prefix:
            prefix = category_prefix.strip().lower()
            where.append("(lower(category) = ? OR substr(lower(category), 1, ?) = ?)")
            params += [prefix, len(prefix) + len(CATEGORY_SEPARATOR), prefix + CATEGORY_SEPARATOR]
        if location_substring:
            where.append("instr(lower(location), ?) > 0")
            params.append(location_substring.strip().lower())
        sql = f"SELECT fid FROM listings WHERE {' AND '.join(where)} ORDER BY fid"
        rows = self._query(sql, params)
        return np.fromiter((row[0] for row in rows), dtype=np.int64, count=len(rows))

    # -- photos ---------------------------------------------------------------

    def image_fid(self, image_id: str) -> int | None:
        rows = self._query("SELECT image_fid FROM images WHERE image_id = ?", (image_id,))
        return rows[0][0] if rows else None

    def image_ids_by_fid(self, image_fids: Sequence[int]) -> dict[int, tuple[str, str]]:
        """image_fid -> (image id, listing id), for photo-vector hits."""
        wanted = [int(f) for f in image_fids]
        if not wanted:
            return {}
        marks = ",".join("?" * len(wanted))
        rows = self._query(
            f"SELECT image_fid, image_id, listing_id FROM images WHERE image_fid IN ({marks})",
            wanted,
        )
        return {row[0]: (row[1], row[2]) for row in rows}

    # -- categories -----------------------------------------------------------

    def categories(self) -> list[Category]:
        """The category tree, flattened in path order, with live listing counts."""
        counts: dict[str, int] = {}
        for category, n in self._query(
            "SELECT category, COUNT(*) FROM listings WHERE deleted = 0 GROUP BY category"
        ):
            parts = category.split(CATEGORY_SEPARATOR)
            for depth in range(1, len(parts) + 1):
                path = CATEGORY_SEPARATOR.join(parts[:depth])
                counts[path] = counts.get(path, 0) + n
        return [
            Category(path, parent, name, depth, counts.get(path, 0))
            for path, parent, name, depth in self._query(
                "SELECT path, parent, name, depth FROM categories ORDER BY path"
            )
        ]

    # -- user events ----------------------------------------------------------

    def add_event(self, user_id: str, listing_id: str, type: str, ts: float | None = None) -> Event:
        if type not in EVENT_TYPES:
            raise ValueError(f"event type must be one of {', '.join(EVENT_TYPES)}, not {type!r}")
        if self.faiss_id(listing_id) is None:
            raise ListingNotFound(listing_id)
        event = Event(user_id, listing_id, type, time.time() if ts is None else ts)
        with self._transaction() as conn:
            conn.execute(
                "INSERT INTO events (user_id, listing_id, type, ts) VALUES (?, ?, ?, ?)",
                (event.user_id, event.listing_id, event.type, event.ts),
            )
            change_log.record(conn, change_log.EVENT, event.user_id)
        return event

    def events_for_user(self, user_id: str, limit: int | None = None) -> list[Event]:
        """A user's events, newest first."""
        sql = "SELECT user_id, listing_id, type, ts FROM events WHERE user_id = ? "
        sql += "ORDER BY ts DESC, id DESC" + ("" if limit is None else " LIMIT ?")
        rows = self._query(sql, (user_id,) if limit is None else (user_id, limit))
        return [Event(*row) for row in rows]

    # -- internals ------------------------------------------------------------

    def _query(self, sql: str, params: Sequence[object] = ()) -> list[tuple]:
        with self._lock:
            return self._db.execute(sql, params).fetchall()

    def _photo_file(self, image_id: str) -> Path:
        return Path(self.image_dir, f"{image_id}.jpg")

    @staticmethod
    def _row_values(listing: Listing) -> tuple:
        return (
            listing.title,
            listing.description,
            listing.price,
            listing.location,
            listing.category,
            listing.currency,
        )

    def _image_digest(
        self, conn: Database, image_id: str, memo: dict[str, tuple] | None = None
    ) -> str:
        """sha256 of the photo file, re-read only when its size or mtime changed."""
        if self.image_dir is None:
            return f"id:{image_id}"  # no photo folder given: the id stands for the bytes
        # os.stat on a str: a sync stats every photo, and pathlib's overhead is half its cost
        path = os.path.join(self.image_dir, f"{image_id}.jpg")
        try:
            stat = os.stat(path)
        except FileNotFoundError:
            return f"missing:{image_id}"
        if memo is None:
            row = conn.execute(
                "SELECT size, mtime_ns, digest FROM image_files WHERE image_id = ?", (image_id,)
            ).fetchone()
        else:
            row = memo.get(image_id)
        if row and row[0] == stat.st_size and row[1] == stat.st_mtime_ns:
            return row[2]
        digest = file_digest(Path(path))
        conn.execute(
            "INSERT INTO image_files VALUES (?, ?, ?, ?) ON CONFLICT (image_id) DO UPDATE "
            "SET size = excluded.size, mtime_ns = excluded.mtime_ns, digest = excluded.digest",
            (image_id, stat.st_size, stat.st_mtime_ns, digest),
        )
        return digest

    def _upsert(
        self,
        conn: Database,
        listing: Listing,
        now: float,
        digests: list[str] | None = None,
    ) -> int:
        if digests is None:
            digests = [self._image_digest(conn, image_id) for image_id in listing.image_ids]
        values = (
            listing.title,
            listing.description,
            listing.price,
            listing.location,
            listing.category,
            listing.root,
            listing.currency,
            content_hash(listing.text, digests),
            now,
        )
        conn.execute(
            "INSERT INTO listings (id, title, description, price, location, category, root, "
            "currency, content_hash, updated_at, deleted) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0) "
            "ON CONFLICT(id) DO UPDATE SET title = excluded.title, "
            "description = excluded.description, price = excluded.price, "
            "location = excluded.location, category = excluded.category, root = excluded.root, "
            "currency = excluded.currency, content_hash = excluded.content_hash, "
            "updated_at = excluded.updated_at, deleted = 0",
            (listing.id, *values),
        )
        fid = conn.execute("SELECT fid FROM listings WHERE id = ?", (listing.id,)).fetchone()[0]
        self._replace_images(conn, listing, digests)
        self._add_categories(conn, listing.category_path)
        return fid

    @staticmethod
    def _replace_images(conn: Database, listing: Listing, digests: list[str]) -> None:
        """Keep each surviving photo's image_fid (its vector key) and drop the rest."""
        keep = set(listing.image_ids)
        old = conn.execute(
            "SELECT image_id FROM images WHERE listing_id = ?", (listing.id,)
        ).fetchall()
        conn.executemany(
            "DELETE FROM images WHERE image_id = ?",
            [(image_id,) for (image_id,) in old if image_id not in keep],
        )
        for position, (image_id, digest) in enumerate(zip(listing.image_ids, digests, strict=True)):
            conn.execute(
                "INSERT INTO images (image_id, listing_id, position, digest) VALUES (?, ?, ?, ?) "
                "ON CONFLICT(image_id) DO UPDATE SET listing_id = excluded.listing_id, "
                "position = excluded.position, digest = excluded.digest",
                (image_id, listing.id, position, digest),
            )

    @staticmethod
    def _add_categories(conn: Database, path: tuple[str, ...]) -> None:
        for depth in range(1, len(path) + 1):
            full = CATEGORY_SEPARATOR.join(path[:depth])
            parent = CATEGORY_SEPARATOR.join(path[: depth - 1]) or None
            conn.execute(
                "INSERT INTO categories VALUES (?, ?, ?, ?) ON CONFLICT (path) DO NOTHING",
                (full, parent, path[depth - 1], depth),
            )

    def _to_records(self, rows: list[tuple]) -> list[Record]:
        """Rows of ``_LISTING_COLUMNS`` plus their photos, as records."""
        photos: dict[str, list[tuple[int, str, str]]] = {}
        for chunk in _chunks([row[1] for row in rows]):
            marks = ",".join("?" * len(chunk))
            for listing_id, image_fid, image_id, digest in self._query(
                "SELECT listing_id, image_fid, image_id, digest FROM images "
                f"WHERE listing_id IN ({marks}) ORDER BY position",
                chunk,
            ):
                photos.setdefault(listing_id, []).append((image_fid, image_id, digest))
        records = []
        for fid, listing_id, title, description, price, location, category, currency, chash in rows:
            own = photos.get(listing_id, [])
            listing = Listing(
                id=listing_id,
                title=title,
                description=description,
                price=price,
                location=location,
                category_path=tuple(category.split(CATEGORY_SEPARATOR)) if category else (),
                image_ids=tuple(p[1] for p in own),
                currency=currency,
            )
            records.append(
                Record(fid, chash, listing, tuple(p[0] for p in own), tuple(p[2] for p in own))
            )
        return records
