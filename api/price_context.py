"""Price context: is this price fair? Against the median of the listings most like it.

A listing's peers are the priced listings of its root category in the same
currency; its neighbours are the peers nearest to it in the joint space (the
listing vectors the dense search uses), its own re-post group left out (a
copy of the same ad is no independent price). The median of their prices is
shown only when enough neighbours exist, and the answer says how many.

A category is worked out whole, the first time one of its listings is
shown: its peers' vectors gathered into one matrix and every peer's
neighbours found by one blocked matrix product (a few milliseconds for the
real catalogue's largest category), then each of its listings is a lookup.
The service works every category out at start-up (``warm``). A write
changes only its listing's category: the next snapshot keeps every other
category's figures and works that one out again when it is next shown.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from api.money import about, money
from api.schemas import PriceContext

if TYPE_CHECKING:  # settings hold this module's config, and serving_state imports settings
    from api.serving_state import Snapshot
    from indexing.vector_index import VectorIndex


@dataclass(frozen=True)
class PriceContextConfig:
    """How many neighbours a median is over, and how few are too few to show one."""

    neighbours: int = 10
    min_neighbours: int = 5
    # Within this share of the median a price is "about the same".
    same_share: float = 0.05


@dataclass(frozen=True)
class RootPrices:
    """One root category's priced listings in one currency, with each one's neighbours'
    median price (NaN: too few neighbours) and how many neighbours that is."""

    fids: np.ndarray  # ascending
    medians: np.ndarray
    neighbours: np.ndarray


class PriceContexts:
    """The price context of the listings of the snapshot last asked about."""

    def __init__(self, config: PriceContextConfig) -> None:
        self.config = config
        self._lock = threading.Lock()
        self._snapshot: Snapshot | None = None
        self._roots: dict[tuple[str, str], RootPrices] = {}
        self._buckets: dict[tuple[str, str], list[int]] = {}
        self._with_vectors: np.ndarray = np.zeros(0, np.int64)

    def of(self, fid: int, live: Snapshot, listings: VectorIndex) -> PriceContext | None:
        return self.of_many([fid], live, listings)[fid]

    def of_many(
        self, fids: list[int], live: Snapshot, listings: VectorIndex
    ) -> dict[int, PriceContext | None]:
        with self._lock:
            self._follow(live, listings)
            return {fid: self._context(fid, live, listings) for fid in fids}

    def warm(self, live: Snapshot, listings: VectorIndex) -> None:
        """Work out every category now, so no search pays for one."""
        with self._lock:
            self._follow(live, listings)
            for key in self._buckets:
                self._root(key, live, listings)

    def _follow(self, live: Snapshot, listings: VectorIndex) -> None:
        """Move to ``live``, keeping the categories no listing changed in since the last."""
        old = self._snapshot
        if old is live:
            return
        self._snapshot = live
        self._buckets = _buckets(live)
        self._with_vectors = listings.ids()
        if old is None:
            self._roots = {}
            return
        changed = [fid for fid, row in live.rows.items() if old.rows.get(fid) is not row]
        changed += [fid for fid in old.rows if fid not in live.rows]
        stale = {
            (row.root, row.currency)
            for fid in changed
            for row in (old.rows.get(fid), live.rows.get(fid))
            if row is not None
        }
        self._roots = {key: prices for key, prices in self._roots.items() if key not in stale}

    def _context(self, fid: int, live: Snapshot, listings: VectorIndex) -> PriceContext | None:
        listing = live.rows[fid]
        if listing.price is None or not listing.categorised:
            return None
        table = self._root((listing.root, listing.currency), live, listings)
        at = int(np.searchsorted(table.fids, fid))
        if at >= len(table.fids) or table.fids[at] != fid or np.isnan(table.medians[at]):
            return None  # no joint vector, or too few neighbours
        median, n = float(table.medians[at]), int(table.neighbours[at])
        return describe(listing.price, median, n, listing.currency, self.config)

    def _root(self, key: tuple[str, str], live: Snapshot, listings: VectorIndex) -> RootPrices:
        table = self._roots.get(key)
        if table is None:
            fids = np.array(sorted(self._buckets.get(key, ())), dtype=np.int64)
            fids = fids[np.isin(fids, self._with_vectors)]
            table = self._roots[key] = root_prices(fids, live, listings, self.config)
        return table


def root_prices(
    fids: np.ndarray, live: Snapshot, listings: VectorIndex, config: PriceContextConfig
) -> RootPrices:
    """Every listing's neighbours' median price, for one category's ``fids``.

    Similarities come a block of rows at a time (memory stays at a block by
    the category), each row's own re-post group set to -inf so no copy is a
    neighbour; a row with fewer than ``min_neighbours`` others gets NaN.
    """
    prices = np.array([live.rows[f].price for f in fids.tolist()], dtype=np.float64)
    medians = np.full(len(fids), np.nan)
    counts = np.zeros(len(fids), np.int64)
    if len(fids) <= config.min_neighbours:
        return RootPrices(fids, medians, counts)
    vectors = listings.reconstruct_many(fids)
    own = [_positions(fids, live.reposts.copies(f)) for f in fids.tolist()]
    for start in range(0, len(fids), _BLOCK):
        rows = slice(start, min(start + _BLOCK, len(fids)))
        scores = vectors[rows] @ vectors.T
        for i in range(rows.start, rows.stop):
            scores[i - start, own[i][own[i] >= 0]] = -np.inf
        available = np.isfinite(scores).sum(axis=1)
        k = min(config.neighbours, len(fids) - 1)
        nearest = np.argpartition(-scores, k - 1, axis=1)[:, :k]
        picked = np.take_along_axis(scores, nearest, axis=1)
        near_prices = np.where(np.isfinite(picked), prices[nearest], np.nan)
        n = np.minimum(available, k)
        enough = n >= config.min_neighbours
        block = np.full(len(n), np.nan)
        block[enough] = np.nanmedian(near_prices[enough], axis=1)
        medians[rows], counts[rows] = block, n
    return RootPrices(fids, medians, counts)


_BLOCK = 1024  # similarity rows at a time: 1024 x a category's size in float32


def _buckets(live: Snapshot) -> dict[tuple[str, str], list[int]]:
    """The priced listings by (root category, currency), in one pass over the snapshot."""
    buckets: dict[tuple[str, str], list[int]] = {}
    for fid, row in live.rows.items():
        if row.price is not None:
            buckets.setdefault((row.root, row.currency), []).append(fid)
    return buckets


def _positions(sorted_fids: np.ndarray, fids) -> np.ndarray:
    """Where each of ``fids`` sits in ``sorted_fids``; -1 where it is absent."""
    fids = np.asarray(fids, dtype=np.int64)
    if not len(sorted_fids):
        return np.full(len(fids), -1, np.int64)
    at = np.minimum(np.searchsorted(sorted_fids, fids), len(sorted_fids) - 1)
    return np.where(sorted_fids[at] == fids, at, -1)


def describe(
    price: float, median: float, neighbours: int, currency: str, config: PriceContextConfig
) -> PriceContext:
    """The figure and its words: "about £40 below similar listings"."""
    difference = price - median
    if abs(difference) <= config.same_share * median or round(abs(difference)) == 0:
        text = "about the same as similar listings"
    else:
        side = "below" if difference < 0 else "above"
        text = f"about {money(about(abs(difference)), currency)} {side} similar listings"
    return PriceContext(
        median=round(median, 2),
        difference=round(difference, 2),
        neighbours=neighbours,
        currency=currency,
        text=text,
    )
