"""Raw-catalogue statistics, on the synthetic data and (when present) the real data."""

from __future__ import annotations

import json

import pytest

from multimodal.data.raw import RawDataError
from multimodal.data.stats import catalogue_stats


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
