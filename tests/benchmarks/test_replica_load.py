"""``bench replicas`` on the synthetic scratch index: every server, back-end and request kind
it names, and zero errors. Timings are reported by the bench, never judged here."""

from __future__ import annotations

import json

import pytest

from api.settings import Settings
from benchmarks.errors import BenchError
from benchmarks.postgres import postgres_bindir
from benchmarks.replica_load import ReplicaLoadConfig, ServerSpec, run_replica_load_bench, table

MIX_KINDS = {"text search", "photo search", "listing", "similar"}


def _config(backends: tuple[str, ...]) -> ReplicaLoadConfig:
    return ReplicaLoadConfig(
        servers=(ServerSpec(1), ServerSpec(2), ServerSpec(1, {"MARKETPLACE_MAX_TEXT_BATCH": "4"})),
        backends=backends,
        mixed_backends=backends,
        concurrency=4,
        text_seconds=1.0,
        mixed_seconds=2.0,
        warmup_seconds=0.5,
        mixed_texts=40,
    )


def test_a_variant_names_its_workers_and_settings():
    spec = ServerSpec.parse("2:MARKETPLACE_TORCH_THREADS=2, MARKETPLACE_MAX_TEXT_BATCH=8")
    assert spec == ServerSpec(
        2, {"MARKETPLACE_TORCH_THREADS": "2", "MARKETPLACE_MAX_TEXT_BATCH": "8"}
    )
    assert spec.label == "2 workers (torch_threads=2 max_text_batch=8)"
    assert ServerSpec.parse("1") == ServerSpec(1)
    for bad in ("x:A=1", "0:A=1", "2:A", "2:=1"):
        with pytest.raises(BenchError, match="--variant takes"):
            ServerSpec.parse(bad)


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_replicas_bench_measures_every_server_and_kind(
    backend, fault_workspace, monkeypatch, tmp_path
):
    if backend == "postgresql" and postgres_bindir() is None:
        pytest.skip("no PostgreSQL server binaries (initdb, pg_ctl)")
    monkeypatch.setenv("MARKETPLACE_HOME", str(fault_workspace.home))
    out = tmp_path / "replicas_bench.json"
    report = run_replica_load_bench(
        Settings(data=fault_workspace.data_dir), _config((backend,)), out, progress=lambda _: None
    )
    assert json.loads(out.read_text()) == json.loads(json.dumps(report))
    runs = report["backends"][backend]
    assert [(run["workers"], run["env"]) for run in runs] == [
        (1, {}), (2, {}), (1, {"MARKETPLACE_MAX_TEXT_BATCH": "4"}),
    ]  # fmt: skip
    for run in runs:
        assert set(run["text"]["by_kind"]) == {"text search"}
        assert run["text"]["requests"] > 0 and run["text"]["p99_ms"] > 0
        # which kinds a 2 s slice reaches depends on the machine's speed: the mix is shuffled
        assert "text search" in run["mixed"]["by_kind"]
        assert set(run["mixed"]["by_kind"]) <= MIX_KINDS
        assert run["mixed"]["requests"] == sum(
            row["requests"] for row in run["mixed"]["by_kind"].values()
        )
    assert report["zero_errors"], [run["mixed"]["error_samples"] for run in runs]
    assert set(report["target"]) == {backend}
    assert "2 workers" in table(report)
