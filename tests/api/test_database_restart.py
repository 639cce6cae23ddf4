"""PostgreSQL stopped while the API serves, then started again (issue 21, faults).

Searches keep answering from memory (personalised ones from the cached
profile, or unpersonalised with ``personalisation: "unavailable"``), writes
and events get a 503 with ``Retry-After`` within a bounded time, succeed
again once the server is back, and every write acknowledged before or after
is in the database. A real server of the module's own, no mocks.
"""

from __future__ import annotations

import base64
import io
import shutil
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from api.main import create_app
from api.service import SearchService
from api.settings import Settings
from indexing.index_store import IndexDirectory
from indexing.store import Store
from indexing.store_copy import copy_store
from multimodal.data.catalogue import CleanCatalogue
from tests.api.routes.test_users import music_fan
from tests.fixtures.api import ADMIN_KEY, settings_over, token_for
from tests.fixtures.index import INDEX_DIR, STORE_FILE
from tests.fixtures.postgres import PostgresServer

ADMIN = {"X-Admin-Key": ADMIN_KEY}
# Long enough for a loaded two-core machine, short of a hang (a connect timeout is 5 s).
ANSWER_WITHIN_S = 60
_requests = ThreadPoolExecutor(max_workers=4)


def within_bound(call: Callable[[], httpx.Response]) -> httpx.Response:
    """``call()``'s answer; a call still waiting after ``ANSWER_WITHIN_S`` fails the test."""
    return _requests.submit(call).result(timeout=ANSWER_WITHIN_S)


def lamp(listing_id: str) -> dict:
    return {
        "id": listing_id,
        "title": f"Brass desk lamp {listing_id}",
        "description": "Barely used.",
        "price": 25,
        "location": "York",
        "category": "Home & Garden / Lighting",
    }


def photo() -> str:
    buffer = io.BytesIO()
    Image.new("RGB", (224, 224), (40, 90, 200)).save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode()


@pytest.fixture(scope="module")
def served(
    api_index_root: Path,
    api_settings: Settings,
    api_service: SearchService,
    restartable_postgres: PostgresServer,
    tmp_path_factory,
) -> Iterator[tuple[TestClient, str]]:
    """The app over a copy of the synthetic store in the restartable server (its URL
    carries a password, which trust authentication ignores, to see it hidden)."""
    root = tmp_path_factory.mktemp("restart")
    shutil.copytree(api_index_root / INDEX_DIR, root / INDEX_DIR, symlinks=True)
    url = restartable_postgres.new_database().replace("marketplace@", "marketplace:s3cret@")
    copy_store(api_index_root / STORE_FILE, url)
    settings = settings_over(
        root, api_settings.resolved_model_dir, api_settings.resolved_image_dir, database_url=url
    )
    embedder = api_service.embedder
    service = SearchService(
        settings,
        embedder,
        Store(url, settings.resolved_image_dir),
        IndexDirectory(root / INDEX_DIR).load_current(embedder.fingerprint),
    )
    with TestClient(create_app(settings, service)) as client:
        yield client, url
    service.close()


def search(client: TestClient, body: dict, user_id: str | None = None) -> dict:
    headers = token_for(user_id) if user_id else {}
    sent = {**body, "user_id": user_id} if user_id else body
    response = within_bound(lambda: client.post("/search", json=sent, headers=headers))
    assert response.status_code == 200, response.text
    return response.json()


def ids(answer: dict) -> list[str]:
    return [result["id"] for result in answer["results"]]


def event(client: TestClient, user_id: str, listing_id: str) -> httpx.Response:
    return client.post(
        f"/users/{user_id}/events",
        json={"listing_id": listing_id, "type": "save"},
        headers=token_for(user_id),
    )


def until_accepted(call: Callable[[], httpx.Response]) -> httpx.Response:
    """As a client would: retry a 503 after its ``Retry-After``, a few times."""
    for _ in range(10):
        response = within_bound(call)
        if response.status_code != 503:
            return response
        time.sleep(float(response.headers["Retry-After"]))
    return response


def test_a_database_restart_keeps_searches_and_loses_no_acknowledged_write(
    served: tuple[TestClient, str],
    restartable_postgres: PostgresServer,
    clean_synthetic: CleanCatalogue,
) -> None:
    client, url = served
    listing_id = clean_synthetic.listings[0].id
    assert within_bound(lambda: client.post("/listings", json=lamp("before"), headers=ADMIN))
    music_fan(client, clean_synthetic, "fan")  # 8 events, acknowledged
    text, filtered = {"text": "black", "k": 10}, {"text": "lamp", "filters": {"price_max": 30}}
    pictured = {"image": photo(), "k": 5}
    plain = search(client, text)
    personal = search(client, text, "fan")  # builds and caches fan's profile
    assert personal["personalisation"] == "applied"
    expected = {
        "filtered": ids(search(client, filtered)),
        "photo": ids(search(client, pictured)),
    }

    edited = {key: value for key, value in lamp("before").items() if key != "id"}
    restartable_postgres.stop("fast")
    try:
        assert ids(search(client, text)) == ids(plain)
        assert search(client, text)["personalisation"] == "off"
        assert ids(search(client, filtered)) == expected["filtered"]
        assert ids(search(client, pictured)) == expected["photo"]
        cached = search(client, text, "fan")
        assert cached["personalisation"] == "applied" and ids(cached) == ids(personal)
        stranger = search(client, text, "stranger")  # no profile cached: the plain order
        assert stranger["personalisation"] == "unavailable" and ids(stranger) == ids(plain)
        assert within_bound(lambda: client.get(f"/listings/{listing_id}")).status_code == 200
        assert within_bound(lambda: client.get("/suggest", params={"q": "la"})).status_code == 200

        refused = {
            "create": within_bound(
                lambda: client.post("/listings", json=lamp("during"), headers=ADMIN)
            ),
            "update": within_bound(
                lambda: client.put("/listings/before", json=edited, headers=ADMIN)
            ),
            "delete": within_bound(lambda: client.delete("/listings/before", headers=ADMIN)),
            "event": within_bound(lambda: event(client, "fan", listing_id)),
            "facets": within_bound(lambda: client.get("/facets")),
        }
        for what, response in refused.items():
            assert response.status_code == 503, (what, response.text)
            assert int(response.headers["Retry-After"]) >= 1, what
            detail = response.json()["detail"]
            assert "catalogue database postgresql://marketplace:***@" in detail, (what, detail)
            assert "s3cret" not in detail and "try again in" in detail, (what, detail)
    finally:
        restartable_postgres.resume()

    created = until_accepted(lambda: client.post("/listings", json=lamp("after"), headers=ADMIN))
    assert created.status_code == 201, created.text
    assert until_accepted(lambda: event(client, "fan", listing_id)).status_code == 201
    assert ids(search(client, {"text": "brass desk lamp after", "k": 3}))[0] == "after"
    assert search(client, text, "stranger")["personalisation"] == "applied"

    with Store(url) as stored:  # what the database holds, read afresh
        assert stored.get_listing("before") is not None and stored.get_listing("after")
        assert stored.get_listing("during") is None  # refused, so never written
        assert len(stored.events_for_user("fan")) == 9  # 8 before, 1 after
