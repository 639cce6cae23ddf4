"""The train/val/test split: by listing, stratified by root, duplicates kept together.

Photos of one listing share a split (splitting by image would let a model see
the test listing's other photo in training), and so do re-posted ads, which
are common in the real data. Two listings count as one ad when their
normalised title + description are identical, and also when only the title or
only a substantial description is (a re-post often edits one of them), so a
model is never tested on an ad it was trained on under another id.
The split is saved once and reused by every later step; when the catalogue
grows, new listings are placed deterministically without moving old ones.
Listings without a category (``Listing.categorised`` false) are in no split:
they are searchable but nothing can be learnt or scored from them.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
import unicodedata
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from multimodal.data.catalogue import Listing

SPLIT_NAMES = ("train", "val", "test")
DEFAULT_FRACTIONS = (0.7, 0.15, 0.15)
_NON_WORD = re.compile(r"[\W_]+")


def normalise_text(title: str, description: str) -> str:
    """Lower-case words only, so re-posts differing in case, emoji or spacing match."""
    text = unicodedata.normalize("NFKC", f"{title} {description}").lower()
    return _NON_WORD.sub(" ", text).strip()


@dataclass(frozen=True)
class Split:
    train: tuple[str, ...]
    val: tuple[str, ...]
    test: tuple[str, ...]
    seed: int
    fractions: tuple[float, float, float]
    duplicate_groups: int  # groups of more than one listing sharing a duplicate key
    listings_in_duplicate_groups: int
    counts: dict[str, dict[str, int]]  # split name -> root -> listings

    def ids(self, name: str) -> tuple[str, ...]:
        if name not in SPLIT_NAMES:
            raise ValueError(f"unknown split {name!r}; expected one of {', '.join(SPLIT_NAMES)}")
        return getattr(self, name)

    def assignment(self) -> dict[str, str]:
        """Listing id → split name."""
        return {i: name for name in SPLIT_NAMES for i in self.ids(name)}

    def summary(self) -> str:
        sizes = ", ".join(f"{name} {len(self.ids(name))}" for name in SPLIT_NAMES)
        return (
            f"split (seed {self.seed}): {sizes}; {self.duplicate_groups} duplicate-ad groups "
            f"({self.listings_in_duplicate_groups} listings) kept whole"
        )

    def to_dict(self) -> dict:
        return {
            "seed": self.seed,
            "fractions": list(self.fractions),
            "duplicate_groups": self.duplicate_groups,
            "listings_in_duplicate_groups": self.listings_in_duplicate_groups,
            "counts": self.counts,
            **{name: list(self.ids(name)) for name in SPLIT_NAMES},
        }

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(path.suffix + ".tmp")
        tmp.write_text(json.dumps(self.to_dict(), indent=1, ensure_ascii=False))
        tmp.replace(path)

    @classmethod
    def load(cls, path: Path) -> Split:
        try:
            data = json.loads(path.read_text())
            return cls(
                **{name: tuple(map(str, data[name])) for name in SPLIT_NAMES},
                seed=int(data["seed"]),
                fractions=_check_fractions(data["fractions"]),
                duplicate_groups=int(data["duplicate_groups"]),
                listings_in_duplicate_groups=int(data["listings_in_duplicate_groups"]),
                counts={k: dict(v) for k, v in data["counts"].items()},
            )
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise ValueError(f"{path} is not a valid split file: {exc}") from exc


def _check_fractions(fractions: Sequence[float]) -> tuple[float, float, float]:
    values = tuple(float(f) for f in fractions)
    if len(values) != 3 or any(f <= 0 for f in values) or abs(sum(values) - 1) > 1e-6:
        raise ValueError(f"split fractions must be three positive numbers summing to 1: {values}")
    return values  # type: ignore[return-value]


MIN_DESCRIPTION_KEY = 40  # shorter descriptions ("collection only") are too generic to match on


def duplicate_keys(listing: Listing) -> list[str]:
    """The texts that make two listings the same ad: whole text, title, long description."""
    keys = []
    whole = normalise_text(listing.title, listing.description)
    if whole:
        keys.append(f"all:{whole}")
    title = normalise_text(listing.title, "")
    if title:
        keys.append(f"title:{title}")
    description = normalise_text("", listing.description)
    if len(description) >= MIN_DESCRIPTION_KEY:
        keys.append(f"desc:{description}")
    return keys


def _groups(listings: Iterable[Listing]) -> list[list[Listing]]:
    """Connected components of listings sharing any duplicate key (union-find)."""
    listings = list(listings)
    parent = list(range(len(listings)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    first_with_key: dict[str, int] = {}
    for i, listing in enumerate(listings):
        for key in duplicate_keys(listing):
            j = first_with_key.setdefault(key, i)
            parent[find(i)] = find(j)
    components: dict[int, list[Listing]] = defaultdict(list)
    for i, listing in enumerate(listings):
        components[find(i)].append(listing)
    return [sorted(group, key=lambda item: item.id) for group in components.values()]


def _group_root(group: list[Listing]) -> str:
    counts = Counter(listing.root for listing in group)
    return min(counts, key=lambda root: (-counts[root], root))


def _finish(assigned: dict[str, str], listings: Sequence[Listing], seed: int, fractions) -> Split:
    """Build the Split (ids sorted, counts and duplicate figures) from an assignment."""
    groups = [g for g in _groups(listings) if len(g) > 1]
    counts: dict[str, dict[str, int]] = {name: {} for name in SPLIT_NAMES}
    members: dict[str, list[str]] = {name: [] for name in SPLIT_NAMES}
    for listing in listings:
        name = assigned[listing.id]
        members[name].append(listing.id)
        counts[name][listing.root] = counts[name].get(listing.root, 0) + 1
    return Split(
        **{name: tuple(sorted(ids)) for name, ids in members.items()},
        seed=seed,
        fractions=tuple(fractions),
        duplicate_groups=len(groups),
        listings_in_duplicate_groups=sum(len(g) for g in groups),
        counts={name: dict(sorted(c.items())) for name, c in counts.items()},
    )


def make_split(
    listings: Sequence[Listing],
    seed: int = 0,
    fractions: Sequence[float] = DEFAULT_FRACTIONS,
) -> Split:
    """Split the categorised listings, stratified by root, each duplicate group in one split.

    Per root, the groups are shuffled with the seed, then placed largest
    first, each into the split furthest below its share so far: with mostly
    single listings this lands within one listing of the target fractions.
    """
    fractions = _check_fractions(fractions)
    listings = [listing for listing in listings if listing.categorised]
    ids = [listing.id for listing in listings]
    if len(set(ids)) != len(ids):
        raise ValueError("listing ids must be unique to split them")
    by_root: dict[str, list[list[Listing]]] = defaultdict(list)
    for group in _groups(listings):
        by_root[_group_root(group)].append(group)

    assigned: dict[str, str] = {}
    for root in sorted(by_root):
        groups = sorted(by_root[root], key=lambda g: g[0].id)
        random.Random(f"{seed}:{root}").shuffle(groups)
        groups.sort(key=len, reverse=True)  # stable: the shuffle still orders equal sizes
        placed = [0, 0, 0]
        for group in groups:
            total = sum(placed) + len(group)
            best = max(range(3), key=lambda s: (fractions[s] * total - placed[s], -s))
            placed[best] += len(group)
            for listing in group:
                assigned[listing.id] = SPLIT_NAMES[best]
    return _finish(assigned, listings, seed, fractions)


def _hashed_split(listing_id: str, seed: int, fractions: Sequence[float]) -> str:
    """A stable split for a listing added after the split was made."""
    digest = hashlib.sha256(f"{seed}:{listing_id}".encode()).hexdigest()
    point = int(digest[:15], 16) / 16**15
    if point < fractions[0]:
        return "train"
    return "val" if point < fractions[0] + fractions[1] else "test"


def load_or_make_split(path: Path, listings: Sequence[Listing], seed: int = 0) -> Split:
    """Reuse the split saved at ``path``, extending it to new listings; else make one.

    Old listings never move. A new listing joins the split of an existing
    listing sharing a duplicate key (same ad), else a split picked by hashing its
    id. Listings no longer in the catalogue are left out. The file is
    rewritten only when something changed. Uncategorised listings are left out.
    """
    listings = [listing for listing in listings if listing.categorised]
    if not path.exists():
        split = make_split(listings, seed=seed)
        split.save(path)
        return split
    saved = Split.load(path)
    if saved.seed != seed:
        raise ValueError(
            f"{path} was made with seed {saved.seed}, not {seed}: use seed {saved.seed} "
            "or delete the file to make a new split (models trained on it become incomparable)"
        )
    old = saved.assignment()
    assigned = {listing.id: old[listing.id] for listing in listings if listing.id in old}
    key_split = {
        key: assigned[listing.id]
        for listing in listings
        if listing.id in assigned
        for key in duplicate_keys(listing)
    }
    for listing in sorted(listings, key=lambda item: item.id):
        if listing.id in assigned:
            continue
        keys = duplicate_keys(listing)
        known = next((key_split[key] for key in keys if key in key_split), None)
        name = known or _hashed_split(listing.id, seed, saved.fractions)
        assigned[listing.id] = name
        for key in keys:
            key_split.setdefault(key, name)
    split = _finish(assigned, listings, seed, saved.fractions)
    if split != saved:
        split.save(path)
    return split
