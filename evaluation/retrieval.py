"""Retrieval evaluation: does search find the right listings, method by method.

One run builds an ``EvalWorld`` (``evaluation.world``: the catalogue embedded
once, every index the methods need, a ``SearchService`` for hybrid search and
personalisation) and asks every method the same test-split questions, so the
numbers sit side by side:

- other photo → same listing: every listing is indexed with its first photo
  (+ text); a test listing's second photo alone is the query;
- title → listing, and cross-modal title → photo-only vectors;
- category precision@k for category-name queries and for title queries;
- personalisation: precision@k in a simulated user's category for ambiguous
  queries with and without the profile, and the cost on clear queries for a
  user interested in another category.

The serving index is never touched: what is measured is the model and the
ranking code, on an index the evaluation controls. Everything drawn at random
comes from ``EvalConfig.seed``; only latencies vary between runs.
"""

from __future__ import annotations

import random
import tempfile
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path

from tqdm import tqdm

from evaluation.metrics import lift, mean, precision_at_k, recall_at_k, reciprocal_rank
from evaluation.queries import (
    AMBIGUOUS_QUERIES,
    PARTS,
    VALIDATION_AMBIGUOUS_QUERIES,
    SimulatedUser,
    TextQuery,
    category_name_queries,
    duplicate_sets,
    other_photo_queries,
    other_root_user,
    simulated_users,
    title_queries,
)
from evaluation.world import (
    BM25,
    FROZEN,
    FUSED_DENSE,
    HYBRID,
    IMAGE_DENSE,
    INSTANCE,
    TEXT_METHODS,
    EvalConfig,
    EvalWorld,
    Ranked,
    VectorSources,
    open_photo,
    uses_feature_cache,
)
from multimodal.data.catalogue import CleanCatalogue, Listing
from multimodal.data.splits import Split
from multimodal.features import file_key


def run_evaluation(
    catalogue: CleanCatalogue,
    split: Split,
    embedder,
    config: EvalConfig,
    sources: VectorSources | None = None,
    progress: bool = True,
) -> dict:
    """Every task, every method, one JSON-ready report."""
    if config.split not in PARTS:
        raise ValueError(f"split must be one of {', '.join(PARTS)}, not {config.split!r}")
    listings = list(catalogue.listings)
    known = {listing.id for listing in listings}
    test_ids = [i for i in split.ids(config.split) if i in known]
    photo_queries = other_photo_queries(listings, test_ids, config.max_queries, config.seed)
    titles = title_queries(listings, test_ids, config.max_queries, config.seed)
    names = category_name_queries(listings, config.split)
    users = simulated_users(
        listings,
        split.train,
        config.users_per_root,
        config.history_size,
        config.seed,
        config.split,
    )
    photo_ids = {listing.image_ids[0] for listing in listings if listing.image_ids}
    photo_ids |= {listing.image_ids[1] for listing in photo_queries}

    with tempfile.TemporaryDirectory(prefix="retrieval-eval-") as tmp:
        world = EvalWorld(
            catalogue,
            embedder,
            Path(tmp),
            sources or VectorSources(),
            config,
            photo_ids,
            split.train,
        )
        try:
            world.add_users(users)
            title_runs = _run_text(world, titles, "title queries", progress)
            name_runs = {
                group: _run_text(world, queries, group, progress)
                for group, queries in names.items()
            }
            tasks = {
                "other_photo": _other_photo(world, photo_queries, listings, progress),
                "title_to_listing": _title_to_listing(titles, title_runs, config.k),
                "category_precision": _category_precision(
                    world, names, name_runs, titles, title_runs
                ),
                "cross_modal": _cross_modal(titles, title_runs, config.k),
                "personalisation": _personalisation(
                    world,
                    {
                        "titles": (titles, title_runs),
                        "category names": (
                            [q for group in names.values() for q in group],
                            [r for group in names for r in name_runs[group]],
                        ),
                    },
                    users,
                    progress,
                ),
            }
            latency = _latency(world.timings)
            frozen = FROZEN in world.dense_indexes
        finally:
            world.close()
    return {
        "config": _jsonable(asdict(config)),
        "data": {
            "root": str(catalogue.root),
            "listings": len(listings),
            "query_split": config.split,
            "query_listings": len(test_ids),
            "split_seed": split.seed,
            "index_vectors": "training feature cache (float16 frozen-layer outputs) + model top"
            if uses_feature_cache(embedder, sources or VectorSources())
            else "embedder",
            "frozen_baseline": "training's cached pooled backbone features"
            if frozen
            else "not available (no cached pooled features)",
        },
        "model": {
            "fingerprint": embedder.fingerprint,
            "dim": embedder.dim,
            "backbones": dict(getattr(embedder, "backbones", {})),
        },
        "tasks": tasks,
        "latency_ms": latency,
        "targets": targets(tasks, config.k),
    }


