"""Liveness and readiness, for load balancers and the benchmark harness."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from api.model_swap import serving
from api.schemas import Health, Readiness

router = APIRouter(tags=["health"])


@router.get("/healthz", response_model=Health)
def healthz() -> Health:
    """The process is up (it may still be loading the model)."""
    return Health(status="ok")


@router.get("/readyz", response_model=Readiness, responses={503: {"model": Readiness}})
def readyz(request: Request) -> Readiness | JSONResponse:
    """Model and every channel of the index version are loaded and warmed up; 503 until then."""
    service = getattr(request.app.state, "service", None)
    if service is None or not service.ready:
        body = Readiness(status="starting", detail="loading and warming model and index")
        return JSONResponse(body.model_dump(), status_code=503)
    now = serving(service)
    return Readiness(
        status="ready",
        model_version=service.model_version,
        listings=service.size,
        channels=service.channels,
        model=now["model"],
        detail=now["description"],
    )
