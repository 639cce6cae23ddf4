"""A version that carries another model's bundle is taken up by a running service.

The demo's first run in small: the frozen bundle's text-only first index
serves (photo queries refused, ``/readyz`` and ``/progress`` say "frozen"),
then a reindex with the trained bundle writes a version naming that bundle,
and the running service swaps model and channels on its next reload.
"""

from __future__ import annotations

import io
import shutil
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from PIL import Image

from api.domain_errors import InvalidInput
from api.main import create_app
from api.service import Query
from api.settings import Settings
from indexing.config import ReindexConfig
from indexing.first_index import build_first_index
from indexing.index_store import IndexDirectory, IndexManifest
from indexing.reindex.runner import reindex_workspace
from multimodal.data.catalogue import CleanCatalogue
from multimodal.frozen import frozen_model_dir
from multimodal.progress import PROGRESS_FILE, Progress
from multimodal.workspace import Workspace
from tests.fixtures.model import FIXTURE_MODEL


@pytest.fixture(scope="module")
def first_run(
    synthetic_raw_dir: Path, clean_synthetic: CleanCatalogue, tmp_path_factory
) -> Workspace:
    """A workspace whose current index is the frozen first index."""
    ws = Workspace.for_data(synthetic_raw_dir, home=tmp_path_factory.mktemp("first-run"))
    shutil.copytree(clean_synthetic.root, ws.clean_dir)
    build_first_index(ws, FIXTURE_MODEL, 1, Progress(ws.root / PROGRESS_FILE, job="first index"))
    return ws


def _settings(ws: Workspace, synthetic_raw_dir: Path) -> Settings:
    return Settings(
        data=synthetic_raw_dir,
        home=ws.home,
        model_dir=frozen_model_dir(ws.root),
        index_poll_seconds=0,  # the test reloads by hand
    )


def _photo() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (64, 64), (200, 40, 40)).save(out, format="JPEG")
    return out.getvalue()


def test_first_index_holds_text_and_names_its_bundle(first_run: Workspace) -> None:
    manifest = IndexManifest.read(IndexDirectory(first_run.index_dir).require_current())
    assert sorted(manifest.channels) == ["lexical", "listings", "texts"]
    assert manifest.photo_count == 0
    assert manifest.model_dir == str(frozen_model_dir(first_run.root).resolve())


def test_frozen_model_refuses_photo_queries_in_the_service(
    first_run: Workspace, synthetic_raw_dir: Path
) -> None:
    from api.service import SearchService

    settings = _settings(first_run, synthetic_raw_dir)
    service = SearchService.open(settings)
    try:
        with pytest.raises(InvalidInput, match="trained model"):
            service.search(Query(image=Image.new("RGB", (64, 64))))
        with pytest.raises(InvalidInput, match="trained model"):
            service.predict_category("a chair", None)
    finally:
        service.close()


def test_a_version_with_another_model_is_taken_up(
    first_run: Workspace, synthetic_raw_dir: Path, trained_bundle_dir: Path
) -> None:
    settings = _settings(first_run, synthetic_raw_dir)
    Progress(first_run.root / PROGRESS_FILE).update("training stage2", 3, 10, "epoch 1/2")
    with TestClient(create_app(settings)) as client:
        ready = client.get("/readyz").json()
        assert ready["model"] == "frozen"
        assert "photos" not in ready["channels"]
        frozen_version = ready["model_version"]
        before = client.post("/search", json={"text": "wooden table", "k": 5})
        assert before.status_code == 200 and before.json()["results"]
        refused = client.post("/search/upload", files={"image": ("p.jpg", _photo())})
        assert refused.status_code in (400, 422)
        assert "trained model" in refused.json()["detail"]
        progress = client.get("/progress").json()
        assert progress["model"] == "frozen"
        assert progress["training"]["stage"] == "training stage2"
        assert progress["line"].startswith("training stage2 epoch 1/2: 3/10")

        shutil.copytree(trained_bundle_dir, first_run.model_dir)
        reindex_workspace(first_run, ReindexConfig(progress=False, torch_threads=1))
        service = client.app.state.service
        assert service.reload_index()

        ready = client.get("/readyz").json()
        assert ready["model"] == "trained"
        assert ready["model_version"] != frozen_version
        assert "photos" in ready["channels"]
        after = client.post("/search", json={"text": "wooden table", "k": 5})
        assert after.status_code == 200 and after.json()["results"]
        assert after.json()["model_version"] == ready["model_version"]
        photo = client.post("/search/upload", files={"image": ("p.jpg", _photo())})
        assert photo.status_code == 200 and photo.json()["results"]
        progress = client.get("/progress").json()
        assert progress["model"] == "trained" and progress["training"] is None
