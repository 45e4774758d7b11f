"""The FastAPI application: routers, problem+json errors, limits, logs and metrics."""

from __future__ import annotations

import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from keystore.errors import EsealError

from .approval_flow import ApprovalFlow
from .approval_sweeper import ApprovalSweeper
from .batch_worker import start_batch_worker
from .container import build
from .limits import BodyLimit
from .observability import Metrics, RequestLog, configure_logging
from .problems import problem
from .routes import (
    admin,
    approvals,
    archives,
    batches,
    documents,
    enterprises,
    invoices,
    license,
    national,
    ops,
    permits,
    pki,
    web,
)
from .routes import login as login_routes
from .routes import registry as registry_routes
from .routes import webhooks as webhook_routes
from .settings import Settings
from .webhook_worker import WebhookWorker
from .webhooks import webhooks_for

__all__ = ["create_app", "install_error_handlers"]

log = logging.getLogger("eseal.api")
PROBLEM = "application/problem+json"


def _problem(status: int, code: str, title: str, detail: str) -> JSONResponse:
    return JSONResponse(
        {
            "type": f"urn:eseal:error:{code}",
            "title": title,
            "status": status,
            "detail": detail,
            "code": code,
        },
        status_code=status,
        media_type=PROBLEM,
    )


def install_error_handlers(app: FastAPI) -> None:
    """problem+json for every error: eseal's own, validation, HTTP and unexpected ones."""

    @app.exception_handler(EsealError)
    async def _eseal_error(request: Request, exc: EsealError) -> JSONResponse:
        body = problem(exc)
        return JSONResponse(body, status_code=int(str(body["status"])), media_type=PROBLEM)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        parts = []
        for err in exc.errors():
            loc = ".".join(str(p) for p in err.get("loc", ()) if p != "body")
            parts.append(f"{loc or 'request'}: {err.get('msg')}")
        return _problem(422, "invalid_request", "Invalid request", "; ".join(parts)[:2000])

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        title = {404: "Not found", 405: "Method not allowed"}.get(exc.status_code, "HTTP error")
        response = _problem(exc.status_code, code, title, str(exc.detail))
        if exc.headers:
            response.headers.update(exc.headers)
        return response

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error")
        return _problem(
            500,
            "internal_error",
            "Internal error",
            "the server failed; the request id identifies it in the logs",
        )


def create_app(settings: Settings | None = None, *, freeze_gc: bool = False) -> FastAPI:
    """The service.  ``freeze_gc`` (a server process's app): once started, what start-up
    made (modules, the container, its caches) is moved out of the garbage collector's
    generations (``gc.freeze()``), so that the collections sealing and verification set off
    no longer walk it (about a tenth of a sealing request's CPU went to them)."""
    settings = settings or Settings()
    if settings.mode == "front":  # a front system: a replica and verification, no sealing
        from .front_app import create_front_app

        return create_front_app(settings)
    metrics = Metrics()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        container = await run_in_threadpool(build, settings)
        container.metrics = metrics
        app.state.container = container
        # the batch queue's workers of this process (api/batch_worker.py)
        app.state.batch_worker = await run_in_threadpool(start_batch_worker, container)
        hooks = await run_in_threadpool(webhooks_for, container)
        app.state.webhooks = hooks
        worker = WebhookWorker(hooks.store, hooks.box, settings)
        if settings.webhook_worker:
            worker.start()

        def approvals() -> ApprovalFlow:  # the one the routes use (a test may set its own)
            flow: ApprovalFlow | None = getattr(app.state, "approvals", None)
            if flow is None:
                flow = app.state.approvals = ApprovalFlow.of(container)
            return flow

        sweeper = app.state.approval_sweeper = ApprovalSweeper(
            approvals, settings.approval_sweep_seconds
        )
        sweeper.start()
        if freeze_gc:
            gc.collect()
            gc.freeze()
        try:
            yield
        finally:
            await sweeper.stop()
            await worker.stop()
            if app.state.batch_worker is not None:
                await run_in_threadpool(app.state.batch_worker.stop)
            container.close()

    app = FastAPI(
        title="eseal",
        version="0.1.0",
        description="Electronic seals for Chinese enterprises: the five seals of a business "
        "license, PAdES sealing, verification against the license registry.",
        lifespan=lifespan,
    )

    install_error_handlers(app)

    for module in (
        ops,
        enterprises,
        documents,
        national,
        invoices,
        archives,
        approvals,
        pki,
        admin,
        web,
        license,
        permits,
        registry_routes,
    ):
        app.include_router(module.router)
    app.include_router(login_routes.router)
    app.include_router(batches.router)
    app.include_router(webhook_routes.router)
    webhook_routes.document_events(app)

    app.add_middleware(BodyLimit, limit=int(settings.max_upload_mb * 1024 * 1024))
    app.add_middleware(RequestLog, metrics=metrics)
    return app


def create_production_app() -> FastAPI:
    """``eseal serve``'s factory: JSON logs, settings from the environment."""
    settings = Settings()
    configure_logging(settings.log_level)
    return create_app(settings, freeze_gc=True)
