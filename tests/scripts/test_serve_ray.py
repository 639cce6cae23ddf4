"""``marketplace serve --ray`` as a real subprocess: two Ray Serve replicas on a local Ray.

Both replicas answer text and photo searches, share their metrics and write
JSON log lines to the command's stderr; a listing posted through one is found;
SIGTERM takes the replicas and the local Ray down and the command exits 0.
The local Ray ``serve --ray`` starts is small by design (one logical CPU a
replica, a 128 MiB object store, no dashboard), so the test sizes nothing itself.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from api.ray_serving import REPLICA_HEADER
from api.settings import Settings
from benchmarks.harness import REPO_ROOT, cli_command, free_port, wait_until_ready
from multimodal.data.catalogue import CleanCatalogue
from scripts.cli import main
from tests.fixtures.api import ADMIN_KEY
from tests.fixtures.index import INDEX_DIR

PROPAGATION_S = 2.0


def _private_environment(settings: Settings, root: Path) -> dict[str, str]:
    """The served settings over a private copy of the store and index (the test writes)."""
    source, target = sqlite3.connect(settings.resolved_store_path), sqlite3.connect(root / "s.db")
    try:
        source.backup(target)
    finally:
        source.close()
        target.close()
    shutil.copytree(settings.resolved_index_dir, root / INDEX_DIR, symlinks=True)
    paths = {
        "model_dir": settings.resolved_model_dir,
        "index_dir": root / INDEX_DIR,
        "store_path": root / "s.db",
        "image_dir": settings.resolved_image_dir,
    }
    return {
        **os.environ,
        **{f"MARKETPLACE_{name.upper()}": str(path) for name, path in paths.items()},
        "MARKETPLACE_ADMIN_KEY": ADMIN_KEY,
        "MARKETPLACE_INDEX_POLL_SECONDS": "0.5",
        "MARKETPLACE_CHANGE_POLL_SECONDS": "0.5",  # h-replicas' catch-up (unknown before it)
        "PROMETHEUS_MULTIPROC_DIR": str(root / "metrics"),
    }


@pytest.mark.slow
def test_serve_ray_replicas_answer_take_a_write_and_stop(
    api_settings: Settings, clean_synthetic: CleanCatalogue, tmp_path: Path
) -> None:
    pytest.importorskip("ray.serve")
    env = _private_environment(api_settings, tmp_path)
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    command = cli_command(
        "serve", "--data", str(api_settings.data), "--host", "127.0.0.1", "--port", str(port),
        "--ray", "--replicas", "2",
    )  # fmt: skip
    log_path = tmp_path / "server.log"
    with log_path.open("w+") as log:
        proc = subprocess.Popen(command, cwd=REPO_ROOT, env=env, stdout=log, stderr=log)
        try:
            wait_until_ready(base_url, 300, lambda: _exited(proc, log_path))
            ray_processes = _descendants(proc.pid)
            with httpx.Client(base_url=base_url, timeout=60) as client:
                _searches_reach_both_replicas(client, clean_synthetic)
                _a_write_is_served(client)
                samples = _metric_samples(client)
        finally:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
            try:
                returncode = proc.wait(timeout=90)
            except subprocess.TimeoutExpired:
                proc.kill()
                raise
    assert returncode == 0
    assert _alive(ray_processes) == set(), "the local Ray outlived serve --ray"

    assert len({s.labels["pid"] for s in samples if s.name == "marketplace_serving_info"}) == 2
    lines = [json.loads(line) for line in log_path.read_text().splitlines() if line[:1] == "{"]
    assert sum(line["message"].startswith("ready:") for line in lines) == 2  # one per replica
    assert any(line["logger"] == "api.access" and line["route"] == "/search" for line in lines)


def _searches_reach_both_replicas(client: httpx.Client, clean: CleanCatalogue) -> None:
    listing = clean.listings[0]
    photo = base64.b64encode((clean.image_dir / f"{listing.image_ids[0]}.jpg").read_bytes())
    answered_by: set[str] = set()
    deadline = time.monotonic() + 180  # /readyz answers once one replica is ready
    n = 0
    while (len(answered_by) < 2 or n < 4) and time.monotonic() < deadline:
        body = {"text": f"chair {n}", "k": 3} if n % 2 else {"image": photo.decode(), "k": 3}
        response = client.post("/search", json=body)
        assert response.status_code == 200, response.text
        assert len(set(response.headers.get_list("X-Request-ID"))) == 1
        answered_by.add(response.headers[REPLICA_HEADER])
        n += 1
    assert len(answered_by) == 2


def _a_write_is_served(client: httpx.Client) -> None:
    """The replica that took the write serves it at once, and every replica within 2 s
    (the change log: ``SearchService.catch_up``)."""
    body = {
        "title": "Splendiferous plumbob lantern",
        "description": "Brass, barely used.",
        "price": 30,
        "location": "York",
        "category": "Home & Garden / Lighting",
    }
    created = client.post("/listings", json=body, headers={"X-Admin-Key": ADMIN_KEY})
    assert created.status_code == 201, created.text
    listing_id, writer = created.json()["id"], created.headers[REPLICA_HEADER]
    settled = time.monotonic() + PROPAGATION_S
    found: dict[str, bool] = {}  # each replica: did its latest answer after 2 s hold the listing
    deadline = settled + 60
    while len(found) < 2 and time.monotonic() < deadline:
        response = client.post("/search", json={"text": "splendiferous plumbob lantern", "k": 5})
        assert response.status_code == 200, response.text
        ids = [result["id"] for result in response.json()["results"]]
        if time.monotonic() >= settled:
            found[response.headers[REPLICA_HEADER]] = listing_id in ids
    assert found.get(writer) is True
    assert found == dict.fromkeys(found, True) and len(found) == 2


def test_serve_ray_without_ray_is_one_line(
    api_settings: Settings, tmp_path: Path, capsys, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # what an install without the extra sees
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path / "metrics"))  # serve sets it
    assert main(["serve", "--data", str(api_settings.data), "--ray"]) == 2
    error = capsys.readouterr().err.strip()
    assert error.startswith("marketplace serve: error: --ray needs Ray Serve")
    assert "\n" not in error


def test_serve_ray_refuses_workers_and_replicas_without_ray(api_settings: Settings, capsys) -> None:
    data = ["serve", "--data", str(api_settings.data)]
    assert main([*data, "--ray", "--workers", "2"]) == 2
    assert capsys.readouterr().err.strip() == (
        "marketplace serve: error: --ray takes --replicas N, not --workers"
    )
    assert main([*data, "--ray", "--replicas", "0"]) == 2
    assert capsys.readouterr().err.strip() == (
        "marketplace serve: error: --replicas must be at least 1, not 0"
    )
    assert main([*data, "--replicas", "2"]) == 2
    assert capsys.readouterr().err.strip() == (
        "marketplace serve: error: --replicas and --ray-address go with --ray"
    )


def test_serve_ray_refuses_a_missing_index_before_deploying(
    api_settings: Settings, tmp_path: Path, capsys, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MARKETPLACE_MODEL_DIR", str(api_settings.resolved_model_dir))
    monkeypatch.setenv("MARKETPLACE_INDEX_DIR", str(tmp_path / "no-index"))
    monkeypatch.setenv("MARKETPLACE_STORE_PATH", str(api_settings.resolved_store_path))
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path / "metrics"))
    assert main(["serve", "--data", str(api_settings.data), "--ray"]) == 2
    error = capsys.readouterr().err.strip().splitlines()[-1]  # after the log's lines
    assert error.startswith("marketplace serve: error: no index in ") and "no-index" in error


def _exited(proc: subprocess.Popen, log_path: Path) -> str | None:
    if proc.poll() is None:
        return None
    lines = [line for line in log_path.read_text().splitlines() if line.strip()]
    return f"serve --ray exited with {proc.returncode}: {lines[-1] if lines else 'no output'}"


def _metric_samples(client: httpx.Client) -> list:
    """Samples from a scrape that has heard from both replicas (each reports its gauges
    once it is ready; a scrape reaches one replica, which merges both's files)."""
    deadline = time.monotonic() + 60
    while True:
        page = client.get("/metrics").text
        samples = [s for family in text_string_to_metric_families(page) for s in family.samples]
        pids = {s.labels["pid"] for s in samples if s.name == "marketplace_serving_info"}
        if len(pids) >= 2 or time.monotonic() > deadline:
            return samples
        time.sleep(0.5)


def _descendants(pid: int) -> set[int]:
    """Every process under ``pid`` (the local Ray's GCS, raylet, workers, replicas)."""
    parents: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parents[int(stat.parent.name)] = int(fields[1])
    found, frontier = set(), {pid}
    while frontier:
        frontier = {child for child, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


def _alive(pids: set[int], within_s: float = 30) -> set[int]:
    """Those of ``pids`` still running after ``within_s``."""
    deadline = time.monotonic() + within_s
    while True:
        alive = {pid for pid in pids if _running(pid)}
        if not alive or time.monotonic() > deadline:
            return alive
        time.sleep(0.5)


def _running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"
