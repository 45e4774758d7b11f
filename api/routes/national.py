"""GB/T 38540 signature data on its own: ``POST /v1/ses/sign`` and ``POST /v1/ses/verify``.

``/v1/ses/sign`` (an enterprise's token): multipart with the data in the part ``file``, or its
SM3 hash (64 hexadecimal digits) in the text field ``hash``; ``kind`` (the seal, default
``contract``), ``property_info`` (what the signer says it signs; default the file's name),
``options`` (the JSON of ``/v1/sign``: ``level`` B-B or B-T, ``document_type``, ``reference``).
The answer is the DER ``SES_Signature`` (``application/octet-stream``), archived and audited
like a sealed PDF, with ``Idempotency-Key`` as ``/v1/sign``.

``/v1/ses/verify``: multipart with the signature in the part ``signature`` and, to check the
data hash, the data in ``file`` or its SM3 ``hash``; ``expect_uscc``.  The answer is the
verification report of ``/v1/verify`` with ``format: "ses"``.
"""

from __future__ import annotations

import asyncio
import hashlib
from typing import Annotated, Any

from fastapi import APIRouter, Header, Request
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from keystore import sm2
from seals.verdict import expected_uscc
from signer.report import VerificationReport

from ..approval_flow import current_flow
from ..auth import Action, OptionalPrincipal, Principal, allowed
from ..deps import ContainerDep
from ..errors import Conflict, InvalidRequest, Unauthorized
from ..models import SealSpec
from ..responses import PROBLEM_RESPONSES, file_answer, pdf_response
from .documents import sign_options

__all__ = ["router"]

router = APIRouter(prefix="/v1/ses", tags=["national signatures"])

Sealer = Annotated[Principal, allowed(Action.SEAL_DOCUMENTS)]


async def _form(
    request: Request, files: tuple[str, ...]
) -> tuple[dict[str, bytes], dict[str, str]]:
    """The file parts named ``files`` (bytes) and the text fields of a multipart form."""
    kind = request.headers.get("content-type", "")
    if not kind.startswith(("multipart/form-data", "application/x-www-form-urlencoded")):
        raise InvalidRequest(
            "send multipart/form-data (or a urlencoded form with a hash)", code="invalid_upload"
        )
    form = await request.form(max_files=len(files), max_fields=12)
    found: dict[str, bytes] = {}
    fields: dict[str, str] = {}
    names: dict[str, str] = {}
    try:
        for name, value in form.items():
            if isinstance(value, UploadFile):
                if name not in files:
                    raise InvalidRequest(f"unexpected file part {name!r}", code="invalid_upload")
                found[name] = await value.read()
                names[name] = value.filename or ""
            else:
                fields[name] = value
    finally:
        await form.close()
    fields.update({f"{k}.filename": v for k, v in names.items()})
    return found, fields


def _hash(text: str | None) -> bytes | None:
    if text is None or not text.strip():
        return None
    try:
        value = bytes.fromhex(text.strip())
    except ValueError:
        value = b""
    if len(value) != 32:
        raise InvalidRequest("hash must be an SM3 hash: 64 hexadecimal digits", code="invalid_hash")
    return value


def _data_hash(files: dict[str, bytes], fields: dict[str, str]) -> bytes | None:
    given = _hash(fields.get("hash"))
    if "file" in files and given is not None:
        raise InvalidRequest("send the data or its hash, not both", code="invalid_upload")
    if "file" in files:
        return sm2.sm3(files["file"])
    return given


@router.post(
    "/sign",
    response_class=Response,
    responses=file_answer(
        "application/octet-stream",
        "the SES_Signature (DER), archived and audited",
        headers={
            "X-Eseal-Sha256": "SHA-256 of the signature file",
            "X-Eseal-Archive-Id": "its archive id",
            "X-Eseal-Data-Sm3": "the SM3 hash the signature covers (hex)",
            "Idempotent-Replayed": "true when the answer is a replay of an Idempotency-Key",
        },
    ),
    summary="Make a GB/T 38540 SES_Signature over a file or its SM3 hash "
    "(multipart: file | hash, kind, property_info, options)",
)
async def ses_sign(
    request: Request,
    c: ContainerDep,
    who: Sealer,
    idempotency_key: Annotated[str | None, Header(max_length=200)] = None,
) -> Response:
    files, fields = await _form(request, ("file",))
    data_hash = _data_hash(files, fields)
    if data_hash is None:
        raise InvalidRequest(
            "send the data in the part 'file' or its SM3 hash in the field 'hash'",
            code="invalid_upload",
        )
    options = sign_options(fields)
    kind = fields.get("kind", "contract")
    property_info = fields.get("property_info") or fields.get("file.filename") or ""
    if len(property_info) > 500 or not property_info.isascii():
        raise InvalidRequest(
            "property_info is an IA5String (ASCII) of at most 500 characters: name the data, "
            "e.g. its file name or a URI",
            code="invalid_property_info",
        )
    assert who.uscc is not None
    ses_options = options.model_copy(update={"seals": [SealSpec(kind=kind)]})
    if await run_in_threadpool(
        lambda: current_flow(request).requirements(who.uscc or "", ses_options, None)
    ):
        raise Conflict(
            f"the {kind} seal of {who.uscc} needs approval before it is used (用印审批): send "
            "the document to POST /v1/sign, which opens an approval request",
            code="approval_required",
        )
    input_sha = hashlib.sha256(files["file"]).hexdigest() if "file" in files else None
    done = await run_in_threadpool(
        lambda: c.sign_flow.sign_ses(
            who,
            kind=kind,
            data_hash=data_hash,
            property_info=property_info,
            options=options,
            idempotency_key=idempotency_key,
            input_sha=input_sha,
            filename=fields.get("file.filename"),
        )
    )
    headers = {
        "X-Eseal-Sha256": done.sha256,
        "X-Eseal-Data-Sm3": data_hash.hex(),
        "Content-Disposition": f'attachment; filename="{done.filename}"',
    }
    if done.archive_id:
        headers["X-Eseal-Archive-Id"] = done.archive_id
    if done.replayed:
        headers["Idempotent-Replayed"] = "true"
    return pdf_response(done, headers)


@router.post(
    "/verify",
    response_model=VerificationReport,
    responses=PROBLEM_RESPONSES,
    summary="Verify a GB/T 38540 SES_Signature (multipart: signature, file | hash, expect_uscc)",
)
async def ses_verify(request: Request, c: ContainerDep, who: OptionalPrincipal) -> Any:
    if who is None and not c.settings.verify_public:
        raise Unauthorized("this route needs an API token")
    files, fields = await _form(request, ("signature", "file"))
    der = files.get("signature")
    if not der:
        raise InvalidRequest(
            "send the SES_Signature (DER) in the part 'signature'", code="invalid_upload"
        )
    expect = expected_uscc(fields.get("expect_uscc"))
    data = files.get("file")
    given = _hash(fields.get("hash"))
    if data is not None and given is not None:
        raise InvalidRequest("send the data or its hash, not both", code="invalid_upload")
    typed: VerificationReport = await run_in_threadpool(
        c.deadline.run,
        lambda: asyncio.run(
            c.national.report_ses(der, data=data, data_hash=given, expect_uscc=expect)
        ),
    )
    c.metrics.verifications.labels("true" if typed.valid else "false").inc()
    return JSONResponse(typed.to_json())
