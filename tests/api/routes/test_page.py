"""The search page's routes: the page and its assets, the filter facets, the demo personas."""

from __future__ import annotations

import re
from collections import Counter

from fastapi.testclient import TestClient

from api.security import user_token
from multimodal.data.catalogue import CleanCatalogue

ASSETS = {"/static/app.js": "javascript", "/static/style.css": "text/css"}
# Anything the browser would fetch from outside the server: a CDN script, a web font...
EXTERNAL_FETCH = re.compile(
    r"""(?:src|href)=["']?(?:https?:)?//|url\(["']?(?:https?:)?//|@import"""
)


def test_the_page_and_its_assets_are_served_and_need_nothing_external(client: TestClient) -> None:
    page = client.get("/")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    for path, kind in ASSETS.items():
        assert path in page.text
        asset = client.get(path)
        assert asset.status_code == 200 and kind in asset.headers["content-type"]
        assert not EXTERNAL_FETCH.search(asset.text), path
    assert not EXTERNAL_FETCH.search(page.text)
    assert client.get("/static/missing.js").status_code == 404
    assert client.get("/static/../routes/page.py").status_code == 404


def test_the_page_is_not_part_of_the_api_schema(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    assert "/" not in paths
    assert "/facets" in paths


def test_facets_list_the_catalogue_categories_with_counts(
    client: TestClient, clean_synthetic: CleanCatalogue
) -> None:
    facets = client.get("/facets").json()
    roots = {c["path"]: c["count"] for c in facets["categories"] if c["depth"] == 1}
    assert roots == dict(Counter(listing.root for listing in clean_synthetic.listings))
    assert all(c["depth"] <= 2 and c["count"] > 0 for c in facets["categories"])
    locations = [listing.location for listing in clean_synthetic.listings]
    assert facets["locations"] == sorted(facets["locations"])
    assert all(any(loc.endswith(area) for loc in locations) for area in facets["locations"])


def test_demo_personas_come_with_their_tokens(
    client: TestClient, api_service, api_settings
) -> None:
    from api.main import create_app

    assert client.get("/page/users").json() == {"users": []}  # none unless configured
    settings = api_settings.model_copy(update={"demo_users": ("demo-a", "demo-b")})
    with TestClient(create_app(settings, api_service)) as demo:
        users = demo.get("/page/users").json()["users"]
    secret = api_settings.user_token_secret
    assert users == [{"id": u, "token": user_token(secret, u)} for u in ("demo-a", "demo-b")]


def test_demo_personas_get_no_token_when_events_are_disabled(api_service, api_settings) -> None:
    from api.main import create_app

    settings = api_settings.model_copy(update={"demo_users": ("demo",), "user_token_secret": None})
    with TestClient(create_app(settings, api_service)) as demo:
        assert demo.get("/page/users").json() == {"users": [{"id": "demo", "token": None}]}
