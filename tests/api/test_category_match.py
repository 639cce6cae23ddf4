"""Category names in queries: which categories match, coverage and closeness, by hand."""

from __future__ import annotations

import pytest

from api.category_match import NO_MATCH, CategoryMatcher, words

PATHS = [
    ("Home & Garden", "Furniture", "Sofas"),
    ("Home & Garden", "Garden", "Sheds"),
    ("Home & Garden", "Other"),
    ("Sports, Leisure & Travel", "Bikes"),
    ("Phones", "Other Accessories"),
]


def test_words_drop_joiners_and_a_plural_s() -> None:
    assert words("Sofas & the Beds") == {"sofa", "bed"}
    assert words("bus gas") == {"bus", "gas"}  # three letters: left alone


def test_words_keep_letters_of_any_script_whole() -> None:
    assert words("Haus & Möbel") == {"hau", "möbel"}
    assert words("Fußball_Tore") == {"fußball", "tore"}
    match = CategoryMatcher([("Haus & Möbel", "Garten", "Möbel")]).match("möbel")
    assert match.paths == (("Haus & Möbel", "Garten", "Möbel"),)


def test_a_category_name_query_matches_its_path_with_full_coverage() -> None:
    match = CategoryMatcher(PATHS).match("sofas")
    assert match.paths == (("Home & Garden", "Furniture", "Sofas"),)
    assert match.coverage == 1.0
    assert match.roots == {"Home & Garden"}


def test_a_title_mentioning_a_category_has_small_coverage() -> None:
    match = CategoryMatcher(PATHS).match("Red leather sofa with cushions")
    assert match.paths == (("Home & Garden", "Furniture", "Sofas"),)
    assert match.coverage == pytest.approx(1 / 4)  # sofa of red, leather, sofa, cushion


def test_every_word_of_a_name_must_be_asked() -> None:
    matcher = CategoryMatcher(PATHS)
    assert matcher.match("garden").paths == (("Home & Garden", "Garden"),)
    assert ("Home & Garden",) in matcher.match("home and garden").paths


def test_generic_names_never_match() -> None:
    matcher = CategoryMatcher(PATHS)
    assert matcher.match("other") == NO_MATCH
    assert matcher.match("accessories") == NO_MATCH
    assert matcher.match("") == NO_MATCH


def test_closeness_credits_the_shared_part_of_the_path() -> None:
    match = CategoryMatcher(PATHS).match("sofas")
    assert match.closeness(("Home & Garden", "Furniture", "Sofas")) == 1.0
    assert match.closeness(("Home & Garden", "Furniture", "Tables")) == pytest.approx(2 / 3)
    assert match.closeness(("Home & Garden", "Garden", "Sheds")) == pytest.approx(1 / 3)
    assert match.closeness(("Sports, Leisure & Travel", "Bikes")) == 0.0
