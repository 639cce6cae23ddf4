"""Places a shopper names: "in london", "near glasgow", matched against the catalogue's locations.

Only places the catalogue's listings are in, and only after "in", "near",
"nr" or "around": a town's name alone ("york ham", "bath toys") is as likely
an item as a place. A location is read as its comma-separated parts
("Croydon, London" is in Croydon and in London); the longest known place
after the word wins ("in west yorkshire", not "in west"). A one-word place
that titles use more than listings are located in ("in black", were there a
Black) is an item word and is left alone.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

PLACE_WORDS = frozenset({"in", "near", "nr", "around"})
LONGEST_PLACE = 4  # words
_WORD = re.compile(r"[^\W_]+")


@dataclass(frozen=True)
class PlaceFilter:
    """A place the words asked for, and where they were (a character span)."""

    place: str  # as the catalogue writes it, e.g. "London"
    span: tuple[int, int]


def place_parts(location: str) -> list[str]:
    """The comma-separated parts of a location, trimmed: "Croydon, London" -> both."""
    return [part.strip() for part in location.split(",") if part.strip()]


def _key(text: str) -> tuple[str, ...]:
    return tuple(word.lower() for word in _WORD.findall(text))


class PlaceIndex:
    """The catalogue's places by their lower-cased words, with how many listings are in each."""

    def __init__(self) -> None:
        self._names: dict[tuple[str, ...], str] = {}
        self._counts: Counter[tuple[str, ...]] = Counter()

    def add(self, location: str) -> None:
        for part in place_parts(location):
            key = _key(part)
            if key and len(key) <= LONGEST_PLACE:
                self._names.setdefault(key, part)
                self._counts[key] += 1

    def add_all(self, locations: Iterable[str]) -> None:
        for location in locations:
            self.add(location)

    def find(self, text: str, title_count) -> PlaceFilter | None:
        """The first known place named after a place word; ``title_count(word)``: how
        many titles hold a word, to leave item words alone."""
        words = [(m.group().lower(), m.start(), m.end()) for m in _WORD.finditer(text)]
        for i, (word, start, _) in enumerate(words):
            if word not in PLACE_WORDS:
                continue
            for length in range(min(LONGEST_PLACE, len(words) - i - 1), 0, -1):
                key = tuple(w for w, _, _ in words[i + 1 : i + 1 + length])
                if key not in self._names:
                    continue
                if length == 1 and title_count(key[0]) > self._counts[key]:
                    break  # an item word that is also a place
                return PlaceFilter(self._names[key], (start, words[i + length][2]))
        return None
