"""Inner-product vector search over int64 ids, exact or approximate, updatable in place.

Vectors are L2-normalised, so inner product is cosine similarity. Below
``IndexConfig.exact_max_size`` the index is exact (``IndexIDMap2`` over
``IndexFlatIP``) and single listings are upserted with ``remove_ids`` +
``add_with_ids``. Above it the main index is HNSW (``IndexIDMap2`` over
``IndexHNSWFlat``) or IVF (``IndexIVFFlat`` keyed by the ids directly, with a
hash-table direct map so ``reconstruct`` works). HNSW cannot remove vectors at
all, and ``IndexIDMap2.remove_ids`` assumes the inner index renumbers after a
removal (IVF does not), so for the approximate kinds a change marks the old
vector dead (filtered out at search with an ``IDSelector``) and puts the new
one in a small exact side index searched alongside; the next reindex folds
both back into a fresh main index.

Filters arrive as the set of allowed ids. Exact search with an
``IDSelectorBatch`` returns ``k`` hits whenever ``k`` allowed vectors exist;
approximate search may not (a graph walk or a few inverted lists can hold
fewer than ``k`` allowed ids), so narrow filters are answered by scoring just
the allowed vectors, and a broad one falls back to that when it comes up short.
"""

from __future__ import annotations

import math
import threading
from pathlib import Path

import faiss
import numpy as np

from indexing.config import IndexConfig

MAIN_FILE = "vectors.faiss"
DELTA_FILE = "vectors.delta.faiss"
DEAD_FILE = "vectors.dead.npy"
EXACT = "exact"


def choose_kind(count: int, config: IndexConfig) -> str:
    return EXACT if count <= config.exact_max_size else config.approximate


def _as_matrix(vectors: np.ndarray, dim: int) -> np.ndarray:
    out = np.ascontiguousarray(vectors, dtype=np.float32)
    if out.ndim == 1:
        out = out[None, :]
    if out.ndim != 2 or out.shape[1] != dim:
        raise ValueError(f"expected vectors of dimension {dim}, got shape {vectors.shape}")
    return out


def _as_ids(ids: np.ndarray | list[int]) -> np.ndarray:
    return np.ascontiguousarray(ids, dtype=np.int64).reshape(-1)


def _exact_flat(dim: int) -> faiss.Index:
    return faiss.IndexIDMap2(faiss.IndexFlatIP(dim))


def _build_main(kind: str, vectors: np.ndarray, ids: np.ndarray, config: IndexConfig):
    dim = vectors.shape[1]
    if kind == EXACT:
        index = _exact_flat(dim)
    elif kind == "hnsw":
        hnsw = faiss.IndexHNSWFlat(dim, config.hnsw_m, faiss.METRIC_INNER_PRODUCT)
        hnsw.hnsw.efConstruction = config.hnsw_ef_construction
        index = faiss.IndexIDMap2(hnsw)
    elif kind == "ivf":
        nlist = config.ivf_nlist or max(1, int(4 * math.sqrt(len(ids))))
        index = faiss.IndexIVFFlat(faiss.IndexFlatIP(dim), dim, nlist, faiss.METRIC_INNER_PRODUCT)
        index.set_direct_map_type(faiss.DirectMap.Hashtable)
        sample = np.random.default_rng(0).permutation(len(vectors))[: 64 * nlist]
        index.train(vectors[sample])
    else:
        raise ValueError(f"unknown index kind {kind!r}")
    if len(ids):
        index.add_with_ids(vectors, ids)
    return index


