"""Price context: the median price of a listing's nearest same-category, same-currency peers."""

from __future__ import annotations

import numpy as np

from api.price_context import PriceContextConfig, PriceContexts, describe
from api.serving_state import Snapshot
from indexing.config import IndexConfig
from indexing.store import Record
from indexing.vector_index import VectorIndex
from multimodal.data.catalogue import Listing

DIM = 8


def unit(*parts: tuple[int, float]) -> np.ndarray:
    v = np.zeros(DIM, np.float32)
    for axis, weight in parts:
        v[axis] = weight
    return v / np.linalg.norm(v)


def row(fid: int, price: float | None, root: str = "Bikes", currency: str = "GBP", text=None):
    title, description = text or (f"listing {fid}", f"only {fid}")
    listing = Listing(str(fid), title, description, price, "Leeds", (root, "Road"), (), currency)
    return Record(fid, "", listing, (), ())


def world(entries: list[tuple[Record, np.ndarray]]) -> tuple[Snapshot, VectorIndex]:
    records = [r for r, _ in entries]
    ids = np.array([r.fid for r in records], np.int64)
    index = VectorIndex.build(ids, np.stack([v for _, v in entries]), IndexConfig())
    return Snapshot.of(records), index


def catalogue() -> list[tuple[Record, np.ndarray]]:
    near = [unit((0, 1.0), (axis, 0.2)) for axis in range(1, 7)]
    return [
        (row(1, 100, text=("Road bike", "fast")), unit((0, 1.0))),
        # its re-post (the same ad): nearest of all, and a price that would move the median
        (row(2, 1000, text=("Road bike", "fast")), unit((0, 1.0))),
        *((row(3 + i, 50 + 10 * i), v) for i, v in enumerate(near)),  # 50..100
        *((row(9 + i, 500), unit((7, 1.0), (i % 6 + 1, 0.1))) for i in range(7)),  # far away
        (row(16, 1, root="Books"), unit((0, 1.0))),  # another category
        (row(17, 5, currency="EUR"), unit((0, 1.0))),  # another currency
        *((row(18 + i, 10, currency="EUR"), v) for i, v in enumerate(near)),
        (row(30, None), unit((0, 1.0))),  # no price
    ]


def test_median_of_the_nearest_peers_leaves_out_copies_categories_and_currencies() -> None:
    live, index = world(catalogue())
    contexts = PriceContexts(PriceContextConfig(neighbours=6, min_neighbours=5))
    context = contexts.of(1, live, index)
    assert context is not None
    assert (context.median, context.neighbours, context.currency) == (75.0, 6, "GBP")
    assert context.difference == 25.0
    assert context.text == "about £25 above similar listings"


def test_a_listing_in_another_currency_is_compared_in_its_own() -> None:
    live, index = world(catalogue())
    context = PriceContexts(PriceContextConfig(neighbours=6, min_neighbours=5)).of(17, live, index)
    assert context is not None
    assert (context.median, context.currency, context.neighbours) == (10.0, "EUR", 6)
    assert context.text == "about €5 below similar listings"


def test_too_few_neighbours_or_no_price_says_nothing() -> None:
    live, index = world(catalogue())
    strict = PriceContexts(PriceContextConfig(neighbours=30, min_neighbours=20))
    assert strict.of(1, live, index) is None  # 13 peers in its category and currency
    loose = PriceContexts(PriceContextConfig(neighbours=30, min_neighbours=5))
    assert loose.of(1, live, index).neighbours == 13  # every peer but its own copy
    assert loose.of(16, live, index) is None  # alone in its category
    assert loose.of(30, live, index) is None  # no price


def test_the_cache_follows_the_snapshot() -> None:
    live, index = world(catalogue())
    contexts = PriceContexts(PriceContextConfig(neighbours=6, min_neighbours=5))
    assert contexts.of(1, live, index).median == 75.0
    cheaper = live.with_listing(8, row(8, 10).listing, (), ())  # the 100 becomes 10
    assert contexts.of(1, cheaper, index).median == 65.0


def test_words_round_like_a_person_would() -> None:
    config = PriceContextConfig()
    assert describe(60, 100, 8, "GBP", config).text == "about £40 below similar listings"
    assert describe(1300, 100, 8, "GBP", config).text == "about £1,200 above similar listings"
    assert describe(102, 100, 8, "GBP", config).text == "about the same as similar listings"
    assert describe(30, 10, 8, "CHF", config).text == "about CHF 20 above similar listings"
