"""``api.limits.BodySizeLimit``: oversize bodies get a 413 before the app reads them."""

from __future__ import annotations

import asyncio

import pytest
from fastapi import FastAPI, Request
from fastapi.testclient import TestClient

from api.limits import BodySizeLimit

CAP = 1000


@pytest.fixture(scope="module")
def client() -> TestClient:
    app = FastAPI()

    @app.post("/echo")
    async def echo(request: Request) -> dict:
        return {"received": len(await request.body())}

    app.add_middleware(BodySizeLimit, max_bytes=CAP)
    return TestClient(app)


def chunks(total: int, size: int = 100):
    for start in range(0, total, size):
        yield b"x" * min(size, total - start)


def test_body_within_cap_passes(client):
    assert client.post("/echo", content=b"x" * CAP).json() == {"received": CAP}


def test_declared_length_over_cap_is_413_with_message(client):
    response = client.post("/echo", content=b"x" * (CAP + 1))
    assert response.status_code == 413
    assert "1,000 byte cap" in response.json()["detail"]


def test_chunked_body_within_cap_reaches_the_app_whole(client):
    response = client.post("/echo", content=chunks(CAP))
    assert response.json() == {"received": CAP}


def test_chunked_body_over_cap_is_413(client):
    response = client.post("/echo", content=chunks(50 * CAP))
    assert response.status_code == 413
    assert "cap" in response.json()["detail"]


def test_get_without_body_is_untouched(client):
    assert client.get("/echo").status_code == 405


def call_raw(headers: list[tuple[bytes, bytes]]) -> list[dict]:
    """Drive the middleware directly, to send what an HTTP client would not."""
    sent: list[dict] = []

    async def app(scope, receive, send):  # never reached for a bad header
        raise AssertionError("the app must not run")

    async def receive():
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message):
        sent.append(message)

    scope = {"type": "http", "method": "POST", "path": "/", "headers": headers}
    asyncio.run(BodySizeLimit(app, max_bytes=CAP)(scope, receive, send))
    return sent


@pytest.mark.parametrize("value", [b"lots", b"-5", b"99999999999999999999"])
def test_bad_or_huge_content_length(value):
    sent = call_raw([(b"content-length", value)])
    assert sent[0]["status"] in (400, 413)
    assert b"detail" in sent[1]["body"]
