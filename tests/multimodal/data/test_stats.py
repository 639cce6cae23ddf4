"""Raw-catalogue statistics, on the synthetic data and (when present) the real data."""

from __future__ import annotations

import json

import pytest

from multimodal.data.raw import RawDataError
from multimodal.data.stats import catalogue_stats
from multimodal.data.synthetic_generic import generate_generic_catalogue


def test_stats_on_synthetic(synthetic_raw_dir):
    stats = catalogue_stats(synthetic_raw_dir)
    assert stats["products"] == 300
    assert stats["categories"] == 6 == len(stats["products_per_root"])
    assert stats["images"] == sum(int(k) * v for k, v in stats["photos_per_product"].items()) + 1
    assert stats["image_files_missing"] == 1
    assert stats["products_without_images"] == stats["photos_per_product"]["0"] > 0
    assert stats["price_unparsed"] >= 1 and stats["price_free"] >= 2
    assert stats["duplicate_ad_groups"] > 0
    assert stats["titles_without_tail"] == 0
    json.dumps(stats)  # one JSON object for `marketplace data stats --json`


def test_stats_refuses_a_folder_without_a_catalogue(tmp_path):
    with pytest.raises(RawDataError, match=r"no Products\.csv"):
        catalogue_stats(tmp_path)


@pytest.mark.realdata
def test_stats_on_real_data(real_data_dir):
    stats = catalogue_stats(real_data_dir)
    assert (stats["products"], stats["images"], stats["categories"]) == (7156, 12604, 13)
    assert stats["products_without_images"] == 104
    assert stats["price_unparsed"] == 0


def test_stats_on_a_generic_catalogue_file(tmp_path):
    made = generate_generic_catalogue(tmp_path, n_listings=60, seed=1, fmt="csv")
    stats = catalogue_stats(made.path, made.mapping)
    assert (stats["format"], stats["products"], stats["categories"]) == ("csv", 60, 4)
    assert stats["products_without_category"] == 2 and stats["price_unparsed"] == 2
    assert stats["duplicate_product_ids"] == 2
    assert stats["image_files_missing"] == 1  # the other bad photo is there, but corrupt
    assert sum(stats["photos_per_product"].values()) == 60 - 2  # rows with an id
    json.dumps(stats)
