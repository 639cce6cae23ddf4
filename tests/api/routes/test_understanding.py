"""``POST /search`` reads the words (``understood``, ``did_you_mean``) and ``GET /suggest``."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from api.main import create_app
from api.settings import Settings
from tests.fixtures.api import ADMIN_KEY

BICYCLES = "Sports, Leisure & Travel / Bicycles"


def search(client: TestClient, **body) -> dict:
    response = client.post("/search", json=body)
    assert response.status_code == 200, response.text
    return response.json()


def suggest(client: TestClient, q: str, **params) -> list[dict]:
    response = client.get("/suggest", params={"q": q, **params})
    assert response.status_code == 200, response.text
    return response.json()["suggestions"]


def test_a_spoken_price_filters_and_the_rest_is_searched(client: TestClient) -> None:
    body = search(client, text="sofa under £100", k=50)

    understood = body["understood"]
    assert understood["text"] == "sofa"
    assert understood["filters"]["price_max"] == 100
    assert understood["parsed"] == [{"kind": "price", "words": "under £100", "label": "under £100"}]
    assert body["results"] and all(r["price"] <= 100 for r in body["results"])
    assert body["did_you_mean"] is None


def test_a_spoken_place_filters(client: TestClient) -> None:
    body = search(client, text="speaker in leeds", k=50)

    assert body["understood"]["filters"]["location"] == "Leeds"
    assert body["results"] and all("Leeds" in r["location"] for r in body["results"])


@pytest.fixture(scope="module")
def filtering_client(api_settings: Settings) -> Iterator[TestClient]:
    """The shared index, with every category big enough to become a filter."""
    settings = api_settings.model_copy(update={"category_filter_min_listings": 1})
    with TestClient(create_app(settings)) as test_client:
        yield test_client


def test_a_category_name_becomes_a_filter(filtering_client: TestClient) -> None:
    body = search(filtering_client, text="bicycles", k=50)

    assert body["understood"]["category_mode"] == "filter"
    assert body["understood"]["filters"]["category"] == BICYCLES
    assert body["results"] and all(r["category"].startswith(BICYCLES) for r in body["results"])


def test_a_category_smaller_than_a_page_is_boosted_not_filtered(client: TestClient) -> None:
    """The synthetic catalogue's Bicycles holds fewer listings than the default threshold."""
    body = search(client, text="bicycles", k=50)

    assert body["understood"]["category_mode"] == "boost"
    assert body["understood"]["filters"]["category"] is None
    assert body["results"][0]["category"].startswith(BICYCLES)


def test_an_explicit_filter_wins(client: TestClient) -> None:
    body = search(client, text="sofa under £100", filters={"price_max": 20}, k=50)

    assert body["understood"]["filters"]["price_max"] is None
    assert body["understood"]["parsed"] == []
    assert all(r["price"] <= 20 for r in body["results"])


def test_a_removed_chip_searches_its_words_unfiltered(client: TestClient) -> None:
    body = search(client, text="sofa under £100", ignore_parsed=["price"], k=50)

    assert body["understood"]["text"] == "sofa under £100"
    assert body["understood"]["parsed"] == []


def test_understanding_can_be_turned_off(client: TestClient) -> None:
    body = search(client, text="mountian bike under £100", understand=False, k=50)

    assert body["understood"] is None and body["did_you_mean"] is None
    assert any(r["price"] is not None and r["price"] > 100 for r in body["results"])


def test_a_typo_is_corrected_and_said(client: TestClient) -> None:
    body = search(client, text="mountian bike", k=5)

    assert body["did_you_mean"] == "mountain bike"
    assert body["understood"]["text"] == "mountain bike"
    assert body["understood"]["corrections"] == [{"typed": "mountian", "corrected": "mountain"}]
    assert any("mountain" in r["title"].lower() for r in body["results"])

    as_typed = search(client, text="mountian bike", ignore_parsed=["spelling"], k=5)
    assert as_typed["did_you_mean"] is None


def test_bad_readings_to_ignore_are_422(client: TestClient) -> None:
    response = client.post("/search", json={"text": "sofa", "ignore_parsed": ["colour"]})
    assert response.status_code == 422


def test_suggest_completes_titles_and_categories(client: TestClient) -> None:
    found = suggest(client, "mou")

    assert found and all(set(s) == {"text", "kind"} for s in found)
    assert "mountain bike" in [s["text"] for s in found]
    assert {"text": "Bicycles", "kind": "category"} in suggest(client, "bicy")
    assert "mountain bike" in [s["text"] for s in suggest(client, "mountian bi")]
    assert len(suggest(client, "s", limit=3)) == 3
    assert suggest(client, "") == []


def test_suggest_bad_input_is_422(client: TestClient) -> None:
    assert client.get("/suggest", params={"q": "x" * 201}).status_code == 422
    assert client.get("/suggest", params={"q": "sofa", "limit": 0}).status_code == 422
    assert client.get("/suggest", params={"q": "sofa", "limit": 21}).status_code == 422


def test_a_written_listings_word_is_known_when_the_call_returns(
    writable_client: TestClient,
) -> None:
    assert search(writable_client, text="montor", k=3)["did_you_mean"] == "monitor"
    assert not [s for s in suggest(writable_client, "monto") if s["text"].startswith("montor")]

    created = writable_client.post(
        "/listings",
        json={"title": "Montor desk lamp", "category": "Home & Garden / Lighting", "price": 12},
        headers={"X-Admin-Key": ADMIN_KEY},
    )
    assert created.status_code == 201, created.text

    assert search(writable_client, text="montor", k=3)["did_you_mean"] is None
    assert "montor desk lamp" in [s["text"] for s in suggest(writable_client, "montor d")]


def test_the_upload_form_reads_the_words_as_the_json_route_does(client: TestClient) -> None:
    def form(**fields) -> dict:
        response = client.post("/search/upload", data={"text": "sofa under £100", **fields})
        assert response.status_code == 200, response.text
        return response.json()

    assert form()["understood"]["filters"]["price_max"] == 100
    assert form(ignore_parsed=["price"])["understood"]["filters"]["price_max"] is None
    assert form(understand="false")["understood"] is None
    refused = client.post("/search/upload", data={"text": "sofa", "ignore_parsed": ["colour"]})
    assert refused.status_code == 422 and "detail" in refused.json()