# -- tasks ---------------------------------------------------------------------


def _run_text(
    world: EvalWorld, queries: Sequence[TextQuery], desc: str, progress: bool
) -> list[dict[str, Ranked]]:
    return [world.text_methods(q.text) for q in tqdm(queries, desc=desc, disable=not progress)]


def _other_photo(world: EvalWorld, queries: Sequence[Listing], listings, progress: bool) -> dict:
    """Second photo alone → the listing: photo-only and fused vectors, and the service.

    The service ("hybrid") embeds the photo itself and fuses its listing and
    photo searches, exactly as a photo query is served.
    """
    duplicates = duplicate_sets(listings)
    k = world.config.k
    searches = [
        (IMAGE_DENSE, world.photo_vector),
        (FUSED_DENSE, world.photo_vector),
    ]
    if FROZEN in world.dense_indexes:
        searches.append((FROZEN, world.frozen_vector))
    if world.instances is not None and queries:
        seconds = [listing.image_ids[1] for listing in queries]
        described = world.instances.describe_files(
            [world.catalogue.image_path(i) for i in seconds], world.sources.features_root
        )
        world.dense_indexes[INSTANCE] = (world.instances.index, world.photo_owner)
        searches.append((INSTANCE, dict(zip(seconds, described, strict=True))))
    names = [name for name, _ in searches] + [HYBRID]
    scores = {name: {"recall@1": [], f"recall@{k}": [], "mrr": []} for name in names}
    identical = 0
    for listing in tqdm(queries, desc="other-photo queries", disable=not progress):
        first, second = listing.image_ids[0], listing.image_ids[1]
        second_path = world.catalogue.image_path(second)
        identical += file_key(world.catalogue.image_path(first)) == file_key(second_path)
        targets = duplicates[listing.id]
        for name, vectors in searches:
            _score(scores[name], world.dense(name, vectors[second]), targets, k)
        served = world.service_search(None, image=open_photo(second_path))
        _score(scores[HYBRID], served.ids, targets, k)
    return {
        "queries": len(queries),
        "identical_photo_pairs": identical,
        "methods": _means(scores) if queries else {},
    }


def _score(scores: dict[str, list[float]], ranked: list[str], targets, k: int) -> None:
    """Append one query's recall@1, recall@k and reciprocal rank."""
    scores["recall@1"].append(recall_at_k(ranked, targets, 1) > 0)
    scores[f"recall@{k}"].append(recall_at_k(ranked, targets, k) > 0)
    scores["mrr"].append(reciprocal_rank(ranked, targets))


def _title_to_listing(
    titles: Sequence[TextQuery], runs: Sequence[dict[str, Ranked]], k: int
) -> dict:
    scores = {m: {"recall@1": [], f"recall@{k}": [], "mrr": []} for m in TEXT_METHODS}
    for query, run in zip(titles, runs, strict=True):
        for method in TEXT_METHODS:
            _score(scores[method], run[method].ids, query.targets, k)
    return {"queries": len(titles), "methods": _means(scores) if titles else {}}


def _category_precision(world, names, name_runs, titles, title_runs) -> dict:
    """Share of the top k in the query's root, per method, for each query group."""
    k = world.config.k
    groups = {**names, "titles": list(titles)}
    runs = {**name_runs, "titles": title_runs}
    out = {}
    for group, queries in groups.items():
        scores = {m: {f"precision@{k}": []} for m in TEXT_METHODS}
        for query, run in zip(queries, runs[group], strict=True):
            for method in TEXT_METHODS:
                labels = [world.root(i) for i in run[method].ids]
                scores[method][f"precision@{k}"].append(precision_at_k(labels, query.root, k))
        out[group] = {"queries": len(queries), "methods": _means(scores) if queries else {}}
    return out


def _cross_modal(titles: Sequence[TextQuery], runs: Sequence[dict[str, Ranked]], k: int) -> dict:
    """A title against photo-only vectors: does the text find the listing's photo?"""
    hits = [
        recall_at_k(run[IMAGE_DENSE].ids, q.targets, k) > 0
        for q, run in zip(titles, runs, strict=True)
    ]
    first = [
        recall_at_k(run[IMAGE_DENSE].ids, q.targets, 1) > 0
        for q, run in zip(titles, runs, strict=True)
    ]
    return {
        "queries": len(titles),
        f"recall@{k}": mean(hits) if hits else None,
        "recall@1": mean(first) if first else None,
    }


