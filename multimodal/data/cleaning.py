"""Turning any raw catalogue into the cleaned catalogue, with one set of rules.

A reader (``multimodal.data.readers``) hands over raw rows from the Gumtree
layout or a generic file; prices are display strings in any style,
descriptions hold bare ``\\r``, and any photo may be missing or corrupt.
The parsers are small pure functions so each quirk is tested on its own;
``clean_catalogue`` applies them and records every row it drops or repairs,
by row number and reason, in a ``CleanReport``, so nothing is lost silently.
A row is dropped only without an id or a title, or when its id repeats an
earlier row's; a row without a category is kept under ``UNCATEGORISED``.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from PIL import Image, ImageOps
from tqdm import tqdm

from multimodal.data.catalogue import (
    DEFAULT_CURRENCY,
    IMAGES_DIR,
    LISTINGS_FILE,
    REPORT_FILE,
    UNCATEGORISED,
    Listing,
    write_listings,
)
from multimodal.data.prices import normalise_currency, parse_price
from multimodal.data.readers import read_catalogue
from multimodal.data.rows import RawCatalogue, RawDataError, RawRow

LISTING_DROPPED = "listing dropped"  # why a dropped row's photos were not cleaned
_RESAMPLE = Image.Resampling.BICUBIC
_JPEG_QUALITY = 92


def clean_description(raw: str) -> str:
    """Bare ``\\r`` (old Mac line ends in the scrape) become newlines."""
    return (raw or "").replace("\r\n", "\n").replace("\r", "\n").strip()


def pad_to_square(img: Image.Image, fill: tuple[int, int, int] = (0, 0, 0)) -> Image.Image:
    """Centre the photo on a square RGB canvas: letterbox, never stretch.

    Transparent pixels are laid over ``fill`` too, so a PNG-in-disguise with an
    alpha channel looks like any other padded photo.
    """
    if img.mode in ("RGBA", "LA") or (img.mode == "P" and "transparency" in img.info):
        rgba = img.convert("RGBA")
        rgb = Image.new("RGB", rgba.size, fill)
        rgb.paste(rgba, mask=rgba.getchannel("A"))
    else:
        rgb = img.convert("RGB")
    side = max(rgb.size)
    if rgb.size == (side, side):
        return rgb
    canvas = Image.new("RGB", (side, side), fill)
    canvas.paste(rgb, ((side - rgb.width) // 2, (side - rgb.height) // 2))
    return canvas


class BadImage(Exception):
    """An image file that cannot be used; the message is the reason reported."""


def clean_image(src: Path, dst: Path, size: int) -> str:
    """Write ``src`` as a ``size``×``size`` RGB JPEG at ``dst``.

    Returns ``"copied"`` when the source was already such a JPEG (its bytes are
    copied, which is what makes cleaning the real data fast) or ``"converted"``.
    Raises ``BadImage`` for a missing, empty or undecodable file.
    """
    if not src.is_file():
        raise BadImage("missing file")
    if src.stat().st_size == 0:
        raise BadImage("empty file")
    try:
        with Image.open(src) as img:
            img.load()  # decode fully: a truncated JPEG fails here, not later in training
            oriented = ImageOps.exif_transpose(img)
            if (
                img.format == "JPEG"
                and img.mode == "RGB"
                and img.size == (size, size)
                and oriented.size == img.size
                and img.getexif().get(0x0112, 1) == 1
            ):
                _atomic_copy(src, dst)
                return "copied"
            square = pad_to_square(oriented)
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        raise BadImage(f"unreadable: {type(exc).__name__}: {exc}") from exc
    if square.size != (size, size):
        square = square.resize((size, size), _RESAMPLE)
    tmp = dst.with_suffix(".tmp")
    square.save(tmp, format="JPEG", quality=_JPEG_QUALITY)
    tmp.replace(dst)
    return "converted"


def _atomic_copy(src: Path, dst: Path) -> None:
    tmp = dst.with_suffix(".tmp")
    shutil.copyfile(src, tmp)
    tmp.replace(dst)


@dataclass
class CleanReport:
    """What cleaning kept, repaired and dropped, each problem with its row number."""

    data_dir: str  # the catalogue read: a Gumtree folder or a generic file
    out_dir: str
    image_size: int
    format: str = "gumtree"
    default_currency: str = DEFAULT_CURRENCY
    products_raw: int = 0  # rows in the catalogue
    products: int = 0  # listings written
    images_raw: int = 0  # photo references (Images.csv rows, or photos listed in rows)
    images: int = 0  # cleaned photos attached to a listing
    images_copied: int = 0
    images_converted: int = 0
    images_reused: int = 0  # already cleaned by an earlier run
    products_without_images: int = 0  # kept listings with no usable photo
    price_unparsed: int = 0  # kept listings without a price (missing or bad)
    price_free: int = 0
    uncategorised: int = 0  # kept for search under UNCATEGORISED, left out of training
    currencies: dict[str, int] = field(default_factory=dict)  # listings per currency
    titles_repaired: int = 0  # site tail removed
    titles_without_tail: int = 0  # kept as they were
    descriptions_repaired: int = 0  # bare "\r" normalised or padding stripped
    locations_from_title: int = 0  # empty location filled from the title tail
    # rows not written: {"row", "id", "reason"}
    dropped_products: list[dict[str, str]] = field(default_factory=list)
    # rows written with something missing: {"row", "id", "reason", "value"}
    row_problems: list[dict[str, str]] = field(default_factory=list)
    # photo references never tried: {"row", "id", "product_id", "reason"} (and
    # "listing_row" when the reason is that the row naming them was dropped)
    dropped_image_rows: list[dict[str, str]] = field(default_factory=list)
    # photos that could not be read: {"row", "image_id", "product_id", "photo", "reason"}
    bad_images: list[dict[str, str]] = field(default_factory=list)

    @property
    def dropped_products_by_reason(self) -> dict[str, int]:
        return _count_reasons(self.dropped_products)

    @property
    def row_problems_by_reason(self) -> dict[str, int]:
        return _count_reasons(self.row_problems)

    @property
    def dropped_image_rows_by_reason(self) -> dict[str, int]:
        return _count_reasons(self.dropped_image_rows)

    def to_dict(self) -> dict:
        data = asdict(self)
        data["dropped_products_by_reason"] = self.dropped_products_by_reason
        data["row_problems_by_reason"] = self.row_problems_by_reason
        data["dropped_image_rows_by_reason"] = self.dropped_image_rows_by_reason
        data["bad_images_count"] = len(self.bad_images)
        return data

    def summary(self) -> str:
        """The one line a command prints when cleaning is done."""
        return (
            f"cleaned {self.products}/{self.products_raw} listings "
            f"({len(self.dropped_products)} dropped), {self.images}/{self.images_raw} images "
            f"({self.images_reused} reused, {self.images_copied} copied, "
            f"{self.images_converted} converted, {len(self.bad_images)} bad, "
            f"{len(self.dropped_image_rows)} rows dropped), "
            f"{self.products_without_images} listings without photos, "
            f"{self.price_unparsed} unparsed prices, {self.uncategorised} uncategorised "
            f"-> {self.out_dir}"
        )

    def problem_lines(self, limit: int = 20) -> list[str]:
        """One line per problem, by row number, the first ``limit`` of them.

        A dropped listing's photos are counted on its own line, not listed.
        """
        photos_of_dropped: dict[str, int] = {}
        for p in self.dropped_image_rows:
            if p["reason"] == LISTING_DROPPED:
                photos_of_dropped[p["listing_row"]] = photos_of_dropped.get(p["listing_row"], 0) + 1
        lines = []
        for p in self.dropped_products:
            photos = photos_of_dropped.get(p["row"], 0)
            lines.append(
                f"row {p['row']}: {p['reason']} (id {p['id']!r}): dropped"
                + (f" with its {photos} photo(s)" if photos else "")
            )
        lines += [
            f"row {p['row']}: {p['reason']}"
            + (f" {p['value']!r}" if p["value"] else "")
            + f" (id {p['id']!r}): kept"
            for p in self.row_problems
        ]
        lines += [
            f"row {p['row']}: photo {p['photo']!r} {p['reason']} (id {p['product_id']!r}): "
            "listing kept without it"
            for p in self.bad_images
        ]
        lines += [
            f"{'Images.csv ' if self.format == 'gumtree' else ''}row {p['row']}: "
            f"photo {p['id']!r} not used: {p['reason']}"
            for p in self.dropped_image_rows
            if p["reason"] != LISTING_DROPPED
        ]
        if len(lines) > limit:
            rest = len(lines) - limit
            lines = [*lines[:limit], f"... and {rest} more in {Path(self.out_dir) / REPORT_FILE}"]
        return lines


def _count_reasons(rows: list[dict[str, str]]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for row in rows:
        counts[row["reason"]] = counts.get(row["reason"], 0) + 1
    return counts


def _previous_image_size(out_dir: Path) -> int | None:
    try:
        return int(json.loads((out_dir / REPORT_FILE).read_text())["image_size"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _drop_reason(row: RawRow, seen: set[str]) -> str | None:
    if not row.id:
        return "missing id"
    if row.id in seen:
        return "duplicate id"
    if not row.title:
        return "missing title"
    return None


def _price_and_currency(row: RawRow, default: str, report: CleanReport) -> tuple[float | None, str]:
    """The row's price and its currency: the row's own code, the price's sign, or the default."""

    def problem(reason: str, value: object) -> None:
        report.row_problems.append(
            {"row": row.row, "id": row.id, "reason": reason, "value": str(value)}
        )

    explicit = normalise_currency(row.currency) if row.currency else None
    if row.currency and explicit is None:
        problem("bad currency", row.currency)
    price = parse_price(row.price)
    if price is None:
        problem("missing price" if row.price in ("", None) else "bad price", row.price)
        return None, explicit or default
    if explicit and price.currency and price.currency != explicit:
        problem("bad price", f"{row.price} is not in {explicit}")
        return None, explicit
    return price.amount, explicit or price.currency or default


