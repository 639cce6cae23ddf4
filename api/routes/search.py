"""``POST /search`` (JSON, photo as base64) and ``POST /search/upload`` (multipart form)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, Form, Header, UploadFile
from PIL import Image
from pydantic import ValidationError

from api.deps import ServiceDep, SettingsDep
from api.errors import InputError
from api.image_input import decode_base64_image, decode_image
from api.observability.request_context import note_query_kind
from api.schemas import Filters, SearchRequest, SearchResponse
from api.search_pipeline import Query
from api.security import USER_TOKEN_HEADER, check_user_token
from api.settings import Settings

router = APIRouter(tags=["search"])

UserToken = Annotated[
    str | None,
    Header(
        alias=USER_TOKEN_HEADER,
        description="The user's token; needed when `user_id` personalises the ranking.",
    ),
]


def _query(request: SearchRequest, image: Image.Image | None) -> Query:
    """The domain query a request asks for, its photo already decoded."""
    return Query(
        text=request.text,
        image=image,
        k=request.k,
        offset=request.offset,
        filters=request.filters,
        user_id=request.user_id,
        personalise=request.personalise,
        facets=request.facets,
        group_reposts=request.group_reposts,
        understand=request.understand,
        ignore_parsed=frozenset(request.ignore_parsed),
    )


def _check_personal(settings: Settings, request: SearchRequest, token: str | None) -> None:
    """A personalised ranking reveals the user's interests, so it needs their token."""
    if request.user_id is not None and request.personalise:
        check_user_token(settings.user_token_secret, request.user_id, token)


@router.post("/search", response_model=SearchResponse)
def search(
    body: SearchRequest, service: ServiceDep, settings: SettingsDep, token: UserToken = None
) -> SearchResponse:
    """Search by text, photo or both; filters, paging and personalisation included.

    Results changed in issue 23: re-posted ads (an identical photo, or the same
    title and description) are grouped into one result by default, its other
    copies in `also_listed` (`group_reposts: false` lists every copy);
    `total_candidates` counts the query's matches (groups, when grouped); each
    priced result may carry `price_context`; `facets: true` adds facet counts.
    """
    note_query_kind(body.text, body.image)
    _check_personal(settings, body, token)
    image = decode_base64_image(body.image, settings) if body.image is not None else None
    return service.search(_query(body, image))


@router.post("/search/upload", response_model=SearchResponse)
def search_upload(
    service: ServiceDep,
    settings: SettingsDep,
    text: Annotated[str | None, Form()] = None,
    image: Annotated[UploadFile | None, File()] = None,
    k: Annotated[int, Form(ge=1, le=100)] = 20,
    offset: Annotated[int, Form(ge=0)] = 0,
    price_min: Annotated[float | None, Form(ge=0)] = None,
    price_max: Annotated[float | None, Form(ge=0)] = None,
    category: Annotated[str | None, Form(max_length=200)] = None,
    location: Annotated[str | None, Form(max_length=200)] = None,
    user_id: Annotated[str | None, Form(min_length=1, max_length=128)] = None,
    personalise: Annotated[bool, Form()] = True,
    facets: Annotated[bool, Form()] = False,
    group_reposts: Annotated[bool, Form()] = True,
    understand: Annotated[bool, Form()] = True,
    ignore_parsed: Annotated[list[str] | None, Form()] = None,
    token: UserToken = None,
) -> SearchResponse:
    """The same search as a multipart form, for browsers and ``curl -F image=@photo.jpg``
    (grouped by default, as ``POST /search``)."""
    sent_photo = image is not None and bool(image.size or image.filename)  # not an empty part
    note_query_kind(text, image if sent_photo else None)
    try:
        filters = Filters(
            price_min=price_min, price_max=price_max, category=category, location=location
        )
    except ValidationError as exc:
        raise InputError(422, "; ".join(e["msg"] for e in exc.errors())) from None
    photo = None
    if image is not None:
        data = image.file.read(settings.max_image_bytes + 1)
        if data or image.filename:  # a browser sends an empty, nameless part for "no file"
            photo = decode_image(data, settings)
    try:
        request = SearchRequest(
            text=text or None,
            k=k,
            offset=offset,
            filters=filters,
            user_id=user_id,
            personalise=personalise,
            facets=facets,
            group_reposts=group_reposts,
            understand=understand,
            ignore_parsed=ignore_parsed or [],
        )
    except ValidationError as exc:  # an ignore_parsed that names no reading
        raise InputError(422, "; ".join(e["msg"] for e in exc.errors())) from None
    _check_personal(settings, request, token)
    return service.search(_query(request, photo))
