"""Price context: is this price fair? Against the median of the listings most like it.

A listing's peers are the priced listings of its root category in the same
currency; its neighbours are the peers nearest to it in the joint space (the
listing vectors the dense search uses), its own re-post group left out (a
copy of the same ad is no independent price). The median of their prices is
shown only when enough neighbours exist, and the answer says how many.

Computed lazily, per listing shown, and remembered for the snapshot: a
write or a reload brings a new snapshot and the cache starts again. Each
root's peer vectors are gathered once per snapshot into one matrix, so a
listing's neighbours are one matrix-vector product, no FAISS call per result.
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
class Peers:
    """One root category's priced listings in one currency: fids, prices, vectors."""

    fids: np.ndarray
    prices: np.ndarray
    vectors: np.ndarray


class PriceContexts:
    """The price context of listings of one snapshot, computed when first asked for."""

    def __init__(self, config: PriceContextConfig) -> None:
        self.config = config
        self._lock = threading.Lock()
        self._snapshot: Snapshot | None = None
        self._known: dict[int, PriceContext | None] = {}
        self._peers: dict[tuple[str, str], Peers] = {}
        self._buckets: dict[tuple[str, str], list[int]] = {}

    def of(self, fid: int, live: Snapshot, listings: VectorIndex) -> PriceContext | None:
        with self._lock:
            if self._snapshot is not live:
                self._snapshot, self._known, self._peers = live, {}, {}
                self._buckets = _buckets(live)
            if fid not in self._known:
                self._known[fid] = self._compute(fid, live, listings)
            return self._known[fid]

    def _compute(self, fid: int, live: Snapshot, listings: VectorIndex) -> PriceContext | None:
        listing = live.rows[fid]
        if listing.price is None or not listing.categorised or fid not in listings:
            return None
        key = (listing.root, listing.currency)
        peers = self._peers.get(key)
        if peers is None:
            peers = self._peers[key] = _gather(live, listings, self._buckets[key])
        outside = ~np.isin(peers.fids, live.reposts.copies(fid))
        prices, vectors = peers.prices[outside], peers.vectors[outside]
        wanted = min(self.config.neighbours, len(prices))
        if wanted < self.config.min_neighbours:
            return None
        similarity = vectors @ listings.reconstruct(fid)
        nearest = np.argpartition(-similarity, wanted - 1)[:wanted]
        median = float(np.median(prices[nearest]))
        return describe(listing.price, median, wanted, listing.currency, self.config)


def _buckets(live: Snapshot) -> dict[tuple[str, str], list[int]]:
    """The priced listings by (root category, currency), in one pass over the snapshot."""
    buckets: dict[tuple[str, str], list[int]] = {}
    for fid, row in live.rows.items():
        if row.price is not None:
            buckets.setdefault((row.root, row.currency), []).append(fid)
    return buckets


def _gather(live: Snapshot, listings: VectorIndex, fids: list[int]) -> Peers:
    """These listings' prices and joint vectors (those without a vector left out)."""
    held = np.array(sorted(fids), dtype=np.int64)
    held = held[np.isin(held, listings.ids())]
    prices = np.array([live.rows[f].price for f in held.tolist()], dtype=np.float64)
    vectors = listings.reconstruct_many(held) if len(held) else np.zeros((0, listings.dim))
    return Peers(held, prices, vectors)


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
