"""Licenses and their seals: /v1/enterprises."""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from seals.errors import InvalidImage, InvalidLicense
from seals.kinds import parse_kind
from seals.license import License, parse_license
from seals.vocab import SealAction

from ..answers import LicenseAnswer, RegistrationAnswer, SealAnswer
from ..auth import Action, Principal, allowed, authorize
from ..deps import ContainerDep, checked_uscc
from ..errors import NotFound
from ..models import StatusRequest
from ..responses import PROBLEM_RESPONSES, file_answer

router = APIRouter(prefix="/v1/enterprises", tags=["enterprises"])

Registrar = Annotated[Principal, allowed(Action.REGISTER_ENTERPRISE)]
LicenseReader = Annotated[Principal, allowed(Action.READ_LICENSE)]
StatusChanger = Annotated[Principal, allowed(Action.CHANGE_LICENSE_STATUS)]
SealReader = Annotated[Principal, allowed(Action.READ_SEALS)]
MaterialReader = Annotated[Principal, allowed(Action.READ_SEAL_MATERIAL)]
ImageOwner = Annotated[Principal, allowed(Action.REPLACE_SEAL_IMAGE)]
SealManager = Annotated[Principal, allowed(Action.MANAGE_SEALS)]

MAX_SCAN = 20 * 1024 * 1024
#: a certificate and its CA chain, PEM: a few kilobytes; more is not a certificate
MAX_PEM = 256 * 1024


class LifecycleRequest(BaseModel):
    """Body of revoke, suspend, re-issue and resume: a reason code (checked by the domain,
    422 ``invalid_reason_code``), free text for the audit log, and for ``key_compromise``
    the ISO 8601 time the key is compromised from (422 ``invalid_compromised_at``)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    reason_code: str | None = Field(None, max_length=64)
    reason: str | None = Field(None, max_length=500)
    compromised_at: str | None = Field(None, max_length=64)


class CsrRequest(BaseModel):
    """Body of ``POST .../csr``: which of the seal's keys the request is for."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    algorithm: str = Field(
        max_length=32, description="sm2, or the seal's international key type (ec-p256)"
    )


class CertificateImport(BaseModel):
    """Body of ``POST .../certificate``: the certificate a licensed CA issued for one of the
    seal's keys, and that CA's intermediate certificates (PEM)."""

    model_config = ConfigDict(extra="forbid")

    certificate: str = Field(max_length=MAX_PEM, description="the seal certificate, PEM")
    chain: str | None = Field(None, max_length=MAX_PEM, description="the CA chain, PEM")


#: the request body of POST /v1/enterprises in the OpenAPI description: the body is read by
#: hand (so that every mistake is one domain error, 422 invalid_uscc or invalid_license), which
#: leaves FastAPI nothing to derive the schema from
_LICENSE_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": License.model_json_schema(),
                "example": {
                    "uscc": "91110108551385082Q",
                    "name": "北京字节跳动网络技术有限公司",
                    "type": "有限责任公司（自然人投资或控股）",
                    "legal_representative": "张利东",
                    "registered_capital": "人民币1000万元",
                    "established": "2012-03-09",
                    "business_term": "2012-03-09 至 2042-03-08",
                    "address": "北京市海淀区知春路甲48号2号楼10A室",
                    "business_scope": "技术开发、技术推广、技术转让、技术咨询、技术服务。",
                    "registration_authority": "北京市海淀区市场监督管理局",
                    "approved": "2024-06-18",
                },
            }
        },
    }
}


@router.post(
    "",
    status_code=201,
    summary="Register a license and issue its five seals",
    openapi_extra=_LICENSE_BODY,
    response_model=RegistrationAnswer,
    responses=PROBLEM_RESPONSES,
)
async def register(request: Request, c: ContainerDep, who: Registrar) -> dict[str, Any]:
    body = await request.body()
    try:
        data = json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise InvalidLicense("the body is not valid JSON") from None
    license = parse_license(data)
    enterprise, seals = await run_in_threadpool(c.seals.register, license, actor=who.key_id)
    return {"license": enterprise.to_json(), "seals": [s.to_json() for s in seals]}


@router.get(
    "/{uscc}",
    summary="License face and status history",
    response_model=LicenseAnswer,
    responses=PROBLEM_RESPONSES,
)
async def show(uscc: str, c: ContainerDep, who: LicenseReader) -> dict[str, Any]:
    uscc = checked_uscc(uscc)
    authorize(who, uscc, Action.READ_LICENSE)
    enterprise = await run_in_threadpool(c.seals.enterprise, uscc)
    return enterprise.to_json()


