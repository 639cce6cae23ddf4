"""The three-row example of the README and the format page reads as they say it does.

The README's JSON Lines block and the format page's CSV block are taken from
the documents themselves, so an edit to either that stops matching what
import makes of it fails here: a1 at 120.00 GBP (the default), b2 at
1234.00 EUR (from its ``€``), c3 at 5.00 USD (its ``currency`` column).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from PIL import Image

from multimodal.data.catalogue import load_clean_catalogue
from multimodal.data.cleaning import clean_catalogue

ROOT = Path(__file__).resolve().parents[3]
EXPECTED = {
    "a1": (120.0, "GBP", ("Home", "Furniture", "Tables"), 2),
    "b2": (1234.0, "EUR", ("Sport", "Bikes"), 1),
    "c3": (5.0, "USD", ("Books",), 0),
}


def _block(document: str, language: str) -> str:
    text = (ROOT / document).read_text(encoding="utf-8")
    blocks = re.findall(rf"```{language}\n(.*?)```", text, flags=re.DOTALL)
    (example,) = [block for block in blocks if '"a1"' in block or block.startswith("id,")]
    return example


@pytest.mark.parametrize(
    ("document", "language", "name"),
    [
        ("README.md", "json", "shop.jsonl"),
        ("docs/catalogue-format.md", "json", "shop.jsonl"),
        ("docs/catalogue-format.md", "csv", "shop.csv"),
    ],
)
def test_the_documented_three_rows_import_as_documented(
    tmp_path: Path, document: str, language: str, name: str
) -> None:
    (tmp_path / "photos").mkdir()
    for photo in ("a1", "a1-back", "b2"):
        Image.new("RGB", (20, 12), "white").save(tmp_path / "photos" / f"{photo}.jpg")
    path = tmp_path / name
    path.write_text(_block(document, language), encoding="utf-8")
    report = clean_catalogue(path, tmp_path / "clean", image_size=16, progress=False)
    assert (report.products, report.images) == (3, 3)
    assert not report.dropped_products and not report.row_problems and not report.bad_images
    listings = load_clean_catalogue(tmp_path / "clean").by_id()
    got = {
        listing_id: (x.price, x.currency, x.category_path, len(x.image_ids))
        for listing_id, x in listings.items()
    }
    assert got == EXPECTED
