"""The catalogue store's schema: append-only migrations and the function that applies them.

``MIGRATIONS`` is the SQLite schema; ``indexing.store_schema_postgres`` states
the same versions, under the same names, for PostgreSQL. A schema change is a
new entry in both lists, with the same number.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from indexing.store_schema_postgres import POSTGRES_MIGRATIONS

if TYPE_CHECKING:
    from indexing.store_database import Database

# Append only: a released migration is never edited, a schema change is a new entry.
MIGRATIONS: tuple[tuple[int, str, str], ...] = (
    (
        1,
        "catalogue",
        """
        CREATE TABLE listings (
            fid INTEGER PRIMARY KEY AUTOINCREMENT,
            id TEXT NOT NULL UNIQUE,
            title TEXT NOT NULL,
            description TEXT NOT NULL,
            price REAL,
            location TEXT NOT NULL,
            category TEXT NOT NULL,
            root TEXT NOT NULL,
            content_hash TEXT NOT NULL,
            updated_at REAL NOT NULL,
            deleted INTEGER NOT NULL DEFAULT 0
        );
        CREATE INDEX listings_price ON listings(price);
        CREATE INDEX listings_category ON listings(category);
        CREATE TABLE images (
            image_fid INTEGER PRIMARY KEY AUTOINCREMENT,
            image_id TEXT NOT NULL UNIQUE,
            listing_id TEXT NOT NULL REFERENCES listings(id),
            position INTEGER NOT NULL,
            digest TEXT NOT NULL
        );
        CREATE INDEX images_listing ON images(listing_id, position);
        CREATE TABLE image_files (
            image_id TEXT PRIMARY KEY,
            size INTEGER NOT NULL,
            mtime_ns INTEGER NOT NULL,
            digest TEXT NOT NULL
        );
        CREATE TABLE categories (
            path TEXT PRIMARY KEY,
            parent TEXT,
            name TEXT NOT NULL,
            depth INTEGER NOT NULL
        );
        """,
    ),
    (
        2,
        "user events",
        """
        CREATE TABLE events (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            user_id TEXT NOT NULL,
            listing_id TEXT NOT NULL REFERENCES listings(id),
            type TEXT NOT NULL CHECK (type IN ('view', 'click', 'save', 'message')),
            ts REAL NOT NULL
        );
        CREATE INDEX events_user ON events(user_id, ts);
        """,
    ),
    (
        3,
        "catalogue provenance",
        # What the cleaned catalogue file said about a listing at the last sync
        # (NULL: not from the file). A sync applies the file only where it
        # changed since, so writes through the API in between are kept.
        """
        ALTER TABLE listings ADD COLUMN catalogue_hash TEXT;
        """,
    ),
    (
        4,
        "written vectors",
        # Vectors of listings written through the API, stored with the listing in
        # one transaction, so a server starting on an older index version serves
        # them without embedding anything (``indexing.written_vectors``).
        """
        CREATE TABLE listing_vectors (
            fid INTEGER NOT NULL,
            model TEXT NOT NULL,
            content_hash TEXT NOT NULL,
            joint BLOB NOT NULL,
            text BLOB NOT NULL,
            PRIMARY KEY (fid, model)
        );
        CREATE TABLE photo_vectors (
            image_fid INTEGER NOT NULL,
            model TEXT NOT NULL,
            joint BLOB NOT NULL,
            instance BLOB,
            projection TEXT,
            PRIMARY KEY (image_fid, model)
        );
        """,
    ),
    (
        5,
        "listing currency",
        # The ISO 4217 code of a listing's price. Stores from before it held
        # pounds only, so their listings are GBP.
        """
        ALTER TABLE listings ADD COLUMN currency TEXT NOT NULL DEFAULT 'GBP';
        """,
    ),
    (
        6,
        "listing owners and uploaded photos",
        # Who created a listing through the API (NULL: the catalogue file or the
        # admin), so a seller may change only their own; and which photo files
        # were uploaded with a listing, so deleting it or replacing them removes
        # those files and never a catalogue photo. Independent of migration 5.
        """
        ALTER TABLE listings ADD COLUMN owner TEXT;
        CREATE TABLE uploaded_photos (
            image_id TEXT PRIMARY KEY,
            listing_id TEXT NOT NULL
        );
        CREATE INDEX uploaded_photos_listing ON uploaded_photos(listing_id);
        """,
    ),
    (
        7,
        "change log",
        # Every write a serving replica must apply, in order, appended in the
        # write's transaction (``indexing.change_log``); pruned by age, with the
        # highest pruned sequence kept so a replica knows when it fell behind.
        """
        CREATE TABLE changes (
            seq INTEGER PRIMARY KEY AUTOINCREMENT,
            kind TEXT NOT NULL,
            key TEXT NOT NULL,
            ts REAL NOT NULL
        );
        CREATE TABLE change_log_pruned (upto INTEGER NOT NULL);
        INSERT INTO change_log_pruned VALUES (0);
        """,
    ),
)
SCHEMA_VERSION = MIGRATIONS[-1][0]


class StoreError(Exception):
    """The store cannot be used as is (e.g. written by a newer version)."""


# The bookkeeping table each back-end keeps its applied versions in.
VERSION_TABLES = {
    "sqlite": "CREATE TABLE IF NOT EXISTS schema_migrations "
    "(version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at REAL NOT NULL)",
    "postgresql": "CREATE TABLE IF NOT EXISTS schema_migrations "
    "(version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at DOUBLE PRECISION NOT NULL)",
}


def migrations_for(dialect: str) -> tuple[tuple[int, str, str], ...]:
    return POSTGRES_MIGRATIONS if dialect == "postgresql" else MIGRATIONS


def applied_version(db: Database) -> int:
    return db.execute("SELECT COALESCE(MAX(version), 0) FROM schema_migrations").fetchone()[0]


def migrate(db: Database, target: int = SCHEMA_VERSION) -> int:
    """Apply the migrations after the database's version up to ``target``; returns the new
    version.

    Each migration runs in its own transaction together with its
    ``schema_migrations`` row, so a crash leaves the database at a clean
    version; the schema lock makes a second process starting at the same
    moment wait, then find the work done.
    """
    with db.transaction():
        db.lock_schema()
        db.execute(VERSION_TABLES[db.dialect])
    current = applied_version(db)
    if current > SCHEMA_VERSION:
        raise StoreError(
            f"catalogue store has schema version {current}, newer than this code's "
            f"{SCHEMA_VERSION}: upgrade marketplace-search"
        )
    for version, name, sql in migrations_for(db.dialect):
        if not current < version <= target:
            continue
        with db.transaction():
            db.lock_schema()
            if applied_version(db) < version:  # not applied by another process meanwhile
                for statement in sql.split(";"):
                    if statement.strip():
                        db.execute(statement)
                db.execute(
                    "INSERT INTO schema_migrations VALUES (?, ?, ?)", (version, name, time.time())
                )
        current = version
    return current
