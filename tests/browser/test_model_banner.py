"""The page's banner and channel line while the frozen first index serves, and once the
trained model does."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from api.main import create_app
from api.settings import Settings
from indexing.config import ReindexConfig
from indexing.first_index import build_first_index
from indexing.reindex.runner import reindex_workspace
from multimodal.data.catalogue import CleanCatalogue
from multimodal.frozen import frozen_model_dir
from multimodal.progress import PROGRESS_FILE, Progress
from multimodal.workspace import Workspace
from tests.browser.conftest import LiveServer, screenshot
from tests.fixtures.model import FIXTURE_MODEL

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def frozen_server(synthetic_raw_dir: Path, clean_synthetic: CleanCatalogue, tmp_path_factory):
    ws = Workspace.for_data(synthetic_raw_dir, home=tmp_path_factory.mktemp("banner"))
    shutil.copytree(clean_synthetic.root, ws.clean_dir)
    build_first_index(ws, FIXTURE_MODEL, 1, Progress(None))
    settings = Settings(
        data=synthetic_raw_dir,
        home=ws.home,
        model_dir=frozen_model_dir(ws.root),
        index_poll_seconds=0,  # the test reloads by hand
    )
    server = LiveServer(create_app(settings))
    server.start()
    yield ws, server
    server.stop()


def test_banner_shows_training_then_goes(browser, frozen_server, trained_bundle_dir: Path):
    ws, server = frozen_server
    Progress(ws.root / PROGRESS_FILE).update("training stage2", 30, 100, "epoch 2/4")
    browser.get(f"{server.url}/")
    banner = browser.find_element(By.ID, "model-banner")
    WebDriverWait(browser, 20).until(lambda _: banner.is_displayed())
    assert "frozen encoders, text only" in banner.text
    assert "stage2 epoch 2/4: 30/100" in banner.text
    channels = browser.find_element(By.ID, "channels")
    WebDriverWait(browser, 20).until(lambda _: "listings (text only)" in channels.text)
    assert "photos" not in channels.text
    screenshot(browser, "model_banner_frozen")

    shutil.copytree(trained_bundle_dir, ws.model_dir)
    reindex_workspace(ws, ReindexConfig(progress=False, torch_threads=1))
    assert server.app.state.service.reload_index()
    WebDriverWait(browser, 20).until(lambda _: not banner.is_displayed())
    # The channel line, read once at readiness, names the trained model's channels now.
    WebDriverWait(browser, 20).until(lambda _: "listing photos" in channels.text)
    assert "listings (text and photos)" in channels.text
    screenshot(browser, "model_banner_trained")
