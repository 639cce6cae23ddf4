"""Prices as catalogues write them: numbers, or display text in any common style.

Marketplaces export prices as ``"£1,234.00"``, ``"€25"``, ``"$30.50"``,
``"1.234,00 €"`` (a European decimal comma), ``"25 EUR"``, a bare number, or
words meaning zero (``"free"``). ``parse_price`` reads all of these into an
amount and, when the text names one, a currency; anything else is ``None``
so cleaning can report the row instead of guessing.

Separators: the last ``.`` or ``,`` followed by one or two digits is the
decimal mark; ``.``, ``,`` or a space followed by groups of exactly three
digits separate thousands. So ``"1,234"`` and ``"1.234"`` both read 1234;
write ``"1.234,5"`` or ``"1234.5"`` to be unambiguous.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from numbers import Real

SYMBOLS = {"£": "GBP", "€": "EUR", "$": "USD", "¥": "JPY", "₹": "INR", "₽": "RUB", "₩": "KRW"}
_FREE_WORDS = {"free", "free!", "gratis", "for free"}
_CODE = re.compile(r"^[A-Z]{3}$")
# A currency sign or ISO code before and/or after the number.
_SHAPE = re.compile(
    r"^(?P<pre>[^\d\s.,-]{1,3})?\s*"
    r"(?P<number>\d[\d., \u00a0\u202f]*?)"
    r"\s*(?P<post>[^\d\s.,-]{1,3})?$"
)
_PLAIN = re.compile(r"^\d+$")
_GROUPED = re.compile(r"^[1-9]\d{0,2}(?P<sep>[., ])\d{3}(?:(?P=sep)\d{3})*$")
_DECIMAL = re.compile(r"^(?P<whole>.*?)(?P<mark>[.,])(?P<fraction>\d{1,2})$")


@dataclass(frozen=True)
class Price:
    amount: float
    currency: str | None  # the ISO code the text named, None for a bare number


def normalise_currency(raw: object) -> str | None:
    """An ISO 4217-shaped code (``"eur"`` → ``"EUR"``), a known symbol's code, or None."""
    if not isinstance(raw, str):
        return None
    text = raw.strip()
    if text in SYMBOLS:
        return SYMBOLS[text]
    return text.upper() if _CODE.match(text.upper()) else None


def _amount(number: str) -> float | None:
    """The digits-and-separators part of a price as a float, or None if malformed."""
    number = number.replace("\u00a0", " ").replace("\u202f", " ").strip()
    if _PLAIN.match(number):
        return float(number)
    if _GROUPED.match(number):
        return float(re.sub(r"[., ]", "", number))
    decimal = _DECIMAL.match(number)
    if decimal is None:
        return None
    whole = decimal.group("whole")
    if not (_PLAIN.match(whole) or _GROUPED.match(whole)):
        return None
    if decimal.group("mark") in re.sub(r"\d", "", whole):
        return None  # "1,234,5": the decimal mark cannot also group thousands
    return float(re.sub(r"[., ]", "", whole) + "." + decimal.group("fraction"))


def parse_price(raw: object) -> Price | None:
    """Read a price; ``None`` for anything that is not one (negative, words, junk).

    Numbers (from JSON or Parquet) are taken as they are; a free item is 0.
    """
    if isinstance(raw, bool):
        return None
    if isinstance(raw, Real):
        value = float(raw)
        return Price(value, None) if math.isfinite(value) and value >= 0 else None
    if not isinstance(raw, str):
        return None
    text = " ".join(raw.split())
    if not text:
        return None
    lowered = text.lower()
    for sign in ("", *SYMBOLS):
        if lowered.removeprefix(sign).strip() in _FREE_WORDS:
            return Price(0.0, SYMBOLS.get(sign))
    shape = _SHAPE.match(text)
    if shape is None:
        return None
    signs = [sign for sign in (shape.group("pre"), shape.group("post")) if sign]
    codes = {SYMBOLS.get(sign) or (sign if _CODE.match(sign) else None) for sign in signs}
    if None in codes or len(codes) > 1:
        return None  # "12 quid", or "£12 €": no one currency
    amount = _amount(shape.group("number"))
    if amount is None:
        return None
    return Price(amount, codes.pop() if codes else None)
