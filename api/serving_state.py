"""Start-up and reload: what the service serves, loaded from one index version and the store.

An index version is opened read-only and whole: every channel its manifest
lists is loaded (and its parts checked against their sizes and checksums)
before the service answers ready, and nothing is ever written into it. The
store then brings the loaded channels level with the catalogue: listings
written through the API since the version was built come with their vectors,
stored when they were written (``indexing.written_vectors``), so nothing is
embedded at start; listings deleted since are dropped.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from api.facets import FacetColumns
from api.observability.metrics import reload_failed
from api.reposts import RepostGroups
from api.settings import Settings
from api.understanding.language import CatalogueLanguage
from indexing.index_store import (
    Contents,
    IndexDamaged,
    IndexDirectory,
    IndexMismatch,
    IndexNotFound,
    IndexVersion,
)
from indexing.instance_index import InstanceChannel
from indexing.store import Record, Store, StoreError
from indexing.vector_index import VectorIndex
from multimodal.data.catalogue import Listing

log = logging.getLogger(__name__)

# What a version that cannot be served raises while loading.
UNLOADABLE = (IndexNotFound, IndexMismatch, IndexDamaged, FileNotFoundError, ValueError)


class StartupError(Exception):
    """The model or index is missing, damaged, or they do not belong together: one-line reason."""


@dataclass(frozen=True)
class Snapshot:
    """The live listings as one immutable value: a search reads one, a write swaps in a new one.

    With the rows come what results are grouped and counted by, computed once
    here and carried through writes (each copies only what it changes): the
    re-post groups (``api.reposts``) and the per-fid facet columns (``api.facets``).
    """

    rows: dict[int, Listing]  # fid -> listing
    fids: dict[str, int]  # listing id -> fid
    photo_owner: dict[int, int]  # image fid -> listing fid
    reposts: RepostGroups
    facets: FacetColumns
    # Its words, places and phrases (typos, spoken filters, suggestions): built with
    # the snapshot, grown by each write, shared by the snapshots a write derives.
    language: CatalogueLanguage

    @classmethod
    def of(cls, records: list[Record]) -> Snapshot:
        rows = {r.fid: r.listing for r in records}
        return cls(
            rows=rows,
            fids={r.listing.id: r.fid for r in records},
            photo_owner={i: r.fid for r in records for i in r.image_fids},
            reposts=RepostGroups.build((r.fid, r.listing, r.image_digests) for r in records),
            facets=FacetColumns.build(rows),
            language=CatalogueLanguage.of([r.listing for r in records]),
        )

    def with_listing(
        self, fid: int, listing: Listing, image_fids: tuple[int, ...], digests: tuple[str, ...]
    ) -> Snapshot:
        """``digests``: the SHA-256 of each photo's file, as the store keeps them."""
        base = self.without(fid)
        self.language.add(listing)
        return Snapshot(
            rows={**base.rows, fid: listing},
            fids={**base.fids, listing.id: fid},
            photo_owner={**base.photo_owner, **dict.fromkeys(image_fids, fid)},
            reposts=base.reposts.with_listing(fid, listing, digests),
            facets=base.facets.with_listing(fid, listing),
            language=self.language,
        )

    def without(self, fid: int) -> Snapshot:
        rows, fids = dict(self.rows), dict(self.fids)
        old = rows.pop(fid, None)
        if old is None:
            return self
        fids.pop(old.id, None)
        owner = {i: f for i, f in self.photo_owner.items() if f != fid}
        return Snapshot(
            rows, fids, owner, self.reposts.without(fid), self.facets.without(fid), self.language
        )

    def photos_of(self, fid: int) -> list[int]:
        return [i for i, f in self.photo_owner.items() if f == fid]


@dataclass(frozen=True)
class Channels:
    """The loaded version and the searches it serves (``texts`` / ``instances`` may be absent)."""

    index: IndexVersion
    texts: VectorIndex | None
    instances: InstanceChannel | None

    @classmethod
    def of(cls, index: IndexVersion, embedder, settings: Settings) -> Channels:
        """The version's own channels; its instance channel only when settings want it."""
        instances = None
        if index.instances is not None and settings.instance_channel:
            instances = InstanceChannel(embedder.image_encoder, index.instances)
        return cls(index, index.texts, instances)

    @property
    def names(self) -> list[str]:
        """The channels serving, as the version's manifest names them."""
        names = list(self.index.manifest.channels)
        if self.instances is None and "instances" in names:
            names.remove("instances")
        return names


def open_parts(settings: Settings) -> tuple[object, Store, IndexVersion]:
    """Model, store and current index version, or a one-line ``StartupError``."""
    model_dir = settings.resolved_model_dir
    if not (model_dir / "manifest.json").is_file():
        raise StartupError(f"no model at {model_dir}: run `marketplace train` first")
    location = settings.store_location  # a database URL, or a SQLite file that must exist
    if isinstance(location, Path) and not location.is_file():
        raise StartupError(f"no catalogue store at {location}: run `marketplace reindex`")
    try:  # the store first: an unreachable database fails in seconds, before the model loads
        store = Store(location, settings.resolved_image_dir)
    except StoreError as exc:
        raise StartupError(str(exc)) from None
    try:
        store.restore_uploaded_photos()  # sellers' photos uploaded on other machines
        embedder, index = _load_model_and_index(settings)
    except BaseException:
        store.close()
        raise
    return embedder, store, index


