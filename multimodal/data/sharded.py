"""A catalogue in shards, cleaned a shard at a time and merged in order.

A marketplace's export is often a folder of Parquet or JSON Lines files (one
a day, one a partition) rather than one file, and too large to hold at once.
Each shard is read by the generic reader and cleaned by the same per-row
rules as ``marketplace data import`` (``clean_rows``, ``clean_photos``), on
its own, by whichever worker has it (``indexing.reindex.ray_import`` runs
them on Ray). ``ShardMerger`` then takes the shards in name order and writes
one cleaned catalogue: only the rules that need the whole catalogue are
applied there: an id that an earlier shard already used is dropped and
reported, and the report's counts are taken from the listings kept.

Row numbers name the shard (``day-2.jsonl:12``) when the catalogue is a
folder, and are plain line numbers, as ``data import`` gives, for one file.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from multimodal.data.catalogue import DEFAULT_CURRENCY, UNCATEGORISED, Listing
from multimodal.data.cleaning import LISTING_DROPPED, CleanReport, clean_photos, clean_rows
from multimodal.data.generic import FORMATS, catalogue_format, read_generic
from multimodal.data.prices import normalise_currency
from multimodal.data.rows import RawCatalogue, RawDataError


@dataclass(frozen=True)
class ImportOptions:
    """How to read a catalogue: as ``data import``'s ``--map``, ``--currency``, ``--image-size``."""

    mapping: Mapping[str, str] = field(default_factory=dict)
    currency: str = DEFAULT_CURRENCY
    image_size: int = 256

    def checked(self) -> ImportOptions:
        """The options with the currency as its ISO code; a bad one refused in one line."""
        if self.image_size < 8:
            raise RawDataError(f"image size {self.image_size} is too small (at least 8 pixels)")
        code = normalise_currency(self.currency)
        if code is None:
            raise RawDataError(f"currency {self.currency!r} is not a three-letter ISO code")
        return replace(self, currency=code)


def catalogue_shards(source: Path) -> list[Path]:
    """The catalogue files of ``source``: itself if a file, else every catalogue file
    under the folder (sub-folders too), in name order: the order "first" means."""
    if source.is_file():
        catalogue_format(source)  # an unknown extension is refused here
        return [source]
    if not source.is_dir():
        raise RawDataError(f"{source} does not exist")
    shards = sorted(p for p in source.rglob("*") if p.is_file() and p.suffix.lower() in FORMATS)
    if not shards:
        known = ", ".join(sorted(FORMATS))
        raise RawDataError(f"{source} holds no catalogue files ({known})")
    return shards


def shard_label(source: Path, shard: Path) -> str | None:
    """What a shard's row numbers are prefixed with: its path under a folder; none for a file."""
    return None if source.is_file() else shard.relative_to(source).as_posix()


def _labelled(raw: RawCatalogue, label: str) -> RawCatalogue:
    rows = [
        replace(
            row,
            row=f"{label}:{row.row}",
            photos=tuple(replace(p, row=f"{label}:{p.row}") for p in row.photos),
        )
        for row in raw.rows
    ]
    unreadable = [{**r, "row": f"{label}:{r['row']}"} for r in raw.unreadable_rows]
    dropped = [{**r, "row": f"{label}:{r['row']}"} for r in raw.dropped_photos]
    return replace(raw, rows=rows, unreadable_rows=unreadable, dropped_photos=dropped)


def clean_shard(
    shard: Path, label: str | None, out_dir: Path, rows_file: Path, options: ImportOptions
) -> CleanReport:
    """Clean one shard: its photos into ``out_dir``'s photo folder, its kept listings (with
    their row numbers) as JSON lines into ``rows_file``; returns the shard's report."""
    raw = read_generic(shard, options.mapping)
    if label is not None:
        raw = _labelled(raw, label)
    report = CleanReport(
        data_dir=str(shard),
        out_dir=str(out_dir),
        image_size=options.image_size,
        format=raw.format,
        default_currency=options.currency,
        products_raw=raw.rows_raw,
        images_raw=raw.photos_raw,
        dropped_image_rows=list(raw.dropped_photos),
    )
    kept = clean_rows(raw, report)
    good = clean_photos(kept, out_dir, report, progress=False)
    with rows_file.open("w", encoding="utf-8") as fh:
        for listing, row in kept:
            photos = tuple(good.get(listing.id, ()))
            cleaned = asdict(replace(listing, image_ids=photos))
            fh.write(json.dumps({"row": row.row, "listing": cleaned}, ensure_ascii=False) + "\n")
    return report


def read_shard_rows(rows_file: Path) -> Iterator[tuple[str, Listing]]:
    """``clean_shard``'s kept listings back, one line at a time."""
    with rows_file.open(encoding="utf-8") as fh:
        for line in fh:
            record = json.loads(line)
            yield record["row"], Listing.from_dict(record["listing"])


class ShardMerger:
    """Shards' cleaned listings and reports, taken in order, as one catalogue's.

    It holds the ids kept so far (to drop a later shard's repeat of one), never
    the listings: each is handed to ``write`` as it passes.
    """

    def __init__(self, source: Path, out_dir: Path, options: ImportOptions) -> None:
        self.report = CleanReport(
            data_dir=str(source),
            out_dir=str(out_dir),
            image_size=options.image_size,
            format="",
            default_currency=options.currency,
        )
        self._seen: set[str] = set()
        self._formats: list[str] = []

    def add(
        self,
        shard: CleanReport,
        rows: Iterator[tuple[str, Listing]],
        write: Callable[[Listing], object],
    ) -> None:
        """Take one shard: ``write(listing)`` for each listing kept, in row order."""
        report = self.report
        if shard.format not in self._formats:
            self._formats.append(shard.format)
            report.format = "+".join(self._formats)
        report.products_raw += shard.products_raw
        report.images_raw += shard.images_raw
        report.images_copied += shard.images_copied
        report.images_converted += shard.images_converted
        report.images_reused += shard.images_reused
        report.descriptions_repaired += shard.descriptions_repaired
        report.dropped_products.extend(shard.dropped_products)
        report.dropped_image_rows.extend(shard.dropped_image_rows)
        report.bad_images.extend(shard.bad_images)
        repeated: set[str] = set()
        for row, listing in rows:
            if listing.id in self._seen:  # an earlier shard has it: the first is kept
                repeated.add(row)
                report.dropped_products.append(
                    {"row": row, "id": listing.id, "reason": "duplicate id"}
                )
                report.dropped_image_rows.extend(
                    {
                        "row": row,
                        "id": image_id,
                        "product_id": listing.id,
                        "listing_row": row,
                        "reason": LISTING_DROPPED,
                    }
                    for image_id in listing.image_ids
                )
                continue
            self._seen.add(listing.id)
            self._count(listing)
            write(listing)
        report.row_problems.extend(p for p in shard.row_problems if p["row"] not in repeated)

    def _count(self, listing: Listing) -> None:
        """The report's per-listing counts, from the listing as kept."""
        report = self.report
        report.products += 1
        report.images += len(listing.image_ids)
        report.products_without_images += not listing.image_ids
        report.price_unparsed += listing.price is None
        report.price_free += listing.price == 0.0
        report.uncategorised += listing.category_path == (UNCATEGORISED,)
        report.currencies[listing.currency] = report.currencies.get(listing.currency, 0) + 1
        report.titles_without_tail += 1  # generic files have no site tails
