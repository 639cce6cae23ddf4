"""Vectors already computed, keyed by model fingerprint and content hash.

A listing's key is the store's ``content_hash`` (its text plus the bytes of
its photos), a photo's key the digest of its bytes; both are qualified by the
model fingerprint. So an unchanged listing is never embedded twice, an edited
one always is, and a new model starts from an empty cache by construction.
Written batch by batch as the encoders produce them, so an interrupted reindex
resumes where it stopped instead of starting over.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from pathlib import Path

import numpy as np

_SCHEMA = """
CREATE TABLE IF NOT EXISTS vectors (
    model TEXT NOT NULL,
    kind TEXT NOT NULL,
    key TEXT NOT NULL,
    vector BLOB NOT NULL,
    PRIMARY KEY (model, kind, key)
) WITHOUT ROWID
"""
LISTING = "listing"
PHOTO = "photo"


class EmbeddingCache:
    """float32 vectors in one SQLite file (WAL, so a reader never blocks the writer)."""

    def __init__(self, path: Path, model_fingerprint: str, dim: int) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.model = model_fingerprint
        self.dim = dim
        self._conn = sqlite3.connect(path, isolation_level=None)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=NORMAL")
        self._conn.execute(_SCHEMA)

    def close(self) -> None:
        self._conn.close()

    def get(self, kind: str, keys: Iterable[str]) -> dict[str, np.ndarray]:
        """The cached vectors among ``keys`` (missing keys are simply absent)."""
        wanted = list(dict.fromkeys(keys))
        found = {}
        # by key, in chunks under SQLite's bound-parameter limit: a batch's lookup
        # costs its own size, not the whole cache's
        for start in range(0, len(wanted), 900):
            chunk = wanted[start : start + 900]
            for key, blob in self._conn.execute(
                "SELECT key, vector FROM vectors WHERE model = ? AND kind = ? "
                f"AND key IN ({','.join('?' * len(chunk))})",
                (self.model, kind, *chunk),
            ):
                found[key] = np.frombuffer(blob, dtype=np.float32)
        return found

    def put(self, kind: str, items: dict[str, np.ndarray]) -> None:
        rows = []
        for key, vector in items.items():
            vector = np.ascontiguousarray(vector, dtype=np.float32)
            if vector.shape != (self.dim,):
                raise ValueError(f"expected a vector of shape ({self.dim},), got {vector.shape}")
            rows.append((self.model, kind, key, vector.tobytes()))
        self._conn.execute("BEGIN")
        self._conn.executemany("INSERT OR REPLACE INTO vectors VALUES (?, ?, ?, ?)", rows)
        self._conn.execute("COMMIT")

    def __len__(self) -> int:
        return self._conn.execute(
            "SELECT COUNT(*) FROM vectors WHERE model = ?", (self.model,)
        ).fetchone()[0]
