"""Queries read as shoppers mean them: typos, places and categories, and how they combine."""

from __future__ import annotations

from dataclasses import replace

import pytest

from api.category_match import CategoryMatcher
from api.schemas import Filters
from api.understanding.language import CatalogueLanguage, main_currency
from api.understanding.parser import read_query
from api.understanding.places import PlaceIndex
from api.understanding.typos import TypoConfig, TypoCorrector
from tests.api.understanding.catalogue import listings

# The hand-made catalogue is small: a correction needs twice, not five times, the listings.
SMALL = TypoConfig(min_ratio=2.0)


@pytest.fixture(scope="module")
def language() -> CatalogueLanguage:
    return CatalogueLanguage.of(listings(), SMALL)


@pytest.fixture(scope="module")
def categories() -> CategoryMatcher:
    return CategoryMatcher({listing.category_path for listing in listings()})


def read(text, language, categories, explicit=None, ignore=()):
    return read_query(text, explicit or Filters(), language, categories, ignore)


# -- typos ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("typed", "meant"),
    [
        ("moutain bike", "mountain bike"),
        ("Moutain bike", "Mountain bike"),
        ("grey sofa wardrobbe", "grey sofa wardrobe"),
        ("leathr bags", "leather bags"),
        ("sofa in lodnon", "sofa in london"),
    ],
)
def test_typos_are_corrected_against_the_catalogue(typed, meant, language, categories) -> None:
    reading = read(typed, language, categories)

    assert reading.did_you_mean == meant
    assert [fix.typed.lower() for fix in reading.understood.corrections]


@pytest.mark.parametrize(
    "text",
    [
        "under armour",  # a brand the catalogue sells
        "iphone 11",
        "samsung galaxy s10",
        "ps4 console",  # words with digits
        "bik",  # short words
        "helmets",  # the plural of a word the catalogue holds
        "mountain bike",
        "xyzzyqw",  # nothing close
    ],
)
def test_words_the_catalogue_holds_and_short_or_numbered_ones_stay(
    text, language, categories
) -> None:
    reading = read(text, language, categories)

    assert reading.did_you_mean is None
    assert reading.understood.corrections == []


def test_a_correction_must_be_much_more_common_than_the_typed_word() -> None:
    corrector = TypoCorrector(TypoConfig(min_ratio=5.0))
    for _ in range(8):
        corrector.add(["team"], [])
    corrector.add(["table"], ["teak"])  # one description says "teak"

    assert [f.corrected for f in corrector.correct("taem")] == ["team"]
    assert corrector.correct("teak") == []  # 8 listings < 5 x (1 + 1)... is not enough

    for _ in range(4):
        corrector.add(["team"], [])
    assert [f.corrected for f in corrector.correct("teak")] == ["team"]  # 12 >= 10


def test_spelling_can_be_left_alone(language, categories) -> None:
    reading = read("moutain bike", language, categories, ignore={"spelling"})

    assert reading.did_you_mean is None
    assert reading.text == "moutain bike"


# -- places -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "place", "rest"),
    [
        ("pram in london", "London", "pram"),
        ("sofa near glasgow", "Glasgow", "sofa"),
        ("wardrobe around York", "York", "wardrobe"),
        ("bike in west yorkshire", "West Yorkshire", "bike"),
        ("In Leeds: bike", "Leeds", "bike"),
        ("sofa nr reading", "Reading", "sofa"),
    ],
)
def test_places_after_in_or_near(text, place, rest, language, categories) -> None:
    reading = read(text, language, categories)

    assert reading.filters.location == place
    assert reading.text == rest
    chips = [(c.kind, c.label) for c in reading.understood.parsed if c.kind == "place"]
    assert chips == [("place", f"in {place}")]


@pytest.mark.parametrize(
    "text",
    [
        "york sofa",  # no "in" / "near": a town's name alone may be an item
        "dress in black",  # not a place the catalogue knows
        "sofa in paris",
        "bike in good condition",
    ],
)
def test_no_place_without_a_known_place_after_in(text, language, categories) -> None:
    reading = read(text, language, categories)

    assert reading.filters.location is None
    assert reading.text == text


