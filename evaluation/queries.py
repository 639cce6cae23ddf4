"""The queries and simulated users of the retrieval evaluation, drawn from a seed.

Pure functions over the catalogue and its split (no model, no index), so the
same seed always asks the same questions, and the question set can be read
and tested on its own.
"""

from __future__ import annotations

import hashlib
import random
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from multimodal.data.catalogue import Listing
from multimodal.data.splits import normalise_text

# Words that name no category by themselves: a buyer typing one of them could
# want almost anything, which is when personalisation should help.
AMBIGUOUS_QUERIES: tuple[str, ...] = (
    "black", "white", "grey", "vintage", "new", "used", "set", "large", "small", "boxed",
)  # fmt: skip
# The validation run's ambiguous words: knobs are tuned on these (and on
# validation listings and users), never on the words the test run reports.
VALIDATION_AMBIGUOUS_QUERIES: tuple[str, ...] = (
    "red", "blue", "brown", "old", "modern", "mini", "pair", "spare", "classic", "genuine",
)  # fmt: skip
# Which query set each part of the evaluation asks: "val" for tuning, "test" to report.
PARTS = ("val", "test")
# Category-path names that say nothing about the root ("Other", "Accessories").
_GENERIC_NAMES = frozenset({"other", "others", "accessories", "parts", "spares", "misc"})
# How a simulated user interacted with the listings of their history.
_EVENT_MIX: tuple[str, ...] = ("view", "view", "view", "click", "click", "save")


@dataclass(frozen=True)
class TextQuery:
    """A text query with what counts as a right answer."""

    text: str
    root: str  # the root category the query asks for
    targets: frozenset[str] = frozenset()  # listing ids that are "the" answer, if any


@dataclass(frozen=True)
class SimulatedUser:
    """A user whose history sits in one root category."""

    user_id: str
    root: str
    events: tuple[tuple[str, str, float], ...]  # (listing id, event type, seconds ago)


def duplicate_sets(listings: Sequence[Listing]) -> dict[str, frozenset[str]]:
    """Listing id → ids with the same normalised title + description (re-posted ads).

    A re-post is indistinguishable from the original by its text, so a title
    query finding either has found the listing; the split keeps such groups
    together for the same reason.
    """
    groups: dict[str, set[str]] = defaultdict(set)
    for listing in listings:
        groups[normalise_text(listing.title, listing.description) or f"\0{listing.id}"].add(
            listing.id
        )
    return {listing_id: frozenset(group) for group in groups.values() for listing_id in group}


def title_queries(
    listings: Sequence[Listing], query_ids: Sequence[str], limit: int | None, seed: int
) -> list[TextQuery]:
    """One query per listing: its title, answered by it (or a re-post of it)."""
    by_id = {listing.id: listing for listing in listings}
    duplicates = duplicate_sets(listings)
    chosen = _sample(sorted(i for i in query_ids if by_id[i].title.strip()), limit, seed)
    return [TextQuery(by_id[i].title, by_id[i].root, duplicates[i]) for i in chosen]


def other_photo_queries(
    listings: Sequence[Listing], query_ids: Sequence[str], limit: int | None, seed: int
) -> list[Listing]:
    """Query listings with at least two photos: photo 1 is indexed, photo 2 asks."""
    by_id = {listing.id: listing for listing in listings}
    candidates = sorted(i for i in query_ids if len(by_id[i].image_ids) >= 2)
    return [by_id[i] for i in _sample(candidates, limit, seed)]


def category_name_queries(
    listings: Sequence[Listing], part: str | None = None
) -> dict[str, list[TextQuery]]:
    """Root names and sub-category names as queries, each asking for its root.

    A sub-category name found under two roots, or one that names nothing
    ("Other"), is left out: there is no right root to score it against.
    Names belong to no listing split, so with a ``part`` they are split by a
    hash of the name: "val" gets about half the sub-category names (and no
    root names, too few to split), "test" the rest and the root names, so a
    knob tuned on validation names never saw a test name. Uncategorised
    listings name no category, so they ask nothing here.
    """
    listings = [listing for listing in listings if listing.categorised]
    roots = sorted({listing.root for listing in listings})
    owners: dict[str, set[str]] = defaultdict(set)
    for listing in listings:
        for name in listing.category_path[1:]:
            owners[name].add(listing.root)
    subs = sorted(
        name
        for name, found_in in owners.items()
        if len(found_in) == 1 and name.lower() not in _GENERIC_NAMES and name not in roots
    )
    if part is not None:
        subs = [name for name in subs if name_part(name) == part]
        roots = roots if part == "test" else []
    return {
        "root names": [TextQuery(root, root) for root in roots],
        "sub-category names": [TextQuery(name, next(iter(owners[name]))) for name in subs],
    }


def name_part(name: str) -> str:
    """ "val" or "test" for a category name, by a stable hash (the same on every machine)."""
    return PARTS[hashlib.sha256(name.encode("utf-8")).digest()[0] % 2]


def simulated_users(
    listings: Sequence[Listing],
    history_ids: Sequence[str],
    per_root: int,
    history_size: int,
    seed: int,
    part: str = "test",
) -> list[SimulatedUser]:
    """``per_root`` users per root, each with ``history_size`` events in that root.

    History listings come from ``history_ids`` (the train split), so a user
    never "remembers" a listing the evaluation later asks about. Events are a
    mix of views, clicks and saves over the last week. The "val" part draws
    other users (other histories) than the "test" part from the same seed.
    """
    rng = random.Random(f"users:{seed}" if part == "test" else f"users:{part}:{seed}")
    by_root: dict[str, list[str]] = defaultdict(list)
    by_id = {listing.id: listing for listing in listings}
    for listing_id in sorted(history_ids):
        if by_id[listing_id].categorised:  # "Uncategorised" is no interest to simulate
            by_root[by_id[listing_id].root].append(listing_id)
    users = []
    for root in sorted(by_root):
        pool = by_root[root]
        if len(pool) < history_size:
            continue
        for n in range(per_root):
            events = tuple(
                (listing_id, rng.choice(_EVENT_MIX), rng.uniform(0, 7 * 86_400))
                for listing_id in rng.sample(pool, history_size)
            )
            users.append(SimulatedUser(f"eval-{part}-{_slug(root)}-{n}", root, events))
    return users


def other_root_user(query: TextQuery, users: Sequence[SimulatedUser], seed: int) -> SimulatedUser:
    """A user interested in some other root: the case where a profile could pull
    a clear query off its intent."""
    others = [user for user in users if user.root != query.root]
    if not others:
        raise ValueError("need users in at least two roots")
    return random.Random(f"{seed}:{query.text}").choice(others)


def _sample(items: list[str], limit: int | None, seed: int) -> list[str]:
    if limit is None or limit >= len(items):
        return items
    return sorted(random.Random(seed).sample(items, limit))


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in text.lower()).strip("-")
