"""User profiles from events, and how much a profile may tilt a query's ranking.

The profile is what a user has shown interest in: a time-decayed,
type-weighted mean of the embeddings of the listings they interacted with,
plus the share of that weight per root category. A message to a seller says
more than a glance, and last week says more than last year.

The tilt is gated by how ambiguous the query is, measured on the query's own
top hits before any tilt: if they sit in one category ("mountain bike"), the
query has a clear intent and the profile gets no weight, so the order is
exactly the query's;
if they spread over many categories ("black", "vintage"), the profile breaks
the tie toward the user's interests. Personalisation only re-ranks the query's
candidates, so it can never pull in listings the query did not find.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

EVENT_WEIGHTS: dict[str, float] = {"view": 1.0, "click": 2.0, "save": 4.0, "message": 6.0}
SECONDS_PER_DAY = 86_400.0


@dataclass(frozen=True)
class Interaction:
    """One event joined with the listing it was about."""

    type: str
    ts: float
    root: str
    vector: np.ndarray


@dataclass(frozen=True)
class UserProfile:
    vector: np.ndarray | None  # L2-normalised, None for a user with no usable history
    affinities: dict[str, float]  # root category -> share of the user's weight, sums to 1

    @property
    def empty(self) -> bool:
        return self.vector is None

    def top_interest(self) -> str | None:
        return max(self.affinities, key=self.affinities.__getitem__) if self.affinities else None


EMPTY_PROFILE = UserProfile(vector=None, affinities={})


def build_profile(
    interactions: Sequence[Interaction], now: float, half_life_days: float
) -> UserProfile:
    if not interactions:
        return EMPTY_PROFILE
    half_life = half_life_days * SECONDS_PER_DAY
    weights = np.array(
        [EVENT_WEIGHTS[i.type] * 0.5 ** (max(0.0, now - i.ts) / half_life) for i in interactions],
        dtype=np.float64,
    )
    total = float(weights.sum())
    if total <= 0:
        return EMPTY_PROFILE
    mean = (weights[:, None] * np.stack([i.vector for i in interactions])).sum(axis=0)
    norm = float(np.linalg.norm(mean))
    affinities: dict[str, float] = {}
    for interaction, weight in zip(interactions, weights, strict=True):
        affinities[interaction.root] = affinities.get(interaction.root, 0.0) + weight / total
    if norm == 0:
        return EMPTY_PROFILE
    return UserProfile(vector=(mean / norm).astype(np.float32), affinities=affinities)


def query_ambiguity(weights: np.ndarray, roots: Sequence[str], n_categories: int) -> float:
    """Normalised entropy (0 = one category, 1 = evenly spread) of the top hits' categories.

    Each hit votes for its root category with its (non-negative) fused score,
    so hits both the dense and the keyword search agree on count for more.
    """
    support = min(len(weights), n_categories)
    if support <= 1:
        return 0.0
    mass: dict[str, float] = {}
    for root, weight in zip(roots, np.asarray(weights, dtype=np.float64), strict=True):
        mass[root] = mass.get(root, 0.0) + max(0.0, float(weight))
    total = sum(mass.values())
    if total <= 0:
        return 0.0
    entropy = -sum(m / total * math.log(m / total) for m in mass.values() if m > 0)
    return min(1.0, entropy / math.log(support))


def personal_weight(ambiguity: float, threshold: float, max_weight: float) -> float:
    """Zero up to the threshold (clear intent), rising linearly to ``max_weight``."""
    if ambiguity <= threshold:
        return 0.0
    return max_weight * min(1.0, (ambiguity - threshold) / (1.0 - threshold))


def personal_scores(
    profile: UserProfile,
    similarity: np.ndarray,
    roots: Sequence[str],
    category_share: float = 0.5,
) -> np.ndarray:
    """How well each candidate fits the user, in [0, 1]: taste and category affinity.

    ``similarity`` is the cosine of the profile vector to each candidate;
    ``category_share`` of the score is the affinity of the candidate's root
    category, the rest taste. Category affinity is the steadier signal for a
    one-word query: "black" in the user's category beats a near-vector elsewhere.
    """
    if profile.empty:
        return np.zeros(len(roots), dtype=np.float32)
    taste = np.clip(np.asarray(similarity, dtype=np.float32), 0.0, 1.0)
    top = max(profile.affinities.values())
    category = np.array([profile.affinities.get(r, 0.0) / top for r in roots], dtype=np.float32)
    return ((1.0 - category_share) * taste + category_share * category).astype(np.float32)
