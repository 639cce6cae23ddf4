"""Catalogue writes through the API: create, update and delete a listing, searchable at once.

A written listing is embedded once, here: its joint, text-only and per-photo
vectors and its photos' instance descriptors go into the store together with
the listing, in one transaction (``indexing.written_vectors``), and then into
the loaded channels. A server restarting on the same index version loads
them from the store instead of embedding again, and a crash between the two
steps leaves a listing that still has its vectors.
"""

from __future__ import annotations

import threading
import uuid

from api.domain_errors import AlreadyExists, InvalidInput, NotFound
from api.schemas import ListingCreate, ListingIn, ListingOut
from api.serving_state import Channels, Snapshot
from indexing.reindex.mapper import Mapper, load_photos
from indexing.reindex.reader import Item
from indexing.store import CATEGORY_SEPARATOR, ListingNotFound, Store
from indexing.text_index import text_only
from indexing.written_vectors import ListingVectors
from multimodal.data.catalogue import Listing


class CatalogueWriter:
    """One catalogue write at a time; each returns the snapshot that includes it."""

    def __init__(self, store: Store, embedder, model_lock: threading.Lock, image_path) -> None:
        """``image_path``: image id -> its file, refusing ids that name no photo."""
        self.store = store
        self.embedder = embedder
        self.lock = threading.Lock()
        self._model_lock = model_lock
        self._image_path = image_path

    def create(
        self, body: ListingCreate, live: Snapshot, channels: Channels
    ) -> tuple[ListingOut, Snapshot]:
        listing_id = body.id or uuid.uuid4().hex
        if listing_id in live.fids:
            raise AlreadyExists(f"listing {listing_id} already exists")
        return self._write(self._to_listing(listing_id, body), live, channels)

    def update(
        self, listing_id: str, body: ListingIn, live: Snapshot, channels: Channels
    ) -> tuple[ListingOut, Snapshot]:
        if listing_id not in live.fids:
            raise NotFound(f"no listing {listing_id}")
        return self._write(self._to_listing(listing_id, body), live, channels)

    def _to_listing(self, listing_id: str, body: ListingIn) -> Listing:
        """A price without a currency is in the catalogue's own."""
        return to_listing(listing_id, body, body.currency or self.store.main_currency())

    def delete(self, listing_id: str, live: Snapshot, channels: Channels) -> Snapshot:
        fid = live.fids.get(listing_id)
        if fid is None:
            raise NotFound(f"no listing {listing_id}")
        try:
            self.store.delete_listing(listing_id)
        except ListingNotFound:
            raise NotFound(f"no listing {listing_id}") from None
        index, photos = channels.index, live.photos_of(fid)
        index.listings.delete([fid])
        if channels.texts is not None:
            channels.texts.delete([fid])
        index.photos.delete(photos)
        if channels.instances is not None:
            channels.instances.index.delete(photos)
        index.lexical.delete([fid])
        return live.without(fid)

    def _write(
        self, listing: Listing, live: Snapshot, channels: Channels
    ) -> tuple[ListingOut, Snapshot]:
        """Embed, then store listing and vectors together (the source of truth), then
        the loaded channels, then the live snapshot."""
        paths = tuple(str(self._image_path(i)) for i in listing.image_ids)
        vectors = self._embed(listing, paths, channels)
        old_fid = live.fids.get(listing.id)
        old_photos = [] if old_fid is None else live.photos_of(old_fid)
        fid = self.store.upsert_listing(listing, vectors)
        image_fids = tuple(self.store.image_fid(i) for i in listing.image_ids)
        index = channels.index
        index.listings.upsert([fid], vectors.joint[None])
        if channels.texts is not None:
            channels.texts.upsert([fid], vectors.text[None])
        dropped = [i for i in old_photos if i not in image_fids]
        index.photos.delete(dropped)
        if channels.instances is not None:
            channels.instances.index.delete(dropped)
        if image_fids:
            index.photos.upsert(image_fids, vectors.photos)
            if channels.instances is not None and vectors.instances is not None:
                channels.instances.index.upsert(image_fids, vectors.instances)
        index.lexical.upsert(fid, listing.title, listing.description)
        return listing_out(listing), live.with_listing(fid, listing, image_fids)

    def _embed(
        self, listing: Listing, paths: tuple[str, ...], channels: Channels
    ) -> ListingVectors:
        """Every vector the channels hold for this listing, from one pass of the model."""
        item = Item(
            fid=0,  # the mapper reads only the text and photos; keys come from the store
            content_hash="",
            text=listing.text,
            image_fids=tuple(range(len(paths))),
            image_digests=(),
            image_paths=paths,
        )
        photos = load_photos([item])
        with self._model_lock:
            encoded = Mapper(self.embedder)([item], photos)
            instances = None
            if channels.instances is not None and photos[0]:
                instances = channels.instances.describe(photos[0])
        joint, photo_vectors = encoded.vectors[0], encoded.image_vectors
        return ListingVectors(
            model=self.embedder.fingerprint,
            joint=joint,
            text=text_only(joint, photo_vectors),
            photos=photo_vectors,
            instances=instances,
            projection=None if instances is None else channels.instances.saved.key,
        )


def to_listing(listing_id: str, body: ListingIn, currency: str) -> Listing:
    path = tuple(part.strip() for part in body.category.split("/") if part.strip())
    if not path:
        raise InvalidInput("category must name at least a root category")
    return Listing(
        id=listing_id,
        title=body.title.strip(),
        description=body.description.strip(),
        price=body.price,
        location=body.location.strip(),
        category_path=path,
        image_ids=tuple(body.image_ids),
        currency=currency,
    )


def listing_out(listing: Listing) -> ListingOut:
    return ListingOut(
        id=listing.id,
        title=listing.title,
        description=listing.description,
        price=listing.price,
        currency=listing.currency,
        location=listing.location,
        category=CATEGORY_SEPARATOR.join(listing.category_path),
        image_ids=list(listing.image_ids),
        image_urls=[f"/images/{i}" for i in listing.image_ids],
    )
