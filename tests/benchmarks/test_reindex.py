import json
from pathlib import Path

import pytest

from benchmarks.reindex import BenchConfig, run_bench, summary_line
from multimodal.workspace import Workspace

pytestmark = pytest.mark.slow


def test_reindex_bench_writes_its_report(
    tmp_path: Path,
    synthetic_raw_dir,
    clean_synthetic,
    trained_bundle_dir,
    model_workspace,
    monkeypatch,
) -> None:
    monkeypatch.setenv("MARKETPLACE_HOME", str(tmp_path / "home"))
    source = Workspace.for_data(synthetic_raw_dir)
    source.root.mkdir(parents=True)
    source.clean_dir.symlink_to(clean_synthetic.root)
    source.model_dir.symlink_to(trained_bundle_dir)
    source.features_dir.symlink_to(model_workspace.features_dir)
    out = tmp_path / "reindex_bench.json"
    config = BenchConfig(
        data=synthetic_raw_dir,
        out=out,
        executors=("local",),
        limit=10,
        cold_limit=6,
        batch_size=4,
        profile_listings=4,
        home=tmp_path / "bench",
        cli=False,
    )
    report = run_bench(config)
    assert json.loads(out.read_text()) == json.loads(json.dumps(report))
    assert report["full"]["local"]["embedded"] == report["full"]["local"]["listings"] == 6
    assert report["full"]["local_feature_cache"]["embedded"] == 10  # incremental runs on this
    assert report["incremental"]["no_change"]["embedded"] == 0
    assert report["incremental"]["one_changed"]["embedded"] == 1
    assert report["profile"]["sample_listings"] == 4
    assert "nothing changed: 0 re-embedded" in summary_line(report)
