"""Realistic typing mistakes, for measuring how search copes with misspelt queries.

A shopper's slips are small: one letter dropped, two swapped, a neighbouring
key hit, a key held too long. So a word gets at most one such edit, and only
a long, purely alphabetic word: numbers ("50"), model numbers ("iPhone11",
"PS4") and short words are typed carefully or are too short for any
corrector to tell apart, and changing them would measure something else. The
first letter is kept, as people rarely miss it. Everything is drawn from the
``random.Random`` given, so a seed always makes the same mistakes.
"""

from __future__ import annotations

import random
import re

# A long word: five letters or more, bounded so that letters glued to digits
# ("iPhone11", "4K") are never one.
MIN_LONG_WORD = 5
_LONG_WORD = re.compile(rf"\b[^\W\d_]{{{MIN_LONG_WORD},}}\b")
EDITS = ("deletion", "transposition", "neighbour", "doubling")
_ROWS = ("qwertyuiop", "asdfghjkl", "zxcvbnm")


def _keyboard_neighbours() -> dict[str, str]:
    """Letter → the letters around it on a QWERTY keyboard (same row, and the
    staggered rows above and below)."""
    out: dict[str, str] = {}
    for r, row in enumerate(_ROWS):
        for i, key in enumerate(row):
            near = [row[j] for j in (i - 1, i + 1) if 0 <= j < len(row)]
            if r > 0:  # the row above sits half a key to the left
                near += [_ROWS[r - 1][j] for j in (i, i + 1) if j < len(_ROWS[r - 1])]
            if r < len(_ROWS) - 1:
                near += [_ROWS[r + 1][j] for j in (i - 1, i) if 0 <= j < len(_ROWS[r + 1])]
            out[key] = "".join(near)
    return out


KEYBOARD_NEIGHBOURS = _keyboard_neighbours()


def long_words(text: str) -> list[re.Match[str]]:
    """The words of ``text`` a typo may touch, in order."""
    return list(_LONG_WORD.finditer(text))


def misspell_word(word: str, rng: random.Random) -> str:
    """``word`` with exactly one edit, never to its first letter."""
    edits = list(EDITS)
    rng.shuffle(edits)
    for edit in edits:
        changed = _apply(edit, word, rng)
        if changed is not None and changed != word:
            return changed
    raise ValueError(f"no typo fits {word!r}")  # unreachable for a long alphabetic word


def misspell(text: str, rng: random.Random, rate: float = 0.5) -> str | None:
    """``text`` with each long word misspelt with probability ``rate`` (at least
    one word), or None when it has no long word to misspell."""
    words = long_words(text)
    if not words:
        return None
    chosen = [m for m in words if rng.random() < rate] or [rng.choice(words)]
    out, end = [], 0
    for match in chosen:
        out += [text[end : match.start()], misspell_word(match.group(), rng)]
        end = match.end()
    return "".join(out) + text[end:]


def _apply(edit: str, word: str, rng: random.Random) -> str | None:
    if edit == "deletion":
        i = rng.randrange(1, len(word))
        return word[:i] + word[i + 1 :]
    if edit == "doubling":
        i = rng.randrange(1, len(word))
        return word[: i + 1] + word[i:]
    if edit == "transposition":
        spots = [i for i in range(1, len(word) - 1) if word[i].lower() != word[i + 1].lower()]
        if not spots:
            return None
        i = rng.choice(spots)
        return word[:i] + word[i + 1] + word[i] + word[i + 2 :]
    spots = [i for i in range(1, len(word)) if word[i].lower() in KEYBOARD_NEIGHBOURS]
    if not spots:
        return None
    i = rng.choice(spots)
    key = rng.choice(KEYBOARD_NEIGHBOURS[word[i].lower()])
    return word[:i] + (key.upper() if word[i].isupper() else key) + word[i + 1 :]
