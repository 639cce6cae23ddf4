"""Facet counts over a query's matches: categories, sub-categories, price bands and areas.

Counting runs once per search over every match (thousands of listings for a
broad word), so nothing is looked up per listing: each snapshot keeps one
numpy column per facet, indexed by fid (root id, sub-category id, area id,
price), and a count is a gather plus ``np.bincount``. With re-posts grouped,
a facet counts groups, as ``total_candidates`` does: a group counts once
under each value any of its matching copies has, which is exactly what the
search narrowed by that value would find.

An area is the last part of a location ("Leeds, West Yorkshire" gives "West
Yorkshire"), as ``GET /facets`` offers it, so the location filter (a
substring) narrows to it. Price bands are in the catalogue's main currency;
a listing priced in another currency, or with no price, is in none.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from api.money import money
from api.schemas import FacetValue, PriceBand, SearchFacets
from multimodal.data.catalogue import Listing

ABSENT = -1
SUB_SEPARATOR = " / "


@dataclass(frozen=True)
class FacetConfig:
    """How facets are cut: where price bands start, and how many values each facet lists."""

    # Each band runs from one edge up to (not including) the next; a price of
    # exactly 0 is its own band ("Free"). A 1-2.5-5 ladder reads naturally
    # and splits the real catalogue's prices (median 40) into even-ish bands.
    price_edges: tuple[float, ...] = (10, 25, 50, 100, 250, 500, 1000)
    max_categories: int = 20
    max_subcategories: int = 20
    max_locations: int = 20


def area_of(location: str) -> str:
    return location.rsplit(",", 1)[-1].strip()


def sub_of(listing: Listing) -> str | None:
    """The listing's 'Root / Sub' path, or None when it has no second level."""
    path = listing.category_path
    return SUB_SEPARATOR.join(path[:2]) if len(path) >= 2 else None


@dataclass(frozen=True)
class Vocabulary:
    """Names <-> small ints, append-only (a write adds a name, never renumbers one)."""

    names: tuple[str, ...] = ()
    ids: dict[str, int] | None = None

    def with_names(self, names: Iterable[str | None]) -> Vocabulary:
        ids = dict(self.ids or {})
        added = [n for n in dict.fromkeys(names) if n and n not in ids]
        if not added:
            return self
        ids.update((name, len(self.names) + i) for i, name in enumerate(added))
        return Vocabulary((*self.names, *added), ids)

    def id_of(self, name: str | None) -> int:
        return ABSENT if not name else (self.ids or {}).get(name, ABSENT)


@dataclass(frozen=True)
class FacetColumns:
    """One snapshot's facet values as per-fid columns (ABSENT / NaN: no live listing)."""

    currency: str  # the catalogue's main currency: price bands are in it
    roots: Vocabulary
    subs: Vocabulary
    areas: Vocabulary
    root: np.ndarray  # int32
    sub: np.ndarray  # int32
    area: np.ndarray  # int32
    price: np.ndarray  # float64, NaN: no price, or not in ``currency``
    present: np.ndarray  # bool: a live listing holds this fid

    @classmethod
    def build(cls, rows: dict[int, Listing]) -> FacetColumns:
        currencies = Counter(listing.currency for listing in rows.values())
        currency = min(currencies, key=lambda c: (-currencies[c], c)) if currencies else "GBP"
        size = max(rows, default=-1) + 1
        empty = cls(
            currency,
            Vocabulary().with_names(sorted({r.root for r in rows.values()})),
            Vocabulary().with_names(sorted({sub_of(r) for r in rows.values()} - {None})),
            Vocabulary().with_names(sorted({area_of(r.location) for r in rows.values()})),
            np.full(size, ABSENT, np.int32),
            np.full(size, ABSENT, np.int32),
            np.full(size, ABSENT, np.int32),
            np.full(size, np.nan),
            np.zeros(size, bool),
        )
        for fid, listing in rows.items():
            empty._set(fid, listing)
        return empty

    def with_listing(self, fid: int, listing: Listing) -> FacetColumns:
        size = max(len(self.root), fid + 1)
        grown = FacetColumns(
            self.currency,
            self.roots.with_names([listing.root]),
            self.subs.with_names([sub_of(listing)]),
            self.areas.with_names([area_of(listing.location)]),
            *(_grown(column, size, fill) for column, fill in self._columns()),
        )
        grown._set(fid, listing)
        return grown

    def without(self, fid: int) -> FacetColumns:
        if fid >= len(self.root):
            return self
        copy = FacetColumns(
            self.currency,
            self.roots,
            self.subs,
            self.areas,
            *(column.copy() for column, _ in self._columns()),
        )
        copy.root[fid] = copy.sub[fid] = copy.area[fid] = ABSENT
        copy.price[fid] = np.nan
        copy.present[fid] = False
        return copy

    def live(self, fids: np.ndarray) -> np.ndarray:
        """The ``fids`` that are live listings of this snapshot."""
        fids = fids[(fids >= 0) & (fids < len(self.present))]
        return fids[self.present[fids]]

    def _columns(self) -> list[tuple[np.ndarray, float]]:
        return [
            (self.root, ABSENT),
            (self.sub, ABSENT),
            (self.area, ABSENT),
            (self.price, np.nan),
            (self.present, False),
        ]

    def _set(self, fid: int, listing: Listing) -> None:
        """Fill ``fid``'s cells: only ever on a value not yet shared with any reader."""
        self.root[fid] = self.roots.id_of(listing.root)
        self.sub[fid] = self.subs.id_of(sub_of(listing))
        self.area[fid] = self.areas.id_of(area_of(listing.location))
        priced = listing.price is not None and listing.currency == self.currency
        self.price[fid] = listing.price if priced else np.nan
        self.present[fid] = True