def test_a_place_titles_use_as_an_item_word_is_no_place() -> None:
    places = PlaceIndex()
    places.add("Bath, Somerset")

    assert places.find("toys in bath", lambda word: 0).place == "Bath"
    assert places.find("toys in bath", lambda word: 5) is None  # "baby bath" x5 > 1 listing


# -- categories -------------------------------------------------------------------


def test_a_query_that_is_a_category_name_filters(language, categories) -> None:
    reading = read("bicycles", language, categories)

    assert reading.filters.category == "Sports, Leisure & Travel / Bicycles"
    assert reading.understood.category_mode == "filter"
    assert reading.text == "bicycles"  # the words stay: they are what the item is
    assert reading.understood.parsed[0].label == "Bicycles"


def test_a_category_named_in_two_branches_only_boosts(language, categories) -> None:
    reading = read("bags", language, categories)

    assert reading.filters.category is None
    assert reading.understood.category_mode == "boost"


def test_more_words_than_the_category_name_only_boost(language, categories) -> None:
    reading = read("sofas with cushions", language, categories)

    assert reading.filters.category is None
    assert reading.understood.category_mode == "boost"


def test_no_category_named(language, categories) -> None:
    assert read("mountain bike", language, categories).understood.category_mode is None


# -- together ---------------------------------------------------------------------


def test_price_place_and_category_together(language, categories) -> None:
    reading = read("bicycles under £200 in london", language, categories)

    assert reading.text == "bicycles"
    assert reading.understood.filters == Filters(
        price_max=200, location="London", category="Sports, Leisure & Travel / Bicycles"
    )
    chips = {(c.kind, c.words, c.label) for c in reading.understood.parsed}
    assert chips == {
        ("price", "under £200", "under £200"),
        ("place", "in london", "in London"),
        ("category", "bicycles", "Bicycles"),
    }


def test_only_filter_words_search_the_words_themselves(language, categories) -> None:
    reading = read("free", language, categories)

    assert reading.filters.price_max == 0
    assert reading.text == "free"


def test_an_explicit_filter_wins(language, categories) -> None:
    explicit = Filters(price_max=50, location="Leeds", category="Home & Garden")
    reading = read("bicycles under £200 in london", language, categories, explicit)

    assert reading.filters == explicit
    assert reading.understood.filters == Filters()
    assert reading.understood.parsed == []
    assert reading.understood.category_mode == "boost"
    assert reading.text == "bicycles"  # the filter words are still no item words


def test_an_explicit_bound_keeps_the_parsed_range_out(language, categories) -> None:
    reading = read("sofa £20-£50", language, categories, Filters(price_min=30))

    assert (reading.filters.price_min, reading.filters.price_max) == (30, None)


def test_a_removed_chip_searches_its_words(language, categories) -> None:
    reading = read("sofa under £100 in london", language, categories, ignore={"price"})

    assert reading.text == "sofa under £100"
    assert reading.filters == Filters(location="London")


def test_the_catalogue_currency_decides_the_price_words() -> None:
    euros = CatalogueLanguage.of(listings("EUR"))
    matcher = CategoryMatcher(set())

    assert main_currency(listings("EUR")) == "EUR"
    assert read_query("sofa under 100 euro", Filters(), euros, matcher).filters.price_max == 100
    assert read_query("sofa under £100", Filters(), euros, matcher).filters.price_max is None
    [chip] = read_query("sofa €20-€50", Filters(), euros, matcher).understood.parsed
    assert chip.label == "€20–€50"


def test_a_written_listing_is_known_at_once(language, categories) -> None:
    fresh = CatalogueLanguage.of(listings(), SMALL)
    assert fresh.correct_word("zanzibarr") == "zanzibarr"

    for listing in listings()[:2]:
        fresh.add(replace(listing, id=f"{listing.id}z", title="Zanzibar chest"))

    assert fresh.correct_word("zanzibarr") == "zanzibar"
    assert fresh.correct_word("zanzibar") == "zanzibar"
