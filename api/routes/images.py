"""``GET /images/{image_id}``: a cleaned photo, never anything outside the photo folder."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path
from fastapi.responses import FileResponse

from api.deps import ServiceDep

router = APIRouter(tags=["images"])


@router.get("/images/{image_id}", response_class=FileResponse)
def get_image(
    image_id: Annotated[str, Path(min_length=1, max_length=64)], service: ServiceDep
) -> FileResponse:
    return FileResponse(
        service.image_path(image_id),
        media_type="image/jpeg",
        headers={"Cache-Control": "public, max-age=86400"},
    )
