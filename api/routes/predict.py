"""``POST /predict/category``: the classifier head, for sellers filling in a listing."""

from __future__ import annotations

from fastapi import APIRouter

from api.deps import ServiceDep, SettingsDep
from api.image_input import decode_base64_image
from api.schemas import PredictRequest, PredictResponse

router = APIRouter(tags=["predict"])


@router.post("/predict/category", response_model=PredictResponse)
def predict_category(
    body: PredictRequest, service: ServiceDep, settings: SettingsDep
) -> PredictResponse:
    """Root category probabilities from a title/description and/or a photo."""
    image = decode_base64_image(body.image, settings) if body.image is not None else None
    return service.predict_category(body.text, image)
