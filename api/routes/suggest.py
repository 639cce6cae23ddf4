"""``GET /suggest?q=``: search-box completions from the catalogue's titles and categories."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from api.deps import ServiceDep
from api.schemas import SuggestResponse
from api.suggest import MAX_LIMIT

router = APIRouter(tags=["search"])


# ``async``: a completion is a binary search of under a millisecond, cheaper than the
# hop through the threadpool a plain ``def`` costs each keystroke.
@router.get("/suggest", response_model=SuggestResponse)
async def suggest(
    service: ServiceDep,
    q: Annotated[str, Query(max_length=200, description="What is typed so far.")] = "",
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 8,
) -> SuggestResponse:
    """Completions of what is typed (its last word may be unfinished, any may be misspelled)."""
    return service.suggest(q, limit)
