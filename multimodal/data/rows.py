"""What every catalogue reader yields: raw rows, one per listing, in file order.

A reader (``multimodal.data.raw`` for the scraped Gumtree layout,
``multimodal.data.generic`` for JSON Lines / CSV / Parquet files) knows its
format's quirks and nothing else; it hands over a ``RawCatalogue`` of
``RawRow``s, still unchecked, and cleaning (``multimodal.data.cleaning``)
applies one set of rules to them all: which rows are dropped, how prices and
photos are read, and what is reported. Row numbers travel with every row and
photo so a report can point at the line of the file to fix.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


class RawDataError(ValueError):
    """The input is not a readable catalogue (missing file or column, empty, not UTF-8)."""


@dataclass(frozen=True)
class RawPhoto:
    row: str  # the row that named the photo (an Images.csv row, or the listing's own)
    image_id: str  # the cleaned photo's name: ``clean/images/<image_id>.jpg``
    path: Path  # the file to clean
    name: str  # the photo as the catalogue wrote it, for reports


@dataclass(frozen=True)
class RawRow:
    row: str  # as the file numbers it: the index column, or the 1-based line / row
    id: str
    title: str  # already stripped of any site tail the reader knows about
    description: str
    price: object  # display text or a number; cleaning parses it
    currency: str  # the row's own currency column; "" when it has none
    location: str
    category: tuple[str, ...]  # the category path; () when the row names none
    photos: tuple[RawPhoto, ...] = ()
    title_tail: bool = False  # the reader cut a site tail off the title
    title_location: str | None = None  # the town that tail named


@dataclass
class RawCatalogue:
    """A whole catalogue as read, plus what the reader itself could not use."""

    source: Path
    format: str  # "gumtree", "jsonl", "csv" or "parquet"
    rows: list[RawRow]
    rows_raw: int  # rows in the file, including those in ``unreadable_rows``
    photos_raw: int  # photo references in the file (Images.csv rows, or listed photos)
    unreadable_rows: list[dict[str, str]] = field(default_factory=list)
    dropped_photos: list[dict[str, str]] = field(default_factory=list)


def parse_category(raw: object) -> tuple[str, ...]:
    """``"Root / Sub / Leaf"`` or ``["Root", "Sub"]`` → a path; empty → ``()``.

    Only `` / `` with spaces splits a string, so a name like "AC/DC" survives.
    """
    if isinstance(raw, str):
        parts = raw.split(" / ")
    elif isinstance(raw, list | tuple):
        parts = [str(part) for part in raw if part is not None]
    else:
        return ()
    stripped = (part.strip() for part in parts)
    return tuple(part for part in stripped if part)
