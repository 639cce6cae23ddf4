"""What the catalogue store hands out: its records, its errors and its content hash.

Kept apart from ``indexing.store`` (which re-exports every name) so that the
store's two back-ends and its callers share one definition of each.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, get_args

from multimodal.data.catalogue import Listing

EventType = Literal["view", "click", "save", "message"]
EVENT_TYPES: tuple[str, ...] = get_args(EventType)
CATEGORY_SEPARATOR = " / "


class ListingNotFound(LookupError):
    """No live listing has that id."""


@dataclass(frozen=True)
class Record:
    """What the reindex needs about one live listing."""

    fid: int
    content_hash: str
    listing: Listing
    image_fids: tuple[int, ...]
    image_digests: tuple[str, ...]


@dataclass(frozen=True)
class Event:
    user_id: str
    listing_id: str
    type: str
    ts: float


@dataclass(frozen=True)
class Category:
    path: str
    parent: str | None
    name: str
    depth: int
    count: int  # live listings in this category or below it


@dataclass(frozen=True)
class SyncCounts:
    """What ``sync_listings`` changed in the store."""

    added: int
    updated: int
    deleted: int
    unchanged: int


def file_digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def content_hash(text: str, image_digests: Sequence[str]) -> str:
    """Hash of what the encoders see: the text and the photo bytes, in order."""
    h = hashlib.sha256(text.encode("utf-8"))
    for digest in image_digests:
        h.update(b"\0" + digest.encode("ascii"))
    return h.hexdigest()
