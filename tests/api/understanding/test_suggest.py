"""Search-box completions: by prefix, the most common first, through typos, growing with writes."""

from __future__ import annotations

from dataclasses import replace

import pytest

from api.understanding.language import CatalogueLanguage
from api.understanding.typos import TypoConfig
from tests.api.understanding.catalogue import listings


@pytest.fixture
def language() -> CatalogueLanguage:
    return CatalogueLanguage.of(listings(), TypoConfig(min_ratio=2.0))


def texts(language: CatalogueLanguage, typed: str, limit: int = 8) -> list[str]:
    return [s.text for s in language.suggest(typed, limit)]


def test_an_unfinished_word_completes_from_titles_most_common_first(language) -> None:
    found = texts(language, "mou")

    assert found[:2] == ["mountain", "mountain bike"]  # 3 titles each; the shorter first
    assert "mountain bike helmet" in found
    assert all(text.startswith("mou") for text in found)


def test_finished_words_are_followed_by_their_next_word(language) -> None:
    assert texts(language, "mountain bike ") == ["mountain bike 26", "mountain bike helmet"]


def test_an_earlier_word_may_carry_a_typo(language) -> None:
    assert texts(language, "moutain bi")[0] == "mountain bike"


def test_the_unfinished_word_may_carry_a_typo(language) -> None:
    assert "mountain bike" in texts(language, "mountain bkie")
    assert {"wardrobe", "Wardrobes"} <= set(texts(language, "wradrobe"))


def test_category_names_are_suggested_as_categories(language) -> None:
    found = language.suggest("sof", 8)

    assert ("Sofas", "category") in {(s.text, s.kind) for s in found}
    assert ("sofa", "title") in {(s.text, s.kind) for s in found}


def test_limit_and_nothing_typed(language) -> None:
    assert len(language.suggest("s", 3)) == 3
    assert language.suggest("", 8) == []
    assert language.suggest("   ", 8) == []
    assert language.suggest("qqqqqq", 8) == []


def test_a_written_listing_is_suggested_at_once(language) -> None:
    assert texts(language, "zanz") == []

    language.add(replace(listings()[0], id="new", title="Zanzibar chest"))

    assert texts(language, "zanz") == ["zanzibar", "zanzibar chest"]
    assert "zanzibar" in texts(language, "znaz")  # its word is known to the typo step too
