"""Read the catalogue: sync the cleaned catalogue into the store, then list work items.

The store is the source of truth the index is built from; syncing the cleaned
``listings.jsonl`` into it first means an edit to the catalogue file and an
edit through the API reach the index the same way.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from indexing.store import Record, Store, SyncCounts
from multimodal.data.catalogue import load_clean_catalogue


@dataclass(frozen=True)
class Item:
    """One listing to embed: everything the encoders need, and the keys to store it under."""

    fid: int
    content_hash: str
    text: str
    image_fids: tuple[int, ...]
    image_digests: tuple[str, ...]
    image_paths: tuple[str, ...]


def sync_catalogue(store: Store, clean_dir: Path) -> SyncCounts:
    """Make the store's live listings exactly those of the cleaned catalogue."""
    return store.sync_listings(load_clean_catalogue(clean_dir).listings)


def to_item(record: Record, image_dir: Path) -> Item:
    return Item(
        fid=record.fid,
        content_hash=record.content_hash,
        text=record.listing.text,
        image_fids=record.image_fids,
        image_digests=record.image_digests,
        image_paths=tuple(str(image_dir / f"{i}.jpg") for i in record.listing.image_ids),
    )


def read_items(store: Store, image_dir: Path) -> list[Item]:
    """Every live listing in the store as a work item, in fid order."""
    return [to_item(record, image_dir) for record in store.iter_records()]
