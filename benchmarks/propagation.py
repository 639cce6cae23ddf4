"""How long a write made through one replica takes to be seen through another.

Two ``marketplace serve`` processes (A and B) run over one store and one
index root: a copy of the workspace's SQLite store, then (when a database
is given, or PostgreSQL's binaries are here to start a throwaway one) the
same rows in PostgreSQL. Through A the benchmark writes listings and user
events one at a time; for each it measures from A's answer until B shows it:

- a listing: until ``GET /listings/{id}`` on B answers 200;
- an event: until B's ``marketplace_replica_changes_applied_total{kind="event"}``
  counts it (B has dropped that user's cached profile).

Nothing else loads the servers, so the figure is the change feed's own
delay: B's poll interval (``change_poll_seconds``) on SQLite, PostgreSQL's
``NOTIFY`` on PostgreSQL, plus the catch-up's work.
"""

from __future__ import annotations

import os
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families
from pydantic import SecretStr

from api.security import user_token
from api.settings import Settings
from benchmarks.errors import BenchError
from benchmarks.harness import RunningServer, machine_info, percentiles, serve, write_report
from benchmarks.postgres import postgres_bindir, throwaway_postgres
from indexing.store_copy import copy_store

ADMIN_KEY = "propagation-bench-admin"
TOKEN_SECRET = "propagation-bench-secret"
EVENT_COUNTER = "marketplace_replica_changes_applied_total"


@dataclass(frozen=True)
class PropagationBenchConfig:
    listings: int = 20
    events: int = 20
    change_poll_seconds: float = 0.5
    timeout_s: float = 10.0  # a write not seen within this is counted as missed
    poll_s: float = 0.01  # how often B is asked
    startup_timeout_s: float = 600.0


def replica_environment(settings: Settings, **values: object) -> dict[str, str]:
    """The environment two replicas of ``settings``' workspace share (plus ``values``)."""
    paths = {
        "MODEL_DIR": settings.resolved_model_dir,
        "INDEX_DIR": settings.resolved_index_dir,
        "IMAGE_DIR": settings.resolved_image_dir,
    }
    named = {**paths, **{name.upper(): value for name, value in values.items()}}
    return {
        **os.environ,
        "MARKETPLACE_ADMIN_KEY": ADMIN_KEY,
        "MARKETPLACE_USER_TOKEN_SECRET": TOKEN_SECRET,
        **{f"MARKETPLACE_{name}": str(value) for name, value in named.items()},
    }


@contextmanager
def two_replicas(
    data: Path, env: dict[str, str], startup_timeout_s: float, logs: Path
) -> Iterator[tuple[RunningServer, RunningServer]]:
    """Replicas A and B, each its own ``marketplace serve`` process, ready."""
    with ExitStack() as stack:
        a, b = (
            stack.enter_context(
                serve(data, env=env, ready_timeout_s=startup_timeout_s, log_path=logs / f"{n}.log")
            )
            for n in "ab"
        )
        yield a, b


def time_listing(a: httpx.Client, b: httpx.Client, title: str, config: PropagationBenchConfig):
    """Seconds from A's 201 for a new listing until B serves it (None: not within the
    timeout); and its id."""
    body = {
        "title": title,
        "description": "Written through replica A.",
        "price": 12,
        "location": "Leeds",
        "category": "Home & Garden / Lighting",
    }
    created = a.post("/listings", json=body, headers={"X-Admin-Key": ADMIN_KEY})
    if created.status_code != 201:
        raise BenchError(f"replica A refused a listing: {created.status_code} {created.text}")
    listing_id = created.json()["id"]
    seen = _until(lambda: b.get(f"/listings/{listing_id}").status_code == 200, config)
    return seen, listing_id


def time_event(
    a: httpx.Client, b: httpx.Client, user_id: str, listing_id: str, config
) -> float | None:
    """Seconds from A's 201 for a user event until B has applied it."""
    before = events_applied(b)
    token = {"X-User-Token": user_token(SecretStr(TOKEN_SECRET), user_id)}
    body = {"listing_id": listing_id, "type": "save"}
    posted = a.post(f"/users/{user_id}/events", json=body, headers=token)
    if posted.status_code != 201:
        raise BenchError(f"replica A refused an event: {posted.status_code} {posted.text}")
    return _until(lambda: events_applied(b) > before, config)