def _load_model_and_index(settings: Settings) -> tuple[object, IndexVersion]:
    import torch

    from multimodal.embedder import Embedder

    torch.set_num_threads(settings.torch_threads)
    try:
        embedder = Embedder.load(
            settings.resolved_model_dir,
            settings.precision,
            device=settings.device,
            engine=settings.engine,
        )
        index = IndexDirectory(settings.resolved_index_dir).load_current(embedder.fingerprint)
    except UNLOADABLE as exc:
        raise StartupError(str(exc)) from exc
    if index.manifest.dim != embedder.dim:
        raise StartupError(
            f"index dimension {index.manifest.dim} != model dimension {embedder.dim}: "
            "run `marketplace reindex --full`"
        )
    return embedder, index


def load_newer(settings: Settings, embedder, serving: IndexVersion) -> IndexVersion | None:
    """The version a reindex made current since ``serving`` loaded; None when there is
    none, or when it cannot be served (logged: the server keeps what it has)."""
    current = IndexDirectory(settings.resolved_index_dir).current()
    if current is None or current == serving.path.resolve():
        return None
    try:
        index = IndexVersion.load(current, embedder.fingerprint)
    except UNLOADABLE as exc:
        reload_failed()
        log.warning(
            "index %s not loaded, still serving %s: %s", current.name, serving.path.name, exc
        )
        return None
    if index.manifest.dim != embedder.dim:
        reload_failed()
        log.warning("index %s not loaded: dimension %d", current.name, index.manifest.dim)
        return None
    return index


def level_with_store(channels: Channels, store: Store, records: list[Record], model: str) -> int:
    """Bring the loaded channels level with the store's live ``records``; returns how
    many listings changed. Nothing is embedded: a listing written through the API
    since the version was built comes with its stored vectors; one without them
    (written under another model) is served by keyword until the next reindex."""
    index = channels.index
    contents = Contents.load(index.path)
    built = contents.hash_by_fid()
    live_photos = {i for r in records for i in r.image_fids}
    live = {r.fid for r in records}
    stale = [r for r in records if built.get(r.fid) != r.content_hash.encode("ascii")]
    gone = [fid for fid in built if fid not in live]
    gone_photos = [int(i) for i in contents.image_fids if int(i) not in live_photos]
    stale_photos = [i for r in stale for i in r.image_fids]
    drop_from_channels(channels, [*gone, *(r.fid for r in stale)], [*gone_photos, *stale_photos])
    if not stale:
        return len(gone)
    unready = serve_stored(channels, store, stale, model)
    if unready:
        log.warning(
            "%d listings changed since %s have no stored vectors for this model: "
            "keyword search only until `marketplace reindex`",
            unready,
            index.path.name,
        )
    log.info(
        "level with the store: %d written since %s, %d removed",
        len(stale),
        index.path.name,
        len(gone),
    )
    return len(stale) + len(gone)


def drop_from_channels(channels: Channels, fids: list[int], photo_fids: list[int]) -> None:
    """Listings and photos out of every channel (absent ones are ignored)."""
    index = channels.index
    index.listings.delete(fids)
    if channels.texts is not None:
        channels.texts.delete(fids)
    index.photos.delete(photo_fids)
    if channels.instances is not None:
        channels.instances.index.delete(photo_fids)
    index.lexical.delete(fids)


def serve_stored(channels: Channels, store: Store, records: list[Record], model: str) -> int:
    """Serve ``records`` with the vectors their writer stored (``indexing.written_vectors``),
    and by keyword in any case; returns how many have no stored vectors for ``model``
    (those are served by keyword only, until the next reindex)."""
    stored = store.written_listing_vectors(model, [r.fid for r in records])
    photos = store.written_photo_vectors(model, [i for r in records for i in r.image_fids])
    ready = [
        r
        for r in records
        if r.fid in stored
        and stored[r.fid].content_hash == r.content_hash
        and all(i in photos for i in r.image_fids)
    ]
    if ready:
        _upsert_stored(channels, ready, stored, photos)
    channels.index.lexical.upsert_many(
        (r.fid, r.listing.title, r.listing.description) for r in records
    )
    return len(records) - len(ready)


def _upsert_stored(channels: Channels, ready: list[Record], stored, photos) -> None:
    """Listings' stored vectors (``Store.written_listing_vectors`` / ``written_photo_vectors``)
    into the loaded channels."""
    index = channels.index
    fids = [r.fid for r in ready]
    index.listings.upsert(fids, np.stack([stored[f].joint for f in fids]))
    if channels.texts is not None:
        channels.texts.upsert(fids, np.stack([stored[f].text for f in fids]))
    image_fids = [i for r in ready for i in r.image_fids]
    if image_fids:
        index.photos.upsert(image_fids, np.stack([photos[i].joint for i in image_fids]))
    if channels.instances is not None:
        key = channels.instances.saved.key
        described = [i for i in image_fids if photos[i].projection == key]
        if described:
            channels.instances.index.upsert(
                described, np.stack([photos[i].instance for i in described])
            )
