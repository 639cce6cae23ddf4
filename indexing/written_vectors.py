"""Vectors of listings written through the API, kept in the store beside the listing.

An index version holds the catalogue as the reindex saw it; a listing created
or edited through the API later is embedded once, when it is written, and its
vectors (joint, text-only, per photo, and the photos' instance descriptors)
go into the store in the same transaction as the listing. A server starting
on that version loads them instead of embedding anything, so a crash never
leaves a listing without vectors and a restart never runs the encoders.

Rows are keyed by the model fingerprint (vectors of two models do not share
a space) and carry the content hash they were embedded from, so a row that no
longer describes the listing is never served. Instance descriptors also name
the projection that made them (``InstanceIndex.key``): another version's
whitening puts them in another space.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from indexing.store_database import Database


@dataclass(frozen=True)
class ListingVectors:
    """What serving needs of one listing, from one embedding; photos in the listing's order."""

    model: str
    joint: np.ndarray  # [dim]
    text: np.ndarray  # [dim]
    photos: np.ndarray  # [photos, dim]
    instances: np.ndarray | None = None  # [photos, d], projected
    projection: str | None = None  # the instance projection's key


@dataclass(frozen=True)
class StoredListing:
    """A listing's stored joint and text vectors, and the content they were embedded from."""

    content_hash: str
    joint: np.ndarray
    text: np.ndarray


@dataclass(frozen=True)
class StoredPhoto:
    joint: np.ndarray
    instance: np.ndarray | None
    projection: str | None


def _blob(vector: np.ndarray) -> bytes:
    return np.ascontiguousarray(vector, dtype=np.float32).tobytes()


def _vector(blob: bytes) -> np.ndarray:
    return np.frombuffer(blob, dtype=np.float32).copy()


def write(
    conn: Database,
    fid: int,
    content_hash: str,
    image_fids: Sequence[int],
    vectors: ListingVectors,
) -> None:
    """Store one listing's vectors (inside the caller's transaction)."""
    if len(image_fids) != len(vectors.photos):
        raise ValueError(f"{len(image_fids)} photos but {len(vectors.photos)} photo vectors")
    conn.execute(
        "INSERT INTO listing_vectors VALUES (?, ?, ?, ?, ?) ON CONFLICT (fid, model) DO UPDATE "
        "SET content_hash = excluded.content_hash, joint = excluded.joint, text = excluded.text",
        (fid, vectors.model, content_hash, _blob(vectors.joint), _blob(vectors.text)),
    )
    instances = vectors.instances
    conn.executemany(
        "INSERT INTO photo_vectors VALUES (?, ?, ?, ?, ?) ON CONFLICT (image_fid, model) "
        "DO UPDATE SET joint = excluded.joint, instance = excluded.instance, "
        "projection = excluded.projection",
        [
            (
                int(image_fid),
                vectors.model,
                _blob(vectors.photos[n]),
                None if instances is None else _blob(instances[n]),
                None if instances is None else vectors.projection,
            )
            for n, image_fid in enumerate(image_fids)
        ],
    )


def _chunks(ids: Sequence[int], size: int = 900) -> list[list[int]]:
    """Stay under SQLite's bound-parameter limit."""
    wanted = [int(i) for i in ids]
    return [wanted[start : start + size] for start in range(0, len(wanted), size)]


def read_listings(conn: Database, model: str, fids: Sequence[int]) -> dict[int, StoredListing]:
    out: dict[int, StoredListing] = {}
    for chunk in _chunks(fids):
        marks = ",".join("?" * len(chunk))
        for fid, content_hash, joint, text in conn.execute(
            "SELECT fid, content_hash, joint, text FROM listing_vectors "
            f"WHERE model = ? AND fid IN ({marks})",
            [model, *chunk],
        ):
            out[fid] = StoredListing(content_hash, _vector(joint), _vector(text))
    return out


def read_photos(conn: Database, model: str, image_fids: Sequence[int]) -> dict[int, StoredPhoto]:
    out: dict[int, StoredPhoto] = {}
    for chunk in _chunks(image_fids):
        marks = ",".join("?" * len(chunk))
        for image_fid, joint, instance, projection in conn.execute(
            "SELECT image_fid, joint, instance, projection FROM photo_vectors "
            f"WHERE model = ? AND image_fid IN ({marks})",
            [model, *chunk],
        ):
            out[image_fid] = StoredPhoto(
                _vector(joint), None if instance is None else _vector(instance), projection
            )
    return out
