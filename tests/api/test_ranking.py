"""Rank fusion and the stable order of equal scores."""

from __future__ import annotations

from api.ranking import normalise_to_top, reciprocal_rank_fusion, stable_order
from api.search_pipeline import keywords
from api.settings import ENGLISH_STOPWORDS


def test_rrf_rewards_agreement_between_lists() -> None:
    fused = reciprocal_rank_fusion(
        {"dense": ["a", "b", "c"], "lexical": ["b", "d"]},
        {"dense": 1.0, "lexical": 1.0},
        rrf_k=60,
    )
    assert stable_order(fused, str)[0] == "b"
    assert set(fused) == {"a", "b", "c", "d"}


def test_zero_weight_drops_a_list() -> None:
    fused = reciprocal_rank_fusion({"dense": ["a"], "lexical": ["b"]}, {"lexical": 0.0}, 60)
    assert list(fused) == ["a"]


def test_ties_are_broken_by_id() -> None:
    assert stable_order({"z": 1.0, "a": 1.0, "m": 2.0}, str) == ["m", "a", "z"]


def test_normalise_to_top() -> None:
    assert normalise_to_top({"a": 2.0, "b": 1.0}) == {"a": 1.0, "b": 0.5}


def test_a_limit_keeps_the_best_in_the_same_order() -> None:
    scores = {str(i): float(i % 7) for i in range(50)}
    assert stable_order(scores, str, 10) == stable_order(scores, str)[:10]


def test_keywords_drop_stopwords_unless_nothing_else_is_left() -> None:
    assert keywords("kids bike for sale", ENGLISH_STOPWORDS) == "kids bike sale"
    assert keywords("Bed with a mattress", ENGLISH_STOPWORDS) == "Bed mattress"
    assert keywords("for the", ENGLISH_STOPWORDS) == "for the"


def test_a_limited_order_is_the_head_of_the_full_order_ties_included() -> None:
    scores = {f"k{i:02d}": float(i % 4) for i in range(40)}  # ten ties at each score
    full = stable_order(scores, str)
    for limit in (0, 1, 9, 10, 11, 25, 40, 41):
        assert stable_order(scores, str, limit) == full[:limit]
