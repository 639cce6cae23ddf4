"""Each listing's currency through the API: written, read, searched, and the facets' currency."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from tests.fixtures.api import ADMIN_KEY
from tests.fixtures.postgres import ON_BOTH_STORES

ADMIN = {"X-Admin-Key": ADMIN_KEY}
NEW = {
    "title": "Frobnitz grinder in brass",
    "price": 40,
    "location": "Leeds, West Yorkshire",
    "category": "Home & Garden / Kitchen",
}


def test_results_and_facets_carry_the_catalogue_currency(client: TestClient) -> None:
    results = client.post("/search", json={"text": "sofa", "k": 5}).json()["results"]
    assert results and {r["currency"] for r in results} == {"GBP"}
    assert client.get("/facets").json()["currency"] == "GBP"
    listing_id = results[0]["id"]
    assert client.get(f"/listings/{listing_id}").json()["currency"] == "GBP"
    similar = client.get(f"/listings/{listing_id}/similar", params={"k": 3}).json()["results"]
    assert {r["currency"] for r in similar} == {"GBP"}


@ON_BOTH_STORES
def test_a_written_listing_keeps_its_currency(writable_client: TestClient) -> None:
    created = writable_client.post(
        "/listings", json={**NEW, "id": "eur-1", "currency": "eur"}, headers=ADMIN
    )
    assert created.status_code == 201, created.text
    assert created.json()["currency"] == "EUR"
    found = writable_client.post("/search", json={"text": "frobnitz", "k": 3}).json()["results"]
    assert (found[0]["id"], found[0]["currency"]) == ("eur-1", "EUR")
    # without a currency, a listing is priced in the catalogue's own
    updated = writable_client.put("/listings/eur-1", json=NEW, headers=ADMIN)
    assert updated.json()["currency"] == "GBP"
    assert writable_client.get("/listings/eur-1").json()["currency"] == "GBP"


@pytest.mark.parametrize("currency", ["euro", "E1R", "€", "", "GB"])
def test_a_currency_that_is_no_iso_code_is_422(writable_client: TestClient, currency: str) -> None:
    response = writable_client.post("/listings", json={**NEW, "currency": currency}, headers=ADMIN)
    assert response.status_code == 422
