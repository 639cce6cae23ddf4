"""HTTP answers to errors: the service's domain errors and the HTTP layer's own input errors.

The service raises ``api.domain_errors`` (no status codes); ``STATUS`` maps
each to one. Checks that belong to HTTP itself (photo uploads, access
headers) raise ``InputError`` with their status. Both are answered with a
one-line JSON message, the same ``{"detail": ...}`` shape FastAPI uses, so a
client parses one kind of error body whatever went wrong. ``ERROR_RESPONSES``
documents that shape for every 4xx in the OpenAPI schema, so generated
clients (and the schema fuzzing in the tests) know what an error looks like.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from api.domain_errors import (
    AlreadyExists,
    BadImageId,
    Forbidden,
    InvalidInput,
    NotFound,
    ServiceError,
    Unavailable,
)


class ErrorResponse(BaseModel):
    """Every 4xx body: a one-line message, or FastAPI's list of field validation errors."""

    detail: str | list[dict[str, Any]] = Field(
        description="What to fix: a message, or one entry per invalid field (loc, msg, type)."
    )


# Passed to ``FastAPI(responses=...)``: documents the error body on every route.
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    "4XX": {"model": ErrorResponse, "description": "The request must be fixed; detail says how."},
    503: {
        "model": ErrorResponse,
        "description": "The catalogue database cannot be reached now: try again after the "
        "seconds in the Retry-After header. A write answered so was not acknowledged.",
    },
}


class InputError(Exception):
    """A request the client must fix: answered with ``status`` (4xx) and ``message``."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        if not 400 <= status < 500:
            raise ValueError(f"InputError status must be a 4xx, got {status}")
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers


# The status each domain error is answered with.
STATUS: dict[type[ServiceError], int] = {
    InvalidInput: 422,
    BadImageId: 400,
    NotFound: 404,
    AlreadyExists: 409,
    Forbidden: 403,
    Unavailable: 503,
}


def status_of(exc: ServiceError) -> int:
    return next(code for kind, code in STATUS.items() if isinstance(exc, kind))


async def input_error_handler(request: Request, exc: Exception) -> JSONResponse:
    """Answer an ``InputError`` with its status and ``{"detail": message}``."""
    assert isinstance(exc, InputError)
    return JSONResponse({"detail": exc.message}, status_code=exc.status, headers=exc.headers)


async def service_error_handler(request: Request, exc: Exception) -> JSONResponse:
    """Answer a domain error with its status (``STATUS``) and ``{"detail": message}``;
    an ``Unavailable`` also says when to retry (``Retry-After``, in seconds)."""
    assert isinstance(exc, ServiceError)
    headers = {"Retry-After": str(exc.retry_after_s)} if isinstance(exc, Unavailable) else None
    return JSONResponse({"detail": exc.message}, status_code=status_of(exc), headers=headers)


def _printable(error: dict[str, Any]) -> dict[str, Any]:
    """One validation error as JSON, without an ``input`` that cannot be shown (the
    raw bytes of a photo, say, which FastAPI's own handler fails to encode)."""
    try:
        return jsonable_encoder(error)
    except (UnicodeDecodeError, TypeError, ValueError):
        return jsonable_encoder({key: v for key, v in error.items() if key != "input"})


def _form_sent_for_json(request: Request, exc: RequestValidationError) -> bool:
    content_type = request.headers.get("content-type", "")
    return content_type.startswith(("multipart/", "application/x-www-form-urlencoded")) and any(
        tuple(error.get("loc", ())) == ("body",) for error in exc.errors()
    )


async def validation_error_handler(request: Request, exc: Exception) -> JSONResponse:
    """FastAPI's 422 for invalid fields, made safe for any body a client sends.

    A form posted to a JSON endpoint (``curl -F image=@photo.jpg`` against
    ``/search``) gets one line saying where forms go instead of a list of errors.
    """
    assert isinstance(exc, RequestValidationError)
    if _form_sent_for_json(request, exc):
        where = " (forms and file uploads go to POST /search/upload)"
        hint = where if request.url.path == "/search" else ""
        message = f"this endpoint takes a JSON body (Content-Type: application/json){hint}"
        return JSONResponse({"detail": message}, status_code=422)
    return JSONResponse({"detail": [_printable(e) for e in exc.errors()]}, status_code=422)


def install_error_handlers(app: FastAPI) -> None:
    """Register the handlers ``create_app`` needs so bad input never surfaces as a 500."""
    app.add_exception_handler(InputError, input_error_handler)
    app.add_exception_handler(ServiceError, service_error_handler)
    app.add_exception_handler(RequestValidationError, validation_error_handler)
