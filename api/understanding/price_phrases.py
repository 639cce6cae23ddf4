"""Prices a shopper says in words: "under £100", "£20-£50", "20 to 50 quid", "a tenner", "free".

Only the catalogue's own currency counts: its symbols, its ISO code and its
words ("£", "gbp", "pounds", "quid" for GBP; "€", "eur", "euro" for EUR). A
price in another currency ("under $50" in a pound catalogue) is left as words.

The rules are conservative, because a wrong filter hides what a shopper
wanted while a missed one only ranks a little worse:

- a bound needs a price word before it ("under", "less than", "up to", ...);
  "under", "below", "less than" take a bare number ("less than 50"); "up to",
  "max", "for", a lower bound ("over £20") and a range without "between"
  ("20 to 50 quid") need the currency on one of their amounts ("air max 90");
- a number joined to letters ("ps4", "5s", "30kg") or followed by a unit
  ("size 10" has no price word; "under 18 months", "over 3 seater" have a
  unit) is no price;
- "free" is a price only as the query's first word ("free sofa", not "free
  standing"), or as "for free" / "freebies" anywhere ("sim free", "sugar
  free" and "hands free" are what the item is).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from multimodal.data.prices import SYMBOLS, parse_price

# Words that name an amount in a currency, beyond its symbols and ISO code.
CURRENCY_WORDS: dict[str, tuple[str, ...]] = {
    "GBP": ("pounds", "pound", "quid", "gbp"),
    "EUR": ("euros", "euro", "eur"),
    "USD": ("dollars", "dollar", "bucks", "usd"),
}
# Slang for a whole amount, in the currency it belongs to.
SLANG_AMOUNTS: dict[str, dict[str, float]] = {"GBP": {"tenner": 10.0, "fiver": 5.0}}

UPPER = (
    ("under",),
    ("below",),
    ("less", "than"),
    ("cheaper", "than"),
    ("no", "more", "than"),
    ("at", "most"),
    ("<",),
)
LOWER = (("over",), ("above",), ("more", "than"), ("at", "least"), ("min",), ("minimum",), (">",))
# These only take an amount in the currency: "2 for 1", "nike air max 90", "tv stand
# up to 60 inch" and "upto 15.6" (a laptop's screen) are no price.
MARKED_UPPER = (("for",), ("up", "to"), ("upto",), ("max",), ("maximum",))
MARKED_LOWER = (("from",),)
RANGE_JOINS = frozenset({"-", "–", "to"})
# A number followed by one of these is a size, an age or a count, not a price.
UNITS = frozenset(
    re.findall(
        r"\S+",
        "s yr yrs year years month months mth mths week weeks day days hour hours min mins "
        "inch inches cm mm m ft feet foot kg g lb lbs oz st stone ml l litre litres liter "
        "gb tb mb w watt watts v volt volts mah mph cc hp kw ghz hz p x pcs piece pieces pack "
        "seater seat seats people person players door doors drawer drawers speed gear gears "
        "pair pairs set sets ton tonne k",
    )
)
FREE_WORDS = frozenset({"free", "gratis"})
# After a leading "free", these make it part of the item: "free standing fridge".
NOT_FREE_BEFORE = frozenset(
    {"standing", "stand", "delivery", "postage", "shipping", "range", "weights", "weight"}
    | {"style", "motion", "runner", "run", "running", "fall", "wheel", "wheeling"}
)
FREEBIES = frozenset({"freebie", "freebies"})

Bounds = tuple[float | None, float | None, int]  # min, max, the token after the phrase
_TOKEN = re.compile(r"\d[\d,]*(?:\.\d+)?|[^\W\d_]+|[^\w\s]")


@dataclass(frozen=True)
class Token:
    text: str  # lower-cased
    start: int
    end: int


@dataclass(frozen=True)
class PriceFilter:
    """A price the words asked for, and where they were (character spans in the text)."""

    price_min: float | None
    price_max: float | None
    spans: tuple[tuple[int, int], ...]

    def label(self, symbol: str, currency: str) -> str:
        """How a chip says it: "under £100", "£20–£50", "over 20 CHF", "free"."""

        def money(value: float) -> str:
            return f"{symbol}{value:g}" if symbol else f"{value:g} {currency}"

        if self.price_max == 0:
            return "free"
        if self.price_min is not None and self.price_max is not None:
            return f"{money(self.price_min)}–{money(self.price_max)}"
        if self.price_max is not None:
            return f"under {money(self.price_max)}"
        return f"over {money(self.price_min)}"


@dataclass(frozen=True)
class Amount:
    value: float
    end: int  # index of the token after it
    marked: bool  # the currency was named
    slang: bool = False  # "a tenner": an amount on its own says "for about this much"


def tokens(text: str) -> list[Token]:
    return [Token(m.group().lower(), m.start(), m.end()) for m in _TOKEN.finditer(text)]


class PricePhrases:
    """Finds price phrases in the catalogue's currency."""

    def __init__(self, currency: str) -> None:
        self.currency = currency
        self.symbols = frozenset(s for s, code in SYMBOLS.items() if code == currency)
        self.words = frozenset({currency.lower(), *CURRENCY_WORDS.get(currency, ())})
        self.slang = SLANG_AMOUNTS.get(currency, {})
        foreign_words = {w for code, ws in CURRENCY_WORDS.items() if code != currency for w in ws}
        foreign_words |= {code.lower() for code in SYMBOLS.values() if code != currency}
        self.foreign = frozenset(foreign_words | (set(SYMBOLS) - self.symbols))

    @property
    def symbol(self) -> str:
        return min(self.symbols) if self.symbols else ""

    @property
    def vocabulary(self) -> frozenset[str]:
        """The words this parser reads, which a spelling corrector must leave alone."""
        keywords = {w for phrase in (*UPPER, *LOWER, *MARKED_UPPER, *MARKED_LOWER) for w in phrase}
        return frozenset(keywords | self.words | set(self.slang) | FREE_WORDS | FREEBIES)

    def find(self, text: str) -> PriceFilter | None:
        """The price the text asks for (bounds from several phrases combined), or None."""
        toks = tokens(text)
        low: float | None = None
        high: float | None = None
        spans: list[tuple[int, int]] = []
        i = 0
        while i < len(toks):
            found = self._phrase_at(toks, i)
            if found is None:
                i += 1
                continue
            lo, hi, end = found
            low = lo if lo is not None and (low is None or lo > low) else low
            high = hi if hi is not None and (high is None or hi < high) else high
            spans.append((toks[i].start, toks[end - 1].end))
            i = end
        if not spans or (low is not None and high is not None and low > high):
            return None
        return PriceFilter(low, high, tuple(spans))

    # -- one phrase -------------------------------------------------------------------

    def _phrase_at(self, toks: list[Token], i: int) -> Bounds | None:
        """(min, max, end) of a price phrase starting at token ``i``."""
        free = self._free_at(toks, i)
        if free is not None:
            return None, 0.0, free
        if toks[i].text == "between":
            first = self._amount_at(toks, i + 1)
            joined = first is not None and first.end < len(toks)
            if joined and toks[first.end].text in RANGE_JOINS | {"and"}:
                second = self._amount_at(toks, first.end + 1)
                if second is not None:
                    return _range(first, second)
            return None
        for phrases, marked_only, upper in (
            (UPPER, False, True),
            (MARKED_UPPER, True, True),
            (LOWER, True, False),
            (MARKED_LOWER, True, False),
        ):
            length = _starts_with(toks, i, phrases)
            if not length:
                continue
            amount = self._amount_at(toks, i + length)
            if amount is None or (marked_only and not amount.marked):
                return None
            if not upper:
                # "from £20 to £50", "over £20 - £50": a range after all
                span = self._range_after(toks, amount)
                if span is not None:
                    return span
                return amount.value, None, amount.end
            return None, amount.value, amount.end
        first = self._amount_at(toks, i)
        if first is None:
            return None
        ranged = self._range_after(toks, first, need_mark=True)
        if ranged is None and first.slang:
            return None, first.value, first.end
        return ranged

    def _range_after(
        self, toks: list[Token], first: Amount, need_mark: bool = False
    ) -> Bounds | None:
        if first.end >= len(toks) or toks[first.end].text not in RANGE_JOINS:
            return None
        second = self._amount_at(toks, first.end + 1)
        if second is None or (need_mark and not (first.marked or second.marked)):
            return None
        return _range(first, second)

    def _free_at(self, toks: list[Token], i: int) -> int | None:
        word = toks[i].text
        if word in FREEBIES:
            return i + 1
        if word == "for" and i + 1 < len(toks) and toks[i + 1].text in FREE_WORDS:
            return i + 2
        if word in FREE_WORDS and i == 0:
            after = toks[1].text if len(toks) > 1 else ""
            return None if after in NOT_FREE_BEFORE or after == "-" else 1
        return None

    def _amount_at(self, toks: list[Token], i: int) -> Amount | None:
        """An amount at token ``i``: [symbol] number [currency word], or "a tenner"."""
        if i < len(toks) and toks[i].text == "a" and i + 1 < len(toks):
            i += 1
        if i >= len(toks):
            return None
        if toks[i].text in self.slang:
            return Amount(self.slang[toks[i].text], i + 1, marked=True, slang=True)
        marked = toks[i].text in self.symbols
        if marked:
            i += 1
        if i >= len(toks) or not toks[i].text[0].isdigit():
            return None
        number = toks[i]
        if i > 0 and toks[i - 1].end == number.start and toks[i - 1].text.isalpha():
            return None  # "ps4", "iphone11"
        parsed = parse_price(number.text.rstrip(","))
        if parsed is None:
            return None
        end = i + 1
        after = toks[end] if end < len(toks) else None
        if after is not None and (after.text in self.symbols or after.text in self.words):
            return Amount(parsed.amount, end + 1, marked=True)
        if after is not None and after.start == number.end and after.text.isalpha():
            return None  # "5s", "30kg", "1080p"
        if after is not None and (after.text in UNITS or after.text in self.foreign):
            return None
        if i > 0 and toks[i - 1].text in self.foreign:
            return None
        return Amount(parsed.amount, end, marked)


def _starts_with(toks: list[Token], i: int, phrases: tuple[tuple[str, ...], ...]) -> int:
    """The length of the longest of ``phrases`` starting at token ``i`` (0: none)."""
    best = 0
    for phrase in phrases:
        if tuple(t.text for t in toks[i : i + len(phrase)]) == phrase:
            best = max(best, len(phrase))
    return best


def _range(first: Amount, second: Amount) -> tuple[float, float, int]:
    low, high = sorted((first.value, second.value))
    return low, high, second.end
