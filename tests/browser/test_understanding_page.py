"""The page shows what the search read in the words: chips, did-you-mean, and suggestions."""

from __future__ import annotations

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys

from tests.browser.test_search_page import search, text_of, wait_for, wait_for_results

pytestmark = pytest.mark.browser

CHIP = "#understood .chip"


def chips(driver) -> dict[str, str]:
    """Each chip's kind and label, read in one step (a search may redraw them meanwhile)."""
    pairs = driver.execute_script(
        "return [...document.querySelectorAll(arguments[0])]"
        ".map((c) => [c.dataset.kind, c.querySelector('.chip-label').textContent])",
        CHIP,
    )
    return dict(pairs)


def test_filters_read_from_the_words_are_chips_a_click_removes(page) -> None:
    cards = search(page, "speaker in leeds under £300")

    wait_for(page, lambda d: chips(d) == {"place": "in Leeds", "price": "under £300"})
    assert all("Leeds" in text_of(card, ".card-location") for card in cards)

    remove = page.find_element(By.CSS_SELECTOR, f"{CHIP}[data-kind='price'] .chip-remove")
    assert remove.get_attribute("aria-label") == "Remove the price filter “under £300”"
    remove.click()

    wait_for(page, lambda d: chips(d) == {"place": "in Leeds"})
    wait_for_results(page)
    assert page.find_element(By.ID, "q").get_attribute("value") == "speaker in leeds under £300"

    search(page, "sofa under £100")  # a new query reads its words afresh
    wait_for(page, lambda d: chips(d) == {"price": "under £100"})


def test_a_corrected_query_says_so_and_can_be_searched_as_typed(page) -> None:
    search(page, "mountian bike")

    line = wait_for(page, lambda d: d.find_element(By.CSS_SELECTOR, "#understood .did-you-mean"))
    assert "Showing results for mountain bike" in line.text
    original = line.find_element(By.CSS_SELECTOR, ".did-you-mean-original")
    assert original.text == "mountian bike"

    original.click()
    wait_for(page, lambda d: not d.find_elements(By.CSS_SELECTOR, "#understood .did-you-mean"))


def test_suggestions_appear_and_arrow_keys_and_enter_pick_one(page) -> None:
    box = page.find_element(By.ID, "q")
    assert box.get_attribute("role") == "combobox"
    box.send_keys("mountain b")

    listbox = page.find_element(By.ID, "suggestions")
    wait_for(page, lambda _: listbox.is_displayed())
    options = listbox.find_elements(By.CSS_SELECTOR, "[role='option']")
    assert options and box.get_attribute("aria-expanded") == "true"
    assert all(o.text.lower().startswith("mountain b") for o in options)

    box.send_keys(Keys.ARROW_DOWN, Keys.ARROW_DOWN, Keys.ARROW_UP)
    assert options[0].get_attribute("aria-selected") == "true"
    assert box.get_attribute("aria-activedescendant") == options[0].get_attribute("id")
    picked = options[0].text

    box.send_keys(Keys.ENTER)
    wait_for_results(page)
    assert box.get_attribute("value") == picked
    assert not listbox.is_displayed()
    assert "Results for" in page.find_element(By.ID, "results-heading").text


def test_escape_closes_the_suggestions_and_keeps_the_words(page) -> None:
    box = page.find_element(By.ID, "q")
    box.send_keys("sof")
    listbox = page.find_element(By.ID, "suggestions")
    wait_for(page, lambda _: listbox.is_displayed())

    box.send_keys(Keys.ESCAPE)

    wait_for(page, lambda _: not listbox.is_displayed())
    assert box.get_attribute("value") == "sof"
    assert box.get_attribute("aria-expanded") == "false"
