"""Request ids (``X-Request-ID``), one JSON access-log line per request, app lines with the id."""

from __future__ import annotations

import io
import json
import logging
import re
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from api.main import create_app
from api.observability.logs import ACCESS_LOGGER, JsonFormatter
from api.observability.request_context import MAX_REQUEST_ID_CHARS
from api.service import SearchService
from api.settings import Settings

ACCESS_FIELDS = {
    "time", "level", "logger", "message", "request_id", "method", "route", "path", "status",
    "duration_ms", "query_kind", "client",
}  # fmt: skip


class JsonLines:
    """The JSON lines a logger writes while a test runs."""

    def __init__(self) -> None:
        self.stream = io.StringIO()

    def lines(self) -> list[dict]:
        return [json.loads(line) for line in self.stream.getvalue().splitlines()]


@pytest.fixture
def json_log() -> Iterator[tuple[JsonLines, logging.Logger]]:
    """``api.access`` and ``tests.app`` at INFO, written through the service's JSON formatter."""
    captured = JsonLines()
    handler = logging.StreamHandler(captured.stream)
    handler.setFormatter(JsonFormatter())
    loggers = [logging.getLogger(ACCESS_LOGGER), logging.getLogger("tests.app")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
    yield captured, loggers[1]
    for logger, level in zip(loggers, levels, strict=True):
        logger.removeHandler(handler)
        logger.setLevel(level)


def test_a_request_id_is_made_when_none_comes(client: TestClient) -> None:
    first = client.get("/healthz").headers["X-Request-ID"]
    second = client.get("/healthz").headers["X-Request-ID"]
    assert re.fullmatch(r"[0-9a-f]{32}", first) and first != second


def test_a_well_formed_incoming_id_is_kept(client: TestClient) -> None:
    response = client.get("/healthz", headers={"X-Request-ID": "lb-7f3a:42"})
    assert response.headers["X-Request-ID"] == "lb-7f3a:42"


@pytest.mark.parametrize("sent", ["x" * (MAX_REQUEST_ID_CHARS + 1), "two words", "<script>"])
def test_an_overlong_or_odd_incoming_id_is_replaced(client: TestClient, sent: str) -> None:
    returned = client.get("/healthz", headers={"X-Request-ID": sent}).headers["X-Request-ID"]
    assert returned != sent and re.fullmatch(r"[0-9a-f]{32}", returned)


def test_errors_carry_the_id_too(client: TestClient) -> None:
    response = client.post("/search", json={"k": 5}, headers={"X-Request-ID": "bad-body-1"})
    assert response.status_code == 422
    assert response.headers["X-Request-ID"] == "bad-body-1"


def test_one_json_access_line_per_request_with_its_fields(client: TestClient, json_log) -> None:
    captured, _ = json_log
    response = client.post(
        "/search", json={"text": "chair", "k": 3}, headers={"X-Request-ID": "r1"}
    )
    client.get("/listings/no-such-listing", headers={"X-Request-ID": "r2"})
    lines = captured.lines()
    assert [line["request_id"] for line in lines] == ["r1", "r2"]
    search, missing = lines
    assert set(search) == ACCESS_FIELDS
    assert search["logger"] == ACCESS_LOGGER and search["level"] == "INFO"
    assert (search["method"], search["route"], search["path"]) == ("POST", "/search", "/search")
    assert (search["status"], search["query_kind"]) == (response.status_code, "text")
    assert search["client"] == "testclient"
    assert 0 < search["duration_ms"] < 60_000
    assert missing["route"] == "/listings/{listing_id}"
    assert missing["path"] == "/listings/no-such-listing"
    assert (missing["status"], missing["query_kind"]) == (404, "none")


def test_app_log_lines_are_json_with_the_request_id(
    api_settings: Settings, api_service: SearchService, json_log
) -> None:
    captured, app_log = json_log
    app = create_app(api_settings.model_copy(update={"index_poll_seconds": 0}), api_service)

    @app.get("/log-something")
    def log_something() -> dict:  # a plain ``def``: it runs in the threadpool
        app_log.info("did %s", "something", extra={"fields": {"items": 3}})
        return {}

    with TestClient(app) as test_client:
        test_client.get("/log-something", headers={"X-Request-ID": "app-line-1"})
    app_line, access_line = captured.lines()
    assert app_line["logger"] == "tests.app" and app_line["message"] == "did something"
    assert app_line["request_id"] == "app-line-1" and app_line["items"] == 3
    assert access_line["request_id"] == "app-line-1"


def test_observability_can_be_turned_off(api_settings: Settings, api_service) -> None:
    app = create_app(
        api_settings.model_copy(update={"observability": False, "index_poll_seconds": 0}),
        api_service,
    )
    with TestClient(app) as test_client:
        assert "X-Request-ID" not in test_client.get("/healthz").headers
