"""The public PKI and the time-stamping authority: /v1/pki/*, /v1/tsa.

Two hierarchies are served under the same paths: the international one (ECDSA P-256, the
default) and the SM2 one (``?algorithm=sm2``; the SM2 certificates' AIA and CRL distribution
points name these URLs).  ``algorithm`` takes ``sm2`` or ``ec-p256``; anything else is
422 ``invalid_algorithm``.
"""

from __future__ import annotations

from typing import Annotated

from cryptography.hazmat.primitives import serialization
from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from keystore.pki import RevokedCert, StatusLookup
from keystore.sm2_ocsp import is_for_sm2_ca
from keystore.sm2_ocsp import ocsp_response as sm2_ocsp_response

from ..auth import OptionalPrincipal
from ..container import Container
from ..deps import ContainerDep
from ..errors import InvalidRequest, Unauthorized
from ..responses import file_answer

router = APIRouter(tags=["pki"])

MAX_REQUEST = 64 * 1024

#: the hierarchies, by the names ``?algorithm=`` and ``eseal pki --algorithm`` take
ALGORITHMS = ("ec-p256", "sm2")

AlgorithmQuery = Annotated[
    str | None,
    Query(description="which hierarchy: ec-p256 (the default) or sm2"),
]


def _is_sm2(algorithm: str | None) -> bool:
    if algorithm is None or algorithm == "ec-p256":
        return False
    if algorithm == "sm2":
        return True
    raise InvalidRequest(
        f"algorithm must be one of {', '.join(ALGORITHMS)}", code="invalid_algorithm"
    )


def sm2_seal_status(c: Container) -> StatusLookup:
    """Status of a serial the SM2 seal CA issued to a seal, from the seal registry: ``good``,
    ``revoked`` with the seal's reason code and time (``certificate_hold`` while suspended),
    or ``None`` (unknown) for a serial no seal has."""
    return c.seals.sm2_certificate_status


def sm2_revoked(c: Container) -> list[RevokedCert]:
    """Revoked and held SM2 seal certificates, as the SM2 seal CA's CRL lists them."""
    return c.seals.sm2_revoked_certificates()


async def _small_body(request: Request) -> bytes:
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_REQUEST:
            raise InvalidRequest("the request is larger than 64 KB", code="request_too_large")
    return body


@router.get(
    "/v1/pki/ca",
    response_class=Response,
    responses=file_answer(
        "application/pem-certificate-chain", "the seal CA, then the root", text=True
    ),
    summary="CA chain (PEM): the trust anchor",
)
async def ca(c: ContainerDep, algorithm: AlgorithmQuery = None) -> Response:
    chain = c.sm2_pki.chain_pem() if _is_sm2(algorithm) else c.pki.chain_pem()
    return Response(chain, media_type="application/pem-certificate-chain")


@router.get(
    "/v1/pki/issuing-ca.cer",
    response_class=Response,
    responses=file_answer("application/pkix-cert", "the seal CA's certificate (DER)"),
    summary="Seal CA (DER)",
)
async def issuing(c: ContainerDep, algorithm: AlgorithmQuery = None) -> Response:
    if _is_sm2(algorithm):
        der = bytes(c.sm2_pki.certificate("issuing").dump())
    else:
        der = c.pki.issuing.public_bytes(serialization.Encoding.DER)
    return Response(der, media_type="application/pkix-cert")


@router.get(
    "/v1/pki/crl",
    response_class=Response,
    responses=file_answer("application/pkix-crl", "the seal CA's complete CRL (DER)"),
    summary="CRL of the seal CA (DER)",
)
async def crl(c: ContainerDep, algorithm: AlgorithmQuery = None) -> Response:
    if _is_sm2(algorithm):
        der = await run_in_threadpool(lambda: c.sm2_pki.crl(sm2_revoked(c)))
    else:
        der = await run_in_threadpool(lambda: c.pki.crl(c.seals.revoked_certificates()))
    return Response(der, media_type="application/pkix-crl")


@router.get(
    "/v1/pki/root-crl",
    response_class=Response,
    responses=file_answer("application/pkix-crl", "the root CA's CRL (DER)"),
    summary="CRL of the root CA (DER)",
)
async def root_crl(c: ContainerDep, algorithm: AlgorithmQuery = None) -> Response:
    if _is_sm2(algorithm):
        return Response(c.sm2_pki.crl([], ca="root"), media_type="application/pkix-crl")
    return Response(c.pki.crl([], ca="root"), media_type="application/pkix-crl")


@router.post(
    "/v1/pki/ocsp",
    response_class=Response,
    responses=file_answer(
        "application/ocsp-response",
        "an RFC 6960 response (also for a malformed request: malformedRequest)",
    ),
    summary="RFC 6960 OCSP responder",
)
async def ocsp(request: Request, c: ContainerDep, algorithm: AlgorithmQuery = None) -> Response:
    _is_sm2(algorithm)  # checked, not obeyed: the request's CertID names the hierarchy
    body = await _small_body(request)
    if is_for_sm2_ca(c.sm2_pki, body):
        der = await run_in_threadpool(sm2_ocsp_response, c.sm2_pki, body, sm2_seal_status(c))
    else:
        der = await run_in_threadpool(c.pki.ocsp_response, body, c.seals.certificate_status)
    return Response(der, media_type="application/ocsp-response")


@router.post(
    "/v1/tsa",
    response_class=Response,
    responses=file_answer(
        "application/timestamp-reply", "an RFC 3161 reply (a refusal is a reply too)"
    ),
    summary="RFC 3161 time-stamping authority",
)
async def tsa(request: Request, c: ContainerDep, who: OptionalPrincipal) -> Response:
    if who is None and not c.settings.tsa_public:
        raise Unauthorized("this TSA answers authenticated callers only")
    if request.headers.get("content-type", "").split(";")[0].strip() not in (
        "application/timestamp-query",
        "",
    ):
        raise InvalidRequest(
            "send an RFC 3161 request as application/timestamp-query",
            code="invalid_timestamp_query",
        )
    body = await _small_body(request)
    reply = await c.tsa.respond(body)
    return Response(reply, media_type="application/timestamp-reply")
