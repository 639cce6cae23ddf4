"""Retrieval metrics as pure functions over ranked id lists.

Kept free of any index or model so the arithmetic can be checked by hand in
tests, and so the same definitions score the real evaluation and the index
benchmarks (recall of an approximate index against exact search).

Conventions, chosen so numbers from different methods are comparable:
- a ranking is a sequence of ids, best first; it may be shorter than ``k``
  (a missing slot counts as a miss, never as a smaller denominator);
- ``relevant`` is either one id or a collection of ids;
- ``k`` must be positive.
"""

from __future__ import annotations

from collections.abc import Collection, Hashable, Sequence

Id = Hashable


def _as_set(relevant: Id | Collection[Id]) -> set[Id]:
    if isinstance(relevant, (str, bytes, int)) or not isinstance(relevant, Collection):
        return {relevant}
    return set(relevant)


def _check_k(k: int) -> None:
    if k <= 0:
        raise ValueError(f"k must be positive, got {k}")


def recall_at_k(ranked: Sequence[Id], relevant: Id | Collection[Id], k: int) -> float:
    """Share of the relevant ids found in the top ``k``.

    With a single relevant id this is the usual hit rate (1.0 or 0.0); with a
    set (e.g. the exact top 10) it is the overlap divided by the set's size.
    """
    _check_k(k)
    wanted = _as_set(relevant)
    if not wanted:
        raise ValueError("recall needs at least one relevant id")
    return len(wanted.intersection(ranked[:k])) / len(wanted)


def reciprocal_rank(ranked: Sequence[Id], relevant: Id | Collection[Id]) -> float:
    """1 / rank of the first relevant id (ranks start at 1), 0.0 if none is ranked."""
    wanted = _as_set(relevant)
    for position, item in enumerate(ranked, start=1):
        if item in wanted:
            return 1.0 / position
    return 0.0


def precision_at_k(ranked_labels: Sequence[object], wanted: object, k: int) -> float:
    """Share of the top ``k`` slots whose label equals ``wanted``.

    Takes labels rather than ids (e.g. the root category of each result), since
    that is what "precision in the query's category" asks about. The
    denominator is always ``k``: a method that returns fewer results is not
    rewarded for it.
    """
    _check_k(k)
    return sum(1 for label in ranked_labels[:k] if label == wanted) / k


def mean(values: Sequence[float]) -> float:
    """Arithmetic mean that refuses an empty input instead of returning NaN."""
    if not values:
        raise ValueError("mean of no values")
    return sum(values) / len(values)


def lift(with_treatment: float, without_treatment: float) -> float:
    """Absolute change a treatment brings (e.g. personalisation on vs off).

    Absolute, not relative: the targets are stated in precision points
    ("lifts precision@10 by 0.20"), and a relative lift explodes near zero.
    """
    return with_treatment - without_treatment
