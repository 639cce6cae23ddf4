"""Rank fusion and ordering: pure functions over (listing id, score) lists.

Reciprocal-rank fusion merges the dense and the BM25 lists without having to
calibrate a cosine against a BM25 score: each list contributes
``weight / (rrf_k + rank)``. Equal scores are ordered by listing id so a
query always returns the same page.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Mapping, Sequence
from typing import TypeVar

K = TypeVar("K")


def reciprocal_rank_fusion(
    ranked_lists: Mapping[str, Sequence[K]], weights: Mapping[str, float], rrf_k: int
) -> dict[K, float]:
    """Fused score per id; ``ranked_lists`` maps a source name to ids, best first."""
    fused: dict[K, float] = {}
    for source, ids in ranked_lists.items():
        weight = weights.get(source, 1.0)
        if weight == 0:
            continue
        for rank, listing_id in enumerate(ids, start=1):
            fused[listing_id] = fused.get(listing_id, 0.0) + weight / (rrf_k + rank)
    return fused


def stable_order(
    scores: Mapping[K, float], tie_key: Callable[[K], str], limit: int | None = None
) -> list[K]:
    """The best ``limit`` keys (all by default) by descending score, ties by ``tie_key``.

    Only the keys scoring at least the ``limit``-th best score can place, so the
    tie keys (a lookup each) are made for those alone, not for every candidate.
    """
    if limit is not None and 0 < limit < len(scores):
        cut = heapq.nlargest(limit, scores.values())[-1]
        scores = {key: score for key, score in scores.items() if score >= cut}
    best = sorted((-score, tie_key(key), key) for key, score in scores.items())
    return [key for _, _, key in best[:limit]]


def normalise_to_top(scores: Mapping[K, float]) -> dict[K, float]:
    """Scale so the best candidate scores 1, making weights comparable across queries."""
    top = max(scores.values(), default=0.0)
    if top <= 0:
        return dict(scores)
    return {listing_id: score / top for listing_id, score in scores.items()}
