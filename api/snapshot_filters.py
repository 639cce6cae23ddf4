"""A search's filters as the set of listings they allow, read from the live snapshot.

The listing rows a search ranks are in memory (``api.serving_state.Snapshot``),
so the filters are answered from them too, not from the store: a filtered
search, or a query whose words read as a filter ("under 50 in Leeds"),
keeps answering while the database is restarting, and costs no round trip
to a shared PostgreSQL. The rules are ``indexing.store.Store.listings_matching``'s
(the same filter over the stored rows): a price bound compares the bare
amount and leaves out a listing with no price; a category is a root or a
whole path prefix, and a location a substring, both case-insensitive.
"""

from __future__ import annotations

import numpy as np

from api.schemas import Filters
from indexing.store import CATEGORY_SEPARATOR
from multimodal.data.catalogue import Listing


def allowed_fids(rows: dict[int, Listing], filters: Filters) -> np.ndarray | None:
    """Fids of the listings in ``rows`` passing every filter (int64, ascending);
    ``None`` when no filter is set (every listing is allowed)."""
    if not filters.active:
        return None
    prefix = filters.category.strip().lower() if filters.category else None
    place = filters.location.strip().lower() if filters.location else None
    low, high = filters.price_min, filters.price_max
    allowed = [
        fid
        for fid, listing in rows.items()
        if (low is None or (listing.price is not None and listing.price >= low))
        and (high is None or (listing.price is not None and listing.price <= high))
        and (prefix is None or _in_category(listing.category.lower(), prefix))
        and (place is None or place in listing.location.lower())
    ]
    return np.array(sorted(allowed), dtype=np.int64)


def _in_category(category: str, prefix: str) -> bool:
    return category == prefix or category.startswith(prefix + CATEGORY_SEPARATOR)
