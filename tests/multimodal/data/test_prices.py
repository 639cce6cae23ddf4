"""Prices in every style a catalogue writes them, and the currency they name."""

from __future__ import annotations

import pytest

from multimodal.data.prices import Price, normalise_currency, parse_price


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("£1,234.00", Price(1234.0, "GBP")),
        ("€25", Price(25.0, "EUR")),
        ("$30.50", Price(30.5, "USD")),
        ("1.234,00 €", Price(1234.0, "EUR")),
        ("1 234,50 €", Price(1234.5, "EUR")),
        ("€ 1.234.567,89", Price(1234567.89, "EUR")),
        ("25,5", Price(25.5, None)),
        ("25 EUR", Price(25.0, "EUR")),
        ("CHF 12.50", Price(12.5, "CHF")),
        ("£5.00", Price(5.0, "GBP")),
        ("£10,000,000.00", Price(10_000_000.0, "GBP")),
        (" £ 12.50 ", Price(12.5, "GBP")),
        ("40", Price(40.0, None)),
        ("1,234", Price(1234.0, None)),
        ("£0.00", Price(0.0, "GBP")),
        ("free", Price(0.0, None)),
        ("Free", Price(0.0, None)),
        ("£free", Price(0.0, "GBP")),
        ("gratis", Price(0.0, None)),
        (12, Price(12.0, None)),
        (12.5, Price(12.5, None)),
    ],
)
def test_parse_price_reads_every_style(raw, expected):
    assert parse_price(raw) == expected


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "POA",
        "£",
        "ask me",
        "twenty quid",
        "25 euros",
        "eur 25",  # a code in lower case is a word, not a currency
        "£1,23.00",
        "£12.00.00",
        "12,34,56",
        "1,234,5",
        "-£5.00",
        "£12 €",
        -3,
        True,
        None,
        float("nan"),
        float("inf"),
    ],
)
def test_parse_price_refuses_rubbish(raw):
    assert parse_price(raw) is None


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("EUR", "EUR"), (" eur ", "EUR"), ("€", "EUR"), ("euros", None), ("", None), (None, None)],
)
def test_normalise_currency(raw, expected):
    assert normalise_currency(raw) == expected
