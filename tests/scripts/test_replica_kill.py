"""One replica killed under load (issue 21, faults): two real ``marketplace serve``
processes over one PostgreSQL database, searches and writes sent to both, one SIGKILLed
midway. The other answers every request without an error, and every write either
acknowledged is in the database afterwards."""

from __future__ import annotations

import itertools
import os
import signal
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from api.settings import Settings
from benchmarks.harness import serve
from indexing.store import Store
from multimodal.data.catalogue import CleanCatalogue
from tests.fixtures.api import ADMIN_KEY, USER_TOKEN_SECRET, copied_to_postgres, token_for
from tests.fixtures.index import STORE_FILE

CLIENTS = 8
PHASE_S = 4.0  # load on both, then on the survivor after the kill


@dataclass(frozen=True)
class Outcome:
    replica: str
    kind: str  # "search", "listing" or "event"
    key: str  # the listing id written, or the user whose event it was
    status: int | None  # None: no answer (connection refused or reset)


def _environment(settings: Settings, url: str) -> dict[str, str]:
    paths = ("model_dir", "index_dir", "store_path", "image_dir")
    return {
        **os.environ,
        **{f"MARKETPLACE_{name.upper()}": str(getattr(settings, name)) for name in paths},
        "MARKETPLACE_DATABASE_URL": url,
        "MARKETPLACE_ADMIN_KEY": ADMIN_KEY,
        "MARKETPLACE_USER_TOKEN_SECRET": USER_TOKEN_SECRET,
        "MARKETPLACE_INDEX_POLL_SECONDS": "60",
    }


def _one_request(
    client: httpx.Client, replica: str, n: int, listing_id: str
) -> tuple[str, str, httpx.Response]:
    """The n-th request of the load: a search, a new listing or an event, in turn."""
    kind = ("search", "listing", "event")[n % 3]
    if kind == "search":
        return kind, "", client.post("/search", json={"text": f"chair {n % 7}", "k": 5})
    if kind == "listing":
        key = f"load-{replica}-{n}"
        body = {
            "id": key,
            "title": f"Oak chair {n}",
            "description": "Solid oak.",
            "price": 20 + n % 50,
            "location": "Leeds",
            "category": "Home & Garden / Furniture",
        }
        return kind, key, client.post("/listings", json=body, headers={"X-Admin-Key": ADMIN_KEY})
    user = f"user-{n % 5}"
    event = {"listing_id": listing_id, "type": "view"}
    return kind, user, client.post(f"/users/{user}/events", json=event, headers=token_for(user))


@pytest.mark.slow
def test_a_replica_killed_under_load_loses_no_acknowledged_write(
    api_index_root: Path,
    api_settings: Settings,
    clean_synthetic: CleanCatalogue,
    tmp_path: Path,
    request: pytest.FixtureRequest,
) -> None:
    url = copied_to_postgres(api_index_root / STORE_FILE, request)
    env = _environment(api_settings, url)
    listing_id = clean_synthetic.listings[0].id
    outcomes: list[Outcome] = []
    numbers = itertools.count()
    stop = threading.Event()
    with (
        serve(api_settings.data, env=env, log_path=tmp_path / "a.log") as a,
        serve(api_settings.data, env=env, log_path=tmp_path / "b.log") as b,
        httpx.Client(base_url=a.base_url, timeout=60) as to_a,
        httpx.Client(base_url=b.base_url, timeout=60) as to_b,
    ):
        replicas = [("a", to_a), ("b", to_b)]

        def client_loop() -> None:
            while not stop.is_set():
                n = next(numbers)
                replica, client = replicas[n % 2]
                try:
                    kind, key, response = _one_request(client, replica, n, listing_id)
                    outcomes.append(Outcome(replica, kind, key, response.status_code))
                except httpx.TransportError:
                    outcomes.append(Outcome(replica, "unknown", "", None))

        with ThreadPoolExecutor(CLIENTS) as pool:
            loops = [pool.submit(client_loop) for _ in range(CLIENTS)]
            time.sleep(PHASE_S)
            os.kill(b.pid, signal.SIGKILL)
            killed_at = len(outcomes)
            time.sleep(PHASE_S)
            stop.set()
            for loop in loops:
                loop.result(timeout=120)

    on_a = [o for o in outcomes if o.replica == "a"]
    assert [o for o in on_a if o.status not in (200, 201)] == []  # the survivor: no error
    assert sum(o.replica == "a" for o in outcomes[killed_at:]) > 0  # it served after the kill
    assert any(o.replica == "b" and o.status is None for o in outcomes)  # b did die
    acknowledged = [o for o in outcomes if o.status is not None and 200 <= o.status < 300]
    with Store(url) as stored:
        for outcome in acknowledged:
            if outcome.kind == "listing":
                assert stored.get_listing(outcome.key) is not None, outcome
        events = Counter(o.key for o in acknowledged if o.kind == "event")
        for user, count in events.items():
            # at least: b may have committed an event whose answer the kill cut off
            assert len(stored.events_for_user(user)) >= count, user
