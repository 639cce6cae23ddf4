"""The ``resnet50`` backbone end to end: train → reindex → search on the synthetic catalogue.

ResNet-50 has never been used past its weights loading: the default machine has
no ImageNet weights for it (``auto`` picks EfficientNet-Lite0). The test writes
a file of randomly initialised weights (torchvision's ``resnet50(weights=None)``),
names it with ``--resnet50-weights`` and runs the ``marketplace`` commands an
operator would, on 64 px photos and the session's tiny BERT so it stays short,
with ``--device cpu``. Random convolutions still give each photo its own vector,
so a photo finds its own listing; a title finds its listing as on any backbone.
"""

from __future__ import annotations

import base64
import json
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch
from fastapi.testclient import TestClient

from api.main import create_app
from api.settings import Settings
from multimodal.config import ImageEncoderConfig
from multimodal.data.catalogue import CleanCatalogue, Listing, load_clean_catalogue
from multimodal.data.synthetic import generate_catalogue
from multimodal.encoders.image import ImageEncoder, choose_backbone
from multimodal.torchvision_compat import import_torchvision
from multimodal.workspace import Workspace
from scripts import cli

LISTINGS = 120
IMAGE_SIZE = 64


@pytest.fixture(scope="module")
def resnet50_weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A state-dict file of a randomly initialised torchvision ResNet-50 (seeded)."""
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("resnet50") / "resnet50-random.pth"
    torch.save(import_torchvision().models.resnet50(weights=None).state_dict(), path)
    return path


def test_resnet50_loads_its_weights_from_the_file(resnet50_weights: Path) -> None:
    cfg = ImageEncoderConfig(
        backbone="resnet50", resnet50_weights=str(resnet50_weights), image_size=IMAGE_SIZE
    )
    choice = choose_backbone(cfg)
    assert (choice.name, choice.weights) == ("resnet50", resnet50_weights)
    encoder = ImageEncoder(cfg, choice)
    state = torch.load(resnet50_weights, weights_only=True)
    assert torch.equal(encoder.trunk[0].weight, state["conv1.weight"])
    assert torch.equal(encoder.top[0].conv3.weight, state["layer4.2.conv3.weight"])
    assert encoder.dim == 2048 and encoder.fingerprint.startswith("resnet50-")
    with torch.no_grad():
        pooled = encoder(torch.zeros(2, 3, IMAGE_SIZE, IMAGE_SIZE))
    assert pooled.shape == (2, 2048)


@dataclass(frozen=True)
class Chain:
    client: TestClient
    catalogue: CleanCatalogue
    workspace: Workspace


@pytest.fixture(scope="module")
def chain(
    tmp_path_factory: pytest.TempPathFactory, resnet50_weights: Path, tiny_text_model_dir: Path
) -> Iterator[Chain]:
    root = tmp_path_factory.mktemp("resnet50-chain")
    raw = generate_catalogue(root / "raw", n_listings=LISTINGS, seed=5)
    home = root / "home"
    data = ["--data", str(raw)]
    with pytest.MonkeyPatch.context() as env:
        env.setenv("MARKETPLACE_HOME", str(home))
        clean = ["data", "clean", *data, "--image-size", str(IMAGE_SIZE), "--quiet"]
        assert cli.main(clean) == 0
        train = [
            *("train", *data, "--device", "cpu", "--backbone", "resnet50"),
            *("--resnet50-weights", str(resnet50_weights), "--image-size", str(IMAGE_SIZE)),
            *("--text-model", str(tiny_text_model_dir), "--epochs", "6", "--stage2-epochs", "1"),
        ]
        assert cli.main(train) == 0
        assert cli.main(["reindex", *data, "--device", "cpu", "--quiet"]) == 0
    workspace = Workspace.for_data(raw, home=home)
    catalogue = load_clean_catalogue(workspace.clean_dir)
    settings = Settings(data=raw, home=home, device="cpu")
    with TestClient(create_app(settings)) as client:
        yield Chain(client, catalogue, workspace)


def _search(client: TestClient, **body) -> list[str]:
    response = client.post("/search", json={"k": 10, **body})
    assert response.status_code == 200, response.text
    return [result["id"] for result in response.json()["results"]]


def _unique_titles(catalogue: CleanCatalogue) -> list[Listing]:
    titles = Counter(listing.title.lower() for listing in catalogue.listings)
    return [
        listing
        for listing in catalogue.listings
        if listing.image_ids and titles[listing.title.lower()] == 1
    ]


@pytest.mark.slow
def test_the_bundle_and_the_index_are_resnet50(chain: Chain) -> None:
    from indexing.index_store import IndexDirectory, IndexManifest

    manifest = json.loads((chain.workspace.model_dir / "manifest.json").read_text())
    assert manifest["backbones"]["image"] == "resnet50"
    assert manifest["training"]["config"]["device"] == "cpu"
    assert manifest["training"]["history"][-1]["stage"] == "stage2"
    current = IndexDirectory(chain.workspace.index_dir).current()
    index = IndexManifest.read(current)
    assert index.model_fingerprint == manifest["fingerprint"]
    assert index.backbones["image"] == "resnet50"
    assert index.count == len(chain.catalogue.listings)


@pytest.mark.slow
def test_titles_find_their_listings(chain: Chain) -> None:
    targets = _unique_titles(chain.catalogue)[:10]
    found = [t.id in _search(chain.client, text=t.title)[:5] for t in targets]
    assert sum(found) >= 9, found


@pytest.mark.slow
def test_photos_find_their_listings(chain: Chain) -> None:
    targets = _unique_titles(chain.catalogue)[:10]
    found = []
    for target in targets:
        photo = chain.catalogue.image_path(target.image_ids[0]).read_bytes()
        ids = _search(chain.client, image=base64.b64encode(photo).decode())
        found.append(target.id in ids[:5])
    assert sum(found) >= 9, found
