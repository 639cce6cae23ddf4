"""Writes through the API survive the catalogue sync every reindex starts with.

``marketplace reindex`` first applies the cleaned catalogue file to the store;
a listing created, edited or deleted through the API since must come out of
that sync as the API left it, while what the file itself changed still lands.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from indexing.store import Store
from multimodal.data.catalogue import Listing


def listing(listing_id: str, **overrides) -> Listing:
    fields = {
        "id": listing_id,
        "title": f"Item {listing_id}",
        "description": "A fine thing",
        "price": 10.0,
        "location": "Leeds",
        "category_path": ("Home & Garden", "Garden"),
    }
    return Listing(**{**fields, **overrides})


@pytest.fixture
def store(store_location: Path | str):
    with Store(store_location) as store:
        yield store


def live(store: Store) -> dict[str, Listing]:
    return {x.id: x for x in store.iter_listings()}


def test_api_writes_survive_the_next_sync(store):
    catalogue = [listing("a"), listing("b"), listing("c")]
    store.sync_listings(catalogue)
    store.upsert_listing(listing("new", title="Made through the API"))
    store.upsert_listing(listing("a", title="Edited through the API"))
    store.delete_listing("b")

    counts = store.sync_listings(catalogue)  # the file has not changed

    assert (counts.added, counts.updated, counts.deleted) == (0, 0, 0)
    now = live(store)
    assert now["new"].title == "Made through the API"
    assert now["a"].title == "Edited through the API"
    assert "b" not in now and "c" in now


def test_what_the_file_changed_still_lands(store):
    store.sync_listings([listing("a"), listing("b"), listing("c")])
    store.upsert_listing(listing("a", title="Edited through the API"))
    store.upsert_listing(listing("new"))

    counts = store.sync_listings([listing("a", title="Edited in the file"), listing("b")])

    assert (counts.added, counts.updated, counts.deleted) == (0, 1, 1)
    now = live(store)
    assert now["a"].title == "Edited in the file"  # the newer write wins
    assert set(now) == {"a", "b", "new"}  # c left the file; the API's listing stays


def test_a_listing_the_file_dropped_can_come_back(store):
    store.sync_listings([listing("a"), listing("b")])
    store.sync_listings([listing("a")])
    counts = store.sync_listings([listing("a"), listing("b")])
    assert counts.added == 1 and set(live(store)) == {"a", "b"}


def test_a_changed_listing_the_api_deleted_is_revived_by_the_file(store):
    store.sync_listings([listing("a")])
    store.delete_listing("a")
    store.sync_listings([listing("a")])
    assert "a" not in live(store)
    store.sync_listings([replace(listing("a"), price=99.0)])
    assert live(store)["a"].price == 99.0
