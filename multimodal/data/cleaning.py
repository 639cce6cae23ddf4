"""Turning the raw marketplace files into the cleaned catalogue.

The raw data is scraped: prices are display strings, titles carry the site's
`` | in Town, County | Gumtree`` tail, descriptions hold bare ``\\r``, and any
photo may be missing or corrupt. The parsers here are small pure functions so
each quirk is tested on its own; ``clean_catalogue`` applies them and counts
every row it drops or repairs in a ``CleanReport``, so nothing is lost
silently.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import pandas as pd
from PIL import Image, ImageOps
from tqdm import tqdm

from multimodal.data.catalogue import (
    IMAGES_DIR,
    LISTINGS_FILE,
    REPORT_FILE,
    Listing,
    write_listings,
)
from multimodal.data.raw import check_data_dir, raw_image_path, read_images, read_products

_PRICE = re.compile(r"^£?\s*(\d{1,3}(?:,\d{3})+|\d+)(\.\d+)?$")
_FREE_WORDS = {"free", "£free", "free!"}
# " | in Town, County | Gumtree" at the very end; the town part may not hold
# a "|", so a title with its own "|" inside keeps everything before the tail.
_TITLE_TAIL = re.compile(r"\s*\|\s*in\s+([^|]*?)\s*\|\s*Gumtree\s*$", re.IGNORECASE)
_SITE_TAIL = re.compile(r"\s*\|\s*Gumtree\s*$", re.IGNORECASE)
_RESAMPLE = Image.Resampling.BICUBIC
_JPEG_QUALITY = 92


def parse_price(raw: object) -> float | None:
    """``"£1,234.00"`` → 1234.0, free items → 0.0, anything else → None."""
    if not isinstance(raw, str):
        return None
    text = raw.strip().lower().replace(" ", "")
    if not text:
        return None
    if text in _FREE_WORDS:
        return 0.0
    match = _PRICE.match(text)
    if match is None:
        return None
    return float(match.group(1).replace(",", "") + (match.group(2) or ""))


def split_title(raw: str) -> tuple[str, str | None]:
    """The title without the site tail, and the tail's location if it had one."""
    text = " ".join(raw.split())
    match = _TITLE_TAIL.search(text)
    if match:
        return text[: match.start()].strip(), match.group(1).strip()
    site = _SITE_TAIL.search(text)
    if site:
        return text[: site.start()].strip(), None
    return text, None


def clean_title(raw: str) -> str:
    """Strip the `` | in Town, County | Gumtree`` tail and squeeze whitespace."""
    return split_title(raw)[0]


def parse_category(raw: str) -> tuple[str, ...]:
    """``"Root / Sub / Leaf"`` → ``("Root", "Sub", "Leaf")``; empty → ``()``."""
    parts = (part.strip() for part in (raw or "").split(" / "))
    return tuple(part for part in parts if part)


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
    """What cleaning kept, repaired and dropped, row by row counted."""

    data_dir: str
    out_dir: str
    image_size: int
    products_raw: int = 0
    products: int = 0  # listings written
    images_raw: int = 0  # rows in Images.csv
    images: int = 0  # cleaned photos attached to a listing
    images_copied: int = 0
    images_converted: int = 0
    images_reused: int = 0  # already cleaned by an earlier run
    products_without_images: int = 0  # kept listings with no usable photo
    price_unparsed: int = 0
    price_unparsed_examples: list[str] = field(default_factory=list)
    price_free: int = 0
    titles_repaired: int = 0  # site tail removed
    titles_without_tail: int = 0  # kept as they were
    descriptions_repaired: int = 0  # bare "\r" normalised or padding stripped
    locations_from_title: int = 0  # empty location filled from the title tail
    dropped_products: list[dict[str, str]] = field(default_factory=list)
    dropped_image_rows: list[dict[str, str]] = field(default_factory=list)
    bad_images: list[dict[str, str]] = field(default_factory=list)

    @property
    def dropped_products_by_reason(self) -> dict[str, int]:
        return _count_reasons(self.dropped_products)

    @property
    def dropped_image_rows_by_reason(self) -> dict[str, int]:
        return _count_reasons(self.dropped_image_rows)

    def to_dict(self) -> dict:
        data = asdict(self)
        data["dropped_products_by_reason"] = self.dropped_products_by_reason
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
            f"{self.price_unparsed} unparsed prices -> {self.out_dir}"
        )


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


