"""``POST /search`` and ``POST /search/upload``: modalities, filters, paging, order."""

from __future__ import annotations

import base64

import pytest
from fastapi.testclient import TestClient

from multimodal.data.catalogue import CleanCatalogue, Listing

RESULT_FIELDS = {
    "id", "title", "price", "currency", "category", "location", "image_url", "score", "reasons",
    "also_listed", "price_context",
}  # fmt: skip


def search(client: TestClient, **body) -> dict:
    response = client.post("/search", json=body)
    assert response.status_code == 200, response.text
    return response.json()


def ids(body: dict) -> list[str]:
    return [r["id"] for r in body["results"]]


def photo_of(catalogue: CleanCatalogue) -> tuple[Listing, bytes]:
    listing = next(item for item in catalogue.listings if item.image_ids)
    return listing, catalogue.image_path(listing.image_ids[0]).read_bytes()


def test_text_search_answers_the_contract(client: TestClient) -> None:
    body = search(client, text="acoustic guitar", k=5)
    assert set(body) == {
        "results", "total_candidates", "took_ms", "model_version", "facets",
        "understood", "did_you_mean", "personalisation",
    }  # fmt: skip
    assert body["personalisation"] == "off"  # no user
    assert len(body["results"]) == 5
    assert all(set(r) == RESULT_FIELDS for r in body["results"])
    assert body["model_version"] == client.get("/readyz").json()["model_version"]
    scores = [r["score"] for r in body["results"]]
    assert scores == sorted(scores, reverse=True)
    assert "text match" in body["results"][0]["reasons"]


def test_keyword_hits_rank_first(client: TestClient) -> None:
    top = search(client, text="acoustic guitar", k=3)["results"]
    assert all("guitar" in r["title"].lower() for r in top)


def test_photo_search_finds_the_listing_of_that_photo(
    client: TestClient, clean_synthetic: CleanCatalogue
) -> None:
    listing, photo = photo_of(clean_synthetic)
    body = search(client, image=base64.b64encode(photo).decode(), k=5)
    assert listing.id in ids(body)
    assert "photo match" in body["results"][0]["reasons"]


def test_text_and_photo_together(client: TestClient, clean_synthetic: CleanCatalogue) -> None:
    listing, photo = photo_of(clean_synthetic)
    body = search(client, text=listing.title, image=base64.b64encode(photo).decode(), k=5)
    assert listing.id in ids(body)
    assert "text and photo match" in body["results"][0]["reasons"]


def test_upload_form_matches_json(client: TestClient, clean_synthetic: CleanCatalogue) -> None:
    _, photo = photo_of(clean_synthetic)
    form = client.post(
        "/search/upload",
        data={"text": "lamp", "k": "5", "price_max": "500"},
        files={"image": ("photo.jpg", photo, "image/jpeg")},
    )
    assert form.status_code == 200, form.text
    json_body = search(
        client,
        text="lamp",
        image=base64.b64encode(photo).decode(),
        k=5,
        filters={"price_max": 500},
    )
    assert ids(form.json()) == ids(json_body)


def test_upload_text_only(client: TestClient) -> None:
    response = client.post("/search/upload", data={"text": "sofa", "k": "3"})
    assert response.status_code == 200
    assert len(response.json()["results"]) == 3


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"text": "   "},
        {"text": "sofa", "k": 0},
        {"text": "sofa", "k": 101},
        {"text": "sofa", "offset": -1},
        {"text": "sofa", "filters": {"price_min": 9, "price_max": 1}},
    ],
)
def test_bad_queries_are_422(client: TestClient, body: dict) -> None:
    response = client.post("/search", json=body)
    assert response.status_code == 422
    assert response.json()["detail"]


def test_pages_continue_each_other(client: TestClient) -> None:
    whole = ids(search(client, text="black", k=20))
    first = ids(search(client, text="black", k=10))
    second = ids(search(client, text="black", k=10, offset=10))
    assert first + second == whole


def test_same_query_same_order(client: TestClient) -> None:
    assert (
        search(client, text="vintage", k=30)["results"]
        == search(client, text="vintage", k=30)["results"]
    )


def test_paging_past_the_end_is_empty(client: TestClient) -> None:
    body = search(client, text="sofa", k=10, offset=5000)
    assert body["results"] == []


def test_price_filter(client: TestClient) -> None:
    body = search(client, text="bike", k=20, filters={"price_min": 10, "price_max": 100})
    assert len(body["results"]) == 20
    assert all(10 <= r["price"] <= 100 for r in body["results"])


def test_category_filter_by_root_and_by_path(client: TestClient) -> None:
    root = "Sports, Leisure & Travel"
    body = search(client, text="black", k=20, filters={"category": root})
    assert body["results"]
    assert all(r["category"].startswith(root) for r in body["results"])
    path = f"{root} / Bicycles"
    body = search(client, text="black", k=20, filters={"category": path.upper()})
    assert all(r["category"].startswith(path) for r in body["results"])


def test_location_filter_is_a_case_insensitive_substring(client: TestClient) -> None:
    body = search(client, text="sofa", k=20, filters={"location": "sOmErSeT"})
    assert body["results"]
    assert all("somerset" in r["location"].lower() for r in body["results"])


def test_a_narrow_filter_returns_every_match(
    client: TestClient, clean_synthetic: CleanCatalogue
) -> None:
    """The filter is applied inside the search, not to a top-k afterwards."""
    root = "Music, Films, Books & Games"
    expected = {
        listing.id
        for listing in clean_synthetic.listings
        if listing.root == root
        and "york" in listing.location.lower()
        and listing.price is not None
        and listing.price <= 150
    }
    assert 0 < len(expected) < 20
    # A query about something else entirely: the matches are far down its ranking.
    body = search(
        client,
        text="mountain bike",
        k=20,
        filters={"category": root, "location": "york", "price_max": 150},
    )
    assert set(ids(body)) == expected
    assert body["total_candidates"] == len(expected)


def test_a_filter_matching_more_than_k_fills_the_page(
    client: TestClient, clean_synthetic: CleanCatalogue
) -> None:
    matching = [item for item in clean_synthetic.listings if "leeds" in item.location.lower()]
    assert len(matching) > 5
    body = search(client, text="acoustic guitar", k=5, filters={"location": "Leeds"})
    assert len(body["results"]) == 5


def test_a_filter_matching_nothing(client: TestClient) -> None:
    body = search(client, text="sofa", filters={"location": "Atlantis"})
    assert body["results"] == []
    assert body["total_candidates"] == 0


def test_a_form_posted_to_the_json_endpoint_is_a_422_that_says_where_forms_go(
    client: TestClient, clean_synthetic: CleanCatalogue
) -> None:
    _, photo = photo_of(clean_synthetic)  # JPEG bytes: not UTF-8, once a 500 here
    response = client.post("/search", files={"image": ("photo.jpg", photo, "image/jpeg")})
    assert response.status_code == 422
    assert "/search/upload" in response.json()["detail"]


def test_binary_sent_as_json_is_a_clear_4xx(client: TestClient) -> None:
    response = client.post(
        "/search",
        content=b"\xff\xd8\xff\xe0 not json",
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 400
    assert response.json()["detail"]
