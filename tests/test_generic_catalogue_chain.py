"""The second synthetic catalogue through the whole chain: import → train → reindex → serve.

It differs from the first in everything that matters (four roots of uneven
size, a four-level tree, euros, its own column names, photos in sub-folders,
problem rows), so a step that leans on the first catalogue's shape fails here.
Import and reindex are the ``marketplace`` commands an operator would run;
training is ``run_training`` with the tiny test encoders (the session's tiny
BERT, EfficientNet-Lite0 on 64 px photos, a small word channel), as the model
fixtures train, so the chain stays well under a minute. The server is the real
app over what they wrote.
"""

from __future__ import annotations

import base64
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.main import create_app
from api.settings import Settings
from multimodal.config import (
    ImageEncoderConfig,
    ModelConfig,
    TextEncoderConfig,
    TrainConfig,
    WordConfig,
)
from multimodal.data.catalogue import (
    UNCATEGORISED,
    CleanCatalogue,
    Listing,
    load_clean_catalogue,
)
from multimodal.data.synthetic_generic import ROOTS, generate_generic_catalogue
from multimodal.train import run_training
from multimodal.workspace import Workspace
from scripts import cli

LISTINGS = 48
TRAIN = TrainConfig(epochs=3, patience=3, stage2=False, threads=2)


@dataclass(frozen=True)
class Served:
    client: TestClient
    catalogue: CleanCatalogue

    @property
    def listings(self) -> tuple[Listing, ...]:
        return self.catalogue.listings


@pytest.fixture(scope="module")
def served(tmp_path_factory, tiny_text_model_dir: Path) -> Iterator[Served]:
    root = tmp_path_factory.mktemp("generic-chain")
    raw = generate_generic_catalogue(root / "raw", n_listings=LISTINGS, seed=3)
    home = root / "home"
    maps = [f"--map={field}={column}" for field, column in raw.mapping.items()]
    with pytest.MonkeyPatch.context() as env:
        env.setenv("MARKETPLACE_HOME", str(home))
        imported = ["import", str(raw.path), *maps, "--currency", raw.currency]
        assert cli.main(["data", *imported, "--image-size", "64", "--quiet"]) == 0
        workspace = Workspace.for_data(raw.path, home=home)
        catalogue = load_clean_catalogue(workspace.clean_dir)
        model = ModelConfig(
            text=TextEncoderConfig(model=str(tiny_text_model_dir), trainable_layers=1),
            image=ImageEncoderConfig(backbone="efficientnet-lite0", image_size=64),
            word=WordConfig(n_features=2**12),
        )
        run_training(catalogue, workspace, model, TRAIN)
        assert cli.main(["reindex", "--data", str(raw.path), "--quiet"]) == 0
    with TestClient(create_app(Settings(data=raw.path, home=home))) as client:
        yield Served(client, catalogue)


def _search(client: TestClient, **body) -> list[dict]:
    response = client.post("/search", json={"k": 10, **body})
    assert response.status_code == 200, response.text
    return response.json()["results"]


def _findable(served: Served) -> Listing:
    """A categorised listing with photos whose title no other listing has."""
    titles = Counter(listing.title.lower() for listing in served.listings)
    return next(
        listing
        for listing in served.listings
        if listing.categorised and listing.image_ids and titles[listing.title.lower()] == 1
    )


def test_the_import_kept_the_catalogue_shape(served: Served) -> None:
    roots = {listing.root for listing in served.listings}
    assert roots == {root.name for root in ROOTS} | {UNCATEGORISED}
    depths = {len(listing.category_path) for listing in served.listings if listing.categorised}
    assert depths == {4}
    assert {listing.currency for listing in served.listings} == {"EUR"}


def test_a_title_finds_its_listing_in_euros(served: Served) -> None:
    target = _findable(served)
    results = _search(served.client, text=target.title)
    assert target.id in [r["id"] for r in results[:5]]
    assert {r["currency"] for r in results} == {"EUR"}


def test_a_photo_finds_its_listing(served: Served) -> None:
    target = _findable(served)
    photo = served.catalogue.image_path(target.image_ids[-1]).read_bytes()
    results = _search(served.client, image=base64.b64encode(photo).decode())
    assert target.id in [r["id"] for r in results[:5]]
    listing = served.client.get(f"/listings/{target.id}").json()
    assert listing["currency"] == "EUR" and listing["category"] == target.category


def test_facets_and_filters_follow_the_four_level_tree(served: Served) -> None:
    facets = served.client.get("/facets").json()
    assert facets["currency"] == "EUR"
    paths = {c["path"] for c in facets["categories"]}
    assert {"Elektronik", "Haus & Möbel / Garten", UNCATEGORISED} <= paths
    leaf = _findable(served).category_path
    for depth in (1, 3, 4):
        prefix = " / ".join(leaf[:depth])
        results = _search(served.client, text="mint", filters={"category": prefix})
        assert results and all(r["category"].startswith(prefix) for r in results)
    cheap = _search(served.client, text="sofa", filters={"price_max": 100})
    assert all(r["price"] is not None and r["price"] <= 100 for r in cheap)
