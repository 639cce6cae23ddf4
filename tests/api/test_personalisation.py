"""The personalisation maths on hand-made vectors: profiles, ambiguity, blend weight."""

from __future__ import annotations

import numpy as np
import pytest

from api.personalisation import (
    SECONDS_PER_DAY,
    Interaction,
    build_profile,
    personal_scores,
    personal_weight,
    query_ambiguity,
)


def unit(*xs: float) -> np.ndarray:
    v = np.array(xs, dtype=np.float32)
    return v / np.linalg.norm(v)


def test_profile_weights_strong_and_recent_events_more() -> None:
    now = 100 * SECONDS_PER_DAY
    old_message = Interaction("message", now - 60 * SECONDS_PER_DAY, "Music", unit(1, 0))
    fresh_save = Interaction("save", now, "Sports", unit(0, 1))
    profile = build_profile([old_message, fresh_save], now=now, half_life_days=14)
    assert profile.vector is not None
    assert np.isclose(np.linalg.norm(profile.vector), 1.0)
    assert profile.vector[1] > profile.vector[0]  # fresh save outweighs a two-month-old message
    assert profile.top_interest() == "Sports"
    assert sum(profile.affinities.values()) == pytest.approx(1.0)


def test_profile_of_no_events_is_empty() -> None:
    profile = build_profile([], now=0.0, half_life_days=14)
    assert profile.empty
    assert personal_scores(profile, np.ones(2), ["a", "b"]).tolist() == [0, 0]


def test_ambiguity_is_zero_for_one_category_and_high_for_a_spread() -> None:
    scores = np.linspace(1.0, 0.7, 10)
    assert query_ambiguity(scores, ["Bikes"] * 10, n_categories=13) == 0.0
    spread = [f"c{i % 5}" for i in range(10)]
    assert query_ambiguity(scores, spread, n_categories=13) > 0.6


def test_hits_found_by_both_searches_weigh_more() -> None:
    roots = ["Bikes", "Bikes", "Music", "Books"]
    agreed = query_ambiguity(np.array([1.0, 0.9, 0.1, 0.1]), roots, n_categories=13)
    spread = query_ambiguity(np.array([0.5, 0.5, 0.5, 0.5]), roots, n_categories=13)
    assert agreed < spread


def test_weight_is_zero_below_the_threshold_and_capped_above() -> None:
    assert personal_weight(0.2, threshold=0.35, max_weight=0.3) == 0.0
    assert 0 < personal_weight(0.7, threshold=0.35, max_weight=0.3) < 0.3
    assert personal_weight(1.0, threshold=0.35, max_weight=0.3) == pytest.approx(0.3)


def test_personal_scores_favour_the_users_category() -> None:
    profile = build_profile(
        [Interaction("click", 0.0, "Music", unit(1, 0))], now=0.0, half_life_days=14
    )
    similarity = np.stack([unit(1, 0), unit(0, 1)]) @ profile.vector
    scores = personal_scores(profile, similarity, ["Music", "Sports"])
    assert scores[0] == pytest.approx(1.0)
    assert scores[1] == pytest.approx(0.0)


def test_category_share_sets_the_taste_category_mix() -> None:
    profile = build_profile([Interaction("view", 0.0, "Music", unit(1, 0))], 0.0, 14)
    similarity = np.array([1.0, 0.0], dtype=np.float32)  # a taste match outside the category
    roots = ["Sports", "Music"]
    assert personal_scores(profile, similarity, roots, 0.5).tolist() == [0.5, 0.5]
    assert personal_scores(profile, similarity, roots, 0.8).tolist() == pytest.approx([0.2, 0.8])
