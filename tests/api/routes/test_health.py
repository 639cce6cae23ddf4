"""Liveness, readiness and the OpenAPI docs."""

from __future__ import annotations

from fastapi.testclient import TestClient


def test_healthz(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}


def test_readyz_reports_the_loaded_model(client: TestClient) -> None:
    response = client.get("/readyz")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ready"
    assert body["model_version"]
    assert body["listings"] > 0
    # the shared test index is built without a split: every channel but the instance one
    assert body["channels"] == ["listings", "lexical", "texts", "photos"]


def test_docs_and_schema(client: TestClient) -> None:
    assert client.get("/docs").status_code == 200
    paths = client.get("/openapi.json").json()["paths"]
    for path in (
        "/search",
        "/search/upload",
        "/listings/{listing_id}",
        "/predict/category",
        "/users/{user_id}/events",
        "/images/{image_id}",
        "/healthz",
        "/readyz",
    ):
        assert path in paths


def test_not_ready_until_the_service_is_loaded(api_settings) -> None:
    from api.main import create_app

    starting = TestClient(create_app(api_settings))  # no ``with``: the lifespan never ran
    assert starting.get("/healthz").status_code == 200
    assert starting.get("/readyz").status_code == 503
    response = starting.post("/search", json={"text": "sofa"})
    assert response.status_code == 503
    assert response.headers["retry-after"] == "1"
