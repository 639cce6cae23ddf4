"""Spelling mistakes corrected against the catalogue's own words, with SymSpell.

The catalogue is the dictionary: the words of its titles, category names
and places, each counted by the listings that hold it. A word the catalogue
holds is never "corrected", so a model number or a brand the catalogue
sells stays as typed; numbers, words with digits and short words are left
alone too. A correction must also be much more common than the typed word
is in the listings' descriptions, where a real but rare word ("teak") is
found and protects itself from a common near-namesake ("team").
"""

from __future__ import annotations

import re
import threading
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

from symspellpy import SymSpell, Verbosity

_WORD = re.compile(r"[^\W_]+")
_DIGIT = re.compile(r"\d")


@dataclass(frozen=True)
class TypoConfig:
    """When a word is corrected."""

    min_length: int = 4  # shorter words are left alone ("tv", "ps4", "bed")
    long_word: int = 8  # from this length two edits are allowed, below it one
    min_ratio: float = 5.0  # correction's listings >= this x (typed word's description count + 1)


@dataclass(frozen=True)
class Correction:
    typed: str
    corrected: str
    span: tuple[int, int]  # where the typed word is in the text


def words_of(text: str) -> list[str]:
    return [word.lower() for word in _WORD.findall(text)]


class TypoCorrector:
    """SymSpell over the catalogue's words; grows as listings are written."""

    def __init__(self, config: TypoConfig, protected: Iterable[str] = ()) -> None:
        """``protected``: words the query parser reads ("under", "quid"), never corrected."""
        self.config = config
        self._spell = SymSpell(max_dictionary_edit_distance=2, prefix_length=7)
        self._known: Counter[str] = Counter()  # title, category and place words -> listings
        self._described: Counter[str] = Counter()  # description words -> listings
        self._protected = frozenset(protected)
        self._lock = threading.Lock()

    def add(self, known: Iterable[str], described: Iterable[str] = ()) -> None:
        """One listing's words: ``known`` (title, category, place) and its description's."""
        self.add_counts(Counter(set(known)), Counter(set(described)))

    def add_counts(self, known: Counter[str], described: Counter[str]) -> None:
        """Words with the listings holding them (a whole catalogue at once, at a build)."""
        with self._lock:
            for word, listings in known.items():
                self._known[word] += listings
                if self.config.min_length <= len(word) and not _has_digit(word):
                    self._spell.create_dictionary_entry(word, listings)
            self._described.update(described)

    def correct(self, text: str) -> list[Correction]:
        """The corrections the text's words need (none for most queries)."""
        found = []
        for match in _WORD.finditer(text):
            typed = match.group().lower()
            better = self._better(typed)
            if better is not None:
                found.append(Correction(match.group(), better, match.span()))
        return found

    def _better(self, word: str) -> str | None:
        config = self.config
        if len(word) < config.min_length or _has_digit(word) or self._holds(word):
            return None
        distance = 2 if len(word) >= config.long_word else 1
        with self._lock:
            suggestions = self._spell.lookup(word, Verbosity.CLOSEST, max_edit_distance=distance)
            needed = config.min_ratio * (self._described.get(word, 0) + 1)
        best = max(suggestions, key=lambda s: (s.count, s.term), default=None)
        if best is None or best.term == word or best.count < needed:
            return None
        return best.term

    def _holds(self, word: str) -> bool:
        """The catalogue holds the word, or its singular or plural ("bicycles")."""
        if word in self._protected:
            return True
        forms = {word, f"{word}s", word.removesuffix("s"), word.removesuffix("es")}
        if word.endswith(("s", "x", "z", "ch", "sh")):
            forms.add(f"{word}es")
        return any(form in self._known for form in forms)


def _has_digit(word: str) -> bool:
    return _DIGIT.search(word) is not None


def apply(text: str, corrections: list[Correction]) -> str:
    """``text`` with each typed word replaced by its correction, in the typed word's case."""
    out, last = [], 0
    for fix in corrections:
        start, end = fix.span
        word = fix.corrected
        if fix.typed[:1].isupper():
            word = word.upper() if fix.typed.isupper() and len(fix.typed) > 1 else word.capitalize()
        out += [text[last:start], word]
        last = end
    return "".join([*out, text[last:]])
