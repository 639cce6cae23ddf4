"""The search page end to end: a real Chromium against a real server on the synthetic catalogue."""

from __future__ import annotations

import time

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import Select, WebDriverWait

from tests.browser.conftest import DEMO_USER, screenshot

pytestmark = pytest.mark.browser

WAIT_S = 20
RESULT_CARDS = "#results .card:not(.card-skeleton)"


def wait_for(driver, condition, timeout: float = WAIT_S):
    return WebDriverWait(driver, timeout, poll_frequency=0.05).until(condition)


def wait_for_results(driver) -> list:
    """The result cards once a search has settled (not loading, no skeletons)."""

    def settled(d):
        grid = d.find_element(By.ID, "results")
        cards = d.find_elements(By.CSS_SELECTOR, RESULT_CARDS)
        return cards if grid.get_attribute("aria-busy") == "false" and cards else False

    return wait_for(driver, settled)


def search(driver, text: str) -> list:
    box = driver.find_element(By.ID, "q")
    box.clear()
    box.send_keys(text, Keys.ENTER)
    return wait_for_results(driver)


def text_of(element, selector: str) -> str:
    """The full text (not what CSS happens to clip) of the first match inside ``element``."""
    return element.find_element(By.CSS_SELECTOR, selector).get_attribute("textContent").strip()


def test_typing_a_query_and_pressing_enter_shows_results(page, catalogue_titles):
    cards = search(page, "sofa")

    assert len(cards) > 1
    titles = [text_of(card, ".card-title") for card in cards]
    assert all(title in catalogue_titles for title in titles)
    first = cards[0]
    assert text_of(first, ".card-price").startswith(("£", "Free", "Price"))
    # the price filter names the catalogue's currency, from /facets
    label = page.find_element(By.ID, "price-label")
    wait_for(page, lambda _: label.get_attribute("textContent") == "Price (£)")
    assert first.find_element(By.CSS_SELECTOR, ".card-category").text
    assert first.find_elements(By.CSS_SELECTOR, ".reason")  # why it ranked
    status = page.find_element(By.ID, "status").text
    assert " ms" in status and "listing" in status  # query time shown
    assert "q=sofa" in page.current_url  # the search can be shared and reloaded

    # the next page continues the list
    first_page = [c.get_attribute("data-id") for c in cards]
    page.find_element(By.ID, "load-more").click()
    wait_for(page, lambda d: len(d.find_elements(By.CSS_SELECTOR, RESULT_CARDS)) > len(cards))
    ids = [c.get_attribute("data-id") for c in page.find_elements(By.CSS_SELECTOR, RESULT_CARDS)]
    assert ids[: len(first_page)] == first_page and len(set(ids)) == len(ids)


def test_uploading_a_photo_shows_results(page, query_photo):
    page.find_element(By.ID, "photo").send_keys(str(query_photo))

    cards = wait_for_results(page)
    assert page.find_element(By.ID, "photo-chip").is_displayed()
    assert "photo" in page.find_element(By.ID, "results-heading").text
    reasons = {r.text for r in cards[0].find_elements(By.CSS_SELECTOR, ".reason")}
    assert any("photo" in reason for reason in reasons)

    # text and photo together
    search(page, "lamp")
    assert "+ your photo" in page.find_element(By.ID, "results-heading").text


DISPATCH_PHOTO = """
const [url, kind, done] = arguments;
fetch(url).then((r) => r.blob()).then((blob) => {
  const data = new DataTransfer();
  data.items.add(new File([blob], "photo.jpg", { type: "image/jpeg" }));
  const event = kind === "drop"
    ? new DragEvent("drop", { dataTransfer: data, bubbles: true, cancelable: true })
    : new ClipboardEvent("paste", { clipboardData: data, bubbles: true, cancelable: true });
  document.body.dispatchEvent(event);
  done();
});
"""


@pytest.mark.parametrize("kind", ["drop", "paste"])
def test_dropping_or_pasting_a_photo_searches_with_it(page, kind):
    photo_url = search(page, "bike")[0].find_element(By.CSS_SELECTOR, "img").get_attribute("src")
    page.find_element(By.ID, "q").clear()

    page.execute_async_script(DISPATCH_PHOTO, photo_url, kind)

    wait_for(page, lambda d: d.find_element(By.ID, "photo-chip").is_displayed())
    wait_for(page, lambda d: "photo" in d.find_element(By.ID, "results-heading").text)
    assert wait_for_results(page)


def test_a_price_filter_shows_only_matching_prices(page, price_range):
    low, high = price_range
    search(page, "sofa")
    page.find_element(By.ID, "price-min").send_keys(str(low))
    page.find_element(By.ID, "price-max").send_keys(str(high), Keys.ENTER)

    wait_for(page, lambda d: f"price_max={high}" in d.current_url)
    cards = wait_for_results(page)
    prices = [float(c.get_attribute("data-price")) for c in cards]
    assert prices and all(low <= p <= high for p in prices)
    shown = [c.find_element(By.CSS_SELECTOR, ".card-price").text for c in cards]
    assert all(text.startswith(("£", "Free")) for text in shown)

    # an impossible range is caught on the page, before any request
    page.find_element(By.ID, "price-min").clear()
    page.find_element(By.ID, "price-min").send_keys(str(high + 1), Keys.ENTER)
    error = wait_for(page, lambda d: d.find_element(By.CSS_SELECTOR, ".state-error"))
    assert "minimum price is above the maximum" in error.text


