"""The search service: the one object the API, the CLI and the tests search through.

A query (text, photo or both) is embedded once into the joint space and
searched densely in FAISS; a text query is also searched with BM25 and the two
ranked lists are merged by reciprocal-rank fusion, so an exact model number
or brand in the title is found even when the embedding blurs it. Filters are
turned into the set of allowed listings *before* the search (FAISS
``IDSelector`` / BM25 mask), so a narrow filter still fills the page.

Ranking is over a fixed-depth candidate pool (``candidate_pool``, deeper only
when a page reaches past it), so page 2 continues page 1 exactly; equal
scores are ordered by listing id.

Hot-path choices: listing rows live in memory (the store is only read at
start-up and written through), repeated text queries hit a small LRU of
embeddings, and the model runs one forward pass at a time, with concurrent
text queries batched into one pass (``api.batching``).
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path

import faiss
import numpy as np
from PIL import Image

from api.batching import TextBatcher
from api.category_match import NO_MATCH, CategoryMatch, CategoryMatcher
from api.errors import InputError
from api.personalisation import (
    Interaction,
    UserProfile,
    build_profile,
    personal_scores,
    personal_weight,
    query_ambiguity,
)
from api.ranking import normalise_to_top, reciprocal_rank_fusion, stable_order
from api.schemas import (
    EventOut,
    Filters,
    ListingCreate,
    ListingIn,
    ListingOut,
    PredictResponse,
    SearchRequest,
    SearchResponse,
    SearchResult,
    SimilarResponse,
)
from api.settings import Settings
from indexing.index_store import (
    Contents,
    IndexDirectory,
    IndexMismatch,
    IndexNotFound,
    IndexVersion,
)
from indexing.instance_index import InstanceChannel
from indexing.reindex.mapper import Mapper, load_photos
from indexing.reindex.reader import Item, to_item
from indexing.store import CATEGORY_SEPARATOR, ListingNotFound, Record, Store
from indexing.text_index import derive_text_index, text_only
from indexing.vector_index import VectorIndex
from multimodal.data.catalogue import Listing

log = logging.getLogger(__name__)

# How many top hits say whether a query has one clear intent.
AMBIGUITY_HITS = 20
STOPWORDS = frozenset(
    {
        "a",
        "an",
        "and",
        "are",
        "as",
        "at",
        "be",
        "but",
        "by",
        "for",
        "from",
        "has",
        "have",
        "i",
        "in",
        "is",
        "it",
        "its",
        "my",
        "of",
        "on",
        "or",
        "so",
        "that",
        "the",
        "this",
        "to",
        "was",
        "with",
    }
)
# A category holding at least this share of a user's history is "an interest".
INTEREST_SHARE = 0.2
# Listings the store holds but the index does not (written since the last
# reindex) are embedded at start-up; past this many, a reindex is the fix.
MAX_CATCH_UP = 500


class StartupError(Exception):
    """The model or index is missing or they do not belong together: one-line reason."""


@dataclass(frozen=True)
class Snapshot:
    """The live listings as one immutable value: a search reads one, a write swaps in a new one."""

    rows: dict[int, Listing]  # fid -> listing
    fids: dict[str, int]  # listing id -> fid
    photo_owner: dict[int, int]  # image fid -> listing fid

    @classmethod
    def of(cls, records: list[Record]) -> Snapshot:
        return cls(
            rows={r.fid: r.listing for r in records},
            fids={r.listing.id: r.fid for r in records},
            photo_owner={i: r.fid for r in records for i in r.image_fids},
        )

    def with_listing(self, fid: int, listing: Listing, image_fids: tuple[int, ...]) -> Snapshot:
        base = self.without(fid)
        return Snapshot(
            rows={**base.rows, fid: listing},
            fids={**base.fids, listing.id: fid},
            photo_owner={**base.photo_owner, **dict.fromkeys(image_fids, fid)},
        )

    def without(self, fid: int) -> Snapshot:
        rows, fids = dict(self.rows), dict(self.fids)
        old = rows.pop(fid, None)
        if old is not None:
            fids.pop(old.id, None)
        owner = {i: f for i, f in self.photo_owner.items() if f != fid}
        return Snapshot(rows, fids, owner)

    def photos_of(self, fid: int) -> list[int]:
        return [i for i, f in self.photo_owner.items() if f == fid]


@dataclass(frozen=True)
class Query:
    """A search as the service sees it: the photo already decoded and checked."""

    text: str | None = None
    image: Image.Image | None = None
    k: int = 20
    offset: int = 0
    filters: Filters = field(default_factory=Filters)
    user_id: str | None = None
    personalise: bool = True

    @classmethod
    def from_request(cls, request: SearchRequest, image: Image.Image | None) -> Query:
        return cls(
            text=request.text,
            image=image,
            k=request.k,
            offset=request.offset,
            filters=request.filters,
            user_id=request.user_id,
            personalise=request.personalise,
        )


class SearchService:
    """Model + store + index version, with the locks that make them shareable."""

    def __init__(
        self,
        settings: Settings,
        embedder,
        store: Store,
        index: IndexVersion,
        instances: InstanceChannel | None = None,
        texts: VectorIndex | None = None,
    ) -> None:
        """``instances``: an optional photo-level channel for photo queries
        (``indexing.instance_index``); without it photo queries use the joint
        vectors only. ``texts``: text-only listing vectors for the dense half of
        text queries (``indexing.text_index``); without it that half is fused
        vectors only."""
        self.settings = settings
        self.instances = instances
        self.texts = texts
        self.embedder = embedder
        self.store = store
        self.index = index
        self.model_version: str = embedder.fingerprint
        self.ready = False
        self._model_lock = threading.Lock()  # one forward pass at a time
        self._texts = TextBatcher(embedder.embed_texts, self._model_lock, settings.max_text_batch)
        self._write_lock = threading.Lock()  # one catalogue write at a time
        self._query_cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._cache_lock = threading.Lock()
        self._profiles: dict[str, UserProfile] = {}
        self._live = Snapshot.of(list(store.iter_records()))
        self._n_categories = max(1, len({row.root for row in self._live.rows.values()}))
        self._category_matcher: tuple[Snapshot, CategoryMatcher] | None = None

    # -- lifetime -------------------------------------------------------------

    @classmethod
    def open(cls, settings: Settings) -> SearchService:
        """Load model, index and store; refuse a missing or mismatched one with one line."""
        import torch

        from multimodal.embedder import Embedder

        torch.set_num_threads(settings.torch_threads)
        _faiss_threads(settings.faiss_threads)
        model_dir = settings.resolved_model_dir
        if not (model_dir / "manifest.json").is_file():
            raise StartupError(f"no model at {model_dir}: run `marketplace train` first")
        try:
            embedder = Embedder.load(model_dir, settings.precision)
            index = IndexDirectory(settings.resolved_index_dir).load_current(embedder.fingerprint)
        except (IndexNotFound, IndexMismatch, FileNotFoundError, ValueError) as exc:
            raise StartupError(str(exc)) from exc
        if index.manifest.dim != embedder.dim:
            raise StartupError(
                f"index dimension {index.manifest.dim} != model dimension {embedder.dim}: "
                "run `marketplace reindex --full`"
            )
        store_path = settings.resolved_store_path
        if not store_path.is_file():
            raise StartupError(f"no catalogue store at {store_path}: run `marketplace reindex`")
        store = Store(store_path, settings.resolved_image_dir)
        instances = (
            _open_instances(settings, embedder, store, index) if settings.instance_channel else None
        )
        service = cls(settings, embedder, store, index, instances, _derive_texts(store, index))
        try:
            service.catch_up()
        except BaseException:
            service.close()
            raise
        return service

    def catch_up(self) -> int:
        """Bring the loaded index level with the store (writes since the last reindex)."""
        built = Contents.load(self.index.path).hash_by_fid()
        records = list(self.store.iter_records())
        stale = [r for r in records if built.get(r.fid) != r.content_hash.encode()]
        live = {r.fid for r in records}
        gone = [fid for fid in built if fid not in live]
        if len(stale) > MAX_CATCH_UP:
            raise StartupError(
                f"the index is {len(stale)} listings behind the store: run `marketplace reindex`"
            )
        if stale:
            image_dir = self.settings.resolved_image_dir
            self._index_items([to_item(r, image_dir) for r in stale], [r.listing for r in stale])
        if gone:
            self.index.listings.delete(gone)
            if self.texts is not None:
                self.texts.delete(gone)
            self.index.lexical.delete(gone)
        if stale or gone:
            log.info("caught up with the store: %d re-embedded, %d removed", len(stale), len(gone))
        return len(stale) + len(gone)

    def reload_index(self) -> bool:
        """Serve the version a ``marketplace reindex`` made current since this one loaded.

        The new version and its channels load while the old one keeps serving;
        the swap and the catch-up with writes made since the reindex read the
        store run under the write lock, so no catalogue write is lost. A version
        that cannot be loaded (another model's, say) is logged and skipped.
        """
        current = IndexDirectory(self.settings.resolved_index_dir).current()
        if current is None or current == self.index.path.resolve():
            return False
        try:
            index = IndexVersion.load(current, self.embedder.fingerprint)
        except (IndexMismatch, FileNotFoundError, ValueError) as exc:
            log.warning("index %s not loaded: %s", current.name, exc)
            return False
        if index.manifest.dim != self.embedder.dim:
            log.warning("index %s not loaded: dimension %d", current.name, index.manifest.dim)
            return False
        instances = (
            _open_instances(self.settings, self.embedder, self.store, index)
            if self.settings.instance_channel
            else None
        )
        texts = _derive_texts(self.store, index)
        with self._write_lock:
            self.index, self.instances, self.texts = index, instances, texts
            self.catch_up()
        log.info("now serving index %s (%d listings)", current.name, index.manifest.count)
        return True

    def warm_up(self) -> None:
        """One text and one photo query, so the first real user is not the one who waits."""
        self.search(Query(text="warm up"))
        self.search(Query(image=Image.new("RGB", (224, 224), (128, 128, 128))))
        self._query_cache.clear()
        self.ready = True

    def close(self) -> None:
        self.ready = False
        self._texts.close()
        self.store.close()

    @property
    def size(self) -> int:
        return len(self._live.rows)

    # -- search ---------------------------------------------------------------

    def search(self, query: Query) -> SearchResponse:
        started = time.perf_counter()
        _faiss_threads(self.settings.faiss_threads)
        text = self._clean_text(query.text)
        if text is None and query.image is None:
            raise InputError(422, "give a query text, a photo, or both")
        if query.offset > self.settings.max_offset:
            raise InputError(422, f"offset must be at most {self.settings.max_offset}")
        live = self._live  # one snapshot for the whole query
        allowed = self._allowed(query.filters)
        vector = self._embed(text, query.image)
        depth = max(self.settings.candidate_pool, query.offset + query.k)
        ranked = {"dense": self._dense_hits(live, vector, depth, allowed)}
        named = NO_MATCH if text is None else self._categories(live).match(text)
        text_share = 0.0
        if text is not None:
            ranked["lexical"] = self._lexical_hits(live, text, depth, allowed)
        if text is not None and query.image is None and self.texts is not None:
            # A typed query is closest to listings' own words: rank their text vectors too.
            ranked["text"] = self._dense_hits(live, vector, depth, allowed, self.texts)
            text_share = self.settings.text_dense_share
        if named.paths:
            # The query names a category: search within its root category too.
            ranked["category"] = self._category_hits(live, vector, named, depth, allowed)
        if query.image is not None and text is None:
            # A buyer's photo is closest to the listing's own photos: search them too.
            ranked["photo"] = self._photo_hits(live, vector, depth, allowed)
            if self.instances is not None:
                ranked["instance"] = self._instance_hits(live, query.image, depth, allowed)
        strength = named.coverage**self.settings.category_coverage_power
        weights = {
            "dense": self.settings.dense_weight * (1.0 - text_share),
            "text": self.settings.dense_weight * text_share,
            "lexical": self.settings.lexical_weight,
            "photo": self.settings.dense_weight,
            "category": self.settings.category_weight * strength,
            "instance": self.settings.instance_weight,
        }
        rrf_k = self.settings.photo_rrf_k if "instance" in ranked else self.settings.rrf_k
        fused = normalise_to_top(reciprocal_rank_fusion(ranked, weights, rrf_k))
        if named.paths:
            bonus = self.settings.category_bonus * strength
            for fid in fused:
                fused[fid] += bonus * named.closeness(live.rows[fid].category_path)
        whole_title: set[int] = set()
        if text is not None and self.settings.title_coverage_bonus > 0:
            whole_title = self._reward_title_coverage(text, fused)
        interests: set[str] = set()
        if query.user_id and query.personalise and not named.paths:
            # A query naming a category has a clear intent: the profile stays out of it.
            interests = self._personalise(live, query.user_id, fused)
        page = _ordered(live.rows, fused, query.offset + query.k)[query.offset :]
        found_by = {source: set(fids) for source, fids in ranked.items()} | {"title": whole_title}
        why = Reasons(found_by, text is not None, query.image is not None, interests)
        return SearchResponse(
            results=[_result(live.rows[f], fused[f], why.of(f, live.rows[f].root)) for f in page],
            total_candidates=len(fused),
            took_ms=round((time.perf_counter() - started) * 1000, 2),
            model_version=self.model_version,
        )

    def similar(self, listing_id: str, k: int) -> SimilarResponse:
        """Nearest listings to this one's own vector, itself left out."""
        started = time.perf_counter()
        _faiss_threads(self.settings.faiss_threads)
        live = self._live
        fid = self._fid(live, listing_id)
        vector = self.index.listings.reconstruct(fid)
        scores, fids = self.index.listings.search(vector, k + 1)
        hits = {
            int(f): float(s)
            for s, f in zip(scores[0], fids[0], strict=True)
            if f >= 0 and int(f) != fid and int(f) in live.rows
        }
        page = _ordered(live.rows, hits, k)
        return SimilarResponse(
            listing_id=listing_id,
            results=[_result(live.rows[f], hits[f], ["similar listing"]) for f in page],
            took_ms=round((time.perf_counter() - started) * 1000, 2),
            model_version=self.model_version,
        )

    def predict_category(self, text: str | None, image: Image.Image | None) -> PredictResponse:
        text = self._clean_text(text)
        if text is None and image is None:
            raise InputError(422, "give a text, a photo, or both")
        with self._model_lock:
            probabilities = self.embedder.predict_category(text, [image] if image else [])
        ranked = dict(sorted(probabilities.items(), key=lambda kv: (-kv[1], kv[0])))
        return PredictResponse(
            category=next(iter(ranked)),
            probabilities={name: round(float(p), 6) for name, p in ranked.items()},
        )

    # -- listings -------------------------------------------------------------

    def get_listing(self, listing_id: str) -> ListingOut:
        live = self._live
        return _listing_out(live.rows[self._fid(live, listing_id)])

    def create_listing(self, body: ListingCreate) -> ListingOut:
        listing_id = body.id or uuid.uuid4().hex
        with self._write_lock:
            if listing_id in self._live.fids:
                raise InputError(409, f"listing {listing_id} already exists")
            return self._write(_to_listing(listing_id, body))

    def update_listing(self, listing_id: str, body: ListingIn) -> ListingOut:
        with self._write_lock:
            self._fid(self._live, listing_id)
            return self._write(_to_listing(listing_id, body))

    def delete_listing(self, listing_id: str) -> None:
        with self._write_lock:
            fid = self._fid(self._live, listing_id)
            try:
                self.store.delete_listing(listing_id)
            except ListingNotFound:
                raise InputError(404, f"no listing {listing_id}") from None
            self.index.listings.delete([fid])
            if self.texts is not None:
                self.texts.delete([fid])
            self.index.photos.delete(self._live.photos_of(fid))
            self.index.lexical.delete([fid])
            self._live = self._live.without(fid)
            self._profiles.clear()

    def image_path(self, image_id: str) -> Path:
        """The cleaned photo's path; ids that could name anything else are refused."""
        from api.security import safe_image_path  # imports api.deps, which imports this module

        path = safe_image_path(self.settings.resolved_image_dir, image_id)
        if not path.is_file():
            raise InputError(404, f"no image {image_id}")
        return path

    # -- users ----------------------------------------------------------------

    def add_event(self, user_id: str, listing_id: str, type: str) -> EventOut:
        self._fid(self._live, listing_id)
        try:
            event = self.store.add_event(user_id, listing_id, type)
        except ListingNotFound:
            raise InputError(404, f"no listing {listing_id}") from None
        self._profiles.pop(user_id, None)
        return EventOut(user_id=event.user_id, listing_id=event.listing_id, type=type, ts=event.ts)

    def profile(self, user_id: str) -> UserProfile:
        cached = self._profiles.get(user_id)
        if cached is not None:
            return cached
        live = self._live
        interactions = []
        for event in self.store.events_for_user(user_id, self.settings.profile_max_events):
            fid = live.fids.get(event.listing_id)
            if fid is None:
                continue  # the listing has since been deleted
            vector = self.index.listings.reconstruct(fid)
            interactions.append(Interaction(event.type, event.ts, live.rows[fid].root, vector))
        profile = build_profile(interactions, time.time(), self.settings.event_half_life_days)
        self._profiles[user_id] = profile
        return profile

    # -- internals ------------------------------------------------------------

    def _clean_text(self, text: str | None) -> str | None:
        if text is None:
            return None
        if len(text) > self.settings.max_text_chars:
            raise InputError(422, f"text is longer than {self.settings.max_text_chars} characters")
        return text.strip() or None

    def _embed(self, text: str | None, image: Image.Image | None) -> np.ndarray:
        if image is not None or self.settings.query_cache_size == 0:
            return self._embed_uncached(text, image)
        with self._cache_lock:
            hit = self._query_cache.get(text)
            if hit is not None:
                self._query_cache.move_to_end(text)
                return hit
        vector = self._embed_uncached(text, None)
        with self._cache_lock:
            self._query_cache[text] = vector
            if len(self._query_cache) > self.settings.query_cache_size:
                self._query_cache.popitem(last=False)
        return vector

    def _embed_uncached(self, text: str | None, image: Image.Image | None) -> np.ndarray:
        if image is None:
            return self._texts.embed(text)
        with self._model_lock:
            vector = self.embedder.embed_query(text, image)
        return np.asarray(vector, dtype=np.float32).reshape(-1)

    def _allowed(self, filters: Filters) -> np.ndarray | None:
        if not filters.active:
            return None
        return self.store.listings_matching(
            price_min=filters.price_min,
            price_max=filters.price_max,
            category_prefix=filters.category or None,
            location_substring=filters.location or None,
        )

    def _dense_hits(
        self,
        live: Snapshot,
        vector: np.ndarray,
        depth: int,
        allowed: np.ndarray | None,
        index: VectorIndex | None = None,
    ) -> list[int]:
        """Nearest listings on ``index`` (default: the fused listing vectors)."""
        if allowed is not None and not len(allowed):
            return []
        _, fids = (index or self.index.listings).search(vector, depth, allowed)
        return [f for f in fids[0].tolist() if f >= 0 and f in live.rows]

    def _photo_hits(
        self, live: Snapshot, vector: np.ndarray, depth: int, allowed: np.ndarray | None
    ) -> list[int]:
        """Listings ranked by their best-matching photo."""
        photo_allowed = self._photos_allowed(live, allowed)
        if photo_allowed is not None and not len(photo_allowed):
            return []
        _, image_fids = self.index.photos.search(vector, 2 * depth, photo_allowed)
        return _owners(live, image_fids[0], depth)

    def _categories(self, live: Snapshot) -> CategoryMatcher:
        """The category names of this snapshot's listings (rebuilt after a write)."""
        cached = self._category_matcher
        if cached is None or cached[0] is not live:
            matcher = CategoryMatcher({row.category_path for row in live.rows.values()})
            cached = self._category_matcher = (live, matcher)
        return cached[1]

    def _category_hits(
        self,
        live: Snapshot,
        vector: np.ndarray,
        named: CategoryMatch,
        depth: int,
        allowed: np.ndarray | None,
    ) -> list[int]:
        """Dense hits among the listings of the named categories' roots.

        The root, not only the named sub-category: a small sub-category
        ("Sheds", two listings) still fills a page with its nearest relatives.
        """
        roots = named.roots
        inside = np.array(
            sorted(f for f, row in live.rows.items() if row.root in roots), dtype=np.int64
        )
        if allowed is not None:
            inside = np.intersect1d(inside, allowed)
        return self._dense_hits(live, vector, depth, inside)

    def _instance_hits(
        self, live: Snapshot, image: Image.Image, depth: int, allowed: np.ndarray | None
    ) -> list[int]:
        """Listings ranked by their photo nearest the buyer's on instance descriptors."""
        photo_allowed = self._photos_allowed(live, allowed)
        if photo_allowed is not None and not len(photo_allowed):
            return []
        with self._model_lock:
            image_fids = self.instances.search(image, 2 * depth, photo_allowed)
        return _owners(live, image_fids, depth)

    @staticmethod
    def _photos_allowed(live: Snapshot, allowed: np.ndarray | None) -> np.ndarray | None:
        """The image fids of the allowed listings (None: every photo)."""
        if allowed is None:
            return None
        wanted = set(allowed.tolist())
        return np.array([i for i, f in live.photo_owner.items() if f in wanted], dtype=np.int64)

    def _lexical_hits(
        self, live: Snapshot, text: str, depth: int, allowed: np.ndarray | None
    ) -> list[int]:
        if allowed is not None and not len(allowed):
            return []
        _, fids = self.index.lexical.search(keywords(text), depth, allowed)
        return [f for f in fids.tolist() if f in live.rows]

    def _reward_title_coverage(self, text: str, fused: dict[int, float]) -> set[int]:
        """Raise, in place, candidates whose titles hold the query's words.

        Returns the candidates whose titles hold every word.
        """
        bonus, power = self.settings.title_coverage_bonus, self.settings.title_coverage_power
        coverage = self.index.lexical.title_coverage(keywords(text), fused)
        for fid, share in coverage.items():
            fused[fid] += bonus * share**power
        return {fid for fid, share in coverage.items() if share == 1.0}

    def _personalise(self, live: Snapshot, user_id: str, fused: dict[int, float]) -> set[str]:
        """Tilt an ambiguous query's candidates toward the user's interests, in place.

        Returns the root categories credited as the user's interests (none when
        the query was clear enough to be left alone).
        """
        profile = self.profile(user_id)
        if profile.empty or not fused:
            return set()
        top = _ordered(live.rows, fused, AMBIGUITY_HITS)
        ambiguity = query_ambiguity(
            np.array([fused[f] for f in top]), [live.rows[f].root for f in top], self._n_categories
        )
        weight = personal_weight(
            ambiguity, self.settings.ambiguity_threshold, self.settings.personal_weight_max
        )
        if weight == 0:
            return set()
        fids = list(fused)
        roots = [live.rows[f].root for f in fids]
        bonus = personal_scores(
            profile,
            self._profile_similarity(profile, fids),
            roots,
            self.settings.personal_category_share,
        )
        for fid, extra in zip(fids, bonus.tolist(), strict=True):
            fused[fid] += weight * extra
        return {root for root, share in profile.affinities.items() if share >= INTEREST_SHARE}

    def _profile_similarity(self, profile: UserProfile, fids: list[int]) -> np.ndarray:
        """Cosine of the profile to each candidate, from one filtered FAISS search."""
        scores, hits = self.index.listings.search(
            profile.vector, len(fids), np.array(fids, np.int64)
        )
        by_fid = {int(f): float(s) for s, f in zip(scores[0], hits[0], strict=True) if f >= 0}
        return np.array([by_fid.get(f, 0.0) for f in fids], dtype=np.float32)

    @staticmethod
    def _fid(live: Snapshot, listing_id: str) -> int:
        fid = live.fids.get(listing_id)
        if fid is None:
            raise InputError(404, f"no listing {listing_id}")
        return fid

    def _write(self, listing: Listing) -> ListingOut:
        """Store first (the source of truth), then the indexes, then the live snapshot."""
        for image_id in listing.image_ids:
            self.image_path(image_id)
        old_fid = self._live.fids.get(listing.id)
        old_photos = [] if old_fid is None else self._live.photos_of(old_fid)
        fid = self.store.upsert_listing(listing)
        image_fids = tuple(self.store.image_fid(i) for i in listing.image_ids)
        item = Item(
            fid=fid,
            content_hash="",  # the mapper reads only the text, photos and keys
            text=listing.text,
            image_fids=image_fids,
            image_digests=(),
            image_paths=tuple(str(self.image_path(i)) for i in listing.image_ids),
        )
        self.index.photos.delete([i for i in old_photos if i not in image_fids])
        self._index_items([item], [listing])
        self._live = self._live.with_listing(fid, listing, image_fids)
        self._profiles.clear()  # a profile may hold this listing's old vector
        return _listing_out(listing)

    def _index_items(self, items: list[Item], listings: list[Listing]) -> None:
        """Embed listings (and their photos) and upsert them into the three indexes."""
        photos = load_photos(items)
        with self._model_lock:
            encoded = Mapper(self.embedder)(items, photos)
        self.index.listings.upsert(encoded.fids, encoded.vectors)
        if self.texts is not None:
            counts = np.cumsum([0] + [len(item.image_paths) for item in items])
            self.texts.upsert(
                encoded.fids,
                np.stack([
                    text_only(vector, encoded.image_vectors[counts[i] : counts[i + 1]])
                    for i, vector in enumerate(encoded.vectors)
                ]),
            )  # fmt: skip
        if len(encoded.image_fids):
            self.index.photos.upsert(encoded.image_fids, encoded.image_vectors)
            if self.instances is not None:
                self.instances.upsert(encoded.image_fids, [p for own in photos for p in own])
        self.index.lexical.upsert_many(
            (item.fid, listing.title, listing.description)
            for item, listing in zip(items, listings, strict=True)
        )


def _derive_texts(store: Store, index: IndexVersion) -> VectorIndex:
    """Text-only vectors of the loaded version's listings (``indexing.text_index``).

    Photos the version does not hold (listings changed since) are left out;
    the catch-up re-embeds those listings anyway.
    """
    held = set(index.photos.ids().tolist())
    photo_fids = {r.fid: [i for i in r.image_fids if i in held] for r in store.iter_records()}
    return derive_text_index(index.listings, index.photos, photo_fids, index.listings.config)


INSTANCES_DIR = "instances"  # the channel, saved inside the index version it describes


def _open_instances(settings: Settings, embedder, store: Store, index: IndexVersion):
    """The photo-level channel over every indexed photo, whitened on training listings.

    Built on the first start with an index version, then loaded from that version.

    Needs the workspace's split (pairs come from training listings only) and
    reads trunk maps from its feature cache, computing any that are missing.
    Without a split or such pairs, photo queries do without it (logged).
    """
    from multimodal.data.splits import Split

    workspace = settings.workspace
    if not workspace.split_file.is_file():
        log.warning("no instance channel: no split at %s", workspace.split_file)
        return None
    train = set(Split.load(workspace.split_file).train)
    image_dir = settings.resolved_image_dir
    records = list(store.iter_records())
    pairs = [
        (image_dir / f"{r.listing.image_ids[0]}.jpg", image_dir / f"{r.listing.image_ids[1]}.jpg")
        for r in records
        if r.listing.id in train and len(r.listing.image_ids) >= 2
    ]
    if not pairs:
        log.warning("no instance channel: no training listing has two photos")
        return None
    fids = [f for r in records for f in r.image_fids]
    paths = [image_dir / f"{i}.jpg" for r in records for i in r.listing.image_ids]
    return InstanceChannel.load_or_build(
        index.path / INSTANCES_DIR,
        embedder.fingerprint,
        embedder.model.image,
        fids,
        paths,
        pairs,
        workspace.features_dir,
        index.listings.config,
    )


_thread_state = threading.local()


def _faiss_threads(n: int) -> None:
    """Set FAISS's OpenMP team size in *this* thread.

    ``omp_set_num_threads`` is per thread: set once at start-up it leaves the
    server's worker threads on the default (every core), and an OpenMP team
    contending for two shared cores costs more than the scan it splits.
    """
    if getattr(_thread_state, "faiss_threads", None) != n:
        faiss.omp_set_num_threads(n)
        _thread_state.faiss_threads = n


def keywords(text: str) -> str:
    """The query's words minus English stopwords, for the BM25 leg.

    BM25 gives "for" or "with" almost no weight, but OR-ed into the match they
    make it score nearly every listing; dropping them keeps a keyword search
    to the words that carry it (all of them, if that is all there is).
    """
    words = text.split()
    kept = [w for w in words if w.lower().strip(".,!?;:'\"") not in STOPWORDS]
    return " ".join(kept or words)


def _owners(live: Snapshot, image_fids: np.ndarray, depth: int) -> list[int]:
    """The live listings owning photos ranked best first, each once, at most ``depth``."""
    owners = (live.photo_owner.get(int(i)) for i in image_fids if i >= 0)
    return list(dict.fromkeys(f for f in owners if f is not None and f in live.rows))[:depth]


def _ordered(rows: dict[int, Listing], scores: dict[int, float], limit: int) -> list[int]:
    """The best ``limit`` by descending score, ties by listing id (the contract's stable order)."""
    return stable_order(scores, lambda fid: rows[fid].id, limit)


def _result(listing: Listing, score: float, reasons: list[str]) -> SearchResult:
    return SearchResult(
        id=listing.id,
        title=listing.title,
        price=listing.price,
        category=listing.category,
        location=listing.location,
        image_url=f"/images/{listing.image_ids[0]}" if listing.image_ids else None,
        score=round(score, 6),
        reasons=reasons,
    )


@dataclass(frozen=True)
class Reasons:
    """Why a result ranked: which searches found it, and the user's interests it matches."""

    found_by: dict[str, set[int]]  # search -> the fids it found
    has_text: bool
    has_image: bool
    interests: set[str]

    def of(self, fid: int, root: str) -> list[str]:
        if self.has_text and self.has_image:
            dense = "text and photo match"
        else:
            dense = "photo match" if self.has_image else "text match"
        labels = {
            "dense": dense,
            "text": "text match",
            "lexical": "keyword match",
            "photo": "similar photo",
            "category": "in the category you named",
            "instance": "looks like your photo",
            "title": "every word in the title",
        }
        # dense and text vectors both say "text match": each reason once
        found = list(
            dict.fromkeys(labels[source] for source, fids in self.found_by.items() if fid in fids)
        )
        if root in self.interests:
            found.append(f"your interest in {root}")
        return found


def _to_listing(listing_id: str, body: ListingIn) -> Listing:
    path = tuple(part.strip() for part in body.category.split("/") if part.strip())
    if not path:
        raise InputError(422, "category must name at least a root category")
    return Listing(
        id=listing_id,
        title=body.title.strip(),
        description=body.description.strip(),
        price=body.price,
        location=body.location.strip(),
        category_path=path,
        image_ids=tuple(body.image_ids),
    )


def _listing_out(listing: Listing) -> ListingOut:
    return ListingOut(
        id=listing.id,
        title=listing.title,
        description=listing.description,
        price=listing.price,
        location=listing.location,
        category=CATEGORY_SEPARATOR.join(listing.category_path),
        image_ids=list(listing.image_ids),
        image_urls=[f"/images/{i}" for i in listing.image_ids],
    )
