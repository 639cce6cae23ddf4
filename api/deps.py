"""Dependencies the routes share: the search service, the settings and the admin check."""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, HTTPException, Request, Security
from fastapi.security import APIKeyHeader

from api.errors import InputError
from api.service import SearchService
from api.settings import Settings

ADMIN_KEY_HEADER = "X-Admin-Key"

_admin_header = APIKeyHeader(
    name=ADMIN_KEY_HEADER,
    auto_error=False,
    description="Admin key for catalogue writes (MARKETPLACE_ADMIN_KEY on the server).",
)


# These dependencies only read app state: ``async`` keeps them on the event loop
# instead of costing each request a hop through the threadpool.
async def get_settings(request: Request) -> Settings:
    return request.app.state.settings


async def get_service(request: Request) -> SearchService:
    service = getattr(request.app.state, "service", None)
    if service is None:
        raise HTTPException(503, "the search service is still starting", {"Retry-After": "1"})
    return service


async def require_admin(
    settings: Annotated[Settings, Depends(get_settings)],
    key: Annotated[str | None, Security(_admin_header)] = None,
) -> None:
    """Writes need the admin key; with no key configured they are disabled, never open."""
    expected = settings.admin_key.get_secret_value().encode() if settings.admin_key else b""
    if not expected:  # unset or empty: an empty key would guard nothing
        raise InputError(403, "catalogue writes are disabled: no admin key is configured")
    if key is None or not hmac.compare_digest(key.encode(), expected):
        raise InputError(
            401, f"missing or wrong {ADMIN_KEY_HEADER}", {"WWW-Authenticate": "ApiKey"}
        )


ServiceDep = Annotated[SearchService, Depends(get_service)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
AdminDep = Depends(require_admin)
