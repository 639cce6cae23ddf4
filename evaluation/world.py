"""What one retrieval evaluation builds once: vectors, indexes, the search service, users.

The catalogue is embedded once (text vectors and photo-only vectors, see
``VectorSources``), and every index the compared methods need is built in a
temporary folder: text-only, photo-only and fused vectors, BM25, the
photo-level instance channel, and a ``SearchService`` over the fused vectors
for hybrid search and personalisation. ``EvalWorld`` then answers one query
with each method and times it. The serving index is never touched.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from api.service import Query, SearchService
from api.settings import Settings
from evaluation.queries import SimulatedUser
from indexing.config import IndexConfig
from indexing.index_store import IndexManifest, IndexVersion
from indexing.lexical import LexicalIndex
from indexing.store import Store
from indexing.vector_index import VectorIndex
from multimodal.data.catalogue import CleanCatalogue, Listing
from multimodal.features import FeatureCache, cached_compute, file_key, text_key

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
                # Each listing is scored by its own id: a grouped page would hide a
                # target behind its copy. `evaluate queries` measures grouping itself.
                group_reposts=False,
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
        lambda batch: embedder.embed_images([open_photo(p) for p in batch]),
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


def open_photo(path: Path) -> Image.Image:
    with Image.open(path) as image:
        return image.convert("RGB")


def _ms(started: float) -> float:
    return (time.perf_counter() - started) * 1e3
