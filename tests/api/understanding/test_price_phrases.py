"""Spoken prices: every phrase the issue names, and the false friends that are no price."""

from __future__ import annotations

import pytest

from api.understanding.price_phrases import PricePhrases

POUNDS = PricePhrases("GBP")
EUROS = PricePhrases("EUR")


@pytest.mark.parametrize(
    ("text", "low", "high", "words"),
    [
        ("sofa under £100", None, 100, "under £100"),
        ("less than 50", None, 50, "less than 50"),
        ("below 30 pounds", None, 30, "below 30 pounds"),
        ("£20-£50", 20, 50, "£20-£50"),
        ("£20 - £50 table", 20, 50, "£20 - £50"),
        ("20 to 50 quid", 20, 50, "20 to 50 quid"),
        ("a tenner", None, 10, "a tenner"),
        ("lamp for a tenner", None, 10, "for a tenner"),
        ("under a fiver", None, 5, "under a fiver"),
        ("free", None, 0, "free"),
        ("free furniture", None, 0, "free"),
        ("sofa for free", None, 0, "for free"),
        ("freebies", None, 0, "freebies"),
        ("over £20", 20, None, "over £20"),
        ("from £20 to £50", 20, 50, "from £20 to £50"),
        ("between 100 and 200", 100, 200, "between 100 and 200"),
        ("up to £1,000", None, 1000, "up to £1,000"),
        ("no more than 80", None, 80, "no more than 80"),
        ("max £40", None, 40, "max £40"),
        ("upto 40 quid", None, 40, "upto 40 quid"),
        ("bike under 100 in leeds", None, 100, "under 100"),
        ("£50-£20", 20, 50, "£50-£20"),
        ("over £20 under £50", 20, 50, "over £20 under £50"),
    ],
)
def test_price_phrases_in_pounds(text: str, low: float | None, high: float | None, words: str):
    found = POUNDS.find(text)

    assert found is not None
    assert (found.price_min, found.price_max) == (low, high)
    start, end = found.spans[0][0], found.spans[-1][1]
    assert text[start:end] == words


@pytest.mark.parametrize(
    "text",
    [
        "iphone 11",
        "under armour",
        "under armour hoodie",
        "size 10",
        "3 seater",
        "ps4",
        "2 for 1",
        "over 18s",
        "toys under 18 months",
        "tv under 40 inch",
        "more than 50",  # a lower bound needs the currency
        "2-3 seater sofa",  # a range without the currency
        "sim free phone",
        "sugar free",
        "free standing fridge",
        "free-standing fridge",
        "under €50",  # another currency is not the catalogue's
        "under 50 euros",
        "under $50",
        "bike £50",  # an amount without a price word
        "iphone11 under",
        "30kg dumbbells",
        "1080p monitor",
        "nike air max 90",  # a shoe
        "iphone 11 pro max 64",
        "tv stand up to 60",  # a size
        "laptop bag upto 15.6",
    ],
)
def test_false_friends_are_no_price(text: str) -> None:
    assert POUNDS.find(text) is None


@pytest.mark.parametrize(
    ("text", "low", "high"),
    [
        ("under €50", None, 50),
        ("unter 50 euro", None, None),  # only the words this parser knows
        ("less than 50 eur", None, 50),
        ("20-30 euros", 20, 30),
        ("€20 to €50", 20, 50),
        ("a tenner", None, None),  # pounds slang
        ("under £50", None, None),
    ],
)
def test_a_euro_catalogue_reads_euros(text: str, low: float | None, high: float | None) -> None:
    found = EUROS.find(text)

    bounds = (None, None) if found is None else (found.price_min, found.price_max)
    assert bounds == (low, high)


def test_labels_say_the_currency() -> None:
    assert POUNDS.find("under £100").label("£", "GBP") == "under £100"
    assert POUNDS.find("20 to 50 quid").label("£", "GBP") == "£20–£50"
    assert POUNDS.find("over £20").label("£", "GBP") == "over £20"
    assert POUNDS.find("free sofa").label("£", "GBP") == "free"
    assert PricePhrases("CHF").find("under 30 chf").label("", "CHF") == "under 30 CHF"
