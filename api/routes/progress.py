"""``GET /progress``: which model and channels serve, and how far the trained one is.

What the page's banner and ``marketplace demo``'s command line show while the
first index (frozen encoders, text only) serves and the model trains in
another process (``api.model_swap.serving``). ``training`` is null once the
trained model serves.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel

from api.deps import ServiceDep
from api.model_swap import serving
from multimodal.progress import describe

router = APIRouter(tags=["health"])


class Progress(BaseModel):
    model_version: str
    model: str  # "frozen" (the first index) or "trained"
    description: str
    channels: list[str]
    training: dict[str, Any] | None  # the progress file training writes, while frozen
    line: str  # the training's progress in words ("" when there is none)


@router.get("/progress", response_model=Progress)
def progress(service: ServiceDep) -> Progress:
    """The serving model and channels, and the training progress while a frozen one serves."""
    now = serving(service)
    return Progress(**now, line=describe(now["training"]))
