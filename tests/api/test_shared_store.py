"""One catalogue in PostgreSQL shared by two serving machines, and events on both back-ends.

Machine A and machine B each have their own photo folder and index copy, as
two hosts would; only the database is shared. What A writes (a listing with
an uploaded photo, a user's events) B serves when it starts, without
embedding anything and without A's photo folder.
"""

from __future__ import annotations

import base64
import io
import shutil
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from PIL import Image

from api.main import create_app
from api.service import Query, SearchService
from api.settings import Settings
from multimodal.data.catalogue import CleanCatalogue
from tests.api.routes.test_users import MUSIC, music_fan, ranked, record
from tests.fixtures.api import ADMIN_KEY, copied_to_postgres, settings_over
from tests.fixtures.index import INDEX_DIR, STORE_FILE
from tests.fixtures.postgres import ON_BOTH_STORES


def machine(root: Path, api_index_root: Path, clean: CleanCatalogue, model_dir: Path, url: str):
    """One host's settings: its own photo folder and index copy, the shared database."""
    shutil.copytree(clean.root, root / "clean", symlinks=True)
    shutil.copytree(api_index_root / INDEX_DIR, root / INDEX_DIR, symlinks=True)
    return settings_over(root, model_dir, root / "clean" / "images", database_url=url)


@pytest.fixture(scope="module")
def hosts(
    api_index_root: Path,
    api_settings: Settings,
    clean_synthetic: CleanCatalogue,
    tmp_path_factory,
    request: pytest.FixtureRequest,
) -> tuple[Settings, Settings]:
    root = tmp_path_factory.mktemp("shared-store")
    shutil.copy2(api_index_root / STORE_FILE, root / STORE_FILE)
    url = copied_to_postgres(root / STORE_FILE, request)
    model = api_settings.resolved_model_dir
    return tuple(machine(root / name, api_index_root, clean_synthetic, model, url) for name in "ab")


def photo_bytes() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (300, 200), (200, 40, 90)).save(buffer, format="PNG")
    return buffer.getvalue()


def test_what_one_machine_writes_another_serves(hosts: tuple[Settings, Settings]) -> None:
    a_settings, b_settings = hosts
    a = SearchService.open(a_settings)
    try:
        body = {
            "title": "Splendiferous plumbob lantern",
            "description": "Brass, barely used.",
            "price": 30,
            "location": "York",
            "category": "Home & Garden / Lighting",
            "photos": [base64.b64encode(photo_bytes()).decode()],
        }
        with TestClient(create_app(a_settings, a)) as client:
            created = client.post("/listings", json=body, headers={"X-Admin-Key": ADMIN_KEY})
            assert created.status_code == 201, created.text
            listing = created.json()
            record(client, "walker", listing["id"], "save")
        (image_id,) = listing["image_ids"]
        written = a.image_path(image_id).read_bytes()
    finally:
        a.close()
    photo_on_b = b_settings.resolved_image_dir / f"{image_id}.jpg"
    assert not photo_on_b.exists()

    b = SearchService.open(b_settings)  # another host: its own photos, its own index copy
    try:
        assert photo_on_b.read_bytes() == written  # restored from the database at start
        found = b.search(Query(text="splendiferous plumbob")).results
        assert found[0].id == listing["id"]  # with the vectors A stored: nothing embedded
        assert [e.listing_id for e in b.store.events_for_user("walker")] == [listing["id"]]
        photo_on_b.unlink()  # e.g. uploaded through A after B started
        assert b.image_path(image_id).read_bytes() == written
    finally:
        b.close()


@ON_BOTH_STORES
def test_events_personalise_on_both_stores(
    writable_client: TestClient, clean_synthetic: CleanCatalogue
) -> None:
    music_fan(writable_client, clean_synthetic, "fan-both")
    personal = ranked(writable_client, "black", "fan-both")
    assert any(f"your interest in {MUSIC}" in r["reasons"] for r in personal)
