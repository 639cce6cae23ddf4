"""The one error type for bad client input, the handler that answers it, and its schema.

Input checks (images, text, access) raise ``InputError`` wherever they run,
including inside plain ``def`` endpoints; the handler turns it into a 4xx with
a one-line JSON message, the same ``{"detail": ...}`` shape FastAPI uses, so a
client parses one kind of error body whatever went wrong. ``ERROR_RESPONSES``
documents that shape for every 4xx in the OpenAPI schema, so generated
clients (and the schema fuzzing in the tests) know what an error looks like.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field


class ErrorResponse(BaseModel):
    """Every 4xx body: a one-line message, or FastAPI's list of field validation errors."""

    detail: str | list[dict[str, Any]] = Field(
        description="What to fix: a message, or one entry per invalid field (loc, msg, type)."
    )


# Passed to ``FastAPI(responses=...)``: documents the error body on every route.
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    "4XX": {"model": ErrorResponse, "description": "The request must be fixed; detail says how."}
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


async def input_error_handler(request: Request, exc: Exception) -> JSONResponse:
    """Answer an ``InputError`` with its status and ``{"detail": message}``."""
    assert isinstance(exc, InputError)
    return JSONResponse({"detail": exc.message}, status_code=exc.status, headers=exc.headers)


def install_error_handlers(app: FastAPI) -> None:
    """Register the handlers ``create_app`` needs so bad input never surfaces as a 500."""
    app.add_exception_handler(InputError, input_error_handler)
