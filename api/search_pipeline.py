"""The ranking pipeline: a query in, a ranked page out, over one snapshot of the channels.

A query (text, photo or both) is embedded once into the joint space and
searched densely in FAISS; a text query is also searched with BM25 and the two
ranked lists are merged by reciprocal-rank fusion, so an exact model number
or brand in the title is found even when the embedding blurs it. Filters are
turned into the set of allowed listings *before* the search (FAISS
``IDSelector`` / BM25 mask), so a narrow filter still fills the page.

Ranking is over a fixed-depth candidate pool (``candidate_pool``, deeper only
when a page reaches past it), so page 2 continues page 1 exactly; equal
scores are ordered by listing id.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

import faiss
import numpy as np
from PIL import Image

from api.batching import TextBatcher
from api.category_match import NO_MATCH, CategoryMatcher
from api.channel_hits import (
    RootMembers,
    category_hits,
    dense_hits,
    owners,
    photo_hits,
    photos_allowed,
    profile_similarity,
)
from api.domain_errors import InvalidInput, NotFound
from api.facets import count_facets
from api.personalisation import (
    Interaction,
    UserProfile,
    build_profile,
    personal_scores,
    personal_weight,
    query_ambiguity,
)
from api.price_context import PriceContexts
from api.ranking import normalise_to_top, reciprocal_rank_fusion, stable_order
from api.schemas import (
    MAX_K,
    Filters,
    Personalisation,
    PriceContext,
    SearchResponse,
    SearchResult,
    SimilarResponse,
)
from api.serving_state import Channels, Snapshot
from api.settings import RankingConfig, Settings
from api.snapshot_filters import allowed_fids
from api.understanding.parser import read_query
from indexing.store import Store, StoreUnavailable
from multimodal.data.catalogue import Listing
from multimodal.instance_features import describe_prepared, prepare_images


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
    facets: bool = False
    group_reposts: bool = True
    understand: bool = True  # read price, place and category words as filters, fix typos
    ignore_parsed: frozenset[str] = frozenset()  # readings not to make (removed chips)


class QueryEmbedder:
    """The model behind one lock (one forward pass at a time), concurrent text queries
    batched into one pass (``api.batching``), repeated text queries from a small LRU,
    and ``side``: threads for a query's work that can run beside its embedding."""

    def __init__(self, embedder, settings: Settings) -> None:
        self.embedder = embedder
        self.model_lock = threading.Lock()
        self._cache_size = settings.query_cache_size
        self._texts = TextBatcher(embedder.embed_texts, self.model_lock, settings.max_text_batch)
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._cache_lock = threading.Lock()
        self.side = ThreadPoolExecutor(max_workers=2, thread_name_prefix="query-side")

    def embed(self, text: str | None, image: Image.Image | None) -> np.ndarray:
        return self.start(text, image).result()

    def start(self, text: str | None, image: Image.Image | None) -> Future:
        """The query's vector as a future. A text query's comes from the batcher's
        thread, so the caller's own work overlaps the forward pass; a photo's is
        computed here."""
        if image is not None:
            return _done(self._embed_uncached(text, image))
        if self._cache_size == 0:
            return self._texts.submit(text)
        with self._cache_lock:
            hit = self._cache.get(text)
            if hit is not None:
                self._cache.move_to_end(text)
                return _done(hit)
        future = self._texts.submit(text)
        future.add_done_callback(lambda done: self._remember(text, done))
        return future

    def _remember(self, text: str, done: Future) -> None:
        if done.exception() is not None:
            return
        with self._cache_lock:
            self._cache[text] = done.result()
            if len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)

    def clear_cache(self) -> None:
        with self._cache_lock:
            self._cache.clear()

    def close(self) -> None:
        self._texts.close()
        self.side.shutdown()

    def _embed_uncached(self, text: str | None, image: Image.Image | None) -> np.ndarray:
        if image is None:
            return self._texts.embed(text)
        with self.model_lock:
            vector = self.embedder.embed_query(text, image)
        return np.asarray(vector, dtype=np.float32).reshape(-1)