def _grown(column: np.ndarray, size: int, fill: float) -> np.ndarray:
    out = np.full(size, fill, column.dtype)
    out[: len(column)] = column
    return out


def count_facets(
    columns: FacetColumns,
    matches: np.ndarray,
    group_ids: np.ndarray | None,
    config: FacetConfig,
) -> SearchFacets:
    """Facet counts over ``matches`` (live fids); per group when ``group_ids`` is given."""
    groups = None if group_ids is None else group_ids[matches]
    bands = price_bands(config.price_edges, columns.currency)
    band_counts = _counts(bands.band_of(columns.price[matches]), groups, len(bands.bands))
    return SearchFacets(
        categories=_top(
            columns.roots,
            _counts(columns.root[matches], groups, len(columns.roots.names)),
            config.max_categories,
        ),
        subcategories=_top(
            columns.subs,
            _counts(columns.sub[matches], groups, len(columns.subs.names)),
            config.max_subcategories,
        ),
        locations=_top(
            columns.areas,
            _counts(columns.area[matches], groups, len(columns.areas.names)),
            config.max_locations,
        ),
        price_bands=[
            band.model_copy(update={"count": int(n)})
            for band, n in zip(bands.bands, band_counts.tolist(), strict=True)
            if n
        ],
        currency=columns.currency,
    )


@dataclass(frozen=True)
class PriceBands:
    """The bands as filters (``min``/``max`` the price filter's inclusive bounds, a
    penny inside the next band's start), and which band each price is in."""

    bands: tuple[PriceBand, ...]
    cuts: np.ndarray

    def band_of(self, prices: np.ndarray) -> np.ndarray:
        ids = np.searchsorted(self.cuts, prices, side="right") + 1
        ids[prices == 0] = 0
        ids[np.isnan(prices)] = ABSENT
        return ids


@lru_cache(maxsize=8)
def price_bands(edges: tuple[float, ...], currency: str) -> PriceBands:
    bands = [PriceBand(label="Free", min=0, max=0, count=0)]
    for start, end in zip((0.0, *edges), (*edges, None), strict=True):
        if end is None:
            label = f"{money(start, currency)} and over"
        elif start == 0:
            label = f"Under {money(end, currency)}"
        else:
            label = f"{money(start, currency)} to {money(end, currency)}"
        high = None if end is None else round(end - 0.01, 2)
        bands.append(PriceBand(label=label, min=start or 0.01, max=high, count=0))
    return PriceBands(tuple(bands), np.asarray(edges, dtype=np.float64))


def _counts(values: np.ndarray, groups: np.ndarray | None, n: int) -> np.ndarray:
    """How many matches (or groups) hold each value id."""
    keep = values != ABSENT
    values = values[keep].astype(np.int64)
    if groups is not None and len(values):
        values = np.unique(groups[keep] * n + values) % n
    return np.bincount(values, minlength=n)


def _top(vocabulary: Vocabulary, counts: np.ndarray, limit: int) -> list[FacetValue]:
    """The ``limit`` most frequent values, most first, ties by name."""
    held = np.flatnonzero(counts)
    best = sorted(held.tolist(), key=lambda i: (-counts[i], vocabulary.names[i]))[:limit]
    return [FacetValue(value=vocabulary.names[i], count=int(counts[i])) for i in best]
