"""Retrieval evaluation: does search find the right listings, method by method.

One run embeds the catalogue once (text vectors and photo-only vectors, see
``VectorSources``), builds in a temporary folder every index the methods need —
text-only, photo-only and fused vectors, BM25, and a ``SearchService`` over
the fused vectors for hybrid search and personalisation — and asks every
method the same test-split questions, so the numbers sit side by side:

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
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image
from tqdm import tqdm

from api.eval_queries import (
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
from api.service import Query, SearchService
from api.settings import Settings
from indexing.config import IndexConfig
from indexing.index_store import IndexManifest, IndexVersion
from indexing.lexical import LexicalIndex
from indexing.store import Store
from indexing.vector_index import VectorIndex
from multimodal.data.catalogue import CleanCatalogue, Listing
from multimodal.data.splits import Split
from multimodal.features import FeatureCache, cached_compute, file_key, text_key
from multimodal.retrieval_metrics import lift, mean, precision_at_k, recall_at_k, reciprocal_rank

BM25 = "bm25"
TEXT_DENSE = "text dense"
IMAGE_DENSE = "image dense"
FUSED_DENSE = "fused dense"
HYBRID = "hybrid"
PERSONALISED = "hybrid + personalisation"
FROZEN = "frozen backbone (baseline)"
INSTANCE = "instance descriptors"
TEXT_METHODS = (BM25, TEXT_DENSE, IMAGE_DENSE, FUSED_DENSE, HYBRID)


@dataclass(frozen=True)
class EvalConfig:
    """What one run asks. ``split`` "val" is for tuning ranking knobs: validation
    listings as queries, other simulated users, other ambiguous words and the
    validation half of the category names; "test" is what reports show."""

    seed: int = 0
    split: str = "test"
    k: int = 10
    max_queries: int | None = None  # per task; None: every test listing
    users_per_root: int = 3
    history_size: int = 8
    clear_queries: int = 200
    batch_size: int = 32
    index: IndexConfig = field(default_factory=IndexConfig)


@dataclass
class Ranked:
    """One method's top-k listing ids for one query, and what it cost."""

    ids: list[str]
    ms: float


@dataclass(frozen=True)
class VectorSources:
    """Where the catalogue's vectors come from.

    With ``features_root`` (the workspace's training feature cache) and a
    bundle-backed embedder, the index side is computed from cached frozen-layer
    outputs (``multimodal.cached_vectors``), and the cached pooled
    frozen-backbone features give the frozen baseline for free. Otherwise
    every text and photo goes through the embedder's public methods, cached
    under ``cache_root`` by content so a second run is fast.
    """

    cache_root: Path | None = None
    features_root: Path | None = None


