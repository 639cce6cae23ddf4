"""Gather the batches of a run into the arrays a version is made of, one batch at a time.

The driver holds no record of the catalogue beyond what the new version
itself needs: the ids and content hashes of its listings and photos, in
arrays that grow as batches arrive (in any order: Ray workers finish when they
finish). Their fused, text-only and per-photo vectors are appended to one
scratch file per channel instead, and read back one channel at a time when
the writer builds it: at a million listings each channel is a gigabyte, and
holding them all while FAISS copies one would double the index in memory.
A batch's text-only vectors are derived as it arrives
(``indexing.text_index.text_only``), so no listing's photos need to be looked
up again at the end.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from indexing.index_store import Contents
from indexing.reindex.embedded import Embedded
from indexing.text_index import text_only


class _Rows:
    """A preallocated array that grows by half when a batch does not fit."""

    def __init__(self, capacity: int, shape: tuple[int, ...], dtype: object) -> None:
        self._data = np.zeros((max(capacity, 1), *shape), dtype=dtype)
        self.size = 0

    def extend(self, rows: np.ndarray) -> None:
        end = self.size + len(rows)
        if end > len(self._data):
            capacity = max(end, len(self._data) * 3 // 2)
            grown = np.zeros((capacity, *self._data.shape[1:]), dtype=self._data.dtype)
            grown[: self.size] = self._data[: self.size]
            self._data = grown
        self._data[self.size : end] = rows
        self.size = end

    def view(self) -> np.ndarray:
        return self._data[: self.size]

    def take(self) -> np.ndarray:
        """The rows gathered, handed over: this object keeps no reference to them."""
        data, self._data = self._data[: self.size], np.zeros((0, *self._data.shape[1:]))
        return data


class _Spill:
    """float32 rows appended to a file, read back whole once."""

    def __init__(self, path: Path, dim: int) -> None:
        self.path = path
        self.dim = dim
        self._file = path.open("wb")

    def extend(self, rows: np.ndarray) -> None:
        self._file.write(np.ascontiguousarray(rows, dtype=np.float32).tobytes())

    def take(self) -> np.ndarray:
        """The rows written, in memory; the file is gone."""
        self._file.close()
        rows = np.fromfile(self.path, dtype=np.float32).reshape(-1, self.dim)
        self.path.unlink()
        return rows


class Assembler:
    """Takes ``Embedded`` batches, then hands the version's arrays over one channel at a time."""

    def __init__(self, listings: int, photos: int, dim: int, scratch: Path) -> None:
        """``listings`` / ``photos``: the expected counts (the arrays grow past them);
        ``scratch``: an existing folder for the vector files, empty again once every
        channel has been taken."""
        self.dim = dim
        self._fids = _Rows(listings, (), np.int64)
        self._hashes = _Rows(listings, (), "S64")
        self._vectors = _Spill(scratch / "listings.f32", dim)
        self._texts = _Spill(scratch / "texts.f32", dim)
        self._image_fids = _Rows(photos, (), np.int64)
        self._image_owners = _Rows(photos, (), np.int64)
        self._image_vectors = _Spill(scratch / "photos.f32", dim)
        self.embedded = 0
        self.embedded_photos = 0

    def add(self, batch: Embedded) -> None:
        texts = np.array(batch.vectors, np.float32, copy=True).reshape(-1, self.dim)
        ends = np.cumsum(batch.photo_counts)
        for row in np.flatnonzero(batch.photo_counts):
            own = batch.image_vectors[ends[row] - batch.photo_counts[row] : ends[row]]
            texts[row] = text_only(batch.vectors[row], own)
        self._fids.extend(batch.fids)
        self._hashes.extend(np.char.encode(batch.hashes.astype(str), "ascii"))
        self._vectors.extend(batch.vectors)
        self._texts.extend(texts)
        self._image_fids.extend(batch.image_fids)
        self._image_owners.extend(np.repeat(batch.fids, batch.photo_counts))
        self._image_vectors.extend(batch.image_vectors)
        self.embedded += int(batch.embedded.sum())
        self.embedded_photos += int(batch.photo_counts[batch.embedded].sum())

    def contents(self) -> Contents:
        """Which listings and photos the version holds: sorted by fid, each listing's
        photos in their order. Call once, after the last batch."""
        fids, hashes = self._fids.view(), self._hashes.take()
        if len(np.unique(fids)) != len(fids):
            raise ValueError("a listing reached the index twice: the store changed under the run")
        by_fid = np.argsort(fids, kind="stable")
        by_owner = np.argsort(self._image_owners.take(), kind="stable")
        return Contents(fids[by_fid], hashes[by_fid], self._image_fids.view()[by_owner])

    # Each channel's ids and vectors, handed over once: the writer builds, saves and
    # drops one channel before taking the next, so only one is ever held twice.

    def take_listings(self) -> tuple[np.ndarray, np.ndarray]:
        return self._fids.view(), self._vectors.take()

    def take_texts(self) -> tuple[np.ndarray, np.ndarray]:
        return self._fids.view(), self._texts.take()

    def take_photos(self) -> tuple[np.ndarray, np.ndarray]:
        return self._image_fids.view(), self._image_vectors.take()
