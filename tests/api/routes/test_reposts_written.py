"""A re-post written through the API groups with its original at once; edits, deletes split it."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.fixtures.api import ADMIN_KEY

ADMIN = {"X-Admin-Key": ADMIN_KEY}


def find(client: TestClient, text: str, **body: object) -> list[dict]:
    response = client.post("/search", json={"text": text, "k": 50, **body})
    assert response.status_code == 200, response.text
    return response.json()["results"]


def test_a_written_repost_groups_then_splits(writable_client: TestClient) -> None:
    original = find(writable_client, "sofa")[0]
    listing = writable_client.get(f"/listings/{original['id']}").json()
    copy = {
        "id": "repost-1",
        "title": listing["title"].upper(),  # case and spacing do not make another ad
        "description": f"  {listing['description']}",
        "price": 1,
        "location": "Elsewhere",
        "category": listing["category"],
    }
    assert writable_client.post("/listings", json=copy, headers=ADMIN).status_code == 201

    results = find(writable_client, listing["title"])
    shown = [r for r in results if r["id"] in {original["id"], "repost-1"}]
    assert len(shown) == 1
    assert shown[0]["also_listed"] == [({original["id"], "repost-1"} - {shown[0]["id"]}).pop()]
    every = find(writable_client, listing["title"], group_reposts=False)
    assert {original["id"], "repost-1"} <= {r["id"] for r in every}

    # another description: another ad
    edited = {**copy, "description": "a different sofa altogether"}
    del edited["id"]
    assert writable_client.put("/listings/repost-1", json=edited, headers=ADMIN).status_code == 200
    apart = [r for r in find(writable_client, listing["title"]) if r["id"] == original["id"]]
    assert apart and apart[0]["also_listed"] == []

    same = {key: value for key, value in copy.items() if key != "id"}
    assert writable_client.put("/listings/repost-1", json=same, headers=ADMIN).status_code == 200
    together = [r for r in find(writable_client, listing["title"]) if r["also_listed"]]
    assert together, "the same text again: one ad again"
    assert writable_client.delete("/listings/repost-1", headers=ADMIN).status_code == 204
    alone = [r for r in find(writable_client, listing["title"]) if r["id"] == original["id"]]
    assert alone and alone[0]["also_listed"] == []