class SearchPipeline:
    """Search, similar listings and user profiles over the channels and snapshot given."""

    def __init__(self, settings: Settings, store: Store, embed: QueryEmbedder) -> None:
        self.settings = settings
        self.ranking: RankingConfig = settings.ranking
        self.store = store
        self.embed = embed
        self._profiles: dict[str, UserProfile] = {}
        # this snapshot's category names, and how many root categories it has
        self._category_matcher: tuple[Snapshot, CategoryMatcher, int, RootMembers] | None = None
        self._prices = PriceContexts(settings.price_context)

    def forget_profiles(self, user_id: str | None = None) -> None:
        """Drop cached profiles (one user's after an event, all after a catalogue write)."""
        if user_id is None:
            self._profiles.clear()
        else:
            self._profiles.pop(user_id, None)

    def clean_text(self, text: str | None) -> str | None:
        if text is None:
            return None
        if len(text) > self.settings.max_text_chars:
            raise InvalidInput(f"text is longer than {self.settings.max_text_chars} characters")
        return text.strip() or None

    # -- search ---------------------------------------------------------------

    def search(self, query: Query, live: Snapshot, channels: Channels) -> SearchResponse:
        started = time.perf_counter()
        faiss_threads(self.settings.faiss_threads)
        settings = self.settings
        text = self.clean_text(query.text)
        if text is None and query.image is None:
            raise InvalidInput("give a query text, a photo, or both")
        if not 1 <= query.k <= MAX_K:
            raise InvalidInput(f"k must be between 1 and {MAX_K}")
        if not 0 <= query.offset <= settings.max_offset:
            raise InvalidInput(f"offset must be between 0 and {settings.max_offset}")
        reading = None
        if text is not None and query.understand:
            reading = read_query(
                text, query.filters, live.language, self._categories(live), query.ignore_parsed
            )
            text = reading.text
        index = channels.index
        allowed = allowed_fids(live.rows, reading.filters if reading else query.filters)
        depth = max(settings.candidate_pool, query.offset + query.k)
        # What needs no query vector runs while the model makes it (on two cores at once).
        instance = None
        if query.image is not None and text is None and channels.instances is not None:
            instance = self.embed.side.submit(
                self._instance_hits, live, channels, query.image, depth, allowed
            )
        pending = self.embed.start(text, query.image)
        named = NO_MATCH if text is None else self._categories(live).match(text)
        lexical = None if text is None else self._lexical_hits(live, channels, text, depth, allowed)
        keyword_fids = None if text is None else self._keyword_matches(channels, text, allowed)
        vector = pending.result()
        ranked = {"dense": dense_hits(live, index.listings, vector, depth, allowed)}
        text_share = 0.0
        if lexical is not None:
            ranked["lexical"] = lexical
        if text is not None and query.image is None and channels.texts is not None:
            # A typed query is closest to listings' own words: rank their text vectors too.
            ranked["text"] = dense_hits(live, channels.texts, vector, depth, allowed)
            text_share = settings.text_dense_share
        if named.paths:
            # The query names a category: search within its root category too.
            members = self._category_names(live)[3]
            ranked["category"] = category_hits(
                live, index.listings, vector, named, members, depth, allowed
            )
        if query.image is not None and text is None:
            # A buyer's photo is closest to the listing's own photos: search them too.
            ranked["photo"] = photo_hits(live, index.photos, vector, depth, allowed)
            if instance is not None:
                ranked["instance"] = instance.result()
        strength = named.coverage**settings.category_coverage_power
        weights = {
            "dense": settings.dense_weight * (1.0 - text_share),
            "text": settings.dense_weight * text_share,
            "lexical": settings.lexical_weight,
            "photo": settings.dense_weight,
            "category": settings.category_weight * strength,
            "instance": settings.instance_weight,
        }
        rrf_k = settings.photo_rrf_k if "instance" in ranked else settings.rrf_k
        fused = normalise_to_top(reciprocal_rank_fusion(ranked, weights, rrf_k))
        if named.paths:
            bonus = settings.category_bonus * strength
            for fid in fused:
                fused[fid] += bonus * named.closeness(live.rows[fid].category_path)
        whole_title: set[int] = set()
        if text is not None and settings.title_coverage_bonus > 0:
            whole_title = self._reward_title_coverage(channels, text, fused)
        interests: set[str] = set()
        personalisation: Personalisation = "off"
        if query.user_id and query.personalise and not named.paths:
            # A query naming a category has a clear intent: the profile stays out of it.
            try:
                interests = self._personalise(live, channels, query.user_id, fused)
                personalisation = "applied"
            except StoreUnavailable:  # no cached profile, and no database to build one
                personalisation = "unavailable"
        grouped = query.group_reposts
        page = _page(live, fused, query.offset, query.k, grouped)
        found_by = {source: set(fids) for source, fids in ranked.items()} | {"title": whole_title}
        why = Reasons(found_by, text is not None, query.image is not None, interests)
        matches = self._matches(live, keyword_fids, fused)
        groups = live.reposts.group_ids if grouped else None
        prices = self._prices.of_many(page, live, index.listings)
        results = [
            result(
                live.rows[f],
                fused[f],
                why.of(f, live.rows[f].root),
                also_listed=[live.rows[c].id for c in live.reposts.others(f, allowed)]
                if grouped
                else [],
                price_context=prices[f],
            )
            for f in page
        ]
        return SearchResponse(
            results=results,
            total_candidates=len(matches) if groups is None else len(np.unique(groups[matches])),
            took_ms=round((time.perf_counter() - started) * 1000, 2),
            model_version=self.embed.embedder.fingerprint,
            facets=count_facets(live.facets, matches, groups, settings.facets)
            if query.facets
            else None,
            understood=reading.understood if reading else None,
            did_you_mean=reading.did_you_mean if reading else None,
            personalisation=personalisation,
        )

    def price_context(self, fid: int, live: Snapshot, channels: Channels) -> PriceContext | None:
        return self._prices.of(fid, live, channels.index.listings)

    def warm_price_context(self, live: Snapshot, channels: Channels) -> None:
        self._prices.warm(live, channels.index.listings)

    def similar(
        self, listing_id: str, k: int, live: Snapshot, channels: Channels
    ) -> SimilarResponse:
        """Nearest listings to this one's own vector, itself left out."""
        started = time.perf_counter()
        faiss_threads(self.settings.faiss_threads)
        fid = fid_of(live, listing_id)
        listings = channels.index.listings
        scores, fids = listings.search(listings.reconstruct(fid), k + 1)
        hits = {
            int(f): float(s)
            for s, f in zip(scores[0], fids[0], strict=True)
            if f >= 0 and int(f) != fid and int(f) in live.rows
        }
        page = _ordered(live.rows, hits, k)
        return SimilarResponse(
            listing_id=listing_id,
            results=[result(live.rows[f], hits[f], ["similar listing"]) for f in page],
            took_ms=round((time.perf_counter() - started) * 1000, 2),
            model_version=self.embed.embedder.fingerprint,
        )

    def profile(self, user_id: str, live: Snapshot, channels: Channels) -> UserProfile:
        cached = self._profiles.get(user_id)
        if cached is not None:
            return cached
        interactions = []
        for event in self.store.events_for_user(user_id, self.settings.profile_max_events):
            fid = live.fids.get(event.listing_id)
            if fid is None:
                continue  # the listing has since been deleted
            vector = channels.index.listings.reconstruct(fid)
            interactions.append(Interaction(event.type, event.ts, live.rows[fid].root, vector))
        profile = build_profile(interactions, time.time(), self.settings.event_half_life_days)
        self._profiles[user_id] = profile
        return profile

    # -- internals ------------------------------------------------------------

    def _categories(self, live: Snapshot) -> CategoryMatcher:
        """The category names of this snapshot's listings (rebuilt after a write)."""
        return self._category_names(live)[1]

    def _n_roots(self, live: Snapshot) -> int:
        return self._category_names(live)[2]

    def _category_names(self, live: Snapshot) -> tuple[Snapshot, CategoryMatcher, int, RootMembers]:
        cached = self._category_matcher
        if cached is None or cached[0] is not live:
            matcher = CategoryMatcher(
                [row.category_path for row in live.rows.values()],
                self.settings.category_filter_min_listings,
            )
            # "Uncategorised" is no interest a profile could tilt towards
            n_roots = max(1, len({row.root for row in live.rows.values() if row.categorised}))
            cached = self._category_matcher = (live, matcher, n_roots, RootMembers.of(live))
        return cached

    def _instance_hits(
        self,
        live: Snapshot,
        channels: Channels,
        image: Image.Image,
        depth: int,
        allowed: np.ndarray | None,
    ) -> list[int]:
        """Listings ranked by their photo nearest the buyer's on instance descriptors.

        Runs on ``QueryEmbedder.side``, beside the query's own embedding. The
        preprocessing and the colour histogram are made while the other thread's
        trunk pass runs; only this one's trunk pass holds the model lock (the
        runtime keeps the other pass's output, so it is not run twice). The
        projection and the scan then run while the other thread finishes its
        vector and searches.
        """
        faiss_threads(self.settings.faiss_threads)
        photo_allowed = photos_allowed(live, allowed)
        if photo_allowed is not None and not len(photo_allowed):
            return []
        encoder = channels.instances.encoder
        prepared = prepare_images(encoder, [image])
        raw = describe_prepared(encoder, prepared, model_lock=self.embed.model_lock)
        image_fids = channels.instances.nearest(raw, 2 * depth, photo_allowed)
        return owners(live, image_fids, depth)

    def _matches(
        self, live: Snapshot, keyword_fids: np.ndarray | None, fused: dict[int, float]
    ) -> np.ndarray:
        """The query's matches after filters, as live fids: its ranked candidates plus
        every listing holding one of its keywords (not only the top the pool took)."""
        found = np.fromiter(fused, np.int64, len(fused))
        if keyword_fids is not None:
            found = np.union1d(found, keyword_fids)
        return live.facets.live(found)

    def _keyword_matches(
        self, channels: Channels, text: str, allowed: np.ndarray | None
    ) -> np.ndarray:
        """Every allowed listing holding one of the query's keywords (fids, ascending)."""
        words = channels.index.lexical.matching(keywords(text, self.ranking.stopwords))
        if allowed is not None:
            words = np.intersect1d(words, allowed, assume_unique=True)
        return words

    def _lexical_hits(
        self, live: Snapshot, channels: Channels, text: str, depth: int, allowed: np.ndarray | None
    ) -> list[int]:
        if allowed is not None and not len(allowed):
            return []
        words = keywords(text, self.ranking.stopwords)
        _, fids = channels.index.lexical.search(words, depth, allowed)
        return [f for f in fids.tolist() if f in live.rows]

    def _reward_title_coverage(
        self, channels: Channels, text: str, fused: dict[int, float]
    ) -> set[int]:
        """Raise, in place, candidates whose titles hold the query's words.

        Returns the candidates whose titles hold every word.
        """
        bonus, power = self.settings.title_coverage_bonus, self.settings.title_coverage_power
        words = keywords(text, self.ranking.stopwords)
        coverage = channels.index.lexical.title_coverage(words, fused)
        for fid, share in coverage.items():
            fused[fid] += bonus * share**power
        return {fid for fid, share in coverage.items() if share == 1.0}

    def _personalise(
        self, live: Snapshot, channels: Channels, user_id: str, fused: dict[int, float]
    ) -> set[str]:
        """Tilt an ambiguous query's candidates toward the user's interests, in place.

        Returns the root categories credited as the user's interests (none when
        the query was clear enough to be left alone).
        """
        profile = self.profile(user_id, live, channels)
        if profile.empty or not fused:
            return set()
        top = _ordered(live.rows, fused, self.ranking.ambiguity_hits)
        ambiguity = query_ambiguity(
            np.array([fused[f] for f in top]), [live.rows[f].root for f in top], self._n_roots(live)
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
            profile_similarity(channels.index.listings, profile, fids),
            roots,
            self.settings.personal_category_share,
        )
        for fid, extra in zip(fids, bonus.tolist(), strict=True):
            fused[fid] += weight * extra
        share = self.ranking.interest_share
        return {root for root, part in profile.affinities.items() if part >= share}


