"""Sellers post their own listings with photos; the admin may change any.

The app runs over a private copy of the store, the index *and* the cleaned
photo folder, so the photos these tests upload and delete never reach another
test's catalogue.
"""

from __future__ import annotations

import base64
import io
import random
import shutil
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from PIL import Image

from api.catalogue_writes import Author
from api.main import create_app
from api.schemas import ListingCreate
from api.service import SearchService
from api.settings import Settings
from indexing.config import ReindexConfig
from indexing.index_store import IndexDirectory
from indexing.reindex.mapper import Mapper
from indexing.reindex.runner import sync_and_reindex
from indexing.store import Store
from multimodal.data.catalogue import CleanCatalogue
from multimodal.data.synthetic import make_look, render_photo
from tests.fixtures.api import ADMIN_KEY, settings_over, token_for
from tests.fixtures.index import INDEX_DIR, STORE_FILE

ADMIN = {"X-Admin-Key": ADMIN_KEY}
FIELDS = {
    "title": "Vintage glorbophone handset",
    "description": "A glorbophone from the seventies, works well.",
    "price": "45",
    "location": "York, North Yorkshire",
    "category": "Electronics / Phones",
}


def seller(user_id: str) -> dict[str, str]:
    """The headers a seller's client sends: their id and their token."""
    return {"X-User-Id": user_id, **token_for(user_id)}


@dataclass(frozen=True)
class Shop:
    """The app over private copies, and where its store and photos live."""

    client: TestClient
    service: SearchService
    settings: Settings
    clean_dir: Path

    @property
    def image_dir(self) -> Path:
        return self.settings.resolved_image_dir

    def photo_files(self) -> set[str]:
        return {p.name for p in self.image_dir.iterdir()}

    def store_rows(self) -> dict[str, int]:
        with sqlite3.connect(self.settings.resolved_store_path) as conn:
            return {
                table: conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]
                for table in ("listings", "images", "listing_vectors", "photo_vectors")
            }


@pytest.fixture(scope="module")
def shop(
    api_index_root: Path,
    api_service: SearchService,
    clean_synthetic: CleanCatalogue,
    tmp_path_factory,
) -> Iterator[Shop]:
    root = tmp_path_factory.mktemp("seller-shop")
    clean_dir = root / "clean"
    shutil.copytree(clean_synthetic.root, clean_dir)
    src, dst = sqlite3.connect(api_index_root / STORE_FILE), sqlite3.connect(root / STORE_FILE)
    src.backup(dst)
    src.close()
    dst.close()
    shutil.copytree(api_index_root / INDEX_DIR, root / INDEX_DIR, symlinks=True)
    settings = settings_over(root, api_service.settings.resolved_model_dir, clean_dir / "images")
    embedder = api_service.embedder
    service = SearchService(
        settings,
        embedder,
        Store(root / STORE_FILE, settings.resolved_image_dir),
        IndexDirectory(root / INDEX_DIR).load_current(embedder.fingerprint),
    )
    with TestClient(create_app(settings, service)) as client:
        yield Shop(client, service, settings, clean_dir)
    service.close()


def renders(shape: str, seed: int) -> tuple[bytes, bytes]:
    """Two different photos of one synthetic object (moved, scaled, turned, relit).

    The tiny test model tells these objects apart only roughly, so the looks
    used here are ones it places in the top ten for a second photo; the seeds
    are fixed, so the test is deterministic.
    """
    rng = random.Random(seed * 7 + 100)
    look = make_look(rng, shape, rng.random(), 1)
    photos = []
    for _ in range(2):
        buffer = io.BytesIO()
        render_photo(look, rng).save(buffer, format="PNG")
        photos.append(buffer.getvalue())
    return photos[0], photos[1]


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def found_by_photo(client: TestClient, photo: bytes, k: int = 10) -> list[str]:
    response = client.post("/search", json={"image": b64(photo), "k": k})
    assert response.status_code == 200, response.text
    return [r["id"] for r in response.json()["results"]]


def found_by_text(client: TestClient, text: str) -> list[str]:
    results = client.post("/search", json={"text": text, "k": 3}).json()["results"]
    return [r["id"] for r in results]


