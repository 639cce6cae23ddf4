"""BM25 keyword search over title + description, on SQLite FTS5.

FTS5 ranks with BM25 (``bm25()``) and, unlike a static BM25 matrix, takes
single-document inserts and deletes, so a listing edited through the API is
searchable at once. The index lives in memory while serving (copied from the
version's ``lexical.sqlite`` at load), which keeps saved versions immutable:
live edits reach disk through the store and the next reindex.

The title column weighs more than the description, the way a buyer's words
usually name the item rather than describe it. User text is never passed to
FTS5 as query syntax: it is cut into word tokens, each quoted, and OR-ed.
"""

from __future__ import annotations

import re
import sqlite3
import threading
from collections.abc import Iterable
from pathlib import Path

import numpy as np

LEXICAL_FILE = "lexical.sqlite"
TITLE_WEIGHT = 3.0
DESCRIPTION_WEIGHT = 1.0
_TOKEN = re.compile(r"\w+", re.UNICODE)
_SCHEMA = (
    "CREATE VIRTUAL TABLE IF NOT EXISTS docs USING fts5("
    "title, description, tokenize = 'porter unicode61 remove_diacritics 2')"
)


def _words(text: str) -> list[str]:
    """The distinct lower-cased word tokens of ``text``, in order."""
    return list(dict.fromkeys(token.lower() for token in _TOKEN.findall(text)))


def match_expression(text: str) -> str | None:
    """An FTS5 query OR-ing the quoted word tokens of ``text`` (None if it has none)."""
    return " OR ".join(f'"{token}"' for token in _words(text)) or None


class LexicalIndex:
    """Thread-safe BM25 search keyed by the listings' int64 fids."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn
        self._lock = threading.Lock()
        self._conn.execute(_SCHEMA)

    @classmethod
    def in_memory(cls) -> LexicalIndex:
        return cls(sqlite3.connect(":memory:", check_same_thread=False, isolation_level=None))

    @classmethod
    def build(cls, docs: Iterable[tuple[int, str, str]]) -> LexicalIndex:
        """An index over ``(fid, title, description)`` rows."""
        index = cls.in_memory()
        index.upsert_many(docs)
        return index

    @classmethod
    def load(cls, directory: Path) -> LexicalIndex:
        source = sqlite3.connect(f"file:{directory / LEXICAL_FILE}?mode=ro", uri=True)
        index = cls.in_memory()
        with index._lock:
            source.backup(index._conn)
        source.close()
        return index

    def save(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        target = sqlite3.connect(directory / LEXICAL_FILE)
        with self._lock:
            self._conn.execute("INSERT INTO docs(docs) VALUES ('optimize')")
            self._conn.backup(target)
        target.close()

    def __len__(self) -> int:
        with self._lock:
            return self._conn.execute("SELECT COUNT(*) FROM docs").fetchone()[0]

    def documents(self) -> dict[int, tuple[str, str]]:
        """Every document as ``fid -> (title, description)``."""
        with self._lock:
            rows = self._conn.execute("SELECT rowid, title, description FROM docs").fetchall()
        return {fid: (title, description) for fid, title, description in rows}

    def sync(self, docs: dict[int, tuple[str, str]]) -> None:
        """Make the index hold exactly ``docs``, rewriting only what differs."""
        held = self.documents()
        self.delete(fid for fid in held if fid not in docs)
        self.upsert_many((fid, *doc) for fid, doc in docs.items() if held.get(fid) != doc)

    def upsert_many(self, docs: Iterable[tuple[int, str, str]]) -> None:
        rows = [(int(fid), title, description) for fid, title, description in docs]
        with self._lock:
            self._conn.execute("BEGIN")
            self._conn.executemany("DELETE FROM docs WHERE rowid = ?", [(r[0],) for r in rows])
            self._conn.executemany(
                "INSERT INTO docs(rowid, title, description) VALUES (?, ?, ?)", rows
            )
            self._conn.execute("COMMIT")

    def upsert(self, fid: int, title: str, description: str) -> None:
        self.upsert_many([(fid, title, description)])

    def delete(self, fids: Iterable[int]) -> None:
        with self._lock:
            self._conn.executemany("DELETE FROM docs WHERE rowid = ?", [(int(f),) for f in fids])

    def title_coverage(self, text: str, fids: Iterable[int]) -> dict[int, float]:
        """Share of the words of ``text`` each listing's title holds (stemmed as BM25 does).

        BM25 sums evidence, so a short description that names the item in
        passing ("great as a lamp") can outscore titles that name it: a title
        holding every word of "vintage lamp" is what a buyer means.
        """
        tokens = _words(text)
        counts = dict.fromkeys((int(f) for f in fids), 0)
        if not tokens or not counts:
            return {}
        with self._lock:
            for token in tokens:
                # Every title holding the word, filtered here: an ``IN`` list of the
                # candidates makes FTS5 probe each one, which costs more than this
                # walk of one posting list (a part of what the BM25 search reads).
                for (fid,) in self._conn.execute(
                    "SELECT rowid FROM docs WHERE docs MATCH ?", (f'title : "{token}"',)
                ):
                    if fid in counts:
                        counts[fid] += 1
        return {fid: n / len(tokens) for fid, n in counts.items()}

    def matching(self, text: str) -> np.ndarray:
        """Every fid holding at least one word of ``text`` (int64, ascending): all the
        keyword matches a ranked ``search`` takes its top ``k`` from. No scoring, so
        it costs one walk of the words' posting lists."""
        expression = match_expression(text)
        if expression is None:
            return np.zeros(0, np.int64)
        with self._lock:
            rows = self._conn.execute(
                "SELECT rowid FROM docs WHERE docs MATCH ?", (expression,)
            ).fetchall()
        return np.sort(np.fromiter((row[0] for row in rows), np.int64, len(rows)))

    def search(
        self, text: str, k: int, allowed: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top-``k`` (scores, fids) by BM25, higher is better; ``allowed`` filters.

        Ties are broken by fid so equal scores come back in a stable order.
        """
        expression = match_expression(text)
        if expression is None or k <= 0:
            return np.zeros(0, np.float32), np.zeros(0, np.int64)
        sql = (
            f"SELECT rowid, -bm25(docs, {TITLE_WEIGHT}, {DESCRIPTION_WEIGHT}) AS score "
            "FROM docs WHERE docs MATCH ? ORDER BY score DESC, rowid"
        )
        wanted = None if allowed is None else set(np.asarray(allowed).tolist())
        hits: list[tuple[int, float]] = []
        with self._lock:
            cursor = self._conn.execute(
                sql if wanted is not None else f"{sql} LIMIT {k}", (expression,)
            )
            for fid, score in cursor:
                if wanted is None or fid in wanted:
                    hits.append((fid, score))
                    if len(hits) == k:
                        break
            cursor.close()
        fids = np.array([h[0] for h in hits], dtype=np.int64)
        return np.array([h[1] for h in hits], dtype=np.float32), fids