def events_applied(client: httpx.Client) -> float:
    """How many other replicas' events this replica has applied (its metric)."""
    families = text_string_to_metric_families(client.get("/metrics").text)
    return sum(
        s.value
        for family in families
        for s in family.samples
        if s.name == EVENT_COUNTER and s.labels.get("kind") == "event"
    )


def _until(seen: Callable[[], bool], config: PropagationBenchConfig) -> float | None:
    started = time.perf_counter()
    while time.perf_counter() - started < config.timeout_s:
        if seen():
            return time.perf_counter() - started
        time.sleep(config.poll_s)
    return None


def measure_backend(
    name: str, settings: Settings, env: dict[str, str], config: PropagationBenchConfig, logs: Path
) -> dict:
    """One back-end's figures: listing and event propagation, A to B."""
    with (
        two_replicas(settings.data, env, config.startup_timeout_s, logs / name) as (a, b),
        httpx.Client(base_url=a.base_url, timeout=60) as to_a,
        httpx.Client(base_url=b.base_url, timeout=60) as to_b,
    ):
        run = uuid.uuid4().hex[:8]
        listings, ids = [], []
        for n in range(config.listings):
            seconds, listing_id = time_listing(to_a, to_b, f"Propagation probe {run} {n}", config)
            listings.append(seconds)
            ids.append(listing_id)
        events = [
            time_event(to_a, to_b, f"probe-{run}-{n}", ids[n % len(ids)], config)
            for n in range(config.events)
        ]
    return {"backend": name, "listing": _figures(listings), "event": _figures(events)}


def _figures(seconds: list[float | None]) -> dict:
    seen = [s for s in seconds if s is not None]
    return {**percentiles(seen), "missed": len(seconds) - len(seen)}


def run_propagation_bench(
    settings: Settings,
    config: PropagationBenchConfig,
    out: Path,
    database_url: str | None,
    progress: Callable[[str], None],
) -> dict:
    """Both back-ends over copies of ``settings``' store (``database_url``: an empty
    PostgreSQL database to copy it into; None: a throwaway server, when one can start)."""
    if config.listings < 1:
        raise BenchError("write at least one listing: events are about listings")
    work = Path(tempfile.mkdtemp(prefix="marketplace-propagation-"))
    store_copy = work / "catalogue.sqlite"
    copy_store(settings.store_location, store_copy)
    common = {"change_poll_seconds": config.change_poll_seconds}
    runs = []
    progress("SQLite: two replicas over one store file")
    env = replica_environment(settings, store_path=store_copy, **common)
    runs.append(measure_backend("sqlite", settings, env, config, work))
    with ExitStack() as stack:
        bindir = postgres_bindir()
        if database_url is None and bindir is not None:
            database_url = stack.enter_context(throwaway_postgres(bindir)).new_database()
        if database_url is not None:
            copy_store(store_copy, database_url)
            progress("PostgreSQL: two replicas over one database")
            env = replica_environment(settings, database_url=database_url, **common)
            runs.append(measure_backend("postgresql", settings, env, config, work))
    report = {
        "machine": machine_info(),
        "data": str(settings.data),
        "server_logs": str(work),
        "runs": runs,
        "all_within_2_s": all(
            run[kind].get("max_ms", 0) <= 2000 and not run[kind]["missed"]
            for run in runs
            for kind in ("listing", "event")
        ),
        "config": asdict(config),
    }
    write_report(report, out, summary_line(report))
    return report


def summary_line(report: dict) -> str:
    parts = [
        f"{run['backend']}: listing p50 {run['listing'].get('p50_ms', 0):.0f} / max "
        f"{run['listing'].get('max_ms', 0):.0f} ms, event p50 {run['event'].get('p50_ms', 0):.0f}"
        f" / max {run['event'].get('max_ms', 0):.0f} ms"
        for run in report["runs"]
    ]
    within = "all" if report["all_within_2_s"] else "NOT all"
    return "propagation bench: " + "; ".join(parts) + f" ({within} within 2 s)"