def test_seller_creates_with_form_photos_found_by_another_photo(shop: Shop) -> None:
    first, second = renders("table", 1)
    response = shop.client.post(
        "/listings",
        data=FIELDS,
        files=[("photos", ("front.png", first, "image/png"))],
        headers=seller("alice"),
    )
    assert response.status_code == 201, response.text
    listing = response.json()
    (image_id,) = listing["image_ids"]
    stored = Image.open(shop.image_dir / f"{image_id}.jpg")
    assert stored.format == "JPEG" and stored.size == (64, 64)  # cleaned like the catalogue
    assert found_by_text(shop.client, "glorbophone")[0] == listing["id"]
    assert listing["id"] in found_by_photo(shop.client, second)
    assert shop.client.get(listing["image_urls"][0]).status_code == 200


def test_seller_replaces_and_deletes_photos_through_json(shop: Shop) -> None:
    first, second = renders("phone", 0)
    third, fourth = renders("ball", 0)
    body = {**FIELDS, "price": 45, "title": "Snorkleboard deck", "photos": [b64(first)]}
    created = shop.client.post("/listings", json=body, headers=seller("bob"))
    assert created.status_code == 201, created.text
    listing_id, (old_id,) = created.json()["id"], created.json()["image_ids"]
    assert listing_id in found_by_photo(shop.client, second)

    replaced = shop.client.put(
        f"/listings/{listing_id}", json={**body, "photos": [b64(third)]}, headers=seller("bob")
    )
    assert replaced.status_code == 200, replaced.text
    (new_id,) = replaced.json()["image_ids"]
    assert new_id != old_id
    assert not (shop.image_dir / f"{old_id}.jpg").exists()  # the old file is gone
    assert listing_id in found_by_photo(shop.client, fourth)
    assert listing_id not in found_by_photo(shop.client, second, k=3)

    kept = shop.client.put(
        f"/listings/{listing_id}",
        json={**body, "photos": [], "image_ids": [new_id], "title": "Snorkleboard deck, boxed"},
        headers=seller("bob"),
    )
    assert kept.status_code == 200 and kept.json()["image_ids"] == [new_id]

    assert shop.client.delete(f"/listings/{listing_id}", headers=seller("bob")).status_code == 204
    assert not (shop.image_dir / f"{new_id}.jpg").exists()
    assert listing_id not in found_by_photo(shop.client, fourth)
    assert listing_id not in found_by_text(shop.client, "snorkleboard")


def test_form_put_replaces_photos(shop: Shop) -> None:
    first, _ = renders("ball", 2)
    third, fourth = renders("screen", 1)
    created = shop.client.post(
        "/listings", json={**FIELDS, "photos": [b64(first)]}, headers=seller("carol")
    ).json()
    replaced = shop.client.put(
        f"/listings/{created['id']}",
        data=FIELDS,
        files=[
            ("photos", ("a.png", third, "image/png")),
            ("photos", ("b.png", fourth, "image/png")),
        ],
        headers=seller("carol"),
    )
    assert replaced.status_code == 200, replaced.text
    assert len(replaced.json()["image_ids"]) == 2
    assert not (shop.image_dir / f"{created['image_ids'][0]}.jpg").exists()


