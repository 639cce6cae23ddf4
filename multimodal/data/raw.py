"""The scraped Gumtree layout: ``Products.csv`` + ``Images.csv`` + ``images/``.

Every read of that layout goes through here so its quirks (an unnamed index
column, bare ``\\r`` inside descriptions, ids that must stay strings, the
`` | in Town, County | Gumtree`` tail on every title, photos listed in a
second file) are handled once. Values are read as strings with no NA
guessing: deciding what an empty or odd value means is cleaning's job, so
``read_gumtree`` hands the rows over as ``RawRow``s like any other reader.
"""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

from multimodal.data.rows import RawCatalogue, RawDataError, RawPhoto, RawRow, parse_category

PRODUCTS_FILE = "Products.csv"
IMAGES_FILE = "Images.csv"
RAW_IMAGES_DIR = "images"

PRODUCT_COLUMNS = ("id", "product_name", "category", "product_description", "price", "location")
IMAGE_COLUMNS = ("id", "product_id")

# " | in Town, County | Gumtree" at the very end; the town part may not hold
# a "|", so a title with its own "|" inside keeps everything before the tail.
_TITLE_TAIL = re.compile(r"\s*\|\s*in\s+([^|]*?)\s*\|\s*Gumtree\s*$", re.IGNORECASE)
_SITE_TAIL = re.compile(r"\s*\|\s*Gumtree\s*$", re.IGNORECASE)


def is_gumtree_dir(path: Path) -> bool:
    return path.is_dir() and (path / PRODUCTS_FILE).is_file()


def check_data_dir(data_dir: Path) -> None:
    """Fail early, with one clear sentence, on a folder that is not a catalogue."""
    if not data_dir.is_dir():
        raise RawDataError(f"data folder {data_dir} does not exist")
    for name in (PRODUCTS_FILE, IMAGES_FILE):
        if not (data_dir / name).is_file():
            raise RawDataError(f"{data_dir} has no {name}: not a marketplace catalogue")


def _read_csv(path: Path, columns: tuple[str, ...]) -> pd.DataFrame:
    # lineterminator="\n": descriptions contain bare "\r", which the default
    # parser would take for the end of a row.
    try:
        frame = pd.read_csv(
            path, lineterminator="\n", index_col=0, dtype=str, keep_default_na=False
        )
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise RawDataError(f"cannot read {path}: {exc}") from exc
    frame.columns = [str(c).strip() for c in frame.columns]
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise RawDataError(f"{path} lacks column(s) {', '.join(missing)}")
    # A short row leaves NaN even with keep_default_na=False: make it empty too.
    return frame[list(columns)].fillna("").apply(lambda col: col.str.strip("\r"))


def read_products(data_dir: Path) -> pd.DataFrame:
    """``Products.csv`` as strings, one row per raw listing, original order kept."""
    return _read_csv(data_dir / PRODUCTS_FILE, PRODUCT_COLUMNS)


def read_images(data_dir: Path) -> pd.DataFrame:
    """``Images.csv`` as strings: image ``id`` and the ``product_id`` it belongs to."""
    return _read_csv(data_dir / IMAGES_FILE, IMAGE_COLUMNS)


def raw_image_path(data_dir: Path, image_id: str) -> Path:
    return data_dir / RAW_IMAGES_DIR / f"{image_id}.jpg"


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


def _photos_by_product(
    data_dir: Path, images: pd.DataFrame, product_ids: set[str], dropped: list[dict[str, str]]
) -> dict[str, list[RawPhoto]]:
    """``Images.csv`` grouped by product; unusable rows go to ``dropped`` with a reason."""
    photos: dict[str, list[RawPhoto]] = {}
    seen: set[str] = set()
    for index, row in zip(images.index, images.itertuples(index=False), strict=True):
        image_id, product_id = row.id.strip(), row.product_id.strip()
        reason = None
        if not image_id:
            reason = "missing image id"
        elif image_id in seen:
            reason = "duplicate image id"
        elif product_id not in product_ids:
            reason = "unknown product"
        if reason:
            dropped.append(
                {"row": str(index), "id": image_id, "product_id": product_id, "reason": reason}
            )
            continue
        seen.add(image_id)
        path = raw_image_path(data_dir, image_id)
        photos.setdefault(product_id, []).append(
            RawPhoto(row=str(index), image_id=image_id, path=path, name=f"{image_id}.jpg")
        )
    return photos


def read_gumtree(data_dir: Path) -> RawCatalogue:
    """The Gumtree layout as raw rows; a product's photos go with its first row."""
    check_data_dir(data_dir)
    products = read_products(data_dir)
    images = read_images(data_dir)
    dropped: list[dict[str, str]] = []
    photos = _photos_by_product(data_dir, images, set(products["id"].str.strip()) - {""}, dropped)
    rows: list[RawRow] = []
    for index, row in zip(products.index, products.itertuples(index=False), strict=True):
        product_id = row.id.strip()
        title, town = split_title(row.product_name)
        rows.append(
            RawRow(
                row=str(index),
                id=product_id,
                title=title,
                description=row.product_description,
                price=row.price,
                currency="",
                location=row.location,
                category=parse_category(row.category),
                photos=tuple(photos.pop(product_id, ())),
                title_tail=title != " ".join(row.product_name.split()),
                title_location=town,
            )
        )
    return RawCatalogue(
        source=data_dir,
        format="gumtree",
        rows=rows,
        rows_raw=len(products),
        photos_raw=len(images),
        dropped_photos=dropped,
    )
