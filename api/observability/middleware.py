"""One pure ASGI middleware: a request id, the request metrics and the access-log line.

Pure ASGI rather than ``BaseHTTPMiddleware``, which costs a task and a
stream per request. It wraps ``send`` only to read the status and add
``X-Request-ID``; the body passes through untouched. The route label is the
route's template (``/listings/{listing_id}``), read from the scope after the
router matched it, so ids never become label values; a path no route matches
is ``unmatched``.
"""

from __future__ import annotations

import logging
import time

from starlette.routing import Mount
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.observability.logs import ACCESS_LOGGER
from api.observability.metrics import record_request
from api.observability.request_context import enter_request, leave_request

REQUEST_ID_HEADER = b"x-request-id"
UNMATCHED = "unmatched"

access_log = logging.getLogger(ACCESS_LOGGER)


class ObservabilityMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        token, request = enter_request(_header(scope, REQUEST_ID_HEADER))
        id_header = (REQUEST_ID_HEADER, request.request_id.encode("ascii"))
        status = 500  # what the client gets if the app raises before answering

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message = {**message, "headers": [*message.get("headers", ()), id_header]}
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            seconds = time.perf_counter() - started
            route = route_template(scope)
            record_request(scope["method"], route, status, request.query_kind, seconds)
            if access_log.isEnabledFor(logging.INFO):
                client = scope.get("client")
                access_log.info(
                    "%s %s %d",
                    scope["method"],
                    scope["path"],
                    status,
                    extra={
                        "fields": {
                            "method": scope["method"],
                            "route": route,
                            "path": scope["path"],
                            "status": status,
                            "duration_ms": round(seconds * 1000, 3),
                            "query_kind": request.query_kind,
                            "client": client[0] if client else None,
                        }
                    },
                )
            leave_request(token)


def route_template(scope: Scope) -> str:
    """The matched route's path template, or ``unmatched``."""
    route = scope.get("route")
    if route is None:
        return UNMATCHED
    if isinstance(route, Mount):  # static files: one label for the whole folder
        return f"{route.path}/{{path}}"
    return getattr(route, "path", UNMATCHED)


def _header(scope: Scope, name: bytes) -> bytes | None:
    for key, value in scope["headers"]:
        if key == name:
            return value
    return None