def test_only_the_owner_or_the_admin_may_change_a_listing(shop: Shop) -> None:
    created = shop.client.post("/listings", json=FIELDS, headers=seller("dave"))
    listing_id = created.json()["id"]
    path = f"/listings/{listing_id}"
    other = {**FIELDS, "title": "Stolen"}
    assert shop.client.put(path, json=other, headers=seller("eve")).status_code == 403
    assert shop.client.delete(path, headers=seller("eve")).status_code == 403
    assert shop.client.put(path, json=other).status_code == 401
    assert shop.client.delete(path).status_code == 401
    assert shop.client.post("/listings", json=FIELDS).status_code == 401
    junk = [("photos", ("junk.png", b"junk", "image/png"))]
    assert shop.client.post("/listings", data=FIELDS, files=junk).status_code == 401  # who first
    forged = {"X-User-Id": "dave", **token_for("eve")}
    assert shop.client.put(path, json=other, headers=forged).status_code == 403
    # a catalogue listing belongs to no seller
    catalogue_id = next(iter(shop.service.store.iter_listings())).id
    assert (
        shop.client.delete(f"/listings/{catalogue_id}", headers=seller("dave")).status_code == 403
    )
    # a seller may not take over another listing's photo by its id
    taken = {**FIELDS, "image_ids": ["anything"]}
    assert shop.client.put(path, json=taken, headers=seller("dave")).status_code == 403

    admin_edit = shop.client.put(path, json={**FIELDS, "title": "Edited by admin"}, headers=ADMIN)
    assert admin_edit.status_code == 200
    # the admin's edit leaves the listing its seller's
    assert shop.client.put(path, json=FIELDS, headers=seller("dave")).status_code == 200
    assert shop.client.delete(path, headers=ADMIN).status_code == 204


def _bomb() -> bytes:
    buffer = io.BytesIO()
    Image.new("1", (20_000, 20_000)).save(buffer, format="PNG")  # 400 MP, a few KB
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("photo", "status", "says"),
    [
        (b"not an image at all", 415, "not an image"),
        (_bomb(), 413, "pixels"),
        (b"\xff\xd8\xff" + b"\0" * (9 * 2**20), 413, "cap"),
    ],
    ids=["not-an-image", "bomb", "too-large"],
)
def test_a_bad_photo_refuses_the_whole_write(
    shop: Shop, photo: bytes, status: int, says: str
) -> None:
    good, _ = renders("phone", 1)
    files_before, rows_before = shop.photo_files(), shop.store_rows()
    response = shop.client.post(
        "/listings",
        data={**FIELDS, "id": "refused-1"},
        files=[
            ("photos", ("good.png", good, "image/png")),
            ("photos", ("bad", photo, "image/png")),
        ],
        headers=seller("frank"),
    )
    assert response.status_code == status, response.text
    assert "photo 2" in response.json()["detail"] and says in response.json()["detail"]
    if len(photo) < 2**20:  # the JSON form too (the large one is over the body cap)
        body = {**FIELDS, "id": "refused-1", "photos": [b64(good), b64(photo)]}
        assert (
            shop.client.post("/listings", json=body, headers=seller("frank")).status_code == status
        )
    assert shop.photo_files() == files_before
    assert shop.store_rows() == rows_before
    assert shop.client.get("/listings/refused-1").status_code == 404


def test_a_failed_store_write_removes_the_photos_written(shop: Shop) -> None:
    good, _ = renders("phone", 2)
    files_before, rows_before = shop.photo_files(), shop.store_rows()
    store = shop.service.store
    store._db.execute("PRAGMA query_only = ON")  # a real SQLite refusal to write
    try:
        with pytest.raises(sqlite3.OperationalError):
            shop.service.create_listing(ListingCreate(**FIELDS), [good], Author("heidi"))
    finally:
        store._db.execute("PRAGMA query_only = OFF")
    assert shop.photo_files() == files_before
    assert shop.store_rows() == rows_before


def test_reindex_keeps_seller_listings(shop: Shop, embedder) -> None:
    first, second = renders("screen", 0)
    created = shop.client.post(
        "/listings",
        json={**FIELDS, "title": "Wibblewatch", "photos": [b64(first)]},
        headers=seller("grace"),
    )
    listing_id = created.json()["id"]
    sync_and_reindex(
        shop.clean_dir,
        shop.settings.resolved_store_path,
        shop.settings.resolved_index_dir,
        shop.settings.resolved_model_dir,
        ReindexConfig(progress=False),
        Mapper(embedder),
    )
    assert shop.service.reload_index()
    assert shop.client.get(f"/listings/{listing_id}").status_code == 200
    assert listing_id in found_by_photo(shop.client, second)
    assert found_by_text(shop.client, "wibblewatch")[0] == listing_id
    # and it is still its seller's
    assert (
        shop.client.delete(f"/listings/{listing_id}", headers=seller("mallory")).status_code == 403
    )
