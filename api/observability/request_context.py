"""The request being served, as a context variable: its id and, for a search, its kind.

The middleware sets it when a request arrives; a log line emitted while
serving that request (in the event loop or in the threadpool running a plain
``def`` endpoint, which copies the context) reads its id from here, and a
search route notes its query kind here for the metrics and the access log.
The value is one mutable object per request, so a note made in the
threadpool's copy of the context is seen by the middleware.
"""

from __future__ import annotations

import re
import uuid
from contextvars import ContextVar, Token
from dataclasses import dataclass
from typing import Literal

QueryKind = Literal["text", "photo", "both", "none"]

# An incoming id is kept when it is this short and this plain (it goes into
# every log line and a response header); anything else is replaced.
MAX_REQUEST_ID_CHARS = 128
_WELL_FORMED_ID = re.compile(rb"[A-Za-z0-9._:@+=/-]{1,%d}" % MAX_REQUEST_ID_CHARS)


@dataclass
class RequestContext:
    request_id: str
    query_kind: QueryKind = "none"


_current: ContextVar[RequestContext | None] = ContextVar("marketplace_request", default=None)


def current_request() -> RequestContext | None:
    """The request this code serves, or None outside a request (start-up, reloads, the CLI)."""
    return _current.get()


def enter_request(incoming_id: bytes | None) -> tuple[Token, RequestContext]:
    """Make a new request current, keeping a well-formed incoming id; returns the token
    ``leave_request`` takes and the context."""
    if incoming_id is not None and _WELL_FORMED_ID.fullmatch(incoming_id):
        request_id = incoming_id.decode("ascii")
    else:
        request_id = uuid.uuid4().hex
    context = RequestContext(request_id)
    return _current.set(context), context


def leave_request(token: Token) -> None:
    _current.reset(token)


def query_kind(text: str | None, image: object | None) -> QueryKind:
    if text and image is not None:
        return "both"
    if image is not None:
        return "photo"
    return "text" if text else "none"


def note_query_kind(text: str | None, image: object | None) -> None:
    """Label the current request with its query kind (a no-op outside a request)."""
    context = _current.get()
    if context is not None:
        context.query_kind = query_kind(text, image)
