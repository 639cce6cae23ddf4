"""The search service: the one object the API, the CLI and the tests search through.

A facade over three jobs, each in its own module: start-up and reload
(``api.serving_state``), the ranking pipeline (``api.search_pipeline``) and
catalogue writes (``api.catalogue_writes``). It holds what they share: the
model, the store, the loaded channels and the live listings, swapped as one
value when a write or a reload lands so a query always reads one consistent
snapshot. It raises ``api.domain_errors``; callers map them to their answer.

Hot-path choices: listing rows live in memory (the store is only read at
start-up and written through), repeated text queries hit a small LRU of
embeddings, and the model runs one forward pass at a time, with concurrent
text queries batched into one pass (``api.batching``).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from pathlib import Path

from PIL import Image

from api.catalogue_writes import ADMIN, Author, CatalogueWriter, listing_out
from api.domain_errors import InvalidInput, NotFound
from api.listing_photos import PhotoFolder
from api.model_swap import newer_version, refuse_photos, serves_photos
from api.observability.metrics import index_reloaded
from api.personalisation import UserProfile
from api.replica_sync import ReplicaSync
from api.schemas import (
    EventOut,
    ListingCreate,
    ListingIn,
    ListingOut,
    PredictResponse,
    SearchResponse,
    SimilarResponse,
    Suggestion,
    SuggestResponse,
)
from api.search_pipeline import Query, QueryEmbedder, SearchPipeline, faiss_threads, fid_of
from api.security import safe_image_path
from api.serving_state import (
    Channels,
    Snapshot,
    StartupError,
    level_with_store,
    open_parts,
)
from api.settings import Settings
from api.store_outage import needs_store
from indexing.index_store import IndexVersion
from indexing.instance_index import InstanceChannel
from indexing.store import ListingNotFound, Record, Store
from indexing.vector_index import VectorIndex

__all__ = ["Query", "SearchService", "StartupError"]

log = logging.getLogger(__name__)


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
        *,
        records: list[Record] | None = None,
        replicas: ReplicaSync | None = None,
    ) -> None:
        """Serve ``index`` as loaded (``open`` also brings it level with the store).
        ``instances`` / ``texts`` stand in for the version's own photo-level and
        text-only channels (evaluation builds them in memory); ``records``: the
        store's live listings, when the caller has read them already (then
        ``replicas``, its place in the change log, taken before it read them)."""
        own = Channels.of(index, embedder, settings)
        self.settings = settings
        self.embedder = embedder
        self.store = store
        self.model_version: str = embedder.fingerprint
        self.ready = False
        self._channels = Channels(index, texts or own.texts, instances or own.instances)
        self.replicas = replicas or ReplicaSync(store, settings.change_log)
        self._live = Snapshot.of(list(store.iter_records()) if records is None else records)
        self._embed, self._pipeline, self._writer = self._model_parts(embedder)

    def _model_parts(
        self, embedder, write_lock: threading.Lock | None = None
    ) -> tuple[QueryEmbedder, SearchPipeline, CatalogueWriter]:
        """What serves queries and writes with ``embedder``: the query embedder (its
        batcher, lock and cache), the ranking pipeline and the catalogue writer; built
        at start and again when a version made by another model is taken up."""
        embed = QueryEmbedder(embedder, self.settings)
        writer = CatalogueWriter(
            self.store,
            embedder,
            embed.model_lock,
            self.image_path,
            PhotoFolder(self.settings.resolved_image_dir),
            write_lock,
        )
        return embed, SearchPipeline(self.settings, self.store, embed), writer

    # -- lifetime -------------------------------------------------------------

    @classmethod
    def open(cls, settings: Settings) -> SearchService:
        """Load model, index and store; refuse a missing, damaged or mismatched one
        with one line. Nothing is embedded and nothing is written into the index."""
        faiss_threads(settings.faiss_threads)
        embedder, store, index = open_parts(settings)
        try:
            replicas = ReplicaSync(store, settings.change_log)
            records = list(store.iter_records())
            service = cls(settings, embedder, store, index, records=records, replicas=replicas)
            level_with_store(service._channels, store, records, embedder.fingerprint)
        except BaseException:
            store.close()
            raise
        return service

    def reload_index(self) -> bool:
        """Serve the version a ``marketplace reindex`` made current since this one loaded.

        The new version loads (every channel, every checksum) while the old one
        keeps serving; bringing it level with the store and the swap run under
        the write lock, so no catalogue write is lost. A version that cannot be
        loaded is logged and skipped: the server keeps the version it has.
        """
        found = newer_version(self.settings, self.embedder, self._channels.index)
        if found is None:
            return False
        index, model = found  # model: the version's own, when another one embedded it
        channels = Channels.of(index, model or self.embedder, self.settings)
        retired = None
        with self._writer.lock:
            if model is not None:  # kept: the writer's lock, which this block holds
                retired = self._embed
                self.embedder, self.model_version = model, model.fingerprint
                parts = self._model_parts(model, self._writer.lock)
                self._embed, self._pipeline, self._writer = parts
            records = list(self.store.iter_records())
            level_with_store(channels, self.store, records, self.embedder.fingerprint)
            self._channels, self._live = channels, Snapshot.of(records)
            self._pipeline.forget_profiles()
            self._pipeline.warm_price_context(self._live, self._channels)
        if retired is not None:
            retired.close()
        index_reloaded()
        log.info("now serving index %s (%d listings)", index.path.name, index.manifest.count)
        return True

    def catch_up(self) -> int:
        """Apply what other replicas wrote since this one last looked (``api.replica_sync``),
        swapping one new snapshot under the write lock; returns how many listings and
        users changed here."""
        with self._writer.lock:
            caught = self.replicas.catch_up(self._live, self._channels, self.model_version)
            if caught.listings:
                self._live = caught.live
                self._pipeline.forget_profiles()  # a profile may hold a listing's old vector
                self._pipeline.warm_price_context(self._live, self._channels)
            for user_id in caught.users:
                self._pipeline.forget_profiles(user_id)
        return caught.count

    def warm_up(self) -> None:
        """One text and one photo query, so the first real user is not the one who waits."""
        self.search(Query(text="warm up"))
        if serves_photos(self.embedder):
            self.search(Query(image=Image.new("RGB", (224, 224), (128, 128, 128))))
        self._pipeline.warm_price_context(self._live, self._channels)
        self._embed.clear_cache()
        self.ready = True

    def close(self) -> None:
        self.ready = False
        self._embed.close()
        self.replicas.close()
        self.store.close()

    @property
    def size(self) -> int:
        return len(self._live.rows)

    @property
    def index(self) -> IndexVersion:
        return self._channels.index

    @property
    def texts(self) -> VectorIndex | None:
        return self._channels.texts

    @property
    def instances(self) -> InstanceChannel | None:
        return self._channels.instances

    @property
    def channels(self) -> list[str]:
        """The channels serving (the version's manifest names them)."""
        return self._channels.names

    # -- search ---------------------------------------------------------------

    def search(self, query: Query) -> SearchResponse:
        if query.image is not None:
            refuse_photos(self.embedder, "photo search")
        return self._pipeline.search(query, self._live, self._channels)

    def suggest(self, typed: str, limit: int) -> SuggestResponse:
        """Completions from the live catalogue's titles and categories (``api.suggest``)."""
        found = self._live.language.suggest(typed, limit)
        return SuggestResponse(suggestions=[Suggestion(text=s.text, kind=s.kind) for s in found])

    def similar(self, listing_id: str, k: int) -> SimilarResponse:
        return self._pipeline.similar(listing_id, k, self._live, self._channels)

    def predict_category(self, text: str | None, image: Image.Image | None) -> PredictResponse:
        text = self._pipeline.clean_text(text)
        if text is None and image is None:
            raise InvalidInput("give a text, a photo, or both")
        refuse_photos(self.embedder, "category prediction")
        with self._embed.model_lock:
            probabilities = self.embedder.predict_category(text, [image] if image else [])
        ranked = dict(sorted(probabilities.items(), key=lambda kv: (-kv[1], kv[0])))
        return PredictResponse(
            category=next(iter(ranked)),
            probabilities={name: round(float(p), 6) for name, p in ranked.items()},
        )

    # -- listings -------------------------------------------------------------

    def get_listing(self, listing_id: str) -> ListingOut:
        """The listing with its price context, the figure its search result carries."""
        live, channels = self._live, self._channels
        fid = fid_of(live, listing_id)
        return listing_out(live.rows[fid], self._pipeline.price_context(fid, live, channels))

    @needs_store
    def create_listing(
        self, body: ListingCreate, photos: Sequence[bytes] = (), author: Author = ADMIN
    ) -> ListingOut:
        """Add a listing with ``photos`` (encoded image files, already checked by
        ``api.image_input``); a seller's listing is theirs to change."""
        with self._writer.lock:
            out, self._live = self._writer.create(body, photos, author, self._live, self._channels)
            self._pipeline.forget_profiles()  # a profile may hold a listing's old vector
            self._pipeline.warm_price_context(self._live, self._channels)  # its category
            return out

    @needs_store
    def update_listing(
        self,
        listing_id: str,
        body: ListingIn,
        photos: Sequence[bytes] = (),
        author: Author = ADMIN,
    ) -> ListingOut:
        with self._writer.lock:
            out, self._live = self._writer.update(
                listing_id, body, photos, author, self._live, self._channels
            )
            self._pipeline.forget_profiles()
            self._pipeline.warm_price_context(self._live, self._channels)  # its category
            return out

    @needs_store
    def delete_listing(self, listing_id: str, author: Author = ADMIN) -> None:
        with self._writer.lock:
            self._live = self._writer.delete(listing_id, author, self._live, self._channels)
            self._pipeline.forget_profiles()
            self._pipeline.warm_price_context(self._live, self._channels)  # its category

    @needs_store
    def image_path(self, image_id: str) -> Path:
        """The cleaned photo's path; ids that could name anything else are refused."""
        path = safe_image_path(self.settings.resolved_image_dir, image_id)
        if not path.is_file() and not self.store.restore_uploaded_photos([image_id]):
            raise NotFound(f"no image {image_id}")  # nor uploaded through another replica
        return path

    # -- users ----------------------------------------------------------------

    @needs_store
    def add_event(self, user_id: str, listing_id: str, type: str) -> EventOut:
        fid_of(self._live, listing_id)
        try:
            event = self.store.add_event(user_id, listing_id, type)
        except ListingNotFound:
            raise NotFound(f"no listing {listing_id}") from None
        self._pipeline.forget_profiles(user_id)
        return EventOut(user_id=event.user_id, listing_id=event.listing_id, type=type, ts=event.ts)

    @needs_store
    def profile(self, user_id: str) -> UserProfile:
        return self._pipeline.profile(user_id, self._live, self._channels)
