"""Admin listing writes, visible to search as soon as they return (sellers' own writes:
``test_seller_listings``)."""

from __future__ import annotations

import base64

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from api.main import create_app
from api.service import SearchService
from tests.fixtures.api import ADMIN_KEY, token_for
from tests.fixtures.postgres import ON_BOTH_STORES

ADMIN = {"X-Admin-Key": ADMIN_KEY}
NEW = {
    "title": "Quuxophone in walnut",
    "description": "A rare zanzibarian quuxophone, barely played.",
    "price": 120,
    "location": "Leeds, West Yorkshire",
    "category": "Music, Films, Books & Games / Music & Instruments",
}


def top_ids(client: TestClient, text: str) -> list[str]:
    return [r["id"] for r in client.post("/search", json={"text": text, "k": 3}).json()["results"]]


def test_writes_need_the_admin_key(writable_client: TestClient) -> None:
    assert writable_client.post("/listings", json=NEW).status_code == 401
    wrong = {"X-Admin-Key": "not-the-key"}
    assert writable_client.post("/listings", json=NEW, headers=wrong).status_code == 401
    assert writable_client.delete("/listings/x", headers=wrong).status_code == 401


@pytest.mark.parametrize("configured", [None, ""])
def test_no_key_configured_means_admin_writes_are_disabled(
    api_settings, api_service: SearchService, configured: str | None
) -> None:
    settings = api_settings.model_copy(
        update={"admin_key": None if configured is None else SecretStr(configured)}
    )
    with TestClient(create_app(settings, api_service)) as no_key:
        response = no_key.post("/listings", json=NEW, headers=ADMIN)
        assert response.status_code == 403
        assert "disabled" in response.json()["detail"]
        # an empty key is no credential at all; sellers' own writes stay open
        assert no_key.put("/listings/x", json=NEW, headers={"X-Admin-Key": ""}).status_code == 401
        seller = {"X-User-Id": "seller-1", **token_for("seller-1")}
        assert no_key.put("/listings/x", json=NEW, headers=seller).status_code == 404


@ON_BOTH_STORES
def test_create_update_delete_are_searchable_at_once(writable_client: TestClient) -> None:
    created = writable_client.post("/listings", json=NEW, headers=ADMIN)
    assert created.status_code == 201, created.text
    listing_id = created.json()["id"]
    assert writable_client.get(f"/listings/{listing_id}").json()["title"] == NEW["title"]
    assert top_ids(writable_client, "quuxophone")[0] == listing_id
    filtered = writable_client.post(
        "/search",
        json={"text": "quuxophone", "k": 3, "filters": {"price_min": 100, "price_max": 130}},
    ).json()
    assert listing_id in [r["id"] for r in filtered["results"]]

    updated = writable_client.put(
        f"/listings/{listing_id}",
        json={**NEW, "title": "Blorptrumpet in walnut", "description": "A blorptrumpet."},
        headers=ADMIN,
    )
    assert updated.status_code == 200, updated.text
    assert top_ids(writable_client, "blorptrumpet")[0] == listing_id
    assert listing_id not in top_ids(writable_client, "quuxophone zanzibarian")

    assert writable_client.delete(f"/listings/{listing_id}", headers=ADMIN).status_code == 204
    assert writable_client.get(f"/listings/{listing_id}").status_code == 404
    assert listing_id not in top_ids(writable_client, "blorptrumpet")


@ON_BOTH_STORES
def test_create_with_a_photo_is_found_by_that_photo(
    writable_client: TestClient, clean_synthetic
) -> None:
    image_id = next(item for item in clean_synthetic.listings if item.image_ids).image_ids[0]
    body = {**NEW, "id": "with-photo-1", "title": "Zorblex lamp", "image_ids": [image_id]}
    assert writable_client.post("/listings", json=body, headers=ADMIN).status_code == 201
    photo = base64.b64encode(clean_synthetic.image_path(image_id).read_bytes()).decode()
    found = writable_client.post("/search", json={"image": photo, "k": 5}).json()["results"]
    assert "with-photo-1" in [r["id"] for r in found]


@pytest.mark.parametrize(
    ("method", "path", "body", "status"),
    [
        ("put", "/listings/no-such-listing", NEW, 404),
        ("delete", "/listings/no-such-listing", None, 404),
        ("post", "/listings", {**NEW, "title": ""}, 422),
        ("post", "/listings", {**NEW, "category": " / "}, 422),
        ("post", "/listings", {**NEW, "image_ids": ["../../etc/passwd"]}, 400),
        ("post", "/listings", {**NEW, "image_ids": ["no-such-image"]}, 404),
        ("post", "/listings", {**NEW, "price": -1}, 422),
    ],
)
def test_bad_writes(
    writable_client: TestClient, method: str, path: str, body: dict | None, status: int
) -> None:
    kwargs = {"headers": ADMIN} | ({"json": body} if body is not None else {})
    assert writable_client.request(method.upper(), path, **kwargs).status_code == status


@ON_BOTH_STORES
def test_duplicate_id_is_409(writable_client: TestClient) -> None:
    body = {**NEW, "id": "dup-1"}
    assert writable_client.post("/listings", json=body, headers=ADMIN).status_code == 201
    assert writable_client.post("/listings", json=body, headers=ADMIN).status_code == 409