def clean_rows(raw: RawCatalogue, report: CleanReport) -> list[tuple[Listing, RawRow]]:
    """Each usable raw row as a listing (no photos yet), beside the row it came from.

    Rows that cannot be listings are dropped and recorded in ``report``, with
    the photos they named; rows kept with a problem are recorded too.
    """
    report.dropped_products.extend(raw.unreadable_rows)
    kept: list[tuple[Listing, RawRow]] = []
    seen: set[str] = set()
    for row in raw.rows:
        reason = _drop_reason(row, seen)
        if reason:
            report.dropped_products.append({"row": row.row, "id": row.id, "reason": reason})
            report.dropped_image_rows.extend(
                {
                    "row": p.row,
                    "id": p.name,
                    "product_id": row.id,
                    "listing_row": row.row,
                    "reason": LISTING_DROPPED,
                }
                for p in row.photos
            )
            continue
        seen.add(row.id)
        if row.title_location is not None:
            report.titles_repaired += 1
        elif not row.title_tail:
            report.titles_without_tail += 1
        price, currency = _price_and_currency(row, report.default_currency, report)
        if price is None:
            report.price_unparsed += 1
        elif price == 0.0:
            report.price_free += 1
        report.currencies[currency] = report.currencies.get(currency, 0) + 1
        category = row.category
        if not category:
            report.uncategorised += 1
            report.row_problems.append(
                {"row": row.row, "id": row.id, "reason": "missing category", "value": ""}
            )
            category = (UNCATEGORISED,)
        description = clean_description(row.description)
        if description != row.description:
            report.descriptions_repaired += 1
        location = " ".join(row.location.split())
        if not location and row.title_location:
            location = row.title_location
            report.locations_from_title += 1
        listing = Listing(
            id=row.id,
            title=row.title,
            description=description,
            price=price,
            location=location,
            category_path=category,
            currency=currency,
        )
        kept.append((listing, row))
    return kept