class VectorIndex:
    """A thread-safe id -> vector index: build, search, upsert, delete, save, load."""

    def __init__(
        self,
        main: faiss.Index,
        kind: str,
        config: IndexConfig,
        delta: faiss.Index | None = None,
        dead: np.ndarray | None = None,
    ) -> None:
        self.kind = kind
        self.dim = main.d
        self.config = config
        self._main = main
        self._lock = threading.Lock()
        self._main_ids = np.sort(self._ids_of(main))
        self._delta = delta if delta is not None else _exact_flat(self.dim)
        self._dead: set[int] = set(int(i) for i in dead) if dead is not None else set()
        self._tune(main)

    @classmethod
    def build(
        cls,
        ids: np.ndarray | list[int],
        vectors: np.ndarray,
        config: IndexConfig,
        dim: int | None = None,
        kind: str | None = None,
    ) -> VectorIndex:
        """A fresh index over ``vectors`` (``dim`` is needed only when there are none)."""
        ids = _as_ids(ids)
        dim = dim or np.asarray(vectors).shape[-1]
        vectors = _as_matrix(vectors, dim) if len(ids) else np.zeros((0, dim), np.float32)
        if len(np.unique(ids)) != len(ids):
            raise ValueError("duplicate ids")
        kind = kind or choose_kind(len(ids), config)
        return cls(_build_main(kind, vectors, ids, config), kind, config)

    # -- reading --------------------------------------------------------------

    def __len__(self) -> int:
        with self._lock:
            return self._main.ntotal - len(self._dead) + self._delta.ntotal

    def __contains__(self, id_: int) -> bool:
        with self._lock:
            return self._has(int(id_))

    def ids(self) -> np.ndarray:
        """Every live id, ascending."""
        with self._lock:
            main = self._main_ids
            if self._dead:
                main = main[~np.isin(main, list(self._dead))]
            return np.union1d(main, self._ids_of(self._delta))

    def reconstruct(self, id_: int) -> np.ndarray:
        """The stored vector of ``id_`` (KeyError if absent)."""
        with self._lock:
            present, vectors = self._live_vectors(np.array([id_], dtype=np.int64))
        if not len(present):
            raise KeyError(id_)
        return vectors[0]

    def reconstruct_many(self, ids: np.ndarray | list[int]) -> np.ndarray:
        """The stored vectors of ``ids``, in order (KeyError if one is absent)."""
        ids = _as_ids(ids)
        with self._lock:
            present, vectors = self._live_vectors(ids)
        if len(present) != len(ids):
            raise KeyError(sorted(set(ids.tolist()) - set(present.tolist()))[:5])
        return vectors

    def search(
        self, queries: np.ndarray, k: int, allowed: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top-``k`` (scores, ids) per query, best first; ids are -1 past the last hit.

        ``allowed`` restricts hits to those ids (a filter); ties are broken by
        id so equal scores come back in a stable order.
        """
        queries = _as_matrix(queries, self.dim)
        allowed = None if allowed is None else _as_ids(allowed)
        with self._lock:
            if allowed is not None and self.kind != EXACT:
                if len(allowed) <= self.config.exact_filter_max:
                    return self._search_subset(queries, k, allowed)
                scores, ids = self._search_indexes(queries, k, allowed)
                if (ids[:, -1] < 0).any():  # came up short: score the allowed ids directly
                    return self._search_subset(queries, k, allowed)
                return scores, ids
            return self._search_indexes(queries, k, allowed)

    # -- writing --------------------------------------------------------------

    def upsert(self, ids: np.ndarray | list[int], vectors: np.ndarray) -> None:
        """Add or replace vectors, visible to the next search; no rebuild."""
        ids = _as_ids(ids)
        vectors = _as_matrix(vectors, self.dim)
        if len(ids) != len(vectors):
            raise ValueError(f"{len(ids)} ids for {len(vectors)} vectors")
        with self._lock:
            self._remove(ids)
            target = self._main if self.kind == EXACT else self._delta
            target.add_with_ids(vectors, ids)
            if self.kind == EXACT:
                self._main_ids = np.union1d(self._main_ids, ids)

    def delete(self, ids: np.ndarray | list[int]) -> None:
        """Remove vectors (absent ids are ignored)."""
        with self._lock:
            self._remove(_as_ids(ids))

    def save(self, directory: Path) -> None:
        """Write the index files into ``directory`` (live changes included)."""
        directory.mkdir(parents=True, exist_ok=True)
        with self._lock:
            faiss.write_index(self._main, str(directory / MAIN_FILE))
            if self._delta.ntotal or self._dead:
                faiss.write_index(self._delta, str(directory / DELTA_FILE))
                np.save(directory / DEAD_FILE, np.array(sorted(self._dead), dtype=np.int64))

    @classmethod
    def load(cls, directory: Path, kind: str, config: IndexConfig) -> VectorIndex:
        main = faiss.read_index(str(directory / MAIN_FILE))
        delta = dead = None
        if (directory / DELTA_FILE).exists():
            delta = faiss.read_index(str(directory / DELTA_FILE))
            dead = np.load(directory / DEAD_FILE)
        return cls(main, kind, config, delta, dead)

    # -- internals (call with the lock held) ----------------------------------

    @staticmethod
    def _ids_of(index: faiss.Index) -> np.ndarray:
        if isinstance(index, faiss.IndexIDMap2):
            return faiss.vector_to_array(index.id_map).astype(np.int64)
        invlists = index.invlists  # IVF: gather the ids from every inverted list
        parts = [
            faiss.rev_swig_ptr(invlists.get_ids(i), invlists.list_size(i)).copy()
            for i in range(invlists.nlist)
            if invlists.list_size(i)
        ]
        return np.concatenate(parts).astype(np.int64) if parts else np.zeros(0, np.int64)

    def _tune(self, main: faiss.Index) -> None:
        if self.kind == "hnsw":
            faiss.downcast_index(main.index).hnsw.efSearch = self.config.hnsw_ef_search
        elif self.kind == "ivf":
            main.nprobe = self.config.ivf_nprobe

    def _in_main(self, id_: int) -> bool:
        pos = np.searchsorted(self._main_ids, id_)
        return pos < len(self._main_ids) and self._main_ids[pos] == id_ and id_ not in self._dead

    def _has(self, id_: int) -> bool:
        return self._in_main(id_) or bool(np.isin(id_, self._ids_of(self._delta)))

    def _remove(self, ids: np.ndarray) -> None:
        if self._delta.ntotal:
            self._delta.remove_ids(ids)
        if self.kind == EXACT:
            self._main.remove_ids(ids)
            self._main_ids = np.setdiff1d(self._main_ids, ids, assume_unique=True)
        else:
            self._dead.update(int(i) for i in ids if self._in_main(int(i)))

    def _params(self, selector: faiss.IDSelector | None) -> faiss.SearchParameters | None:
        if selector is None:
            return None
        if self.kind == "hnsw":
            return faiss.SearchParametersHNSW(sel=selector, efSearch=self.config.hnsw_ef_search)
        if self.kind == "ivf":
            return faiss.SearchParametersIVF(sel=selector, nprobe=self.config.ivf_nprobe)
        return faiss.SearchParameters(sel=selector)

    def _search_indexes(
        self, queries: np.ndarray, k: int, allowed: np.ndarray | None
    ) -> tuple[np.ndarray, np.ndarray]:
        allow = None if allowed is None else faiss.IDSelectorBatch(allowed)
        if self._dead:
            alive = faiss.IDSelectorNot(
                faiss.IDSelectorBatch(np.fromiter(self._dead, np.int64, len(self._dead)))
            )
            main_sel = alive if allow is None else faiss.IDSelectorAnd(allow, alive)
        else:
            main_sel = allow
        scores, ids = self._main.search(queries, k, params=self._params(main_sel))
        if self._delta.ntotal:
            delta_scores, delta_ids = self._delta.search(
                queries, k, params=None if allow is None else faiss.SearchParameters(sel=allow)
            )
            scores = np.concatenate([scores, delta_scores], axis=1)
            ids = np.concatenate([ids, delta_ids], axis=1)
        return self._top_k(scores, ids, k)

    def _search_subset(
        self, queries: np.ndarray, k: int, allowed: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        present, vectors = self._live_vectors(np.unique(allowed))
        scores = queries @ vectors.T
        return self._top_k(scores, np.broadcast_to(present, scores.shape), k)

    def _live_vectors(self, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(the live ids among ``ids``, their stored vectors)."""
        delta_ids = self._ids_of(self._delta)
        in_delta = np.isin(ids, delta_ids)
        in_main = np.isin(ids, self._main_ids) & ~in_delta
        if self._dead:
            in_main &= ~np.isin(ids, np.fromiter(self._dead, np.int64, len(self._dead)))
        out = np.empty((len(ids), self.dim), np.float32)
        if in_main.any():
            out[in_main] = self._main.reconstruct_batch(ids[in_main])
        if in_delta.any():
            out[in_delta] = self._delta.reconstruct_batch(ids[in_delta])
        keep = in_main | in_delta
        return ids[keep], out[keep]

    @staticmethod
    def _top_k(scores: np.ndarray, ids: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Best ``k`` per row by score, then id; missing hits (id -1) go last."""
        scores = np.where(ids < 0, -np.inf, scores).astype(np.float32)
        out_scores = np.full((len(scores), k), -np.inf, np.float32)
        out_ids = np.full((len(scores), k), -1, np.int64)
        for row in range(len(scores)):
            order = np.lexsort((ids[row], -scores[row]))[:k]
            order = order[ids[row][order] >= 0]
            out_scores[row, : len(order)] = scores[row][order]
            out_ids[row, : len(order)] = ids[row][order]
        return out_scores, out_ids
