"""The FastAPI application. Only the public PKI and health routes exist so far."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated

from cryptography.hazmat.primitives import serialization
from fastapi import Depends, FastAPI, Request
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from keystore.errors import EsealError

from .container import Container, build
from .problems import problem
from .settings import Settings

__all__ = ["create_app"]


def _container(request: Request) -> Container:
    container: Container = request.app.state.container
    return container


ContainerDep = Annotated[Container, Depends(_container)]


def create_app(settings: Settings | None = None) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        container = await run_in_threadpool(build, settings or Settings())
        app.state.container = container
        try:
            yield
        finally:
            container.close()

    app = FastAPI(title="eseal", version="0.1.0", lifespan=lifespan)

    @app.exception_handler(EsealError)
    async def _eseal_error(request: Request, exc: EsealError) -> JSONResponse:
        body = problem(exc)
        return JSONResponse(body, status_code=int(str(body["status"])),
                            media_type="application/problem+json")

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/v1/pki/ca", response_class=Response)
    async def pki_ca(c: ContainerDep) -> Response:
        return Response(c.pki.chain_pem(), media_type="application/pem-certificate-chain")

    @app.get("/v1/pki/issuing-ca.cer", response_class=Response)
    async def pki_issuing(c: ContainerDep) -> Response:
        der = c.pki.issuing.public_bytes(serialization.Encoding.DER)
        return Response(der, media_type="application/pkix-cert")

    @app.get("/v1/pki/crl", response_class=Response)
    async def pki_crl(c: ContainerDep) -> Response:
        der = await run_in_threadpool(lambda: c.pki.crl(c.seals.revoked_certificates()))
        return Response(der, media_type="application/pkix-crl")

    @app.get("/v1/pki/root-crl", response_class=Response)
    async def pki_root_crl(c: ContainerDep) -> Response:
        return Response(c.pki.crl([], ca="root"), media_type="application/pkix-crl")

    @app.post("/v1/pki/ocsp", response_class=Response)
    async def pki_ocsp(request: Request, c: ContainerDep) -> Response:
        body = await request.body()
        der = await run_in_threadpool(c.pki.ocsp_response, body[:65536],
                                      c.seals.certificate_status)
        return Response(der, media_type="application/ocsp-response")

    return app
