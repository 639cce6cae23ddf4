"""The cleaned catalogue: the one in-memory shape every later step reads.

Cleaning (``multimodal.data.cleaning``) turns a raw catalogue (the scraped
``Products.csv`` / ``Images.csv`` / ``images/`` layout, or a generic JSON
Lines, CSV or Parquet file) into a ``listings.jsonl`` and a folder of square
RGB photos; everything downstream reads that, never the raw files, so the
messy parsing lives in exactly one place.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path

LISTINGS_FILE = "listings.jsonl"
IMAGES_DIR = "images"
REPORT_FILE = "report.json"
DEFAULT_CURRENCY = "GBP"
# The root of listings whose catalogue row named no category: searchable, never
# a training class (a model cannot learn "we do not know" as a category).
UNCATEGORISED = "Uncategorised"


@dataclass(frozen=True)
class Listing:
    """One cleaned listing; ``id`` is the catalogue's id (a string)."""

    id: str
    title: str
    description: str
    price: float | None  # None only when the raw price could not be parsed
    location: str
    category_path: tuple[str, ...]
    image_ids: tuple[str, ...] = field(default_factory=tuple)
    currency: str = DEFAULT_CURRENCY  # ISO 4217 code of ``price``

    @property
    def root(self) -> str:
        return self.category_path[0] if self.category_path else ""

    @property
    def categorised(self) -> bool:
        """Whether the listing has a real category, so it can be trained and scored on."""
        return self.root not in ("", UNCATEGORISED)

    @property
    def category(self) -> str:
        return " / ".join(self.category_path)

    @property
    def text(self) -> str:
        """The text the encoders see: title first, since it carries most signal."""
        if not self.description:
            return self.title
        return f"{self.title}. {self.description}"

    def to_json(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=False)

    @classmethod
    def from_dict(cls, row: dict) -> Listing:
        return cls(
            id=str(row["id"]),
            title=row["title"],
            description=row.get("description", ""),
            price=row.get("price"),
            location=row.get("location", ""),
            category_path=tuple(row.get("category_path", ())),
            image_ids=tuple(row.get("image_ids", ())),
            currency=row.get("currency") or DEFAULT_CURRENCY,
        )


@dataclass(frozen=True)
class CleanCatalogue:
    """Listings plus the folder holding their cleaned photos."""

    root: Path
    listings: tuple[Listing, ...]

    @property
    def image_dir(self) -> Path:
        return self.root / IMAGES_DIR

    def image_path(self, image_id: str) -> Path:
        return self.image_dir / f"{image_id}.jpg"

    def by_id(self) -> dict[str, Listing]:
        return {listing.id: listing for listing in self.listings}

    @property
    def roots(self) -> list[str]:
        return sorted({listing.root for listing in self.listings})


def write_listings(path: Path, listings: Iterable[Listing]) -> None:
    """Write through a temporary file so a crash never leaves half a catalogue."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    with tmp.open("w", encoding="utf-8") as fh:
        for listing in listings:
            fh.write(listing.to_json() + "\n")
    tmp.replace(path)


def load_clean_catalogue(clean_dir: Path) -> CleanCatalogue:
    path = clean_dir / LISTINGS_FILE
    if not path.exists():
        raise FileNotFoundError(
            f"no cleaned catalogue at {clean_dir}: run `marketplace data clean` first"
        )
    with path.open(encoding="utf-8") as fh:
        listings = tuple(Listing.from_dict(json.loads(line)) for line in fh if line.strip())
    return CleanCatalogue(root=clean_dir, listings=listings)