def clean_photos(
    kept: list[tuple[Listing, RawRow]], out_dir: Path, report: CleanReport, progress: bool
) -> dict[str, list[str]]:
    """Clean every kept row's photos; listing id → the image ids that worked."""
    image_dir = out_dir / IMAGES_DIR
    image_dir.mkdir(parents=True, exist_ok=True)
    reuse = _previous_image_size(out_dir) == report.image_size
    photos = [(listing.id, photo) for listing, row in kept for photo in row.photos]
    good: dict[str, list[str]] = {}
    for listing_id, photo in tqdm(photos, desc="cleaning images", unit="img", disable=not progress):
        src, dst = photo.path, image_dir / f"{photo.image_id}.jpg"
        try:
            if reuse and dst.exists() and src.exists() and _newer(dst, src):
                report.images_reused += 1
            elif clean_image(src, dst, report.image_size) == "copied":
                report.images_copied += 1
            else:
                report.images_converted += 1
        except BadImage as exc:
            dst.unlink(missing_ok=True)
            report.bad_images.append(
                {
                    "row": photo.row,
                    "image_id": photo.image_id,
                    "product_id": listing_id,
                    "photo": photo.name,
                    "reason": str(exc),
                }
            )
            continue
        good.setdefault(listing_id, []).append(photo.image_id)
    return good


