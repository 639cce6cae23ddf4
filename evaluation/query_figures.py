"""The shopper-query figures, as pure functions over search responses read as dicts.

Responses come in as ``SearchResponse.model_dump()``: a field the service does
not (yet) return is simply absent, and a figure that needs it reads "not
available" (None) instead of failing, so the evaluation runs on any version
of the service and each figure appears once its field does.

Conventions:
- filters compare as numbers (prices) and case-insensitively (places); a
  lower price bound of 0 is no bound, since no price is below it;
- texts compare case-insensitively with runs of spaces collapsed;
- a share over queries leaves out the queries it cannot judge (None).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from evaluation.shopper_queries import ExpectedParse
from multimodal.data.catalogue import Listing
from multimodal.data.splits import normalise_text

Response = Mapping[str, Any]


def parsed_exactly(response: Response, expected: ExpectedParse, query: str) -> bool | None:
    """Whether the response's ``understood`` has exactly the expected filters and
    text; None when the response has no ``understood`` field (a service that does
    not parse). An ``understood`` of null means nothing was taken from ``query``:
    no filter, every word searched.

    A category filter is right when it lies under the expected root; the words
    that named it may then be gone from the text, so the text must be the
    expected one or those words with some left out, in order. Without a
    category filter the text must be the expected one.
    """
    if "understood" not in response:
        return None
    understood = response["understood"] or {"text": query, "filters": {}}
    filters = understood.get("filters") or {}
    if not (
        _same_price(filters.get("price_min"), expected.price_min, lower=True)
        and _same_price(filters.get("price_max"), expected.price_max)
        and _same_place(filters.get("location"), expected.location)
    ):
        return False
    text, wanted = _words(understood.get("text")), _words(expected.text)
    category = filters.get("category")
    if not category:
        return text == wanted
    root = category.split(" / ")[0].strip().casefold()
    right_root = expected.root is not None and root == expected.root.casefold()
    return right_root and _in_order(text, wanted)


def category_precision(response: Response, root_of: Mapping[str, str], root: str, k: int) -> float:
    """Share of the top ``k`` slots holding a listing of ``root`` (an empty slot misses)."""
    results = response["results"][:k]
    return sum(root_of.get(r["id"]) == root for r in results) / k


def obeying_share(response: Response, expected: ExpectedParse, k: int) -> float | None:
    """Share of the top ``k`` results within the stated price and place; None when
    the query states neither, or nothing came back to judge."""
    if not (expected.states_price or expected.states_place):
        return None
    results = response["results"][:k]
    if not results:
        return None
    return sum(_obeys(r, expected) for r in results) / len(results)


def holds_two_copies(response: Response, group_of: Mapping[str, str]) -> bool:
    """Whether the page shows one ad twice (two results in one near-duplicate group)."""
    groups = [group_of.get(r["id"], r["id"]) for r in response["results"]]
    return len(set(groups)) < len(groups)


def groups_reposts(response: Response) -> bool | None:
    """Whether the service grouped re-posts (its results say ``also_listed``); None
    for an empty page, which cannot tell."""
    results = response["results"]
    return all("also_listed" in r for r in results) if results else None


def near_duplicate_groups(
    listings: Sequence[Listing], photo_key: Callable[[str], str]
) -> dict[str, str]:
    """Listing id → its near-duplicate group: listings sharing a normalised title +
    description, or a photo with the same ``photo_key`` (its content hash), are
    one ad, transitively."""
    parent: dict[str, str] = {}

    def find(item: str) -> str:
        while parent.setdefault(item, item) != item:
            parent[item] = parent[parent[item]]
            item = parent[item]
        return item

    def join(a: str, b: str) -> None:
        parent[find(a)] = find(b)

    for listing in listings:
        node = f"listing:{listing.id}"
        text = normalise_text(listing.title, listing.description)
        if text:
            join(node, f"text:{text}")
        for image_id in listing.image_ids:
            join(node, f"photo:{photo_key(image_id)}")
    return {listing.id: find(f"listing:{listing.id}") for listing in listings}


def share(values: Iterable[bool | float | None]) -> float | None:
    """Mean of the values that could be judged; None when none could."""
    judged = [float(v) for v in values if v is not None]
    return sum(judged) / len(judged) if judged else None


def percentile(values: Sequence[float], q: float) -> float | None:
    """The ``q``-th percentile (nearest rank), or None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)]


def _obeys(result: Mapping[str, Any], expected: ExpectedParse) -> bool:
    if expected.states_price:
        price = result.get("price")
        if price is None:
            return False
        if expected.price_min is not None and price < expected.price_min:
            return False
        if expected.price_max is not None and price > expected.price_max:
            return False
    if expected.states_place:
        return expected.location.casefold() in (result.get("location") or "").casefold()
    return True


def _same_price(got: float | None, wanted: float | None, lower: bool = False) -> bool:
    if lower:  # a lower bound of 0 bounds nothing
        got, wanted = got or None, wanted or None
    if got is None or wanted is None:
        return got is wanted
    return abs(float(got) - float(wanted)) < 0.005


def _same_place(got: str | None, wanted: str | None) -> bool:
    got, wanted = (got or "").strip().casefold(), (wanted or "").strip().casefold()
    return got == wanted


def _words(text: str | None) -> list[str]:
    return re.sub(r"\s+", " ", (text or "").casefold()).split()


def _in_order(words: Sequence[str], within: Sequence[str]) -> bool:
    """Whether ``words`` is ``within`` with some words left out (order kept)."""
    rest = iter(within)
    return all(word in rest for word in words)