class EvalWorld:
    """Everything built once per run: vectors, indexes, the search service, the users."""

    def __init__(
        self,
        catalogue: CleanCatalogue,
        embedder,
        workdir: Path,
        sources: VectorSources,
        config: EvalConfig,
        photo_ids: set[str],
        pair_ids: Sequence[str] = (),
    ) -> None:
        """``pair_ids``: listings (never asked about) whose first two photos fit the
        photo-level instance channel's whitening; it is built when the training
        feature cache is available."""
        self.catalogue = catalogue
        self.embedder = embedder
        self.sources = sources
        self.config = config
        self.listings = {listing.id: listing for listing in catalogue.listings}
        self.timings: dict[str, list[float]] = defaultdict(list)  # ms per query, by method
        self.store = Store(workdir / "catalogue.sqlite", image_dir=catalogue.image_dir)
        self.store.sync_listings(catalogue.listings)
        records = list(self.store.iter_records())
        self.id_of = {r.fid: r.listing.id for r in records}
        # The photo-only indexes hold each listing's first photo, keyed by its image fid.
        self.photo_owner = {r.image_fids[0]: r.listing.id for r in records if r.image_fids}
        ordered = [r.listing for r in records]
        text_matrix, self.photo_vector = _catalogue_vectors(
            embedder, catalogue, ordered, sorted(photo_ids), sources, workdir, config.batch_size
        )
        self.frozen_vector = _frozen_photos(sources.features_root, embedder, photo_ids, catalogue)

        fids = np.array([r.fid for r in records], dtype=np.int64)
        first = [listing.image_ids[0] if listing.image_ids else None for listing in ordered]
        with_photo = [i for i, image_id in enumerate(first) if image_id is not None]
        photo_matrix = np.stack([self.photo_vector[first[i]] for i in with_photo])
        fused = text_matrix.copy()
        fused[with_photo] = _fuse(text_matrix[with_photo], photo_matrix)

        photo_fids = np.array([records[i].image_fids[0] for i in with_photo], dtype=np.int64)
        self.fused_index = VectorIndex.build(fids, fused, config.index)
        self.photo_index = VectorIndex.build(photo_fids, photo_matrix, config.index)
        # method -> (index, its id -> listing id); photo indexes are keyed by image fid
        self.dense_indexes = {
            TEXT_DENSE: (VectorIndex.build(fids, text_matrix, config.index), self.id_of),
            IMAGE_DENSE: (self.photo_index, self.photo_owner),
            FUSED_DENSE: (self.fused_index, self.id_of),
        }
        if self.frozen_vector is not None:
            frozen = np.stack([self.frozen_vector[first[i]] for i in with_photo])
            self.dense_indexes[FROZEN] = (
                VectorIndex.build(photo_fids, frozen, config.index),
                self.photo_owner,
            )
        self.lexical = LexicalIndex.build(
            (r.fid, r.listing.title, r.listing.description) for r in records
        )
        version = IndexVersion(
            path=workdir,
            manifest=_manifest(embedder, self.fused_index, self.photo_index),
            listings=self.fused_index,
            photos=self.photo_index,
            lexical=self.lexical,
        )
        self.instances = _instance_channel(
            embedder, catalogue, sources, photo_fids, [first[i] for i in with_photo], pair_ids,
            config.index,
        )  # fmt: skip
        settings = Settings(data=catalogue.root, query_cache_size=0)  # every query embeds
        texts = self.dense_indexes[TEXT_DENSE][0]  # the text vectors themselves, not derived
        self.service = SearchService(settings, embedder, self.store, version, self.instances, texts)

    def close(self) -> None:
        self.service.close()

    def add_users(self, users: Iterable[SimulatedUser]) -> None:
        now = time.time()
        for user in users:
            for listing_id, event_type, seconds_ago in user.events:
                self.store.add_event(user.user_id, listing_id, event_type, ts=now - seconds_ago)

    def root(self, listing_id: str) -> str:
        return self.listings[listing_id].root

    # -- methods --------------------------------------------------------------

    def dense(self, method: str, vector: np.ndarray) -> list[str]:
        """Top-k listing ids of one dense method."""
        index, owner = self.dense_indexes[method]
        _, ids = index.search(vector, self.config.k)
        return [owner[int(i)] for i in ids[0] if i >= 0]

    def bm25(self, text: str) -> Ranked:
        started = time.perf_counter()
        _, fids = self.lexical.search(text, self.config.k)
        return Ranked([self.id_of[int(f)] for f in fids], _ms(started))

    def service_search(
        self, text: str | None, user_id: str | None = None, image: Image.Image | None = None
    ) -> Ranked:
        started = time.perf_counter()
        response = self.service.search(
            Query(
                text=text,
                image=image,
                k=self.config.k,
                user_id=user_id,
                personalise=user_id is not None,
            )
        )
        ranked = Ranked([r.id for r in response.results], _ms(started))
        kind = "photo query" if image is not None and text is None else "text query"
        method = PERSONALISED if user_id is not None else HYBRID
        self.timings[f"{kind}: {method}"].append(ranked.ms)
        return ranked

    def text_methods(self, text: str) -> dict[str, Ranked]:
        """Every text method on one query; dense methods share one timed embedding."""
        started = time.perf_counter()
        vector = np.asarray(self.embedder.embed_query(text, None), dtype=np.float32)
        embed_ms = _ms(started)
        out = {BM25: self.bm25(text)}
        for name in (TEXT_DENSE, IMAGE_DENSE, FUSED_DENSE):
            started = time.perf_counter()
            out[name] = Ranked(self.dense(name, vector), embed_ms + _ms(started))
        for name in (BM25, TEXT_DENSE, IMAGE_DENSE, FUSED_DENSE):
            self.timings[f"text query: {name}"].append(out[name].ms)
        out[HYBRID] = self.service_search(text)
        return out


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
        served = world.service_search(None, image=_open(second_path))
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


def _cached_rows(cache, inputs, keys, compute: Callable, batch_size: int, desc: str):
    """Vectors for ``inputs``, reusing any computed by an earlier run of the same model."""
    rows, _ = cached_compute(
        cache,
        keys,
        inputs,
        lambda batch: list(np.asarray(compute(batch), np.float32)),
        batch_size,
        desc,
    )
    return rows


def uses_feature_cache(embedder, sources: VectorSources) -> bool:
    """Whether the index side comes from training's cached frozen-layer outputs."""
    return sources.features_root is not None and hasattr(embedder, "model")


