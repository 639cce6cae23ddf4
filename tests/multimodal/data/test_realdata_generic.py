"""The real catalogue, converted to the generic format with its own column names, reads the same.

The Gumtree layout is written out as JSON Lines under other column names
(read back with ``--map``), with absolute photo paths: the figures must be
the Gumtree reader's (7,156 listings, 12,604 photos, 13 roots), and cleaning
must make the same listings of it. Nothing of the real data is kept: the
converted file lives in the test's temporary folder.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from multimodal.data.cleaning import CleanReport, clean_rows
from multimodal.data.generic import read_generic
from multimodal.data.raw import read_gumtree
from multimodal.data.stats import catalogue_stats

pytestmark = pytest.mark.realdata

MAPPING = {
    "id": "sku",
    "title": "headline",
    "description": "body",
    "price": "cost",
    "location": "town",
    "category": "taxonomy",
    "photos": "images",
}
SHARED_FIGURES = (
    "products",
    "images",
    "categories",
    "products_without_images",
    "price_unparsed",
    "price_free",
    "price_min",
    "price_median",
    "price_max",
    "products_per_root",
)


def test_the_real_data_as_a_mapped_generic_file_gives_the_same_figures_and_listings(
    real_data_dir: Path, tmp_path: Path
) -> None:
    gumtree = read_gumtree(real_data_dir)
    converted = tmp_path / "export.jsonl"
    with converted.open("w", encoding="utf-8") as fh:
        for row in gumtree.rows:
            record = {
                "sku": row.id,
                "headline": row.title,
                "body": row.description,
                "cost": row.price,
                "town": row.location,
                "taxonomy": list(row.category),
                "images": [str(photo.path) for photo in row.photos],
            }
            fh.write(json.dumps(record, ensure_ascii=False) + "\n")
    theirs = catalogue_stats(real_data_dir)
    ours = catalogue_stats(converted, MAPPING)
    assert (ours["products"], ours["images"], ours["categories"]) == (7156, 12604, 13)
    assert {k: ours[k] for k in SHARED_FIGURES} == {k: theirs[k] for k in SHARED_FIGURES}

    def cleaned(raw) -> list:
        report = CleanReport(data_dir="", out_dir="", image_size=256)
        # photo ids are each reader's own: compare the photos by their files instead
        return [
            (replace(listing, image_ids=()), tuple(p.path for p in row.photos))
            for listing, row in clean_rows(raw, report)
        ]

    # the Gumtree reader fills an empty location from the title's tail: the export has it
    assert cleaned(read_generic(converted, MAPPING)) == cleaned(gumtree)