def _personalisation(
    world: EvalWorld,
    clear: dict[str, tuple[list[TextQuery], list[dict[str, Ranked]]]],
    users: Sequence[SimulatedUser],
    progress: bool,
) -> dict:
    """Ambiguous queries should lean to the user's root; clear ones should not move.

    ``clear`` holds query groups with a clear intent (titles, category names)
    and their unpersonalised runs; each clear query is asked by a user whose
    history is in another root, the case where a profile could pull it off.
    """
    k = world.config.k
    if len({u.root for u in users}) < 2:
        return {"users": len(users), "skipped": "needs users in at least two roots"}
    words = AMBIGUOUS_QUERIES if world.config.split == "test" else VALIDATION_AMBIGUOUS_QUERIES
    plain = {q: world.service_search(q) for q in words}
    without, with_profile = [], []
    pairs = [(q, u) for u in users for q in words]
    for query, user in tqdm(pairs, desc="personalisation", disable=not progress):
        ranked = world.service_search(query, user.user_id)
        without.append(precision_at_k([world.root(i) for i in plain[query].ids], user.root, k))
        with_profile.append(precision_at_k([world.root(i) for i in ranked.ids], user.root, k))
    result = {
        "users": len(users),
        "history_size": world.config.history_size,
        "ambiguous": {
            "pairs": len(pairs),
            "queries": list(words),
            f"precision@{k} without": mean(without),
            f"precision@{k} with": mean(with_profile),
            "lift": lift(mean(with_profile), mean(without)),
        },
        "clear": {},
    }
    for group, (queries, runs) in clear.items():
        rng = random.Random(f"clear:{group}:{world.config.seed}")
        chosen = sorted(
            rng.sample(range(len(queries)), min(len(queries), world.config.clear_queries))
        )
        before, after = [], []
        for i in tqdm(chosen, desc=f"clear {group}", disable=not progress):
            user = other_root_user(queries[i], users, world.config.seed)
            ranked = world.service_search(queries[i].text, user.user_id)
            before.append(
                precision_at_k([world.root(j) for j in runs[i][HYBRID].ids], queries[i].root, k)
            )
            after.append(precision_at_k([world.root(j) for j in ranked.ids], queries[i].root, k))
        if chosen:
            result["clear"][group] = {
                "queries": len(chosen),
                f"precision@{k} without": mean(before),
                f"precision@{k} with": mean(after),
                "drop": -lift(mean(after), mean(before)),
            }
    drops = [g["drop"] for g in result["clear"].values()]
    result["clear_worst_drop"] = max(drops) if drops else None
    return result


# -- summary -------------------------------------------------------------------


def targets(tasks: dict, k: int) -> dict[str, dict]:
    """The issue's targets against what was measured (None when a task had no queries)."""

    def get(*path):
        node = tasks
        for key in path:
            if not isinstance(node, dict) or key not in node:
                return None
            node = node[key]
        return node

    r, p = f"recall@{k}", f"precision@{k}"
    photo = get("other_photo", "methods", HYBRID, r)
    names = [
        get("category_precision", g, "methods", HYBRID, p)
        for g in ("root names", "sub-category names")
    ]
    title = {m: get("title_to_listing", "methods", m, r) for m in (BM25, FUSED_DENSE, HYBRID)}
    out = {
        f"other photo {r} (served: hybrid) >= 0.80": (photo, photo is not None and photo >= 0.80),
        f"category-name {p} (hybrid) >= 0.85": _all_at_least(names, 0.85),
        f"hybrid beats BM25 and dense on title {r}": (
            title,
            None not in title.values() and title[HYBRID] > max(title[BM25], title[FUSED_DENSE]),
        ),
        "personalisation lift >= 0.20": _at_least(
            get("personalisation", "ambiguous", "lift"), 0.20
        ),
        "clear-query drop <= 0.02 (worst group)": _at_most(
            get("personalisation", "clear_worst_drop"), 0.02
        ),
    }
    return {name: {"value": value, "met": bool(met)} for name, (value, met) in out.items()}


def _all_at_least(values, bound):
    present = [v for v in values if v is not None]
    return values, bool(present) and len(present) == len(values) and min(present) >= bound


def _at_least(value, bound):
    return value, value is not None and value >= bound


def _at_most(value, bound):
    return value, value is not None and value <= bound


def _latency(timings: dict[str, list[float]]) -> dict[str, float]:
    """Mean milliseconds per query, per method and query kind, in process."""
    return {name: mean(values) for name, values in sorted(timings.items()) if values}


# -- helpers -------------------------------------------------------------------


def _means(scores: dict[str, dict[str, list[float]]]) -> dict[str, dict[str, float]]:
    return {
        m: {name: mean([float(v) for v in values]) for name, values in metrics.items()}
        for m, metrics in scores.items()
    }


def _jsonable(value):
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value
