"""Builds the FastAPI app: routes, error handlers, body cap, and the service's lifetime.

The model and the index are loaded once per process and warmed up (one text
and one photo query) before the app serves, so the first user never pays for
lazy initialisation and ``/readyz`` only says ready when a query would be fast.
While it serves, one watch swaps in each new index version a reindex writes,
and another applies what other replicas write to the shared store
(``SearchService.catch_up``), waking on PostgreSQL's ``NOTIFY`` or polling.

``app_from_settings`` is the factory ``marketplace serve --workers N`` gives
uvicorn: each worker process builds its app from ``MARKETPLACE_*`` variables
and loads and warms its own service. Every request passes through
``api.observability`` (request id, metrics, JSON access log) unless
``settings.observability`` is off.
"""

from __future__ import annotations

import asyncio
import importlib.util
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from starlette.concurrency import run_in_threadpool

from api.errors import ERROR_RESPONSES, install_error_handlers
from api.limits import BodySizeLimit
from api.observability.metrics import forget_this_process, record_serving, reload_failed
from api.observability.middleware import ObservabilityMiddleware
from api.routes import (
    health,
    images,
    listings,
    metrics,
    predict,
    progress,
    search,
    suggest,
    users,
)
from api.service import SearchService
from api.settings import Settings
from indexing.store_database import StoreUnavailable

log = logging.getLogger(__name__)

PAGE_ROUTES = "api.routes.page"


async def _follow_reindexes(service: SearchService, every_s: float) -> None:
    """Pick up each new index version ``marketplace reindex`` writes, without a restart."""
    while True:
        await asyncio.sleep(every_s)
        try:
            await run_in_threadpool(service.reload_index)
        except StoreUnavailable as exc:  # the new version waits until the database is back
            reload_failed()
            log.warning("index reload put off, the store is unreachable: %s", exc)
        except Exception:  # a bad version must not stop the server or this watch
            reload_failed()
            log.exception("reloading the index failed; still serving the previous version")
        record_serving(service)  # its listing count moves with every write


async def _follow_replicas(service: SearchService, every_s: float) -> None:
    """Apply other replicas' writes every ``every_s``, and at once when one is notified.

    While the database is away this logs one line when it goes and one when it
    is back, not a line every ``every_s``."""
    away = False
    while True:
        await run_in_threadpool(service.replicas.wait, every_s)
        try:
            await run_in_threadpool(service.catch_up)
        except StoreUnavailable as exc:
            if not away:
                log.warning("other replicas' writes wait until the store is back: %s", exc)
            away = True
            continue
        except Exception:  # any other failure must not stop this watch either
            log.exception("catching up with other replicas failed; trying again")
            continue
        if away:
            log.info("the store is back: caught up with other replicas")
        away = False


def create_app(settings: Settings, service: SearchService | None = None) -> FastAPI:
    """The app over ``service``, or over one loaded from ``settings`` at startup."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        loaded = service or await run_in_threadpool(SearchService.open, settings)
        await run_in_threadpool(loaded.warm_up)
        app.state.service = loaded
        record_serving(loaded)
        log.info(
            "ready: %d listings, model %s",
            loaded.size,
            loaded.model_version,
            extra={"fields": {"index_version": loaded.index.manifest.version}},
        )
        watchers = []
        if settings.index_poll_seconds > 0:
            watchers.append(_follow_reindexes(loaded, settings.index_poll_seconds))
        if settings.change_poll_seconds > 0:
            watchers.append(_follow_replicas(loaded, settings.change_poll_seconds))
        tasks = [asyncio.create_task(watch) for watch in watchers]
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
            app.state.service = None
            forget_this_process()
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
    if settings.observability:  # added last: outermost, so it sees the body cap's 413s too
        app.add_middleware(ObservabilityMiddleware)
    for module in (health, progress, search, suggest, listings, users, predict, images, metrics):
        app.include_router(module.router)
    if importlib.util.find_spec(PAGE_ROUTES) is not None:
        app.include_router(importlib.import_module(PAGE_ROUTES).router)
    return app


def app_from_settings() -> FastAPI:
    """The app over ``Settings()`` from the environment: one per ``serve --workers N`` worker."""
    return create_app(Settings())
