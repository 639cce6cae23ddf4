"""A real server and a real headless Chromium for the page tests.

The server is uvicorn in a thread on a free loopback port, over the synthetic
catalogue's index; the browser is Debian's ``chromium`` driven through
``chromedriver``. Both start once per module. Every test leaves a screenshot in
``tests/artifacts/browser/`` (git-ignored) so a failure in CI can be looked at.
"""

from __future__ import annotations

import shutil
import socket
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn

from benchmarks.harness import wait_until_ready
from multimodal.data.catalogue import CleanCatalogue

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts" / "browser"
CHROMEDRIVER = "/usr/bin/chromedriver"
CHROMIUM = "/usr/bin/chromium"
CHROME_FLAGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
    "--hide-scrollbars",
)
WINDOW = "--window-size=1366,900"
START_TIMEOUT_S = 120.0
DEMO_USER = "alex"


def screenshot(driver, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    driver.save_screenshot(str(path))
    return path


class LiveServer:
    """uvicorn serving ``app`` from a daemon thread, on a socket bound before it starts."""

    def __init__(self, app) -> None:
        self.app = app
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._socket.bind(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._socket.getsockname()[1]}"
        config = uvicorn.Config(app, log_level="warning", lifespan="on")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._socket]}, daemon=True
        )

    def start(self) -> None:
        self._thread.start()
        wait_until_ready(
            self.url,
            START_TIMEOUT_S,
            lambda: (
                None
                if self._thread.is_alive()
                else "the test server stopped while starting (see the log above)"
            ),
        )

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=15)
        self._socket.close()


@pytest.fixture(scope="module")
def chromedriver() -> str:
    if not Path(CHROMEDRIVER).is_file() or shutil.which("chromium") is None:
        pytest.skip("chromium + chromium-driver are not installed (make browser-deps)")
    return CHROMEDRIVER


@pytest.fixture(scope="module")
def live_server(writable_client) -> Iterator[LiveServer]:
    """The app over this module's private copy of the synthetic store and index.

    The events the tests record land in that copy, never in the index other
    test modules rank with; the model is the session's, loaded once.
    """
    from api.main import create_app

    service = writable_client.app.state.service
    settings = writable_client.app.state.settings.model_copy(update={"demo_users": (DEMO_USER,)})
    server = LiveServer(create_app(settings, service))
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def catalogue_titles(clean_synthetic: CleanCatalogue) -> set[str]:
    return {listing.title for listing in clean_synthetic.listings}


@pytest.fixture(scope="module")
def query_photo(clean_synthetic: CleanCatalogue) -> Path:
    listing = next(item for item in clean_synthetic.listings if item.image_ids)
    return clean_synthetic.image_path(listing.image_ids[0])


@pytest.fixture(scope="module")
def price_range(clean_synthetic: CleanCatalogue) -> tuple[int, int]:
    """A band holding roughly the middle third of the catalogue's prices."""
    prices = sorted(item.price for item in clean_synthetic.listings if item.price is not None)
    return int(prices[len(prices) // 3]), int(prices[2 * len(prices) // 3]) + 1


@pytest.fixture(scope="module")
def browser(chromedriver: str):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    profile = tempfile.mkdtemp(prefix="chromium-profile-")
    for flag in (*CHROME_FLAGS, WINDOW, f"--user-data-dir={profile}"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(chromedriver), options=options)
    driver.set_page_load_timeout(30)
    yield driver
    driver.quit()
    shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture
def page(browser, live_server: LiveServer, request: pytest.FixtureRequest):
    """The browser on a fresh search page; a screenshot of the end state is kept."""
    browser.get(f"{live_server.url}/")
    browser.execute_script("localStorage.clear()")
    browser.get(f"{live_server.url}/")
    yield browser
    screenshot(browser, request.node.name)
    errors = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
    browser.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
    assert not [e for e in errors if "favicon" not in e["message"]], errors
