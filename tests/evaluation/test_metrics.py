"""Metric arithmetic on hand-computed cases."""

import pytest

from evaluation.metrics import lift, mean, precision_at_k, recall_at_k, reciprocal_rank


def test_recall_single_target_hit_and_miss():
    ranked = ["a", "b", "c", "d"]
    assert recall_at_k(ranked, "c", 3) == 1.0
    assert recall_at_k(ranked, "c", 2) == 0.0
    assert recall_at_k(ranked, "z", 4) == 0.0


def test_recall_against_a_set_is_overlap_over_set_size():
    # exact top 4 = {1, 2, 3, 4}; the approximate top 4 found 1, 3 and 4: 3/4
    assert recall_at_k([1, 9, 3, 4, 2], {1, 2, 3, 4}, 4) == 0.75


def test_recall_short_ranking_counts_missing_slots_as_misses():
    assert recall_at_k(["a"], {"a", "b"}, 10) == 0.5


def test_reciprocal_rank():
    assert reciprocal_rank(["x", "y", "t"], "t") == pytest.approx(1 / 3)
    assert reciprocal_rank(["t"], "t") == 1.0
    assert reciprocal_rank(["x", "y"], "t") == 0.0
    # the first relevant one counts
    assert reciprocal_rank(["x", "b", "a"], {"a", "b"}) == 0.5


def test_mrr_of_three_queries_by_hand():
    # ranks 1, 4 and none: (1 + 0.25 + 0) / 3
    rr = [reciprocal_rank(r, "t") for r in (["t"], ["a", "b", "c", "t"], ["a"])]
    assert mean(rr) == pytest.approx(1.25 / 3)


def test_precision_denominator_is_always_k():
    labels = ["Home", "Home", "Music", "Home"]
    assert precision_at_k(labels, "Home", 4) == 0.75
    assert precision_at_k(labels, "Home", 10) == 0.3
    assert precision_at_k(labels, "Home", 2) == 1.0


def test_lift_is_absolute_and_signed():
    assert lift(0.62, 0.30) == pytest.approx(0.32)
    assert lift(0.80, 0.81) == pytest.approx(-0.01)


@pytest.mark.parametrize(
    "call",
    [
        lambda: recall_at_k(["a"], "a", 0),
        lambda: precision_at_k(["a"], "a", -1),
        lambda: recall_at_k(["a"], set(), 1),
        lambda: mean([]),
    ],
)
def test_bad_arguments_are_refused(call):
    with pytest.raises(ValueError):
        call()
