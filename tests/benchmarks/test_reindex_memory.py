import json
from pathlib import Path

import pytest

from benchmarks.reindex_memory import MemoryBenchConfig, run_bench, synthetic_listings

pytestmark = pytest.mark.slow


def test_synthetic_listings_are_text_only_and_distinct() -> None:
    listings = list(synthetic_listings(50))
    assert len({x.id for x in listings}) == len({x.title for x in listings}) == 50
    assert not any(x.image_ids for x in listings)


def test_reindex_memory_bench_writes_its_report(tmp_path: Path) -> None:
    pytest.importorskip("ray")
    out = tmp_path / "reindex_memory.json"
    config = MemoryBenchConfig(
        sizes=(120, 300),
        out=out,
        home=tmp_path / "bench",
        batch_size=32,
        shard_rows=100,
        embed_dim=32,
        cached_sizes=(300,),
    )
    report = run_bench(config)
    assert json.loads(out.read_text()) == json.loads(json.dumps(report))
    encoded, cached = report["runs"]["streamed_120"], report["runs"]["streamed_300_cached"]
    assert (encoded["listings"], encoded["embedded"]) == (120, 120)
    assert (cached["listings"], cached["embedded"]) == (300, 0)  # every vector from the cache
    assert cached["index_bytes"] > 300 * 32 * 4 * 2  # listings and text-only vectors at least
    assert cached["sync_unchanged"] == 300  # the run synced the cleaned file, found unchanged
    assert 0 < cached["driver_sync_peak_rss_bytes"] <= cached["driver_peak_rss_bytes"]
