"""A query read as a shopper means it: typos fixed, price, place and category words as filters.

The order matters. Spelling first, against the catalogue's words, so "sofa
undr £100 in lodnon" reads as well as the clean form; then price phrases,
then a place after "in"/"near", each taken out of the text; then the words
left are matched to the catalogue's categories, which become a filter only
when the match is certain (``CategoryMatcher.certain``) and otherwise keep
boosting as before. Category words stay in the searched text: they are what
the item is. When nothing but filter words was typed ("free", "under
£100"), the words themselves are searched, under the filters.

An explicit filter in the request wins: a parsed one only fills what the
request left empty (a price range as one: any explicit bound keeps the
parsed one out). A reading named in ``ignore`` (a chip the shopper removed,
or ``spelling`` for "search instead for") is not made, and its words are
searched as typed.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass

from api.category_match import CategoryMatcher
from api.schemas import Filters, ParsedFilter, SpellingFix, Understood
from api.understanding.language import CatalogueLanguage
from api.understanding.typos import apply
from indexing.store import CATEGORY_SEPARATOR

# Words that join a filter phrase to the item, dropped from the ends of what is left.
_JOINERS = frozenset({"a", "an", "and", "for", "in", "near", "around", "with", "at", "the"})
_EDGE = re.compile(r"^[\W_]+|[\W_]+$")


@dataclass(frozen=True)
class Reading:
    """The text to search, the filters to apply (explicit and parsed) and what was read."""

    text: str
    filters: Filters
    understood: Understood
    did_you_mean: str | None


def read_query(
    text: str,
    explicit: Filters,
    language: CatalogueLanguage,
    categories: CategoryMatcher,
    ignore: Collection[str] = (),
) -> Reading:
    fixes = [] if "spelling" in ignore else language.typos.correct(text)
    corrected = apply(text, fixes)
    parsed: list[ParsedFilter] = []
    found: dict[str, object] = {}
    spans: list[tuple[int, int]] = []

    price = None if "price" in ignore else language.prices.find(corrected)
    if price is not None and explicit.price_min is None and explicit.price_max is None:
        found |= {"price_min": price.price_min, "price_max": price.price_max}
        label = price.label(language.prices.symbol, language.currency)
        words = " ".join(corrected[a:b] for a, b in price.spans)
        parsed.append(ParsedFilter(kind="price", words=words, label=label))
    if price is not None:
        spans += price.spans

    rest = _without(corrected, spans)
    titled = language.suggester.title_count
    place = None if "place" in ignore else language.places.find(rest, titled)
    if place is not None:
        if not explicit.location:
            found["location"] = place.place
            words = rest[place.span[0] : place.span[1]]
            parsed.append(ParsedFilter(kind="place", words=words, label=f"in {place.place}"))
        rest = _without(rest, [place.span])

    searched = _trim(rest) or corrected
    mode = None
    certain = None if "category" in ignore else categories.certain(searched)
    if certain is not None and not explicit.category:
        found["category"] = CATEGORY_SEPARATOR.join(certain)
        parsed.append(ParsedFilter(kind="category", words=searched, label=certain[-1]))
        mode = "filter"
    elif categories.match(searched).paths:
        mode = "boost"

    understood = Understood(
        text=searched,
        filters=Filters(**found),
        category_mode=mode,
        parsed=parsed,
        corrections=[SpellingFix(typed=f.typed, corrected=f.corrected) for f in fixes],
    )
    return Reading(
        text=searched,
        filters=explicit.model_copy(update=found),
        understood=understood,
        did_you_mean=corrected if fixes else None,
    )


def _without(text: str, spans: list[tuple[int, int]]) -> str:
    """``text`` with the character spans cut out."""
    out, last = [], 0
    for start, end in sorted(spans):
        out.append(text[last:start])
        last = end
    out.append(text[last:])
    return " ".join("".join(out).split())


def _trim(text: str) -> str:
    """The words left, without joiners or punctuation dangling at either end."""
    words = text.split()
    while words and (words[0].lower() in _JOINERS or not _EDGE.sub("", words[0])):
        words.pop(0)
    while words and (words[-1].lower() in _JOINERS or not _EDGE.sub("", words[-1])):
        words.pop()
    return " ".join(words)