def _catalogue_vectors(
    embedder,
    catalogue: CleanCatalogue,
    listings: Sequence[Listing],
    photo_ids: Sequence[str],
    sources: VectorSources,
    workdir: Path,
    batch_size: int,
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Text vectors of ``listings`` (in order) and photo vectors of ``photo_ids``."""
    texts = [listing.text for listing in listings]
    if uses_feature_cache(embedder, sources):
        from multimodal.cached_vectors import photo_vectors, text_vectors

        text_matrix = text_vectors(embedder, texts, sources.features_root)
        photos = photo_vectors(embedder, catalogue, photo_ids, sources.features_root)
        return text_matrix, dict(zip(photo_ids, photos, strict=True))
    cache_root = sources.cache_root or workdir / "features"
    text_rows = _cached_rows(
        FeatureCache(cache_root, f"eval-text-{embedder.fingerprint}"),
        texts,
        [text_key(t) for t in texts],
        embedder.embed_texts,
        batch_size,
        "text vectors",
    )
    paths = [catalogue.image_path(i) for i in photo_ids]
    photos = _cached_rows(
        FeatureCache(cache_root, f"eval-photo-{embedder.fingerprint}"),
        paths,
        [file_key(p) for p in paths],
        lambda batch: embedder.embed_images([_open(p) for p in batch]),
        batch_size,
        "photo vectors",
    )
    return np.stack(text_rows).astype(np.float32), dict(zip(photo_ids, photos, strict=True))


def _instance_channel(
    embedder,
    catalogue: CleanCatalogue,
    sources: VectorSources,
    photo_fids: np.ndarray,
    photo_ids: Sequence[str],
    pair_ids: Sequence[str],
    config: IndexConfig,
):
    """The photo-level channel over the indexed photos, or None without the feature cache."""
    if not uses_feature_cache(embedder, sources):
        return None
    from indexing.instance_index import InstanceChannel

    by_id = {listing.id: listing for listing in catalogue.listings}
    pairs = [
        tuple(catalogue.image_path(i) for i in by_id[lid].image_ids[:2])
        for lid in sorted(pair_ids)
        if lid in by_id and len(by_id[lid].image_ids) >= 2
    ]
    if not pairs:
        return None
    return InstanceChannel.build(
        embedder.model.image,
        photo_fids,
        [catalogue.image_path(i) for i in photo_ids],
        pairs,
        sources.features_root,
        config,
    )


def _frozen_photos(
    root: Path | None, embedder, photo_ids: set[str], catalogue: CleanCatalogue
) -> dict[str, np.ndarray] | None:
    """Pretrained-backbone photo features, normalised, if training cached them all.

    Training keeps the frozen backbone's pooled output of every photo (plain and
    mirrored); the plain one, unprojected, is the baseline the model must beat.
    Never computed here: without the cache the baseline is left out.
    """
    image = getattr(getattr(embedder, "model", None), "image", None)
    if root is None or image is None:
        return None
    cache = FeatureCache(root, f"image-{image.trunk_fingerprint}-pooled")
    keys = {i: file_key(catalogue.image_path(i)) for i in sorted(photo_ids)}
    if not all(key in cache for key in keys.values()):
        return None
    rows = np.stack([feats[0] for feats in cache.get(keys.values())]).astype(np.float32)
    rows /= np.linalg.norm(rows, axis=1, keepdims=True)
    return dict(zip(keys, rows, strict=True))


def _fuse(text: np.ndarray, photos: np.ndarray) -> np.ndarray:
    """Listing vectors from text + one photo, with the model's own fusion rule."""
    import torch

    from multimodal.fusion import FusionHead

    fused = FusionHead.fuse(torch.from_numpy(text), torch.from_numpy(photos))
    return fused.numpy().astype(np.float32)


def _manifest(embedder, listings: VectorIndex, photos: VectorIndex) -> IndexManifest:
    """What the service expects to know about its index; this one lives only in memory."""
    return IndexManifest(
        version=0,
        kind=listings.kind,
        photo_kind=photos.kind,
        dim=embedder.dim,
        count=len(listings),
        photo_count=len(photos),
        model_fingerprint=embedder.fingerprint,
        backbones=dict(getattr(embedder, "backbones", {})),
        built_at=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        build_seconds=0.0,
        data={"evaluation": "in-memory index of the evaluation run"},
        changes={},
    )


def _open(path: Path) -> Image.Image:
    with Image.open(path) as image:
        return image.convert("RGB")


def _ms(started: float) -> float:
    return (time.perf_counter() - started) * 1e3


def _jsonable(value):
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value
