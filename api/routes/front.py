"""A front system's routes (issue 19): verification, license faces, seal material and permits
from the replica; the departments' keys with their access forms; the replica's status.

These are the only routes of ``--mode front`` besides health: sealing, extending, archives,
approvals, batches and the registry's writes do not exist there (404).
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from sqlalchemy import text
from starlette.concurrency import run_in_threadpool

from keystore.errors import EsealError
from seals.kinds import parse_kind
from seals.verdict import expected_uscc
from signer.core import InvalidPdf
from signer.ofd import is_ofd
from signer.report import VerificationReport

from ..auth import Action, OptionalPrincipal, Principal, Role, allowed, authorize
from ..deps import checked_uscc
from ..errors import NotFound, Unauthorized
from ..front import FrontContainer
from ..models import ApiKeyRequest
from ..problems import PROBLEM_RESPONSES
from ..uploads import form_parts

__all__ = ["router"]

router = APIRouter(tags=["front system"])


def _front(request: Request) -> FrontContainer:
    container: FrontContainer = request.app.state.container
    return container


LicenseReader = Annotated[Principal, allowed(Action.READ_LICENSE)]
MaterialReader = Annotated[Principal, allowed(Action.READ_SEAL_MATERIAL)]
PermitReader = Annotated[Principal, allowed(Action.READ_PERMITS)]
KeyManager = Annotated[Principal, allowed(Action.MANAGE_API_KEYS)]


@router.get("/healthz", summary="Liveness")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz", summary="Readiness: the database, and a replica of the registry")
async def readyz(request: Request) -> JSONResponse:
    c = _front(request)

    def check() -> dict[str, str]:
        with c.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        return {"database": "ok", "registry": "ok" if c.replica.state().pki else "empty"}

    try:
        checks = await run_in_threadpool(check)
    except EsealError as exc:
        checks = {"database": exc.code}
    except Exception as exc:
        checks = {"database": type(exc).__name__}
    ready = all(v == "ok" for v in checks.values())
    return JSONResponse({"ready": ready, "checks": checks}, status_code=200 if ready else 503)


@router.get("/v1/registry/status", summary="The replica: where it stands in the centre's feed")
async def registry_status(request: Request) -> dict[str, Any]:
    c = _front(request)
    state = await run_in_threadpool(c.replica.state)
    now = datetime.now(UTC)
    age = (now - state.confirmed_at).total_seconds() if state.confirmed_at else None
    return {
        "mode": "front",
        "registry_as_of": state.confirmed_at.isoformat() if state.confirmed_at else None,
        "age_seconds": age,
        "stale": age is None or age > c.settings.registry_max_age,
        "cursor": state.cursor,
        "sequence": state.sequence,
        "refused_batches": list(c.refusals),
    }


@router.post("/v1/verify", summary="Verify a sealed PDF or OFD against the replica")
async def verify(request: Request, who: OptionalPrincipal, format: str = "json") -> Any:
    c = _front(request)
    if who is None and not c.settings.verify_public:
        raise Unauthorized("this route needs an API token")
    document, fields = await form_parts(request)
    expect = expected_uscc(fields.get("expect_uscc"))
    if not document:
        raise InvalidPdf("the uploaded file is empty")
    verifier, national = await run_in_threadpool(c.verifiers)
    if is_ofd(document) or document[:4] == b"PK\x03\x04":
        typed: VerificationReport = await run_in_threadpool(
            c.deadline.run, lambda: asyncio.run(national.report_ofd(document, expect))
        )
    else:
        typed = await run_in_threadpool(
            c.deadline.run, lambda: asyncio.run(verifier.report(document, expect))
        )
    report = await run_in_threadpool(c.freshness, typed.to_json())
    c.metrics.verifications.labels("true" if report["valid"] else "false").inc()
    if fields.get("format", format) == "html":
        from ..report_html import render_report, seal_image_lookup

        return HTMLResponse(render_report(report, seal_image_lookup(c.registry, report)))
    return JSONResponse(report)


@router.get("/v1/enterprises/{uscc}", summary="License face and status history (replica)")
async def license_face(uscc: str, request: Request, who: LicenseReader) -> dict[str, Any]:
    c = _front(request)
    uscc = checked_uscc(uscc)
    authorize(who, uscc, Action.READ_LICENSE)
    enterprise = await run_in_threadpool(c.registry.enterprise, uscc)
    return enterprise.to_json()


@router.get("/v1/enterprises/{uscc}/seals/{kind}/image", summary="Seal image (replica)")
async def image(uscc: str, kind: str, request: Request, who: MaterialReader) -> Response:
    c = _front(request)
    uscc = checked_uscc(uscc)
    found = await run_in_threadpool(c.registry.seal, uscc, parse_kind(kind))
    return Response(
        found.image_png,
        media_type="image/png",
        headers={"X-Eseal-Image-Sha256": found.image_sha256},
    )


@router.get("/v1/enterprises/{uscc}/seals/{kind}/certificate", summary="Seal chain (replica)")
async def certificate(uscc: str, kind: str, request: Request, who: MaterialReader) -> Response:
    c = _front(request)
    uscc = checked_uscc(uscc)
    found = await run_in_threadpool(c.registry.seal, uscc, parse_kind(kind))
    return Response(
        found.certificate_pem + found.chain_pem, media_type="application/pem-certificate-chain"
    )


@router.get("/v1/enterprises/{uscc}/permits", summary="Permits and filings (replica)")
async def permits(uscc: str, request: Request, who: PermitReader) -> list[dict[str, Any]]:
    c = _front(request)
    uscc = checked_uscc(uscc)
    authorize(who, uscc, Action.READ_PERMITS)
    found = await run_in_threadpool(c.permits.permits, uscc)
    now = c.permits.now()
    return [p.to_json(now) for p in found]


@router.post(
    "/v1/api-keys",
    status_code=201,
    summary="Register a department's verifier key with its access form (filed with the centre)",
    responses=PROBLEM_RESPONSES,
)
async def create_key(body: ApiKeyRequest, request: Request, who: KeyManager) -> dict[str, Any]:
    """A front registers relying parties (verifier keys, each with its access form) and its
    own admins; every access form is filed with the centre (备案) until it is accepted."""
    c = _front(request)
    if body.role not in (Role.VERIFIER.value, Role.ADMIN.value):
        raise NotFound("a front system has only verifier and admin keys", code="role_not_here")
    form = (
        body.access_form.model_dump(mode="json", exclude_defaults=True)
        if body.access_form
        else None
    )

    def create() -> tuple[Any, str]:
        key, token = c.api_keys.create(
            role=body.role, uscc=None, name=body.name, actor=who.key_id, access_form=form
        )
        if form is not None:
            c.filings.add(key.id, body.name, form)
        return key, token

    key, token = await run_in_threadpool(create)
    return {**key.to_json(), "token": token, "filing": {"filed": False}}


@router.get("/v1/api-keys/{key_id}/filing", summary="Whether the centre accepted a key's form")
async def filing(key_id: str, request: Request, who: KeyManager) -> dict[str, Any]:
    c = _front(request)
    found = await run_in_threadpool(c.filings.status, key_id)
    if found is None:
        raise NotFound(f"no access form of key {key_id!r}", code="filing_not_found")
    return found


@router.delete("/v1/api-keys/{key_id}", status_code=204, summary="Revoke a key at this front")
async def delete_key(key_id: str, request: Request, who: KeyManager) -> None:
    c = _front(request)
    if not await run_in_threadpool(lambda: c.api_keys.revoke(key_id, actor=who.key_id)):
        raise NotFound(f"no active API key {key_id!r}", code="api_key_not_found")