def clean_products(products: pd.DataFrame, report: CleanReport) -> list[Listing]:
    """Parse every ``Products.csv`` row into a listing (no photos yet).

    Rows that cannot be listings are dropped and recorded in ``report``, as
    are the repairs made to the others.
    """
    kept: list[Listing] = []
    seen: set[str] = set()
    for index, row in zip(products.index, products.itertuples(index=False), strict=True):
        product_id = row.id.strip()
        title, tail_location = split_title(row.product_name)
        category = parse_category(row.category)
        reason = None
        if not product_id:
            reason = "missing id"
        elif product_id in seen:
            reason = "duplicate id"
        elif not title:
            reason = "no title"
        elif not category:
            reason = "no category"
        if reason:
            report.dropped_products.append({"row": str(index), "id": product_id, "reason": reason})
            continue
        seen.add(product_id)

        if tail_location is not None:
            report.titles_repaired += 1
        elif title == " ".join(row.product_name.split()):
            report.titles_without_tail += 1
        price = parse_price(row.price)
        if price is None:
            report.price_unparsed += 1
            if len(report.price_unparsed_examples) < 20:
                report.price_unparsed_examples.append(row.price)
        elif price == 0.0:
            report.price_free += 1
        description = clean_description(row.product_description)
        if description != row.product_description:
            report.descriptions_repaired += 1
        location = " ".join(row.location.split())
        if not location and tail_location:
            location = tail_location
            report.locations_from_title += 1
        kept.append(
            Listing(
                id=product_id,
                title=title,
                description=description,
                price=price,
                location=location,
                category_path=category,
            )
        )
    return kept


def _image_rows(images, product_ids: set[str], report: CleanReport) -> list[tuple[str, str]]:
    """(image id, product id) rows worth cleaning; the others are recorded as dropped."""
    rows: list[tuple[str, str]] = []
    seen: set[str] = set()
    for index, row in zip(images.index, images.itertuples(index=False), strict=True):
        image_id, product_id = row.id.strip(), row.product_id.strip()
        reason = None
        if not image_id:
            reason = "missing image id"
        elif image_id in seen:
            reason = "duplicate image id"
        elif product_id not in product_ids:
            reason = "unknown or dropped product"
        if reason:
            report.dropped_image_rows.append(
                {"row": str(index), "id": image_id, "product_id": product_id, "reason": reason}
            )
            continue
        seen.add(image_id)
        rows.append((image_id, product_id))
    return rows


def clean_catalogue(
    data_dir: Path, out_dir: Path, image_size: int = 256, progress: bool = True
) -> CleanReport:
    """Clean a raw catalogue into ``out_dir`` and return what happened.

    Idempotent: a photo already cleaned at the same size, newer than its
    source, is reused untouched, so a second run only re-reads the CSVs.
    """
    if image_size < 8:
        raise ValueError(f"image size {image_size} is too small (need at least 8 pixels)")
    check_data_dir(data_dir)
    report = CleanReport(data_dir=str(data_dir), out_dir=str(out_dir), image_size=image_size)
    products = read_products(data_dir)
    images = read_images(data_dir)
    report.products_raw, report.images_raw = len(products), len(images)

    rows = clean_products(products, report)
    image_rows = _image_rows(images, {row.id for row in rows}, report)

    image_dir = out_dir / IMAGES_DIR
    image_dir.mkdir(parents=True, exist_ok=True)
    reuse = _previous_image_size(out_dir) == image_size
    good: dict[str, list[str]] = {}
    for image_id, product_id in tqdm(
        image_rows, desc="cleaning images", unit="img", disable=not progress
    ):
        src, dst = raw_image_path(data_dir, image_id), image_dir / f"{image_id}.jpg"
        try:
            if reuse and dst.exists() and src.exists() and _newer(dst, src):
                report.images_reused += 1
            elif clean_image(src, dst, image_size) == "copied":
                report.images_copied += 1
            else:
                report.images_converted += 1
        except BadImage as exc:
            dst.unlink(missing_ok=True)
            report.bad_images.append(
                {"image_id": image_id, "product_id": product_id, "reason": str(exc)}
            )
            continue
        good.setdefault(product_id, []).append(image_id)

    listings = [replace(row, image_ids=tuple(good.get(row.id, ()))) for row in rows]
    report.products = len(listings)
    report.images = sum(len(listing.image_ids) for listing in listings)
    report.products_without_images = sum(1 for listing in listings if not listing.image_ids)
    write_listings(out_dir / LISTINGS_FILE, listings)
    tmp = out_dir / (REPORT_FILE + ".tmp")
    tmp.write_text(json.dumps(report.to_dict(), indent=2, ensure_ascii=False))
    tmp.replace(out_dir / REPORT_FILE)
    return report


def _newer(a: Path, b: Path) -> bool:
    return os.stat(a).st_mtime_ns >= os.stat(b).st_mtime_ns
