"""The catalogue sync reads the store a bounded page at a time and decides as it did whole.

Run on both back-ends (``store_location``): pages of three listings over a
catalogue of eleven, so every decision (added, updated, unchanged, dropped,
brought back, an API write kept) crosses page boundaries.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from indexing import store_sync
from indexing.store import Store
from indexing.store_records import SyncCounts
from multimodal.data.catalogue import Listing


def listing(i: int, **overrides) -> Listing:
    base = Listing(f"l{i}", f"Item {i}", "A fine thing", 10.0 + i, "Leeds", ("Home", "Garden"))
    return replace(base, **overrides)


def state(store: Store) -> list[tuple[int, str, str]]:
    """Every live record's fid, id and content hash: what the index is built from."""
    return [(r.fid, r.listing.id, r.content_hash) for r in store.iter_records()]


@pytest.fixture
def photos(tmp_path: Path) -> Path:
    folder = tmp_path / "images"
    folder.mkdir()
    for name in ("p1", "p2"):
        (folder / f"{name}.jpg").write_bytes(name.encode())
    return folder


def test_paged_sync_gives_the_counts_and_hashes_of_one_page(
    tmp_path: Path, store_location: Path | str, photos: Path
) -> None:
    first = [listing(i, image_ids=("p1",) if i == 4 else ()) for i in range(11)]
    second = [
        *[listing(i) for i in range(9) if i != 5],  # l5, l9 and l10 leave the file
        listing(2, title="Edited in the file"),  # a repeat within one run is applied once more
        listing(11, image_ids=("p2",)),
    ]
    with Store(store_location, image_dir=photos) as paged:
        got = [store_sync.sync_listings(paged, first, page_size=3)]
        paged.upsert_listing(listing(20), owner="seller-1")  # an API write: never in the file
        got.append(store_sync.sync_listings(paged, second, page_size=3))
        got.append(store_sync.sync_listings(paged, first, page_size=3))  # l5, l9, l10 come back
        paged_state = state(paged)
    with Store(tmp_path / "whole.sqlite", image_dir=photos) as whole:
        expected = [store_sync.sync_listings(whole, first, page_size=store_sync.PAGE)]
        whole.upsert_listing(listing(20), owner="seller-1")
        expected.append(store_sync.sync_listings(whole, second, page_size=store_sync.PAGE))
        expected.append(store_sync.sync_listings(whole, first, page_size=store_sync.PAGE))
        whole_state = state(whole)
    assert got == expected
    assert got[0] == SyncCounts(added=11, updated=0, deleted=0, unchanged=0)
    assert got[1].deleted == 3 and got[1].added == 1
    assert got[2].deleted == 1  # l11 was only in the second file; l20 (API) is kept
    assert [(i, h) for _, i, h in paged_state] == [(i, h) for _, i, h in whole_state]
    assert "l20" in {i for _, i, _ in paged_state}


def test_a_page_larger_than_one_query_is_refused(store_location: Path | str) -> None:
    with Store(store_location) as store, pytest.raises(ValueError, match="page_size"):
        store_sync.sync_listings(store, [listing(1)], page_size=store_sync.PAGE + 1)
