"""Listings: read, similar items, and create / update / delete by the admin or their seller.

A write's body comes in either form, parsed here into one model and the
photos' bytes: JSON (``ListingCreate`` / ``ListingIn``, new photos as base64
in ``photos``) or a multipart form (the same fields, ``image_ids`` repeated,
new photos as ``photos`` files). Every photo passes the safe decoder
(``api.image_input``) before the service sees any, so a bad one refuses the
whole write before anything is stored.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request, Response, status
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ValidationError
from starlette.datastructures import UploadFile

from api.deps import AuthorDep, ServiceDep, SettingsDep
from api.errors import InputError
from api.image_input import base64_bytes, decode_image
from api.schemas import ListingCreate, ListingIn, ListingOut, SimilarResponse
from api.settings import Settings

router = APIRouter(prefix="/listings", tags=["listings"])

ListingId = Annotated[str, Path(min_length=1, max_length=64)]

_FORM_LISTS = ("image_ids",)  # form fields that repeat
_MAX_FORM_PHOTOS = 20


@dataclass(frozen=True)
class ListingWrite:
    """A parsed write: the listing's fields (a ``ListingCreate`` for a create) and its
    new photos' bytes, each one already through the safe decoder."""

    body: ListingIn
    photos: list[bytes]


def _documented(model: type[BaseModel]) -> dict[str, Any]:
    """The OpenAPI request body of a write (the handler reads the body itself)."""
    form = {
        "type": "object",
        "description": "The same fields as the JSON body; `photos` as image files.",
    }
    return {
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": model.model_json_schema()},
                "multipart/form-data": {"schema": form},
            },
        }
    }


def _read_write(model: type[ListingIn]) -> Callable[..., Awaitable[ListingWrite]]:
    async def read(request: Request, settings: SettingsDep) -> ListingWrite:
        content_type = request.headers.get("content-type", "")
        if content_type.startswith("multipart/form-data"):
            fields, files = await _read_form(request, settings)
        else:
            try:
                fields = await request.json()
            except ValueError:
                raise InputError(
                    400, "the body must be JSON, or a multipart form with photo files"
                ) from None
            files = []
        try:
            body = model.model_validate(fields)
        except ValidationError as exc:
            raise RequestValidationError(exc.errors(include_url=False)) from None
        encoded = files + [base64_bytes(photo, settings) for photo in body.photos]
        return ListingWrite(body, _checked(encoded, settings))

    return read


async def _read_form(request: Request, settings: Settings) -> tuple[dict[str, Any], list[bytes]]:
    form = await request.form(max_files=_MAX_FORM_PHOTOS)
    fields: dict[str, Any] = {}
    files: list[bytes] = []
    for name, value in form.multi_items():
        if isinstance(value, UploadFile):
            if name != "photos":
                raise InputError(422, f"file field {name!r}: photos go in the 'photos' field")
            data = await value.read(settings.max_image_bytes + 1)
            files.append(data)
        elif name in _FORM_LISTS:
            fields.setdefault(name, []).append(value)
        elif name == "photos":
            raise InputError(422, "the 'photos' form field takes files, not text")
        else:
            fields[name] = value
    return fields, files


def _checked(photos: list[bytes], settings: Settings) -> list[bytes]:
    """Every photo through the safe decoder, before anything is written; says which failed."""
    for number, data in enumerate(photos, 1):
        try:
            decode_image(data, settings)
        except InputError as exc:
            raise InputError(exc.status, f"photo {number}: {exc.message}") from None
    return photos


# Handlers name the author before the body: who writes is checked before any photo is decoded.
CreateWrite = Annotated[ListingWrite, Depends(_read_write(ListingCreate))]
UpdateWrite = Annotated[ListingWrite, Depends(_read_write(ListingIn))]


@router.get("/{listing_id}", response_model=ListingOut)
def get_listing(listing_id: ListingId, service: ServiceDep) -> ListingOut:
    """The listing, with `price_context`: its price against similar listings (as in search)."""
    return service.get_listing(listing_id)


@router.get("/{listing_id}/similar", response_model=SimilarResponse)
def similar_listings(
    listing_id: ListingId, service: ServiceDep, k: Annotated[int, Query(ge=1, le=100)] = 10
) -> SimilarResponse:
    """Listings nearest to this one in the joint space, itself excluded."""
    return service.similar(listing_id, k)


@router.post(
    "",
    response_model=ListingOut,
    status_code=status.HTTP_201_CREATED,
    openapi_extra=_documented(ListingCreate),
)
async def create_listing(author: AuthorDep, write: CreateWrite, service: ServiceDep) -> ListingOut:
    """Add a listing (the admin, or a seller: then it is theirs); searchable once this returns."""
    return await run_in_threadpool(service.create_listing, write.body, write.photos, author)


@router.put("/{listing_id}", response_model=ListingOut, openapi_extra=_documented(ListingIn))
async def update_listing(
    listing_id: ListingId, author: AuthorDep, write: UpdateWrite, service: ServiceDep
) -> ListingOut:
    """Replace a listing: the admin any, a seller their own. Photos not kept are removed."""
    return await run_in_threadpool(
        service.update_listing, listing_id, write.body, write.photos, author
    )


@router.delete("/{listing_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_listing(listing_id: ListingId, author: AuthorDep, service: ServiceDep) -> Response:
    """Delete a listing with its uploaded photos: the admin any, a seller their own."""
    service.delete_listing(listing_id, author)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
