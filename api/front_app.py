"""The FastAPI application of a front system (``eseal serve --mode front``, issue 19).

Its routes are :mod:`api.routes.front` and nothing else: no router that seals, extends,
archives or writes the registry is mounted, so those paths answer 404.  At start it builds
the front's services (:mod:`api.front`), pulls the centre's feed once, and keeps pulling it
in a thread (:mod:`api.front_sync`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from starlette.concurrency import run_in_threadpool

from .app import install_error_handlers
from .front import build_front
from .front_sync import FrontSync
from .limits import BodyLimit
from .observability import Metrics, RequestLog
from .routes import front
from .settings import Settings

__all__ = ["create_front_app"]


def create_front_app(settings: Settings) -> FastAPI:
    metrics = Metrics()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        container = await run_in_threadpool(build_front, settings)
        container.metrics = metrics
        app.state.container = container
        sync = FrontSync(container)
        await run_in_threadpool(sync.round)  # the first pull before the first request
        sync.start()
        try:
            yield
        finally:
            await run_in_threadpool(sync.stop)
            container.close()

    app = FastAPI(
        title="eseal front system",
        version="0.1.0",
        description="A verification front system (前置系统): verification against a replica "
        "of the centre's registry, kept by the centre's signed feed; it seals nothing.",
        lifespan=lifespan,
    )
    install_error_handlers(app)
    app.include_router(front.router)
    app.add_middleware(BodyLimit, limit=int(settings.max_upload_mb * 1024 * 1024))
    app.add_middleware(RequestLog, metrics=metrics)
    return app
