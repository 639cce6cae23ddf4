"""The runtime-parity benchmark checks every vector kind, the reindex's cached path included."""

from __future__ import annotations

import pytest

from benchmarks.runtime_parity import ParityConfig, run_parity, summary_line

pytestmark = pytest.mark.slow


def test_parity_covers_the_vectors_made_from_the_feature_cache(
    clean_synthetic, trained_bundle_dir, model_workspace
) -> None:
    config = ParityConfig(listings=6, queries=3, threads=1)
    report = run_parity(
        clean_synthetic, trained_bundle_dir, None, config, model_workspace.features_dir
    )
    cosines = report["cosine"]["onnx"]
    assert {"listing", "photo", "text", "text_from_cache", "photo_from_cache"} <= set(cosines)
    assert cosines["text_from_cache"]["n"] == 6
    assert cosines["photo_from_cache"]["n"] == report["photos"]
    assert report["passed"], summary_line(report)
