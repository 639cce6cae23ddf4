"""Reading listings, similar listings, photos and category prediction."""

from __future__ import annotations

import base64

from fastapi.testclient import TestClient

from multimodal.data.catalogue import CleanCatalogue


def test_get_listing(client: TestClient, clean_synthetic: CleanCatalogue) -> None:
    listing = next(item for item in clean_synthetic.listings if item.image_ids)
    body = client.get(f"/listings/{listing.id}").json()
    assert body["id"] == listing.id
    assert body["title"] == listing.title
    assert body["category"] == listing.category
    assert body["image_urls"] == [f"/images/{i}" for i in listing.image_ids]


def test_unknown_listing_is_404(client: TestClient) -> None:
    assert client.get("/listings/no-such-listing").status_code == 404
    assert client.get("/listings/no-such-listing/similar").status_code == 404


def test_similar_listings_leave_the_listing_itself_out(
    client: TestClient, clean_synthetic: CleanCatalogue
) -> None:
    listing = clean_synthetic.listings[0]
    body = client.get(f"/listings/{listing.id}/similar", params={"k": 7}).json()
    found = [r["id"] for r in body["results"]]
    assert len(found) == 7
    assert listing.id not in found
    assert body["listing_id"] == listing.id


def test_similar_k_is_bounded(client: TestClient, clean_synthetic: CleanCatalogue) -> None:
    listing_id = clean_synthetic.listings[0].id
    assert client.get(f"/listings/{listing_id}/similar", params={"k": 0}).status_code == 422
    assert client.get(f"/listings/{listing_id}/similar", params={"k": 101}).status_code == 422


def test_image_is_served(client: TestClient, clean_synthetic: CleanCatalogue) -> None:
    image_id = next(item for item in clean_synthetic.listings if item.image_ids).image_ids[0]
    response = client.get(f"/images/{image_id}")
    assert response.status_code == 200
    assert response.headers["content-type"] == "image/jpeg"
    assert response.content == clean_synthetic.image_path(image_id).read_bytes()


def test_image_ids_cannot_leave_the_folder(client: TestClient) -> None:
    for bad in ("..%2F..%2Fetc%2Fpasswd", "...", "%2Fetc%2Fpasswd", "a.b"):
        response = client.get(f"/images/{bad}")
        assert 400 <= response.status_code < 500, bad
    assert client.get("/images/no-such-image").status_code == 404


def test_predict_category_from_text(client: TestClient) -> None:
    body = client.post("/predict/category", json={"text": "acoustic guitar with strings"}).json()
    assert body["category"] == max(body["probabilities"], key=body["probabilities"].get)
    assert abs(sum(body["probabilities"].values()) - 1) < 1e-3
    assert body["category"] == "Music, Films, Books & Games"


def test_predict_category_from_a_photo(client: TestClient, clean_synthetic: CleanCatalogue) -> None:
    listing = next(item for item in clean_synthetic.listings if item.image_ids)
    photo = clean_synthetic.image_path(listing.image_ids[0]).read_bytes()
    response = client.post("/predict/category", json={"image": base64.b64encode(photo).decode()})
    assert response.status_code == 200
    assert response.json()["category"] in response.json()["probabilities"]


def test_predict_needs_some_input(client: TestClient) -> None:
    assert client.post("/predict/category", json={}).status_code == 422
