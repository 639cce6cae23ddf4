"""The searches of single channels: one ranked list of live listings each.

Pure functions over a snapshot and one vector index, which the pipeline
(``api.search_pipeline``) fuses: the joint listing vectors, the listings'
photos (each listing at its best photo), and the listings of named root
categories. ``RootMembers`` holds each root category's listings, built once
per snapshot, so a query naming a category does not walk every row.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from api.category_match import CategoryMatch
from api.personalisation import UserProfile
from api.serving_state import Snapshot
from indexing.vector_index import VectorIndex


def dense_hits(
    live: Snapshot, index: VectorIndex, vector: np.ndarray, depth: int, allowed: np.ndarray | None
) -> list[int]:
    """Nearest live listings on ``index``."""
    if allowed is not None and not len(allowed):
        return []
    _, fids = index.search(vector, depth, allowed)
    return [f for f in fids[0].tolist() if f >= 0 and f in live.rows]


def photo_hits(
    live: Snapshot, photos: VectorIndex, vector: np.ndarray, depth: int, allowed: np.ndarray | None
) -> list[int]:
    """Listings ranked by their best-matching photo."""
    photo_allowed = photos_allowed(live, allowed)
    if (photo_allowed is not None and not len(photo_allowed)) or not len(photos):
        return []
    _, image_fids = photos.search(vector, 2 * depth, photo_allowed)
    return owners(live, image_fids[0], depth)


@dataclass(frozen=True)
class RootMembers:
    """Each root category's live listings (ascending fids) in one snapshot."""

    by_root: dict[str, np.ndarray]

    @classmethod
    def of(cls, live: Snapshot) -> RootMembers:
        groups: dict[str, list[int]] = {}
        for fid, row in live.rows.items():
            groups.setdefault(row.root, []).append(fid)
        return cls({root: np.array(sorted(fids), np.int64) for root, fids in groups.items()})

    def inside(self, roots: set[str] | frozenset[str]) -> np.ndarray:
        """The fids of every listing under one of ``roots``, ascending."""
        parts = [self.by_root[root] for root in roots if root in self.by_root]
        return np.sort(np.concatenate(parts)) if parts else np.zeros(0, np.int64)


def category_hits(
    live: Snapshot,
    listings: VectorIndex,
    vector: np.ndarray,
    named: CategoryMatch,
    members: RootMembers,
    depth: int,
    allowed: np.ndarray | None,
) -> list[int]:
    """Dense hits among the listings of the named categories' roots.

    The root, not only the named sub-category: a small sub-category
    ("Sheds", two listings) still fills a page with its nearest relatives.
    """
    inside = members.inside(named.roots)
    if allowed is not None:
        inside = np.intersect1d(inside, allowed)
    return dense_hits(live, listings, vector, depth, inside)


def photos_allowed(live: Snapshot, allowed: np.ndarray | None) -> np.ndarray | None:
    """The image fids of the allowed listings (None: every photo)."""
    if allowed is None:
        return None
    wanted = set(allowed.tolist())
    return np.array([i for i, f in live.photo_owner.items() if f in wanted], dtype=np.int64)


def profile_similarity(listings: VectorIndex, profile: UserProfile, fids: list[int]) -> np.ndarray:
    """Cosine of the profile to each candidate, from one filtered FAISS search."""
    scores, hits = listings.search(profile.vector, len(fids), np.array(fids, np.int64))
    by_fid = {int(f): float(s) for s, f in zip(scores[0], hits[0], strict=True) if f >= 0}
    return np.array([by_fid.get(f, 0.0) for f in fids], dtype=np.float32)


def owners(live: Snapshot, image_fids: np.ndarray, depth: int) -> list[int]:
    """The live listings owning photos ranked best first, each once, at most ``depth``."""
    found = (live.photo_owner.get(int(i)) for i in image_fids if i >= 0)
    return list(dict.fromkeys(f for f in found if f is not None and f in live.rows))[:depth]
