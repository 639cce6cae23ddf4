"""``GET /metrics``: Prometheus text exposition of requests, what is serving, and reloads."""

from __future__ import annotations

import base64
import json
import shutil
import threading
from types import SimpleNamespace

from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from api.main import create_app
from api.observability.metrics import exposition, record_serving
from api.service import SearchService
from indexing.index_store import MANIFEST_FILE, IndexDirectory
from indexing.store import Store
from multimodal.data.catalogue import CleanCatalogue
from tests.fixtures.api import settings_over

Samples = dict[tuple[str, frozenset], float]


def samples_of(page: str) -> Samples:
    """Every sample of an exposition page, by name and labels (fails on a malformed page)."""
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(page)
        for sample in family.samples
    }


def scrape(client: TestClient) -> Samples:
    """Every sample of ``/metrics``."""
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return samples_of(response.text)


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def searched(samples: Samples, kind: str) -> float:
    labels = {"method": "POST", "route": "/search", "query_kind": kind}
    return value(samples, "marketplace_http_requests_total", **labels, status="2xx")


def test_search_requests_are_counted_and_timed_by_query_kind(
    client: TestClient, clean_synthetic: CleanCatalogue
) -> None:
    listing = next(item for item in clean_synthetic.listings if item.image_ids)
    photo = base64.b64encode(clean_synthetic.image_path(listing.image_ids[0]).read_bytes())
    before = scrape(client)
    for body in (
        {"text": "acoustic guitar"},
        {"image": photo.decode()},
        {"text": listing.title, "image": photo.decode()},
    ):
        assert client.post("/search", json=body).status_code == 200
    after = scrape(client)

    for kind in ("text", "photo", "both"):
        assert searched(after, kind) - searched(before, kind) == 1
        timed = {"method": "POST", "route": "/search", "query_kind": kind}
        count = "marketplace_http_request_duration_seconds_count"
        assert value(after, count, **timed) - value(before, count, **timed) == 1
        total = "marketplace_http_request_duration_seconds_sum"
        assert value(after, total, **timed) > value(before, total, **timed)


def test_routes_are_labelled_by_template_and_status_class(client: TestClient) -> None:
    listing_id = client.post("/search", json={"text": "chair", "k": 1}).json()["results"][0]["id"]
    before = scrape(client)
    assert client.get(f"/listings/{listing_id}").status_code == 200
    assert client.get("/listings/no-such-listing").status_code == 404
    assert client.get("/no/such/path").status_code == 404
    assert client.post("/search", json={"k": 5}).status_code == 422
    after = scrape(client)

    def delta(route: str, status: str, method: str = "GET", kind: str = "none") -> float:
        labels = {"method": method, "route": route, "status": status, "query_kind": kind}
        name = "marketplace_http_requests_total"
        return value(after, name, **labels) - value(before, name, **labels)

    assert delta("/listings/{listing_id}", "2xx") == 1
    assert delta("/listings/{listing_id}", "4xx") == 1
    assert delta("unmatched", "4xx") == 1
    assert delta("/search", "4xx", method="POST") == 1
    assert not any(f"/listings/{listing_id}" in dict(labels).values() for _, labels in after)


def test_the_serving_index_model_and_listing_count(
    client: TestClient, api_service: SearchService
) -> None:
    samples = scrape(client)
    version = api_service.index.manifest.version
    serving = {"index_version": str(version), "model_fingerprint": api_service.model_version}
    assert value(samples, "marketplace_serving_info", **serving) == 1
    assert value(samples, "marketplace_index_version") == version
    assert value(samples, "marketplace_listings") == api_service.size


def _copy_version(directory: IndexDirectory, number: int) -> None:
    """The current version again as version ``number`` (its manifest says so)."""
    target = directory.version_dir(number)
    shutil.copytree(directory.require_current(), target)
    manifest = json.loads((target / MANIFEST_FILE).read_text())
    (target / MANIFEST_FILE).write_text(json.dumps({**manifest, "version": number}))


def test_reloads_and_reload_failures_are_counted(index_copy, embedder) -> None:
    settings = settings_over(
        index_copy.root, index_copy.model_dir, index_copy.image_dir, index_poll_seconds=0
    )
    directory = IndexDirectory(index_copy.index_dir)
    service = SearchService(
        settings,
        embedder,
        Store(index_copy.store_path, index_copy.image_dir),
        directory.load_current(embedder.fingerprint),
    )
    first = service.index.manifest.version
    try:
        with TestClient(create_app(settings, service)) as client:
            before = scrape(client)
            _copy_version(directory, 98)
            directory.swap_current(98)
            assert service.reload_index() is True
            _copy_version(directory, 99)
            (directory.version_dir(99) / "listings" / "vectors.faiss").write_bytes(b"damaged")
            directory.swap_current(99)
            assert service.reload_index() is False
            after = scrape(client)
    finally:
        service.close()

    for name in ("marketplace_index_reloads_total", "marketplace_index_reload_failures_total"):
        assert value(after, name) - value(before, name) == 1
    model = embedder.fingerprint
    assert (
        value(after, "marketplace_serving_info", index_version="98", model_fingerprint=model) == 1
    )
    old = {"index_version": str(first), "model_fingerprint": model}
    assert value(after, "marketplace_serving_info", **old) == 0
    assert value(after, "marketplace_index_version") == 98


def _serving(version: int) -> SimpleNamespace:
    """What ``record_serving`` reads of a service, serving index ``version``."""
    return SimpleNamespace(
        index=SimpleNamespace(manifest=SimpleNamespace(version=version)),
        model_version="model-under-test",
        size=version,
    )


def test_a_scrape_shows_its_own_service_while_another_records() -> None:
    """Two services in one process (as in these tests): another's reindex watch
    recording must not leave a scrape showing no version at 1."""
    mine, other = _serving(7001), _serving(7002)
    stop = threading.Event()

    def record_other() -> None:
        while not stop.is_set():
            record_serving(other)

    recorder = threading.Thread(target=record_other)
    recorder.start()
    try:
        labels = {"index_version": "7001", "model_fingerprint": "model-under-test"}
        shown = [
            value(samples_of(exposition(mine).decode()), "marketplace_serving_info", **labels)
            for _ in range(300)
        ]
    finally:
        stop.set()
        recorder.join()
    assert shown == [1.0] * 300
