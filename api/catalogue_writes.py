"""Catalogue writes through the API: create, update and delete a listing, searchable at once.

A written listing is embedded once, here: its joint, text-only and per-photo
vectors and its photos' instance descriptors go into the store together with
the listing, in one transaction (``indexing.written_vectors``), and then into
the loaded channels. A server restarting on the same index version loads
them from the store instead of embedding again, and a crash between the two
steps leaves a listing that still has its vectors.

Who may write: the admin any listing; a seller (a user with their token)
creates listings that are theirs and changes or deletes only those. Photos a
write uploads are cleaned into the photo folder (``api.listing_photos``) only
after every one of them decoded, and removed again if the write fails; a
delete, or a write that drops them, removes their files.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from api.domain_errors import AlreadyExists, Forbidden, InvalidInput, NotFound
from api.listing_photos import PhotoFolder
from api.schemas import ListingCreate, ListingIn, ListingOut, PriceContext
from api.serving_state import Channels, Snapshot
from indexing.reindex.mapper import Mapper, load_photos
from indexing.reindex.reader import Item
from indexing.store import CATEGORY_SEPARATOR, ListingNotFound, Store, file_digest
from indexing.text_index import text_only
from indexing.written_vectors import ListingVectors
from multimodal.data.catalogue import Listing

MAX_PHOTOS = 20  # photos one listing may have, kept and uploaded together


@dataclass(frozen=True)
class Author:
    """Who writes: a seller (``user_id``), or the admin (``user_id`` is ``None``)."""

    user_id: str | None = None

    @property
    def admin(self) -> bool:
        return self.user_id is None


ADMIN = Author()


class CatalogueWriter:
    """One catalogue write at a time; each returns the snapshot that includes it."""

    def __init__(
        self,
        store: Store,
        embedder,
        model_lock: threading.Lock,
        image_path,
        photos: PhotoFolder,
        lock: threading.Lock | None = None,
    ) -> None:
        """``image_path``: image id -> its file, refusing ids that name no photo;
        ``photos``: where uploaded photos are stored; ``lock``: the previous writer's,
        when this one replaces it (writes queued on it stay one at a time)."""
        self.store = store
        self.embedder = embedder
        self.lock = lock or threading.Lock()
        self._model_lock = model_lock
        self._image_path = image_path
        self._photos = photos

    def create(
        self,
        body: ListingCreate,
        uploads: Sequence[bytes],
        author: Author,
        live: Snapshot,
        channels: Channels,
    ) -> tuple[ListingOut, Snapshot]:
        listing_id = body.id or uuid.uuid4().hex
        if listing_id in live.fids:
            raise AlreadyExists(f"listing {listing_id} already exists")
        if not author.admin and body.image_ids:
            raise Forbidden("a seller adds photos by uploading them, not by image id")
        listing = self._to_listing(listing_id, body)
        return self._write(listing, uploads, author.user_id, live, channels)

    def update(
        self,
        listing_id: str,
        body: ListingIn,
        uploads: Sequence[bytes],
        author: Author,
        live: Snapshot,
        channels: Channels,
    ) -> tuple[ListingOut, Snapshot]:
        """Replace the listing: its photos become ``body.image_ids`` (of those it has)
        followed by ``uploads``; the owner stays whoever created it."""
        if listing_id not in live.fids:
            raise NotFound(f"no listing {listing_id}")
        owner = self._check_owner(listing_id, author)
        if not author.admin:
            own = set(live.rows[live.fids[listing_id]].image_ids)
            foreign = [i for i in body.image_ids if i not in own]
            if foreign:
                raise Forbidden(f"photo {foreign[0]} is not one of this listing's photos")
        listing = self._to_listing(listing_id, body)
        return self._write(listing, uploads, owner, live, channels)

    def _to_listing(self, listing_id: str, body: ListingIn) -> Listing:
        """A price without a currency is in the catalogue's own."""
        return to_listing(listing_id, body, body.currency or self.store.main_currency())

    def delete(
        self, listing_id: str, author: Author, live: Snapshot, channels: Channels
    ) -> Snapshot:
        fid = live.fids.get(listing_id)
        if fid is None:
            raise NotFound(f"no listing {listing_id}")
        self._check_owner(listing_id, author)
        uploaded = self.store.uploaded_photos(listing_id)
        try:
            self.store.delete_listing(listing_id)
        except ListingNotFound:
            raise NotFound(f"no listing {listing_id}") from None
        self._photos.remove(uploaded)
        self.store.forget_uploaded(uploaded)
        index, photos = channels.index, live.photos_of(fid)
        index.listings.delete([fid])
        if channels.texts is not None:
            channels.texts.delete([fid])
        index.photos.delete(photos)
        if channels.instances is not None:
            channels.instances.index.delete(photos)
        index.lexical.delete([fid])
        return live.without(fid)

    def _check_owner(self, listing_id: str, author: Author) -> str | None:
        """The listing's owner, once the author is known to be allowed to change it."""
        try:
            owner = self.store.owner_of(listing_id)
        except ListingNotFound:
            raise NotFound(f"no listing {listing_id}") from None
        if not author.admin and owner != author.user_id:
            raise Forbidden(f"listing {listing_id} belongs to another seller")
        return owner

    def _write(
        self,
        listing: Listing,
        uploads: Sequence[bytes],
        owner: str | None,
        live: Snapshot,
        channels: Channels,
    ) -> tuple[ListingOut, Snapshot]:
        """Store the uploaded photos, embed, then store listing and vectors together
        (the source of truth), then the loaded channels, then the live snapshot.
        Until the store has the listing, a failure removes the photos written."""
        if len(listing.image_ids) + len(uploads) > MAX_PHOTOS:
            raise InvalidInput(f"a listing has at most {MAX_PHOTOS} photos")
        paths = [str(self._image_path(i)) for i in listing.image_ids]  # refuse bad ids first
        previous = self.store.uploaded_photos(listing.id) if listing.id in live.fids else []
        new_ids = self._photos.save(uploads)
        try:
            listing = replace(listing, image_ids=(*listing.image_ids, *new_ids))
            paths += [str(self._photos.path(i)) for i in new_ids]
            vectors = self._embed(listing, tuple(paths), channels)
            fid = self.store.upsert_listing(listing, vectors, owner=owner, uploaded=new_ids)
        except BaseException:
            self._photos.remove(new_ids)
            raise
        dropped_files = [i for i in previous if i not in listing.image_ids]
        self._photos.remove(dropped_files)
        self.store.forget_uploaded(dropped_files)
        old_fid = live.fids.get(listing.id)
        old_photos = [] if old_fid is None else live.photos_of(old_fid)
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
        # the photos' digests, as the store hashed them, group the listing with its re-posts
        digests = tuple(file_digest(Path(p)) for p in paths)
        return listing_out(listing), live.with_listing(fid, listing, image_fids, digests)

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


def listing_out(listing: Listing, price_context: PriceContext | None = None) -> ListingOut:
    return ListingOut(
        price_context=price_context,
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
