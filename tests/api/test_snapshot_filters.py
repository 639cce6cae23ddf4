"""Filters answered from the live rows allow exactly what the store's query allows."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from api.schemas import Filters
from api.snapshot_filters import allowed_fids
from indexing.store import Store
from multimodal.data.catalogue import Listing

LISTINGS = [
    Listing("a", "Oak chair", "", 20.0, "Leeds, W Yorks", ("Home & Garden", "Furniture"), ()),
    Listing("b", "Garden shed", "", 250.0, "York", ("Home & Garden", "Garden"), ()),
    Listing("c", "Guitar", "", None, "LEEDS", ("Music, Films, Books & Games",), ()),
    Listing("d", "Home gym", "", 50.0, "Hull", ("Home & Garden Gym",), ()),
    Listing("e", "Free sofa", "", 0.0, "leeds", ("Home & Garden", "Furniture", "Sofas"), ()),
]


@pytest.mark.parametrize(
    "filters",
    [
        Filters(),
        Filters(price_max=50),
        Filters(price_min=20, price_max=250),
        Filters(category="home & garden"),  # not "Home & Garden Gym"
        Filters(category=" Home & Garden / Furniture "),
        Filters(location="leeds"),
        Filters(location="Leeds", price_min=1),
        Filters(category="Home & Garden", location="york"),
    ],
)
def test_the_snapshot_allows_what_the_store_allows(tmp_path: Path, filters: Filters) -> None:
    with Store(tmp_path / "catalogue.sqlite") as store:
        fids = {listing.id: store.upsert_listing(listing) for listing in LISTINGS}
        rows = {fids[listing.id]: listing for listing in LISTINGS}
        from_store = store.listings_matching(
            filters.price_min, filters.price_max, filters.category, filters.location
        )
    allowed = allowed_fids(rows, filters)
    if not filters.active:
        assert allowed is None
        return
    assert allowed.dtype == np.int64
    assert allowed.tolist() == from_store.tolist()
