"""Figures about a raw catalogue, read straight from its files.

Cheap on purpose (no image is decoded, only checked to exist), so
``marketplace data stats`` answers in a second even before any cleaning.
Parsing reuses the cleaning functions, so the figures match what cleaning
will make of the data. A Gumtree folder gets a few figures about its own
quirks (title tails, photo rows of unknown products) on top of the ones
every catalogue gets.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from pathlib import Path
from statistics import median

from multimodal.data.generic import read_generic
from multimodal.data.prices import parse_price
from multimodal.data.raw import (
    check_data_dir,
    raw_image_path,
    read_images,
    read_products,
    split_title,
)
from multimodal.data.rows import parse_category
from multimodal.data.splits import normalise_text


def _price_figures(raw_prices: Iterable[object]) -> dict:
    prices = [parse_price(raw) for raw in raw_prices]
    known = [p.amount for p in prices if p is not None]
    return {
        "price_unparsed": len(prices) - len(known),
        "price_free": sum(1 for p in known if p == 0.0),
        "price_min": min(known, default=None),
        "price_median": median(known) if known else None,
        "price_max": max(known, default=None),
    }


def _duplicate_ad_figures(texts: Iterable[str]) -> dict:
    counts = Counter(texts)
    counts.pop("", None)
    sizes = [n for n in counts.values() if n > 1]
    return {
        "duplicate_ad_groups": len(sizes),
        "products_in_duplicate_ad_groups": sum(sizes),
        "largest_duplicate_ad_group": max(sizes, default=0),
    }


def file_catalogue_stats(path: Path, mapping: Mapping[str, str] | None = None) -> dict:
    """The figures every catalogue gets, for a generic catalogue file."""
    raw = read_generic(path, mapping)
    ids = [row.id for row in raw.rows if row.id]
    roots = Counter(row.category[0] for row in raw.rows if row.category)
    present = {row.row: sum(1 for photo in row.photos if photo.path.is_file()) for row in raw.rows}
    images = sum(len(row.photos) for row in raw.rows)
    return {
        "data_dir": str(path),
        "format": raw.format,
        "products": raw.rows_raw,
        "images": raw.photos_raw,
        "categories": len(roots),
        "products_without_images": sum(1 for row in raw.rows if row.id and not present[row.row]),
        "products_without_category": sum(1 for row in raw.rows if not row.category),
        "image_files_missing": images - sum(present.values()),
        "duplicate_product_ids": len(ids) - len(set(ids)),
        **_price_figures(row.price for row in raw.rows),
        "products_per_root": dict(sorted(roots.items())),
        "photos_per_product": {
            str(k): v for k, v in sorted(Counter(present[r.row] for r in raw.rows if r.id).items())
        },
        **_duplicate_ad_figures(normalise_text(r.title, r.description) for r in raw.rows),
    }


def catalogue_stats(data_dir: Path, mapping: Mapping[str, str] | None = None) -> dict:
    """Counts, per-root breakdown, prices, photos per product and duplicate ads.

    ``data_dir`` is a Gumtree folder, or a generic catalogue file read with ``mapping``.
    """
    if data_dir.is_file():
        return file_catalogue_stats(data_dir, mapping)
    check_data_dir(data_dir)
    products = read_products(data_dir)
    images = read_images(data_dir)
    product_ids = set(products["id"].str.strip()) - {""}

    roots = Counter(path[0] for path in map(parse_category, products["category"]) if path)

    present = [raw_image_path(data_dir, image_id).is_file() for image_id in images["id"]]
    photos = Counter(pid for pid, ok in zip(images["product_id"], present, strict=True) if ok)
    rows_per_product = Counter(images["product_id"])
    photo_histogram = Counter(photos.get(pid, 0) for pid in product_ids)

    texts = (
        normalise_text(split_title(title)[0], description)
        for title, description in zip(
            products["product_name"], products["product_description"], strict=True
        )
    )
    return {
        "data_dir": str(data_dir),
        "format": "gumtree",
        "products": len(products),
        "images": len(images),
        "categories": len(roots),
        "products_without_images": sum(1 for pid in product_ids if not photos.get(pid)),
        "products_without_image_rows": sum(1 for pid in product_ids if pid not in rows_per_product),
        "image_files_missing": present.count(False),
        "images_of_unknown_products": int((~images["product_id"].isin(product_ids)).sum()),
        "duplicate_product_ids": len(products) - products["id"].nunique(),
        **_price_figures(products["price"]),
        "titles_without_tail": sum(
            1 for title in products["product_name"] if split_title(title)[1] is None
        ),
        "products_per_root": dict(sorted(roots.items())),
        "photos_per_product": {str(k): v for k, v in sorted(photo_histogram.items())},
        **_duplicate_ad_figures(texts),
    }
