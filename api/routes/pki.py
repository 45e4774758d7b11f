"""The public PKI and the time-stamping authority: /v1/pki/*, /v1/tsa."""

from __future__ import annotations

from cryptography.hazmat.primitives import serialization
from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from ..auth import OptionalPrincipal
from ..deps import ContainerDep
from ..errors import InvalidRequest, Unauthorized

router = APIRouter(tags=["pki"])

MAX_REQUEST = 64 * 1024


async def _small_body(request: Request) -> bytes:
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_REQUEST:
            raise InvalidRequest("the request is larger than 64 KB", code="request_too_large")
    return body


@router.get("/v1/pki/ca", response_class=Response, summary="CA chain (PEM): the trust anchor")
async def ca(c: ContainerDep) -> Response:
    return Response(c.pki.chain_pem(), media_type="application/pem-certificate-chain")


@router.get("/v1/pki/issuing-ca.cer", response_class=Response, summary="Seal CA (DER)")
async def issuing(c: ContainerDep) -> Response:
    der = c.pki.issuing.public_bytes(serialization.Encoding.DER)
    return Response(der, media_type="application/pkix-cert")


@router.get("/v1/pki/crl", response_class=Response, summary="CRL of the seal CA (DER)")
async def crl(c: ContainerDep) -> Response:
    der = await run_in_threadpool(lambda: c.pki.crl(c.seals.revoked_certificates()))
    return Response(der, media_type="application/pkix-crl")


@router.get("/v1/pki/root-crl", response_class=Response, summary="CRL of the root CA (DER)")
async def root_crl(c: ContainerDep) -> Response:
    return Response(c.pki.crl([], ca="root"), media_type="application/pkix-crl")


@router.post("/v1/pki/ocsp", response_class=Response, summary="RFC 6960 OCSP responder")
async def ocsp(request: Request, c: ContainerDep) -> Response:
    body = await _small_body(request)
    der = await run_in_threadpool(c.pki.ocsp_response, body, c.seals.certificate_status)
    return Response(der, media_type="application/ocsp-response")


@router.post("/v1/tsa", response_class=Response, summary="RFC 3161 time-stamping authority")
async def tsa(request: Request, c: ContainerDep, who: OptionalPrincipal) -> Response:
    if who is None and not c.settings.tsa_public:
        raise Unauthorized("this TSA answers authenticated callers only")
    if request.headers.get("content-type", "").split(";")[0].strip() not in (
            "application/timestamp-query", ""):
        raise InvalidRequest("send an RFC 3161 request as application/timestamp-query",
                             code="invalid_timestamp_query")
    body = await _small_body(request)
    reply = await c.tsa.respond(body)
    return Response(reply, media_type="application/timestamp-reply")
