"""User events, the history personalisation learns from."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, status

from api.deps import ServiceDep, require_user_token
from api.schemas import EventIn, EventOut

router = APIRouter(prefix="/users", tags=["users"])


@router.post(
    "/{user_id}/events",
    response_model=EventOut,
    status_code=status.HTTP_201_CREATED,
    dependencies=[Depends(require_user_token)],
)
def add_event(
    user_id: Annotated[str, Path(min_length=1, max_length=128)],
    body: EventIn,
    service: ServiceDep,
) -> EventOut:
    """Record that a user viewed, clicked, saved or messaged about a listing (user token needed)."""
    return service.add_event(user_id, body.listing_id, body.type)
