"""Queries that name a category: which categories, and how much of the query they are.

A buyer who types "sofas" or "Home & Garden" is browsing a category, and the
catalogue knows exactly which listings sit in it, even when their titles never
say the word. A category matches a query when every word of its name is in the
query (lower-cased, a plural "s" dropped); generic names ("Other",
"Accessories") name nothing and never match. *Coverage* is the share of the
query's words that matched names account for: 1 for "Sofas", small for a long
title that happens to contain "sofa", so a title keeps its own ranking.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

GENERIC_NAMES = frozenset({"other", "others", "accessories", "parts", "spares", "misc"})
_JOINERS = frozenset({"and", "the", "of", "for", "with"})
# Letters and digits in any script ("Möbel", "Fußball"), so no catalogue's names are split.
_WORD = re.compile(r"[^\W_]+")

Path = tuple[str, ...]


def words(text: str) -> frozenset[str]:
    """Lower-case words without joiners, a trailing plural "s" dropped ("sofas" → "sofa")."""
    out = set()
    for word in _WORD.findall(text.lower()):
        if word in _JOINERS:
            continue
        out.add(word[:-1] if len(word) > 3 and word.endswith("s") else word)
    return frozenset(out)


@dataclass(frozen=True)
class CategoryMatch:
    """The categories a query names (as category-path prefixes) and their coverage."""

    paths: tuple[Path, ...]
    coverage: float  # share of the query's words the matched names account for, 0..1

    @property
    def roots(self) -> set[str]:
        return {path[0] for path in self.paths}

    def closeness(self, path: Sequence[str]) -> float:
        """1 inside a matched category, the shared share of its path above it, else 0."""
        best = 0.0
        for matched in self.paths:
            shared = 0
            while shared < min(len(path), len(matched)) and path[shared] == matched[shared]:
                shared += 1
            best = max(best, shared / len(matched))
        return best


NO_MATCH = CategoryMatch(paths=(), coverage=0.0)


class CategoryMatcher:
    """Every category-path prefix of a catalogue with the words of its last name."""

    def __init__(self, paths: Iterable[Sequence[str]], min_filter_listings: int = 0) -> None:
        """``paths``: every listing's category path (repeats count its listings);
        ``min_filter_listings``: the fewest listings a category needs to become a filter."""
        sizes: Counter[Path] = Counter()
        for path in paths:
            for depth in range(1, len(path) + 1):
                if path[depth - 1].lower() not in GENERIC_NAMES:
                    sizes[tuple(path[:depth])] += 1
        self._names = {p: words(p[-1]) for p in sorted(sizes)}
        self._sizes = sizes
        self._min_filter_listings = min_filter_listings

    def match(self, query: str) -> CategoryMatch:
        asked = words(query)
        if not asked:
            return NO_MATCH
        paths = tuple(p for p, name in self._names.items() if name and name <= asked)
        if not paths:
            return NO_MATCH
        covered = frozenset().union(*(self._names[p] for p in paths))
        return CategoryMatch(paths, len(covered & asked) / len(asked))

    def certain(self, query: str) -> Path | None:
        """The one category the query is nothing but the name of, else None.

        Conservative, as a filter hides the rest of the catalogue: every word of
        the query is the category's name ("bicycles", "home and garden"), and
        every other category it names sits on the same branch (a parent whose
        name it also holds), so "bags" under two roots stays a boost; and it holds
        at least ``min_filter_listings`` listings: a filter to a handful of listings
        would hide the like items filed elsewhere, so a small category is boosted.
        """
        asked = words(query)
        match = self.match(query)
        whole = [p for p in match.paths if self._names[p] == asked]
        if not whole:
            return None
        best = min(whole, key=len)
        for path in match.paths:
            if path[: len(best)] != best and best[: len(path)] != path:
                return None
        if self._sizes[best] < self._min_filter_listings:
            return None
        return best
