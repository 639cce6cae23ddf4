"""Reading the raw marketplace files exactly as they are shipped.

Every raw reader goes through here so the quirks of the format (an unnamed
index column, bare ``\\r`` inside descriptions, ids that must stay strings)
are handled once. Values are read as strings with no NA guessing: deciding
what an empty or odd value means is cleaning's job, not the reader's.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

PRODUCTS_FILE = "Products.csv"
IMAGES_FILE = "Images.csv"
RAW_IMAGES_DIR = "images"

PRODUCT_COLUMNS = ("id", "product_name", "category", "product_description", "price", "location")
IMAGE_COLUMNS = ("id", "product_id")


class RawDataError(ValueError):
    """The folder is not a raw marketplace catalogue (missing file or column)."""


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