@router.post(
    "/{uscc}/status",
    summary="Change the license status",
    response_model=LicenseAnswer,
    responses=PROBLEM_RESPONSES,
)
async def change_status(
    uscc: str, body: StatusRequest, c: ContainerDep, who: StatusChanger
) -> dict[str, Any]:
    uscc = checked_uscc(uscc)
    authorize(who, uscc, Action.CHANGE_LICENSE_STATUS)
    enterprise = await run_in_threadpool(
        lambda: c.seals.change_status(uscc, body.status, body.reason, actor=who.key_id)
    )
    return enterprise.to_json()


@router.get(
    "/{uscc}/seals",
    summary="The five seals (newest versions)",
    response_model=list[SealAnswer],
    responses=PROBLEM_RESPONSES,
)
async def seals(uscc: str, c: ContainerDep, who: SealReader) -> list[dict[str, Any]]:
    uscc = checked_uscc(uscc)
    authorize(who, uscc, Action.READ_SEALS)
    return [s.to_json() for s in await run_in_threadpool(c.seals.seals, uscc)]


@router.get(
    "/{uscc}/seals/{kind}",
    summary="One seal",
    response_model=SealAnswer,
    responses=PROBLEM_RESPONSES,
)
async def seal(uscc: str, kind: str, c: ContainerDep, who: SealReader) -> dict[str, Any]:
    uscc = checked_uscc(uscc)
    authorize(who, uscc, Action.READ_SEALS)
    return (await run_in_threadpool(c.seals.seal, uscc, parse_kind(kind))).to_json()


@router.get(
    "/{uscc}/seals/{kind}/image",
    response_class=Response,
    responses=file_answer(
        "image/png",
        "the seal image: red on a transparent background, real size",
        headers={"X-Eseal-Image-Sha256": "SHA-256 of the image"},
    ),
    summary="The seal image (PNG)",
)
async def image(uscc: str, kind: str, c: ContainerDep, who: MaterialReader) -> Response:
    uscc = checked_uscc(uscc)
    authorize(who, uscc, Action.READ_SEAL_MATERIAL)
    found = await run_in_threadpool(c.seals.seal, uscc, parse_kind(kind))
    return Response(
        found.image_png,
        media_type="image/png",
        headers={"X-Eseal-Image-Sha256": found.image_sha256},
    )


@router.get(
    "/{uscc}/seals/{kind}/certificate",
    response_class=Response,
    responses=file_answer(
        "application/pem-certificate-chain",
        "the seal certificate, then the issuing CA and the root",
        text=True,
    ),
    summary="The seal certificate and its chain (PEM)",
)
async def certificate(uscc: str, kind: str, c: ContainerDep, who: MaterialReader) -> Response:
    uscc = checked_uscc(uscc)
    authorize(who, uscc, Action.READ_SEAL_MATERIAL)
    found = await run_in_threadpool(c.seals.seal, uscc, parse_kind(kind))
    return Response(
        found.certificate_pem + found.chain_pem, media_type="application/pem-certificate-chain"
    )


@router.get(
    "/{uscc}/seals/{kind}/esl",
    response_class=Response,
    responses=file_answer(
        "application/octet-stream",
        "the seal's GB/T 38540 seal data (SESeal, DER: what an OFD signature carries as "
        "Seal.esl), signed by the platform's seal maker; 409 algorithm_not_available for a "
        "seal without SM2, 409 esl_not_available for one issued before eseal made seal data",
        headers={
            "Content-Disposition": "attachment; filename=<uscc>-<kind>-v<version>.esl",
            "X-Eseal-Esl-Id": "the seal data's esID",
        },
    ),
    summary="The seal data (GB/T 38540 SESeal, .esl)",
)
async def esl(uscc: str, kind: str, c: ContainerDep, who: MaterialReader) -> Response:
    uscc = checked_uscc(uscc)
    authorize(who, uscc, Action.READ_SEAL_MATERIAL)
    found = await run_in_threadpool(c.seals.seal_data, uscc, parse_kind(kind))
    assert found.esl is not None  # seal_data refuses a seal without one
    name = f"{uscc}-{found.kind.value}-v{found.version}.esl"
    return Response(
        found.esl,
        media_type="application/octet-stream",
        headers={
            "Content-Disposition": f'attachment; filename="{name}"',
            "X-Eseal-Esl-Id": found.esl_id or "",
        },
    )


@router.put(
    "/{uscc}/seals/{kind}/image",
    summary="Replace the image by a scan of the seal",
    response_model=SealAnswer,
    responses=PROBLEM_RESPONSES,
)
async def upload_image(
    uscc: str, kind: str, request: Request, c: ContainerDep, who: ImageOwner
) -> dict[str, Any]:
    uscc = checked_uscc(uscc)
    authorize(who, uscc, Action.REPLACE_SEAL_IMAGE)
    seal_kind = parse_kind(kind)
    data = await _image_body(request)
    updated = await run_in_threadpool(
        lambda: c.seals.replace_image(uscc, seal_kind, data, actor=who.key_id)
    )
    return updated.to_json()


