"""The page shows each listing's price in its own currency, not a hard-coded £."""

from __future__ import annotations

import pytest
from selenium.webdriver.common.by import By

from tests.browser.test_search_page import search, text_of
from tests.fixtures.api import ADMIN_KEY

pytestmark = pytest.mark.browser


def test_a_listing_in_euros_shows_euros_on_its_card(page, writable_client) -> None:
    listing = {
        "id": "eur-card-1",
        "title": "Zwiebelturm lamp in brass",
        "price": 1234,
        "currency": "EUR",
        "location": "Köln",
        "category": "Home & Garden / Lighting",
    }
    created = writable_client.post("/listings", json=listing, headers={"X-Admin-Key": ADMIN_KEY})
    assert created.status_code == 201, created.text
    cards = search(page, "zwiebelturm lamp")
    card = next(c for c in cards if c.get_attribute("data-id") == "eur-card-1")
    price = text_of(card, ".card-price")
    assert "€" in price and "£" not in price and "1,234" in price
    others = [text_of(c, ".card-price") for c in cards if c is not card]
    assert all("€" not in p for p in others)  # the catalogue's own listings stay in pounds
    assert card.find_element(By.CSS_SELECTOR, ".card-title").text
