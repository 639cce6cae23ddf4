"""The scaling benchmark runs end to end at toy sizes and its numbers are coherent."""

import numpy as np

from benchmarks.scaling import ClusteredVectors, ScalingConfig, copy_bandwidth, run_scaling

TINY = ScalingConfig(
    sizes=(500, 2_000),
    dim=32,
    queries=20,
    clusters=20,
    ivf_nprobe=(1, 4),
    hnsw_m=8,
    hnsw_ef_construction=16,
    hnsw_ef_search=(8, 64),
    bandwidth_bytes=8 * 2**20,
    bandwidth_repeats=2,
)


def test_vectors_are_unit_length_and_clustered():
    x = ClusteredVectors(TINY).draw(1_000, chunk=300)
    assert x.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(x, axis=1), 1.0, atol=1e-5)
    # clustered: a vector's best neighbour is far closer than a random pair
    sims = x @ x.T
    np.fill_diagonal(sims, -1)
    assert sims.max(axis=1).mean() > 3 * abs(sims.mean())


def test_same_seed_same_vectors():
    assert np.array_equal(ClusteredVectors(TINY).draw(50), ClusteredVectors(TINY).draw(50))


def test_copy_bandwidth_counts_read_and_write():
    bw = copy_bandwidth(4 * 2**20, 2)
    assert bw["moved_bytes_per_s"] == 2 * bw["copied_bytes_per_s"] > 0


def test_scaling_report_is_coherent():
    report = run_scaling(TINY)
    assert [s["size"] for s in report["sizes"]] == [500, 2_000]
    for size in report["sizes"]:
        kinds = {p["kind"] for p in size["points"]}
        assert kinds == {"exact", "ivf", "hnsw"}
        exact = next(p for p in size["points"] if p["kind"] == "exact")
        assert exact["recall_at_k"] == 1.0
        assert all(0.0 <= p["recall_at_k"] <= 1.0 for p in size["points"])
        assert size["exact_bytes_scanned"] == size["size"] * TINY.dim * 4
        assert size["exact_over_bound"] > 0
        assert set(size["chosen"]) == {"exact", "ivf", "hnsw"}


def test_report_and_plots_are_written(tmp_path):
    from benchmarks.scaling_report import summary_line, write_scaling_report

    report = run_scaling(TINY)
    paths = write_scaling_report(report, tmp_path)
    assert [p.name for p in paths] == [
        "scaling_bench.json",
        "scaling_latency_vs_size.png",
        "scaling_recall_vs_latency.png",
    ]
    assert all(p.stat().st_size > 0 for p in paths)
    assert "2,000 vectors" in summary_line(report)
    assert "| 2,000 | hnsw |" in (tmp_path / "scaling_bench.md").read_text()
