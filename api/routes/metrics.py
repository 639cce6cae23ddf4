"""``GET /metrics``: the Prometheus text exposition for a scraper (not in the OpenAPI schema)."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST

from api.observability.metrics import exposition

router = APIRouter(tags=["operations"])


@router.get("/metrics", include_in_schema=False)
def metrics(request: Request) -> Response:
    """Every metric, this worker's serving gauges brought up to date first."""
    service = getattr(request.app.state, "service", None)
    return Response(exposition(service), media_type=CONTENT_TYPE_LATEST)
