"""The catalogue's language: its words, places, currency and phrases, from its live listings.

One value per catalogue, built from the listings at start and at each index
reload (about a second for seven thousand listings; see
``docs/query-understanding.md``), and grown by each listing written through
the API before the write returns, so a seller's new word is neither
"corrected" nor missing from the suggestions. Listings deleted since the
build stay in its vocabulary until the next rebuild: a word the catalogue
held once is still a word. Everything is derived from the listings alone,
so another process can rebuild the same value from the store.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Iterable

from api.suggest import Suggester, Suggestion
from api.understanding.places import PLACE_WORDS, PlaceIndex
from api.understanding.price_phrases import PricePhrases
from api.understanding.typos import TypoConfig, TypoCorrector, words_of
from multimodal.data.catalogue import DEFAULT_CURRENCY, Listing


def main_currency(listings: Iterable[Listing]) -> str:
    """The currency most listings are priced in (``Store.main_currency``'s rule)."""
    counts = Counter(listing.currency for listing in listings)
    if not counts:
        return DEFAULT_CURRENCY
    return min(counts, key=lambda code: (-counts[code], code))


def known_words(listing: Listing) -> list[str]:
    """The words a listing makes known: its title's, its category names' and its places'."""
    return words_of(" ".join([listing.title, *listing.category_path, listing.location]))


class CatalogueLanguage:
    """Spelling, places, the currency's price words and suggestions for one catalogue."""

    def __init__(self, currency: str, typos: TypoConfig | None = None) -> None:
        self.currency = currency
        self.prices = PricePhrases(currency)
        self.places = PlaceIndex()
        self.typos = TypoCorrector(
            typos or TypoConfig(), protected=self.prices.vocabulary | PLACE_WORDS
        )
        self.suggester = Suggester(self.correct_word)

    @classmethod
    def of(
        cls, listings: Collection[Listing], typos: TypoConfig | None = None
    ) -> CatalogueLanguage:
        language = cls(main_currency(listings), typos)
        known: Counter[str] = Counter()
        described: Counter[str] = Counter()
        for listing in listings:
            known.update(set(known_words(listing)))
            described.update(set(words_of(listing.description)))
        language.typos.add_counts(known, described)
        language.places.add_all(listing.location for listing in listings)
        language.suggester.build(
            (listing.title for listing in listings), (listing.category_path for listing in listings)
        )
        return language

    def add(self, listing: Listing) -> None:
        """Know a listing written through the API (its currency is taken as it is)."""
        self.typos.add(known_words(listing), words_of(listing.description))
        self.places.add(listing.location)
        self.suggester.add(listing.title, listing.category_path)

    def correct_word(self, word: str) -> str:
        fixes = self.typos.correct(word)
        return fixes[0].corrected if fixes else word

    def suggest(self, typed: str, limit: int) -> list[Suggestion]:
        return self.suggester.suggest(typed, limit)