def fid_of(live: Snapshot, listing_id: str) -> int:
    fid = live.fids.get(listing_id)
    if fid is None:
        raise NotFound(f"no listing {listing_id}")
    return fid


_thread_state = threading.local()


def faiss_threads(n: int) -> None:
    """Set FAISS's OpenMP team size in *this* thread.

    ``omp_set_num_threads`` is per thread: set once at start-up it leaves the
    server's worker threads on the default (every core), and an OpenMP team
    contending for two shared cores costs more than the scan it splits.
    """
    if getattr(_thread_state, "faiss_threads", None) != n:
        faiss.omp_set_num_threads(n)
        _thread_state.faiss_threads = n


def keywords(text: str, stopwords: frozenset[str]) -> str:
    """The query's words minus stopwords, for the BM25 leg.

    BM25 gives "for" or "with" almost no weight, but OR-ed into the match they
    make it score nearly every listing; dropping them keeps a keyword search
    to the words that carry it (all of them, if that is all there is).
    """
    words = text.split()
    kept = [w for w in words if w.lower().strip(".,!?;:'\"") not in stopwords]
    return " ".join(kept or words)


def _ordered(rows: dict[int, Listing], scores: dict[int, float], limit: int) -> list[int]:
    """The best ``limit`` by descending score, ties by listing id (the contract's stable order)."""
    return stable_order(scores, lambda fid: rows[fid].id, limit)


