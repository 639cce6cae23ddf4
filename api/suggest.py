"""Search-box suggestions: completions from the catalogue's own titles and category names.

Every run of one to three words in a title is a phrase, counted by the
listings whose titles hold it; every category name is one too, counted by
the listings filed under it. A query's last word may be unfinished ("mountain
bi") and its earlier words may be misspelled ("moutain bi"): the earlier ones
go through the catalogue's spelling corrector, and the phrases that start
with the corrected words and the unfinished one are the completions, the most
common first. When the unfinished word itself has a typo ("mountain bkie"),
the catalogue's words whose start is one edit away (RapidFuzz) stand in for it.

The phrases are one sorted list, so a completion is a binary search and a
scan of the phrases sharing the prefix; a listing written through the API
adds its phrases at once.
"""

from __future__ import annotations

import bisect
import heapq
import re
import threading
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Literal

from rapidfuzz import process
from rapidfuzz.distance import OSA

LONGEST_PHRASE = 3  # words
# A phrase neither starts nor ends with one of these ("bike for", "and chairs").
EDGE_WORDS = frozenset({"a", "an", "and", "or", "the", "of", "for", "with", "in", "on", "to", "x"})
MIN_FUZZY = 3  # an unfinished word this long may carry a typo
LONGEST_FUZZY_START = 8  # word starts up to this long are kept ready
SHORT_PREFIX = 2  # the best completions of prefixes this short are kept
MAX_LIMIT = 20  # the most suggestions one request may ask for
_WORD = re.compile(r"[^\W_]+")

Kind = Literal["title", "category"]


@dataclass(frozen=True)
class Suggestion:
    text: str
    kind: Kind
    count: int  # listings holding it


def title_phrases(title: str) -> set[str]:
    """The distinct one- to three-word runs of a title, lower-cased."""
    words = [word.lower() for word in _WORD.findall(title)]
    out = set()
    for start, first in enumerate(words):
        if first in EDGE_WORDS:
            continue
        for length in range(1, LONGEST_PHRASE + 1):
            run = words[start : start + length]
            if len(run) == length and run[-1] not in EDGE_WORDS:
                out.add(" ".join(run))
    return out


class PhraseList:
    """Phrases in sorted order with their counts: completions by prefix, most common first.

    A prefix of one or two letters is shared by thousands of phrases: its
    best ``MAX_LIMIT`` are kept once found, until the next phrase is added.
    """

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()
        self.shown: dict[str, str] = {}  # lower-cased phrase -> as written (category names)
        self._sorted: list[str] = []
        self._short: dict[str, list[tuple[str, int]]] = {}  # short prefix -> best phrases

    def add(self, phrases: Iterable[str], shown: dict[str, str] | None = None) -> None:
        for phrase in phrases:
            if phrase not in self.counts:
                bisect.insort(self._sorted, phrase)
            self.counts[phrase] += 1
        self.shown.update(shown or {})
        self._short.clear()

    def extend(self, counts: Counter[str]) -> None:
        """Add many phrases at once (a build): one sort instead of an insert each."""
        self.counts.update(counts)
        self._sorted = sorted(self.counts)
        self._short.clear()

    def completing(self, prefix: str, limit: int) -> list[tuple[str, int]]:
        if len(prefix) > SHORT_PREFIX:
            return self._best(prefix, limit)
        best = self._short.get(prefix)
        if best is None:
            best = self._short[prefix] = self._best(prefix, MAX_LIMIT)
        return best[:limit]

    def _best(self, prefix: str, limit: int) -> list[tuple[str, int]]:
        lo = bisect.bisect_left(self._sorted, prefix)
        hi = bisect.bisect_left(self._sorted, prefix + "\U0010ffff", lo)
        counts = self.counts
        best = heapq.nsmallest(
            limit, self._sorted[lo:hi], key=lambda p: (-counts[p], p.count(" "), p)
        )
        return [(self.shown.get(p, p), counts[p]) for p in best]


class Suggester:
    """Completions for what a shopper has typed so far."""

    def __init__(self, correct: Callable[[str], str]) -> None:
        """``correct``: the catalogue's spelling corrector, for the finished words."""
        self._correct = correct
        self._titles = PhraseList()
        self._categories = PhraseList()
        self._starts: dict[int, list[str]] = {}  # length -> the distinct starts of words
        self._lock = threading.Lock()

    def build(self, titles: Iterable[str], categories: Iterable[tuple[str, ...]]) -> None:
        phrases: Counter[str] = Counter()
        for title in titles:
            phrases.update(title_phrases(title))
        self._titles.extend(phrases)
        for path in categories:
            self._add_category(path)
        for size in range(MIN_FUZZY, LONGEST_FUZZY_START + 1):
            self._starts_for(size)  # built now, not on a shopper's first typo

    def add(self, title: str, category: tuple[str, ...]) -> None:
        with self._lock:
            phrases = title_phrases(title)
            new = [p for p in phrases if " " not in p and p not in self._titles.counts]
            self._titles.add(phrases)
            self._add_category(category)
            for size, starts in self._starts.items():
                for word in new:
                    start = word[:size]
                    at = bisect.bisect_left(starts, start)
                    if len(word) >= size and (at == len(starts) or starts[at] != start):
                        starts.insert(at, start)

    def title_count(self, word: str) -> int:
        """How many listings' titles hold ``word``."""
        return self._titles.counts.get(word, 0)

    def _add_category(self, path: tuple[str, ...]) -> None:
        names = {name.lower(): name for name in path}
        self._categories.add(names, names)

    def suggest(self, typed: str, limit: int) -> list[Suggestion]:
        words = [word.lower() for word in _WORD.findall(typed)]
        if not words or limit < 1:
            return []
        finished = typed[-1:].isspace() or not typed[-1:].isalnum()
        done, partial = (words, "") if finished else (words[:-1], words[-1])
        done = [self._correct(word) for word in done]
        with self._lock:
            found = self._complete(done, partial, limit)
            if len(found) < limit and len(partial) >= MIN_FUZZY:
                for start in self._near_starts(partial):
                    found += self._complete(done, start, limit)
        ranked = sorted(found, key=lambda s: (-s.count, s.kind != "category", s.text))
        seen: set[str] = set()
        unique = []
        for suggestion in ranked:
            if suggestion.text.lower() not in seen:
                seen.add(suggestion.text.lower())
                unique.append(suggestion)
        return unique[:limit]

    def _complete(self, done: list[str], partial: str, limit: int) -> list[Suggestion]:
        prefix = " ".join([*done, partial]) if partial else " ".join(done) + " "
        out = [Suggestion(t, "title", n) for t, n in self._titles.completing(prefix, limit)]
        if not done:
            out += [
                Suggestion(t, "category", n) for t, n in self._categories.completing(partial, limit)
            ]
        return out

    def _near_starts(self, partial: str) -> list[str]:
        """Starts of the catalogue's words one edit from ``partial`` ("bkie" -> "bike")."""
        starts = self._starts_for(len(partial))
        near = process.extract(partial, starts, scorer=OSA.distance, score_cutoff=1, limit=5)
        return [start for start, distance, _ in near if distance > 0]

    def _starts_for(self, size: int) -> list[str]:
        """The distinct ``size``-letter starts of the titles' words, sorted."""
        starts = self._starts.get(size)
        if starts is None:
            words = (p for p in self._titles.counts if " " not in p and len(p) >= size)
            starts = self._starts[size] = sorted({word[:size] for word in words})
        return starts
