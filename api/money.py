"""Amounts of money as a shopper reads them: "£40", "€1,200", "CHF 15".

The page formats prices in the browser; the server needs the same words for
text it writes itself (price bands, "about £40 below similar listings").
"""

from __future__ import annotations

import math

# The signs a catalogue's currency is written with; any other code is written out.
CURRENCY_SIGNS = {"GBP": "£", "EUR": "€", "USD": "$", "JPY": "¥", "INR": "₹"}


def money(amount: float, currency: str) -> str:
    """``amount`` in ``currency``: whole units when it has no pennies, else two decimals."""
    whole = math.isclose(amount, round(amount), abs_tol=1e-9)
    figure = f"{amount:,.0f}" if whole else f"{amount:,.2f}"
    sign = CURRENCY_SIGNS.get(currency)
    return f"{sign}{figure}" if sign else f"{currency} {figure}"


def about(amount: float) -> float:
    """``amount`` rounded the way one says "about": to the unit under 100, else to two
    significant figures (37 -> 37, 1,234 -> 1,200), since a median of a few
    neighbours is no more precise than that."""
    if amount < 100:
        return float(round(amount))
    scale = 10 ** (math.floor(math.log10(amount)) - 1)
    return float(round(amount / scale) * scale)
