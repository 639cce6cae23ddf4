"""Two real ``marketplace serve`` processes over one PostgreSQL database and one index root:
a write and an event through A are seen through B within 2 s, and a new index version is
taken up by both without a restart."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from api.settings import Settings
from benchmarks.propagation import (
    PropagationBenchConfig,
    replica_environment,
    time_event,
    time_listing,
    two_replicas,
)
from indexing.config import ReindexConfig
from indexing.reindex.mapper import Mapper
from indexing.reindex.runner import reindex
from indexing.store import Store
from indexing.store_copy import copy_store
from tests.fixtures.api import settings_over
from tests.fixtures.index import INDEX_DIR, STORE_FILE


def serving_version(client: httpx.Client) -> float:
    families = text_string_to_metric_families(client.get("/metrics").text)
    return next(
        s.value for f in families for s in f.samples if s.name == "marketplace_index_version"
    )


@pytest.mark.slow
def test_two_serve_processes_stay_level_through_postgres(
    api_index_root: Path,
    api_settings: Settings,
    postgres_url: str,
    embedder,
    tmp_path: Path,
    record_property,
) -> None:
    shutil.copytree(api_index_root / INDEX_DIR, tmp_path / INDEX_DIR, symlinks=True)
    copy_store(api_index_root / STORE_FILE, postgres_url)
    settings = settings_over(
        tmp_path, api_settings.resolved_model_dir, api_settings.resolved_image_dir
    )
    env = replica_environment(
        settings, database_url=postgres_url, change_poll_seconds=0.5, index_poll_seconds=0.5
    )
    config = PropagationBenchConfig(timeout_s=10)
    with (
        two_replicas(tmp_path, env, 600, tmp_path / "logs") as (a, b),
        httpx.Client(base_url=a.base_url, timeout=60) as to_a,
        httpx.Client(base_url=b.base_url, timeout=60) as to_b,
    ):
        listing_s, listing_id = time_listing(to_a, to_b, "Crossing replicas lantern", config)
        event_s = time_event(to_a, to_b, "crossing-user", listing_id, config)
        record_property("listing_seen_on_b_s", listing_s)
        record_property("event_seen_on_b_s", event_s)
        print(f"listing seen on B after {listing_s} s, event after {event_s} s")
        assert listing_s is not None and listing_s < 2.0
        assert event_s is not None and event_s < 2.0
        hits = to_b.post("/search", json={"text": "crossing replicas lantern", "k": 3}).json()
        assert hits["results"][0]["id"] == listing_id  # with the vectors A stored

        before = serving_version(to_a)
        with Store(postgres_url, settings.resolved_image_dir) as store:  # a reindex job
            summary = reindex(
                store, tmp_path / INDEX_DIR, settings.resolved_model_dir,
                ReindexConfig(progress=False), Mapper(embedder),
            )  # fmt: skip
        assert summary.version > before
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and {
            serving_version(to_a),
            serving_version(to_b),
        } != {summary.version}:
            time.sleep(0.2)
        assert serving_version(to_a) == serving_version(to_b) == summary.version
