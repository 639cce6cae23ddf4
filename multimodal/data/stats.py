"""Figures about a raw catalogue, read straight from its CSVs.

Cheap on purpose (no image is decoded, only checked to exist), so
``marketplace data stats`` answers in a second even before any cleaning.
Parsing reuses the cleaning functions, so the figures match what cleaning
will make of the data.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from statistics import median

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


def catalogue_stats(data_dir: Path) -> dict:
    """Counts, per-root breakdown, prices, photos per product and duplicate ads."""
    check_data_dir(data_dir)
    products = read_products(data_dir)
    images = read_images(data_dir)
    product_ids = set(products["id"].str.strip()) - {""}

    roots = Counter(path[0] for path in map(parse_category, products["category"]) if path)
    prices = [parse_price(raw) for raw in products["price"]]
    known = [p.amount for p in prices if p is not None]

    present = [raw_image_path(data_dir, image_id).is_file() for image_id in images["id"]]
    photos = Counter(pid for pid, ok in zip(images["product_id"], present, strict=True) if ok)
    rows_per_product = Counter(images["product_id"])
    photo_histogram = Counter(photos.get(pid, 0) for pid in product_ids)

    texts = Counter(
        normalise_text(split_title(title)[0], description)
        for title, description in zip(
            products["product_name"], products["product_description"], strict=True
        )
    )
    texts.pop("", None)
    duplicate_sizes = [n for n in texts.values() if n > 1]

    return {
        "data_dir": str(data_dir),
        "products": len(products),
        "images": len(images),
        "categories": len(roots),
        "products_without_images": sum(1 for pid in product_ids if not photos.get(pid)),
        "products_without_image_rows": sum(1 for pid in product_ids if pid not in rows_per_product),
        "image_files_missing": present.count(False),
        "images_of_unknown_products": int((~images["product_id"].isin(product_ids)).sum()),
        "duplicate_product_ids": len(products) - products["id"].nunique(),
        "price_unparsed": len(prices) - len(known),
        "price_free": sum(1 for p in known if p == 0.0),
        "price_min": min(known, default=None),
        "price_median": median(known) if known else None,
        "price_max": max(known, default=None),
        "titles_without_tail": sum(
            1 for title in products["product_name"] if split_title(title)[1] is None
        ),
        "products_per_root": dict(sorted(roots.items())),
        "photos_per_product": {str(k): v for k, v in sorted(photo_histogram.items())},
        "duplicate_ad_groups": len(duplicate_sizes),
        "products_in_duplicate_ad_groups": sum(duplicate_sizes),
        "largest_duplicate_ad_group": max(duplicate_sizes, default=0),
    }
