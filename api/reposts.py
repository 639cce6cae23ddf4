"""Re-posted ads: listings that are one ad posted again, grouped so a page shows it once.

Two listings are copies of one ad when they share a photo (the same image
digest, so the same file bytes) or the same title and description once
normalised (``multimodal.data.splits.normalise_text``: the evaluation's rule).
The title alone is no key: it would merge every "Mountain bike". Copies of
copies are one group too, so groups are the connected components of "shares a
key", found with two hash maps (key -> listings) in one pass over the
catalogue, and a write recomputes only the groups it touches.

A group is named by its smallest fid, so the same catalogue always gives the
same groups, whichever order they were built or written in.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from multimodal.data.catalogue import Listing
from multimodal.data.splits import normalise_text

NO_GROUP = -1


@dataclass(frozen=True)
class RepostKeys:
    """What makes a listing a copy of another: its normalised text and its photos' digests."""

    text: str | None
    photos: tuple[str, ...]

    @classmethod
    def of(cls, listing: Listing, digests: Sequence[str]) -> RepostKeys:
        text = normalise_text(listing.title, listing.description)
        return cls(text or None, tuple(dict.fromkeys(d for d in digests if d)))


@dataclass(frozen=True)
class RepostGroups:
    """The re-post groups of one snapshot; a write returns a new value (copy on write)."""

    keys: dict[int, RepostKeys]  # fid -> its keys
    by_text: dict[str, frozenset[int]]  # normalised text -> fids
    by_photo: dict[str, frozenset[int]]  # image digest -> fids
    members: dict[int, tuple[int, ...]]  # group id (its smallest fid) -> fids, ascending
    group_ids: np.ndarray  # fid -> group id (NO_GROUP: no live listing), for numpy counting

    @classmethod
    def build(cls, entries: Iterable[tuple[int, Listing, Sequence[str]]]) -> RepostGroups:
        """Groups of ``(fid, listing, photo digests)``: O(n) dictionary work."""
        keys = {fid: RepostKeys.of(listing, digests) for fid, listing, digests in entries}
        by_text: dict[str, set[int]] = {}
        by_photo: dict[str, set[int]] = {}
        for fid, own in keys.items():
            if own.text is not None:
                by_text.setdefault(own.text, set()).add(fid)
            for digest in own.photos:
                by_photo.setdefault(digest, set()).add(fid)
        empty = cls(
            keys,
            {k: frozenset(v) for k, v in by_text.items()},
            {k: frozenset(v) for k, v in by_photo.items()},
            {},
            np.full(max(keys, default=-1) + 1, NO_GROUP, np.int64),
        )
        return empty._regrouped(keys)

    # -- reading --------------------------------------------------------------

    def group_of(self, fid: int) -> int:
        return int(self.group_ids[fid]) if 0 <= fid < len(self.group_ids) else NO_GROUP

    def copies(self, fid: int) -> tuple[int, ...]:
        """Every listing in ``fid``'s group, itself included."""
        return self.members.get(self.group_of(fid), (fid,))

    def others(self, fid: int, allowed: np.ndarray | None = None) -> list[int]:
        """``fid``'s other copies, only those in ``allowed`` (a filter's fids) when given."""
        others = [f for f in self.copies(fid) if f != fid]
        if others and allowed is not None:
            others = [f for f, ok in zip(others, np.isin(others, allowed), strict=True) if ok]
        return others

    def collapse(self, ordered: Iterable[int]) -> list[int]:
        """``ordered`` with each group kept once, at its best-ranked copy."""
        seen: set[int] = set()
        kept = []
        for fid in ordered:
            group = self.group_of(fid)
            if group in seen:
                continue
            seen.add(group)
            kept.append(fid)
        return kept

    # -- writing --------------------------------------------------------------

    def with_listing(self, fid: int, listing: Listing, digests: Sequence[str]) -> RepostGroups:
        """The groups once ``fid`` holds ``listing`` (new, or replacing what it held)."""
        base = self.without(fid)
        own = RepostKeys.of(listing, digests)
        by_text, by_photo = dict(base.by_text), dict(base.by_photo)
        touched = {fid}
        if own.text is not None:
            touched |= by_text.get(own.text, frozenset())
            by_text[own.text] = by_text.get(own.text, frozenset()) | {fid}
        for digest in own.photos:
            touched |= by_photo.get(digest, frozenset())
            by_photo[digest] = by_photo.get(digest, frozenset()) | {fid}
        group_ids = base.group_ids
        if fid >= len(group_ids):
            group_ids = np.concatenate(
                [group_ids, np.full(fid + 1 - len(group_ids), NO_GROUP, np.int64)]
            )
        updated = RepostGroups(
            {**base.keys, fid: own}, by_text, by_photo, dict(base.members), group_ids.copy()
        )
        affected = {f for t in touched for f in base.copies(t)} | {fid}
        return updated._regrouped(affected)

    def without(self, fid: int) -> RepostGroups:
        """The groups once ``fid`` is gone: its group may split into several."""
        own = self.keys.get(fid)
        if own is None:
            return self
        by_text, by_photo = dict(self.by_text), dict(self.by_photo)
        for table, key in [(by_text, own.text), *((by_photo, d) for d in own.photos)]:
            if key is None:
                continue
            rest = table[key] - {fid}
            if rest:
                table[key] = rest
            else:
                del table[key]
        keys = {f: k for f, k in self.keys.items() if f != fid}
        group_ids = self.group_ids.copy()
        group_ids[fid] = NO_GROUP
        members = dict(self.members)
        members.pop(self.group_of(fid), None)
        rest = [f for f in self.copies(fid) if f != fid]
        return RepostGroups(keys, by_text, by_photo, members, group_ids)._regrouped(rest)

    def _regrouped(self, fids: Iterable[int]) -> RepostGroups:
        """Recompute, in place on this fresh value, the groups holding ``fids``.

        A walk over the two key maps from each fid not yet placed; each key
        is expanded once, so the cost is the size of the groups touched.
        """
        placed: set[int] = set()
        done_keys: set[tuple[str, str]] = set()
        components = []
        for start in fids:
            if start in placed or start not in self.keys:
                continue
            component, frontier = [start], [start]
            placed.add(start)
            while frontier:
                own = self.keys[frontier.pop()]
                links = [("text", own.text)] if own.text is not None else []
                links += [("photo", d) for d in own.photos]
                for kind, key in links:
                    if (kind, key) in done_keys:
                        continue
                    done_keys.add((kind, key))
                    table = self.by_text if kind == "text" else self.by_photo
                    for other in table[key]:
                        if other not in placed:
                            placed.add(other)
                            component.append(other)
                            frontier.append(other)
            components.append(component)
        for fid in placed:  # the old groups of what is regrouped are gone
            self.members.pop(int(self.group_ids[fid]), None)
        for component in components:
            group = min(component)
            self.members[group] = tuple(sorted(component))
            self.group_ids[component] = group
        return self