async def _image_body(request: Request) -> bytes:
    content_type = request.headers.get("content-type", "")
    if content_type.startswith("multipart/form-data"):
        form = await request.form()
        upload = form.get("file")
        if upload is None or isinstance(upload, str):
            raise InvalidImage("send the scan as the multipart part 'file'")
        data = await upload.read()
    else:
        data = await request.body()
    if len(data) > MAX_SCAN:
        raise InvalidImage(f"the scan is larger than {MAX_SCAN // (1024 * 1024)} MB")
    return data


async def _lifecycle(
    uscc: str,
    kind: str,
    action: str,
    c: ContainerDep,
    who: Principal,
    body: LifecycleRequest | None,
    *,
    allowed_here: tuple[SealAction, ...] = tuple(SealAction),
) -> dict[str, Any]:
    """One step of a seal's lifecycle through the seal service, which checks the reason code
    and compromise time and tells the OCSP cache (of this and every other process)."""
    uscc = checked_uscc(uscc)
    authorize(who, uscc, Action.MANAGE_SEALS)
    seal_kind = parse_kind(kind)
    step = next((a for a in allowed_here if a.value == action), None)
    if step is None:
        raise NotFound(f"no action {action!r}; use revoke, reissue, suspend or resume")
    b = body or LifecycleRequest()
    out = await run_in_threadpool(
        lambda: c.seals.change_seal(
            uscc,
            seal_kind,
            step,
            b.reason,
            code=b.reason_code,
            compromised_at=b.compromised_at,
            actor=who.key_id,
        )
    )
    return out.to_json()


@router.post(
    "/{uscc}/seals/{kind}/revoke",
    summary="Revoke a seal",
    response_model=SealAnswer,
    responses=PROBLEM_RESPONSES,
)
async def revoke(
    uscc: str, kind: str, c: ContainerDep, who: SealManager, body: LifecycleRequest | None = None
) -> dict[str, Any]:
    return await _lifecycle(uscc, kind, "revoke", c, who, body)


@router.post(
    "/{uscc}/seals/{kind}/reissue",
    summary="New key, certificate and version",
    response_model=SealAnswer,
    responses=PROBLEM_RESPONSES,
)
async def reissue(
    uscc: str, kind: str, c: ContainerDep, who: SealManager, body: LifecycleRequest | None = None
) -> dict[str, Any]:
    return await _lifecycle(uscc, kind, "reissue", c, who, body)


@router.post(
    "/{uscc}/seals/{kind}/csr",
    response_class=Response,
    responses=file_answer(
        "application/pkcs10",
        "a PKCS#10 request (PEM) with the seal certificate's subject, signed by the seal's key",
        text=True,
    ),
    summary="A certificate request for a licensed CA",
)
async def certificate_request(
    uscc: str, kind: str, body: CsrRequest, c: ContainerDep, who: SealManager
) -> Response:
    uscc = checked_uscc(uscc)
    authorize(who, uscc, Action.MANAGE_SEALS)
    seal_kind = parse_kind(kind)
    pem = await run_in_threadpool(c.seals.certificate_request, uscc, seal_kind, body.algorithm)
    return Response(pem, media_type="application/pkcs10")


@router.post(
    "/{uscc}/seals/{kind}/certificate",
    summary="Import a certificate from a licensed CA",
    response_model=SealAnswer,
    responses=PROBLEM_RESPONSES,
)
async def import_certificate(
    uscc: str, kind: str, body: CertificateImport, c: ContainerDep, who: SealManager
) -> dict[str, Any]:
    """Checked against the seal's key, the license and ``ESEAL_TRUST_BUNDLE``; refusals
    change nothing (README, "Certificates from a licensed CA")."""
    from ..container import trust_bundle

    uscc = checked_uscc(uscc)
    authorize(who, uscc, Action.MANAGE_SEALS)
    seal_kind = parse_kind(kind)
    updated = await run_in_threadpool(
        lambda: c.seals.import_certificate(
            uscc,
            seal_kind,
            body.certificate,
            body.chain,
            anchors=trust_bundle(c.settings),
            actor=who.key_id,
        )
    )
    return updated.to_json()


@router.post(
    "/{uscc}/seals/{kind}/{action}",
    summary="Suspend or resume a seal",
    response_model=SealAnswer,
    responses=PROBLEM_RESPONSES,
)
async def suspend_resume(
    uscc: str,
    kind: str,
    action: str,
    c: ContainerDep,
    who: SealManager,
    body: LifecycleRequest | None = None,
) -> dict[str, Any]:
    return await _lifecycle(
        uscc, kind, action, c, who, body, allowed_here=(SealAction.SUSPEND, SealAction.RESUME)
    )
