"""User events (with the user's token) and how they personalise the ranking."""

from __future__ import annotations

from fastapi.testclient import TestClient

from multimodal.data.catalogue import CleanCatalogue
from tests.fixtures.api import token_for

MUSIC = "Music, Films, Books & Games"


def record(client: TestClient, user_id: str, listing_id: str, type: str = "click") -> None:
    response = client.post(
        f"/users/{user_id}/events",
        json={"listing_id": listing_id, "type": type},
        headers=token_for(user_id),
    )
    assert response.status_code == 201, response.text


def ranked(client: TestClient, text: str, user_id: str, personalise: bool = True) -> list[dict]:
    response = client.post(
        "/search",
        json={"text": text, "k": 20, "user_id": user_id, "personalise": personalise},
        headers=token_for(user_id),
    )
    assert response.status_code == 200, response.text
    return response.json()["results"]


def music_fan(client: TestClient, catalogue: CleanCatalogue, user_id: str) -> None:
    music = [item for item in catalogue.listings if item.root == MUSIC][:8]
    for listing in music:
        record(client, user_id, listing.id, "save")


def test_event_is_recorded(client: TestClient, clean_synthetic: CleanCatalogue) -> None:
    listing_id = clean_synthetic.listings[0].id
    response = client.post(
        "/users/alice/events",
        json={"listing_id": listing_id, "type": "view"},
        headers=token_for("alice"),
    )
    assert response.status_code == 201
    assert response.json()["type"] == "view"
    assert response.json()["listing_id"] == listing_id


def test_events_need_that_users_token(client: TestClient, clean_synthetic: CleanCatalogue) -> None:
    event = {"listing_id": clean_synthetic.listings[0].id, "type": "view"}
    assert client.post("/users/bob/events", json=event).status_code == 401
    assert client.post("/users/bob/events", json=event, headers=token_for("eve")).status_code == 403


def test_bad_events(client: TestClient) -> None:
    headers = token_for("carol")
    unknown = {"listing_id": "no-such-listing", "type": "view"}
    assert client.post("/users/carol/events", json=unknown, headers=headers).status_code == 404
    listing = client.post("/search", json={"text": "sofa", "k": 1}).json()["results"][0]["id"]
    odd = {"listing_id": listing, "type": "like"}
    assert client.post("/users/carol/events", json=odd, headers=headers).status_code == 422


def test_personalised_search_needs_the_users_token(client: TestClient) -> None:
    body = {"text": "black", "user_id": "dave"}
    assert client.post("/search", json=body).status_code == 401
    assert client.post("/search", json={**body, "personalise": False}).status_code == 200


def test_an_ambiguous_query_leans_to_the_users_interest(
    client: TestClient, clean_synthetic: CleanCatalogue
) -> None:
    music_fan(client, clean_synthetic, "fan-1")
    plain = ranked(client, "black", "fan-1", personalise=False)
    personal = ranked(client, "black", "fan-1")
    assert [r["id"] for r in personal] != [r["id"] for r in plain]

    def music_in_top(results: list[dict]) -> int:
        return sum(r["category"].startswith(MUSIC) for r in results[:10])

    assert music_in_top(personal) > music_in_top(plain)
    assert any(f"your interest in {MUSIC}" in r["reasons"] for r in personal)


def test_a_clear_query_keeps_its_order(client: TestClient, clean_synthetic: CleanCatalogue) -> None:
    music_fan(client, clean_synthetic, "fan-2")
    plain = ranked(client, "mountain bike", "fan-2", personalise=False)
    personal = ranked(client, "mountain bike", "fan-2")
    assert [r["id"] for r in personal] == [r["id"] for r in plain]


def test_a_user_without_history_gets_the_plain_order(client: TestClient) -> None:
    plain = ranked(client, "black", "newcomer", personalise=False)
    assert ranked(client, "black", "newcomer") == plain