def _page(live: Snapshot, fused: dict[int, float], offset: int, k: int, grouped: bool) -> list[int]:
    """The fids of results ``offset`` to ``offset + k``; grouped, each re-posted ad once
    (at its best copy) before paging, so page 2 holds no copy of a page-1 result."""
    limit = offset + k
    ordered = _ordered(live.rows, fused, limit)
    if grouped:
        ordered = live.reposts.collapse(ordered)
        if len(ordered) < limit < len(fused):  # copies took places: rank the rest too
            ordered = live.reposts.collapse(_ordered(live.rows, fused, len(fused)))
    return ordered[offset:limit]


def result(
    listing: Listing,
    score: float,
    reasons: list[str],
    *,
    also_listed: list[str] | None = None,
    price_context: PriceContext | None = None,
) -> SearchResult:
    return SearchResult(
        id=listing.id,
        title=listing.title,
        price=listing.price,
        currency=listing.currency,
        category=listing.category,
        location=listing.location,
        image_url=f"/images/{listing.image_ids[0]}" if listing.image_ids else None,
        score=round(score, 6),
        reasons=reasons,
        also_listed=also_listed or [],
        price_context=price_context,
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


def _done(vector: np.ndarray) -> Future:
    """A future that already holds ``vector``."""
    future: Future = Future()
    future.set_result(vector)
    return future