def test_opening_a_listing_shows_its_details_and_similar_items(page):
    cards = search(page, "table")
    title = text_of(cards[0], ".card-title")
    opener = cards[0].find_element(By.CSS_SELECTOR, ".card-open")
    opener.click()

    heading = wait_for(
        page, lambda d: d.find_element(By.CSS_SELECTOR, "#listing[open] #listing-title")
    )
    assert heading.get_attribute("textContent") == title
    assert page.find_element(By.CSS_SELECTOR, ".detail-price").text
    assert page.find_elements(By.CSS_SELECTOR, ".gallery-main img")
    similar = wait_for(
        page, lambda d: d.find_elements(By.CSS_SELECTOR, "#similar .card:not(.card-skeleton)")
    )
    opened_id = page.find_element(By.CSS_SELECTOR, ".detail").get_attribute("data-id")
    assert opened_id not in {c.get_attribute("data-id") for c in similar}
    screenshot(page, "listing-view")

    # a similar item opens in place
    next_title = text_of(similar[0], ".card-title")
    similar[0].find_element(By.CSS_SELECTOR, ".card-open").click()
    wait_for(page, lambda d: text_of(d, "#listing-title") == next_title)

    # Escape closes the view and gives focus back to the result it came from
    page.switch_to.active_element.send_keys(Keys.ESCAPE)
    wait_for(page, lambda d: not d.execute_script("return document.getElementById('listing').open"))
    assert page.switch_to.active_element == opener


def test_a_click_as_a_user_reaches_the_event_store(page, live_server):
    select = wait_for(page, lambda d: Select(d.find_element(By.ID, "user")))
    wait_for(page, lambda d: d.find_elements(By.CSS_SELECTOR, f"#user option[value='{DEMO_USER}']"))
    select.select_by_value(DEMO_USER)
    cards = search(page, "bike")
    assert f"personalised for {DEMO_USER}" in page.find_element(By.ID, "status").text
    clicked = cards[0].get_attribute("data-id")
    cards[0].find_element(By.CSS_SELECTOR, ".card-open").click()
    save = wait_for(page, lambda d: d.find_element(By.CSS_SELECTOR, ".detail-save"))
    save.click()
    wait_for(page, lambda d: save.get_attribute("aria-pressed") == "true")

    store = live_server.app.state.service.store
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        events = {(e.listing_id, e.type) for e in store.events_for_user(DEMO_USER)}
        if {(clicked, "click"), (clicked, "save")} <= events:
            break
        time.sleep(0.05)
    assert {(clicked, "click"), (clicked, "save")} <= events

    # closing the view re-ranks for the user's new history
    page.switch_to.active_element.send_keys(Keys.ESCAPE)
    wait_for_results(page)
    assert f"personalised for {DEMO_USER}" in page.find_element(By.ID, "status").text


SCREENS = [("desktop", 1366, 900), ("narrow", 390, 844)]


@pytest.mark.parametrize(("name", "width", "height"), SCREENS)
def test_the_page_fits_desktop_and_narrow_screens(page, name, width, height):
    page.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride",
        {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": width < 600},
    )
    search(page, "sofa")
    overflow = page.execute_script(
        "return document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    assert overflow <= 0  # nothing sticks out sideways
    tops = [c.rect["y"] for c in page.find_elements(By.CSS_SELECTOR, RESULT_CARDS)[:6]]
    columns = sum(1 for y in tops if abs(y - tops[0]) < 1)
    assert columns == 2 if width < 600 else columns >= 4
    screenshot(page, f"page-{name}")

    page.find_element(By.CSS_SELECTOR, f"{RESULT_CARDS} .card-open").click()
    wait_for(page, lambda d: d.find_elements(By.CSS_SELECTOR, "#similar .card:not(.card-skeleton)"))
    dialog_overflow = page.execute_script(
        "const d = document.getElementById('listing'); return d.scrollWidth - d.clientWidth"
    )
    assert dialog_overflow <= 0
    screenshot(page, f"listing-{name}")


def test_empty_and_error_states_say_what_happened(page, tmp_path):
    search(page, "sofa")
    page.find_element(By.ID, "location").send_keys("Atlantis", Keys.ENTER)
    empty = wait_for(page, lambda d: d.find_element(By.CSS_SELECTOR, ".state-empty"))
    assert "No listings match these filters" in empty.text
    assert not page.find_elements(By.CSS_SELECTOR, RESULT_CARDS)

    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"this is not a photo")
    page.find_element(By.ID, "photo").send_keys(str(broken))
    toast = wait_for(page, lambda d: d.find_element(By.CSS_SELECTOR, "#toast:not([hidden])"))
    assert "could not be read" in toast.text
