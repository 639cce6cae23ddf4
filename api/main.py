"""Builds the FastAPI app: routes, error handlers, body cap, and the service's lifetime.

The model and the index are loaded once per process and warmed up (one text
and one photo query) before the app serves, so the first user never pays for
lazy initialisation and ``/readyz`` only says ready when a query would be fast.
"""

from __future__ import annotations

import importlib.util
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from starlette.concurrency import run_in_threadpool

from api.errors import ERROR_RESPONSES, install_error_handlers
from api.limits import BodySizeLimit
from api.routes import health, images, listings, predict, search, users
from api.service import SearchService
from api.settings import Settings

log = logging.getLogger(__name__)

PAGE_ROUTES = "api.routes.page"


def create_app(settings: Settings, service: SearchService | None = None) -> FastAPI:
    """The app over ``service``, or over one loaded from ``settings`` at startup."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        loaded = service or await run_in_threadpool(SearchService.open, settings)
        await run_in_threadpool(loaded.warm_up)
        app.state.service = loaded
        log.info("ready: %d listings, model %s", loaded.size, loaded.model_version)
        try:
            yield
        finally:
            app.state.service = None
            if service is None:
                loaded.close()

    app = FastAPI(
        title="Marketplace Search",
        version="1.0",
        summary="Multimodal (text + photo), personalised search over second-hand listings.",
        lifespan=lifespan,
        responses=ERROR_RESPONSES,
    )
    app.state.settings = settings
    app.state.service = None
    install_error_handlers(app)
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes)
    for module in (health, search, listings, users, predict, images):
        app.include_router(module.router)
    if importlib.util.find_spec(PAGE_ROUTES) is not None:
        app.include_router(importlib.import_module(PAGE_ROUTES).router)
    return app
