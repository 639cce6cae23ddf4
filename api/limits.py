"""A cap on request body size, enforced before the app reads a byte of it.

A declared ``Content-Length`` over the cap is answered with 413 at once. A body
without one (chunked transfer encoding) is read here up to the cap and then
handed to the app unchanged; one byte more and the answer is the same 413. The
app never sees an oversize body, so no route or parser has to defend itself.
"""

from __future__ import annotations

import json

from starlette.types import ASGIApp, Message, Receive, Scope, Send


class BodySizeLimit:
    """ASGI middleware: bodies over ``max_bytes`` get ``413 {"detail": ...}``."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _content_length(scope)
        if declared == -1:
            await _reply(send, 400, "Content-Length header is not a valid number")
            return
        if declared is not None:
            if declared > self.max_bytes:
                await _reply(send, 413, self._too_large())
                return
            # A declared length within the cap is enforced by the HTTP server
            # (it never passes on more bytes than declared).
            await self.app(scope, receive, send)
            return
        messages = await self._buffer(receive)
        if messages is None:
            await _reply(send, 413, self._too_large())
            return
        await self.app(scope, _replay(messages, receive), send)

    async def _buffer(self, receive: Receive) -> list[Message] | None:
        """Read a body of unknown length; ``None`` once it passes the cap."""
        messages: list[Message] = []
        total = 0
        while True:
            message = await receive()
            messages.append(message)
            if message["type"] != "http.request":
                return messages  # client went away: let the app see the disconnect
            total += len(message.get("body", b""))
            if total > self.max_bytes:
                return None
            if not message.get("more_body", False):
                return messages

    def _too_large(self) -> str:
        return f"request body is larger than the {self.max_bytes:,} byte cap"


def _content_length(scope: Scope) -> int | None:
    """The declared length, ``None`` when absent, ``-1`` when unparseable."""
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                length = int(value)
            except ValueError:
                return -1
            return length if length >= 0 else -1
    return None


def _replay(messages: list[Message], receive: Receive) -> Receive:
    """A ``receive`` that yields the buffered messages, then defers to the real one."""
    pending = list(messages)

    async def replayed() -> Message:
        if pending:
            return pending.pop(0)
        return await receive()

    return replayed


async def _reply(send: Send, status: int, message: str) -> None:
    body = json.dumps({"detail": message}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