def clean_catalogue(
    data_dir: Path,
    out_dir: Path,
    image_size: int = 256,
    progress: bool = True,
    *,
    mapping: Mapping[str, str] | None = None,
    currency: str = DEFAULT_CURRENCY,
) -> CleanReport:
    """Clean a raw catalogue (a Gumtree folder or a generic file) into ``out_dir``.

    ``mapping`` names a generic file's columns (field → column); ``currency``
    is the code of prices that name none. Idempotent: a photo already cleaned
    at the same size, newer than its source, is reused untouched, so a second
    run only re-reads the catalogue.
    """
    if image_size < 8:
        raise ValueError(f"image size {image_size} is too small (need at least 8 pixels)")
    default_currency = normalise_currency(currency)
    if default_currency is None:
        raise RawDataError(f"currency {currency!r} is not a three-letter ISO code like EUR")
    raw = read_catalogue(data_dir, mapping)
    report = CleanReport(
        data_dir=str(data_dir),
        out_dir=str(out_dir),
        image_size=image_size,
        format=raw.format,
        default_currency=default_currency,
        products_raw=raw.rows_raw,
        images_raw=raw.photos_raw,
        dropped_image_rows=list(raw.dropped_photos),
    )
    kept = clean_rows(raw, report)
    good = clean_photos(kept, out_dir, report, progress)
    listings = [replace(listing, image_ids=tuple(good.get(listing.id, ()))) for listing, _ in kept]
    report.products = len(listings)
    report.images = sum(len(listing.image_ids) for listing in listings)
    report.products_without_images = sum(1 for listing in listings if not listing.image_ids)
    write_listings(out_dir / LISTINGS_FILE, listings)
    save_report(report, out_dir)
    return report


def save_report(report: CleanReport, out_dir: Path) -> None:
    """``report.json``, written whole or not at all."""
    tmp = out_dir / (REPORT_FILE + ".tmp")
    tmp.write_text(json.dumps(report.to_dict(), indent=2, ensure_ascii=False))
    tmp.replace(out_dir / REPORT_FILE)


def _newer(a: Path, b: Path) -> bool:
    return os.stat(a).st_mtime_ns >= os.stat(b).st_mtime_ns
