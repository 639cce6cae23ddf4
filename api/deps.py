"""Dependencies the routes share: the search service, the settings, the admin and user checks."""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, HTTPException, Path, Request, Security
from fastapi.security import APIKeyHeader

from api.catalogue_writes import ADMIN, Author
from api.errors import InputError
from api.security import USER_ID_HEADER, USER_TOKEN_HEADER, check_user_token
from api.service import SearchService
from api.settings import Settings

ADMIN_KEY_HEADER = "X-Admin-Key"

_admin_header = APIKeyHeader(
    name=ADMIN_KEY_HEADER,
    auto_error=False,
    description="Admin key for catalogue writes (MARKETPLACE_ADMIN_KEY on the server).",
)

_user_token_header = APIKeyHeader(
    name=USER_TOKEN_HEADER,
    auto_error=False,
    description="The user's token (`marketplace user-token USER_ID`): to write their events "
    "and their own listings.",
)

_user_id_header = APIKeyHeader(
    name=USER_ID_HEADER,
    auto_error=False,
    description=f"The user a listing write speaks for; its {USER_TOKEN_HEADER} must be theirs.",
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


def require_user_token(
    user_id: Annotated[str, Path(min_length=1, max_length=128)],
    settings: Annotated[Settings, Depends(get_settings)],
    token: Annotated[str | None, Security(_user_token_header)] = None,
) -> None:
    """Route dependency: the ``{user_id}`` in the path must come with that user's token."""
    check_user_token(settings.user_token_secret, user_id, token)


async def listing_author(
    settings: Annotated[Settings, Depends(get_settings)],
    key: Annotated[str | None, Security(_admin_header)] = None,
    user_id: Annotated[str | None, Security(_user_id_header)] = None,
    token: Annotated[str | None, Security(_user_token_header)] = None,
) -> Author:
    """Who a listing write comes from: the admin key, else a seller's id and token."""
    if key is not None or (user_id is None and token is None and not settings.user_token_secret):
        await require_admin(settings, key)
        return ADMIN
    if user_id is None or token is None:
        raise InputError(
            401,
            f"listing writes need the {ADMIN_KEY_HEADER}, or a seller's "
            f"{USER_ID_HEADER} with their {USER_TOKEN_HEADER}",
            {"WWW-Authenticate": "ApiKey"},
        )
    if len(user_id) > 128:
        raise InputError(422, f"{USER_ID_HEADER} is longer than 128 characters")
    check_user_token(settings.user_token_secret, user_id, token)
    return Author(user_id)


ServiceDep = Annotated[SearchService, Depends(get_service)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
AuthorDep = Annotated[Author, Depends(listing_author)]
