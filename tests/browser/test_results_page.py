"""The page's result context in a real Chromium: facets narrow by a click, re-posts expand."""

from __future__ import annotations

import pytest
from selenium.webdriver.common.by import By

from api.schemas import ListingCreate
from api.service import Query
from tests.browser.test_search_page import RESULT_CARDS, search, text_of, wait_for, wait_for_results

pytestmark = pytest.mark.browser


def facet_buttons(driver, group: str) -> list:
    return driver.find_elements(
        By.CSS_SELECTOR, f"#facets [aria-labelledby='facet-{group}'] button"
    )


def test_facets_count_the_matches_and_a_click_narrows(page):
    search(page, "sofa")
    wait_for(page, lambda d: d.find_element(By.ID, "facets").is_displayed())
    categories = facet_buttons(page, "categories")
    assert categories, "the panel lists categories"
    counts = [int(text_of(b, ".facet-count").replace(",", "")) for b in categories]
    assert counts == sorted(counts, reverse=True) and counts[0] > 0
    root = categories[0].get_attribute("data-value")

    categories[0].click()
    wait_for(page, lambda d: d.find_element(By.ID, "category").get_attribute("value") == root)
    cards = wait_for_results(page)
    assert all(
        c.find_element(By.CSS_SELECTOR, ".card-category").get_attribute("title").startswith(root)
        for c in cards
    )
    pressed = wait_for(
        page,
        lambda d: [
            b for b in facet_buttons(d, "categories") if b.get_attribute("aria-pressed") == "true"
        ],
    )
    assert pressed[0].get_attribute("data-value") == root

    bands = facet_buttons(page, "price_bands")
    assert bands
    bands[0].click()
    wait_for(page, lambda d: d.find_element(By.ID, "price-min").get_attribute("value") != "")
    wait_for_results(page)

    # a second click on the pressed category widens the search again
    pressed = [
        b for b in facet_buttons(page, "categories") if b.get_attribute("aria-pressed") == "true"
    ]
    pressed[0].click()
    wait_for(page, lambda d: d.find_element(By.ID, "category").get_attribute("value") == "")


def test_a_reposted_ad_shows_once_and_its_copies_expand(page, live_server, writable_client):
    service = writable_client.app.state.service
    first = service.search(Query(text="sofa", k=1)).results[0]
    listing = service.get_listing(first.id)
    copy_id = f"{first.id}-again"
    service.create_listing(
        ListingCreate(
            id=copy_id,
            title=listing.title,
            description=listing.description,
            price=(listing.price or 0) + 5,
            location="Somewhere Else",
            category=listing.category,
        )
    )

    cards = search(page, listing.title)
    ids = [c.get_attribute("data-id") for c in cards]
    assert len({first.id, copy_id} & set(ids)) == 1, "one card for the ad"
    card = next(c for c in cards if c.get_attribute("data-id") in {first.id, copy_id})
    toggle = card.find_element(By.CSS_SELECTOR, ".also-toggle")
    assert toggle.text.startswith("Also listed 1×")
    assert toggle.get_attribute("aria-expanded") == "false"

    toggle.click()
    links = wait_for(page, lambda _: card.find_elements(By.CSS_SELECTOR, ".also-open"))
    other = ({first.id, copy_id} - {card.get_attribute("data-id")}).pop()
    assert links[0].get_attribute("data-id") == other
    assert toggle.get_attribute("aria-expanded") == "true"

    links[0].click()  # the copy opens in the listing view
    wait_for(page, lambda d: d.find_element(By.ID, "listing").is_displayed())
    wait_for(
        page, lambda d: d.find_element(By.CSS_SELECTOR, f"#listing .detail[data-id='{other}']")
    )
    assert page.find_elements(By.CSS_SELECTOR, RESULT_CARDS)
