"""Sealing, extending and verifying PDFs: /v1/sign, /v1/extend, /v1/verify."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Header, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from seals.verdict import expected_uscc
from signer.core import InvalidPdf
from signer.levels import PadesLevel
from signer.ofd import is_ofd
from signer.report import VerificationReport
from storage.approvals import parse_amount

from ..answers import ApprovalAnswer
from ..approval_flow import current_flow
from ..auth import Action, OptionalPrincipal, Principal, allowed
from ..deps import ContainerDep
from ..errors import InvalidRequest, Unauthorized
from ..flows import options_json, to_sealing_options
from ..freshness import stamp
from ..models import SignOptions
from ..problems import problem_answer
from ..raw_body import OPTIONS_HEADER, is_raw, raw_fields, read_raw_body
from ..responses import PROBLEM_RESPONSES, file_answer, pdf_response
from ..uploads import form_parts as _form_parts
from ..uploads import form_upload as _form_upload

router = APIRouter(prefix="/v1", tags=["documents"])

Sealer = Annotated[Principal, allowed(Action.SEAL_DOCUMENTS)]


#: the text fields of the forms, which a raw body's query (or header) gives instead
SIGN_FIELDS = ("options", "amount")
VERIFY_FIELDS = ("expect_uscc", "format")

_OPTIONS_EXAMPLE = {"seals": [{"kind": "contract", "keyword": "甲方（盖章）"}], "level": "B-T"}


def _body(form: dict[str, Any], raw: str) -> dict[str, Any]:
    """``openapi_extra`` of a route taking a multipart ``form`` or the document as the body."""
    binary = {"type": "string", "format": "binary"}
    document = {"schema": binary, "example": "%PDF-1.7 ... (the document's bytes)"}
    return {
        "requestBody": {
            "required": True,
            "description": "multipart/form-data, or the document itself as the body "
            "(application/pdf, application/ofd, or application/octet-stream judged by its "
            f"first bytes) with {raw}",
            "content": {
                "multipart/form-data": {
                    "schema": {"type": "object", "required": ["file"], "properties": form},
                    "encoding": {"file": {"contentType": "application/pdf, application/ofd"}},
                },
                "application/pdf": document,
                "application/ofd": {**document, "example": "PK... (the OFD package's bytes)"},
                "application/octet-stream": document,
            },
        }
    }


def _query(name: str, description: str, example: str | None = None) -> dict[str, Any]:
    param: dict[str, Any] = {
        "name": name,
        "in": "query",
        "required": False,
        "description": description,
        "schema": {"type": "string"},
    }
    return param if example is None else {**param, "example": example}


_OPTIONS_JSON = json.dumps(_OPTIONS_EXAMPLE, ensure_ascii=False)
#: a browser sends only Latin-1 in a header (Swagger UI's "try it out"): escaped
_OPTIONS_HEADER_JSON = json.dumps(_OPTIONS_EXAMPLE)

_SIGN_BODY = {
    **_body(
        {
            "file": {"type": "string", "format": "binary", "description": "the PDF or OFD"},
            "options": {
                "type": "string",
                "description": "JSON: the options object",
                "example": _OPTIONS_JSON,
            },
            "amount": {
                "type": "string",
                "description": "the amount in yuan, where a seal policy has an amount condition",
            },
        },
        f"the options in the query (options, amount) or in the {OPTIONS_HEADER} header",
    ),
    "parameters": [
        _query(
            "options",
            "raw body only: JSON, the options object (as the form's options field); "
            f"or send it as the {OPTIONS_HEADER} header, not both (400 ambiguous_options)",
            _OPTIONS_JSON,
        ),
        _query("amount", "raw body only: the amount in yuan (as the form's amount field)"),
        {
            "name": OPTIONS_HEADER,
            "in": "header",
            "required": False,
            "description": "raw body only: JSON, the options object, instead of the query's "
            "options (UTF-8, or non-ASCII escaped as \\uXXXX)",
            "schema": {"type": "string"},
            "example": _OPTIONS_HEADER_JSON,
        },
    ],
}

_VERIFY_BODY = {
    **_body(
        {
            "file": {"type": "string", "format": "binary", "description": "the PDF or OFD"},
            "expect_uscc": {"type": "string", "description": "the enterprise expected"},
            "format": {"type": "string", "enum": ["json", "html"]},
        },
        f"expect_uscc and format in the query or in the {OPTIONS_HEADER} header",
    ),
    "parameters": [
        _query(
            "expect_uscc",
            "the enterprise that must have sealed (raw body; multipart: the form field)",
            "91110000600037341L",
        ),
        {
            "name": OPTIONS_HEADER,
            "in": "header",
            "required": False,
            "description": "raw body only: a JSON object of expect_uscc and format (strings), "
            "instead of the query; not both (400 ambiguous_options)",
            "schema": {"type": "string"},
            "example": '{"expect_uscc": "91110000600037341L", "format": "json"}',
        },
    ],
}


def sign_options(fields: dict[str, str]) -> SignOptions:
    try:
        return SignOptions.model_validate(options_json(fields.get("options")))
    except ValidationError as exc:
        detail = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'options'}: {e['msg']}" for e in exc.errors()
        )
        raise InvalidRequest(f"invalid options: {detail}", code="invalid_options") from None


def _checked_options(fields: dict[str, str]) -> SignOptions:
    """The options, with unknown kinds and bad placements refused before any work."""
    options = sign_options(fields)
    to_sealing_options(options)
    return options


@router.post(
    "/sign",
    response_class=Response,
    responses={
        **file_answer(
            "application/pdf",
            "the sealed PDF (or OFD: application/ofd), archived and audited",
            also=("application/ofd",),
            headers={
                "X-Eseal-Sha256": "SHA-256 of the sealed PDF",
                "X-Eseal-Archive-Id": "its archive id",
                "Idempotent-Replayed": "true when the answer is a replay of an Idempotency-Key",
                "X-Eseal-Notice": "codes of what the caller should know about the placements, "
                "comma-separated (e.g. overlaps_seal, cross_page_skipped)",
            },
        ),
        202: {
            "model": ApprovalAnswer,
            "description": "a seal of the request needs approval (the enterprise's seal "
            "policy): nothing is sealed yet; the request waits at Location "
            "(/v1/approvals/{id}), and is sealed as sent once its approvers approve",
            "headers": {
                "Location": {
                    "description": "the approval request",
                    "schema": {"type": "string"},
                },
                "Idempotent-Replayed": {
                    "description": "true when the request was made before under this "
                    "Idempotency-Key",
                    "schema": {"type": "string"},
                },
            },
        },
        **problem_answer(415),
    },
    summary="Seal a PDF or an OFD document (multipart: file, options, and amount in yuan "
    "where a seal policy has an amount condition; or the document as the body, options in "
    "the query or the Eseal-Options header)",
    openapi_extra=_SIGN_BODY,
)
async def sign(
    request: Request,
    c: ContainerDep,
    who: Sealer,
    idempotency_key: Annotated[str | None, Header(max_length=200)] = None,
) -> Response:
    digest: Any | None = None  # the body's SHA-256, when it was computed as it was read
    options: SignOptions | None = None
    if is_raw(request):
        fields = raw_fields(request, SIGN_FIELDS, header_json="options")
        options = _checked_options(fields)  # refused before the body is read
        raw = await read_raw_body(request)
        upload, digest = raw.upload, raw.digest
    else:
        upload, fields = await _form_upload(request)
    try:
        if options is None:
            options = _checked_options(fields)
        # 用印审批: a seal whose policy needs approval is not used now (202, api/approval_flow)
        amount = parse_amount(fields.get("amount"))
        pending = await run_in_threadpool(
            current_flow(request).submit,
            who,
            upload.file,
            options,
            amount,
            idempotency_key,
            upload.filename,
        )
        if pending is not None:
            approval, new = pending
            return JSONResponse(
                approval.to_json(),
                status_code=202,
                headers={
                    "Location": f"/v1/approvals/{approval.id}",
                    **({} if new else {"Idempotent-Replayed": "true"}),
                },
            )
        done = await run_in_threadpool(
            lambda: c.sign_flow.sign(
                who,
                upload.file,
                options,
                idempotency_key,
                upload.filename,
                content_digest=digest,
            )
        )
    finally:
        await upload.close()
    for kind in done.kinds:
        c.metrics.seals.labels(kind).inc()
    headers = {
        "X-Eseal-Sha256": done.sha256,
        "Content-Disposition": f'attachment; filename="{done.filename}"',
    }
    if done.archive_id:
        headers["X-Eseal-Archive-Id"] = done.archive_id
    if done.replayed:
        headers["Idempotent-Replayed"] = "true"
    if done.notices:  # e.g. overlaps_seal, cross_page_skipped (README, placement)
        headers["X-Eseal-Notice"] = ",".join(done.notice_codes)
    return pdf_response(done, headers)


@router.post(
    "/extend",
    response_class=Response,
    responses=file_answer("application/pdf", "the PDF with validation data (and a timestamp)"),
    summary="Add B-LT or B-LTA to a signed PDF (multipart: file, level)",
)
async def extend(request: Request, c: ContainerDep, who: Sealer) -> Response:
    pdf, fields = await _form_parts(request)
    level = fields.get("level", "B-LTA")
    if level not in ("B-LT", "B-LTA"):
        raise InvalidRequest("level must be B-LT or B-LTA", code="invalid_level")
    out = await run_in_threadpool(
        c.deadline.run,
        lambda: asyncio.run(c.sealing.document_signer.extend(pdf, PadesLevel(level))),
    )
    return Response(out, media_type="application/pdf")


@router.post(
    "/verify",
    summary="Verify a signed PDF or OFD document (multipart: file, expect_uscc, format; or "
    "the document as the body, expect_uscc and format in the query or the Eseal-Options "
    "header)",
    # the verifier's typed report; the body is its to_json() (keys that do not apply to an
    # entry are left out, as eseal has always sent them)
    response_model=VerificationReport,
    responses={
        200: {
            "description": "the verification report (JSON), or the page (format=html)",
            "content": {"text/html": {"schema": {"type": "string"}}},
        },
        **PROBLEM_RESPONSES,
        **problem_answer(415),
    },
    openapi_extra=_VERIFY_BODY,
)
async def verify(
    request: Request, c: ContainerDep, who: OptionalPrincipal, format: str = "json"
) -> Any:
    if who is None and not c.settings.verify_public:
        raise Unauthorized("this route needs an API token")
    if is_raw(request):
        fields = raw_fields(request, VERIFY_FIELDS, header_json="")
        raw = await read_raw_body(request)
        try:
            pdf = await raw.upload.read()
        finally:
            await raw.close()
    else:
        pdf, fields = await _form_parts(request)
    # whitespace removed, capitals; a malformed code is 422 invalid_uscc before any PDF work
    expect = expected_uscc(fields.get("expect_uscc"))
    fmt = fields.get("format", format)
    if not pdf:
        raise InvalidPdf("the uploaded file is empty")
    if is_ofd(pdf) or pdf[:4] == b"PK\x03\x04":  # a ZIP: an OFD, or invalid_ofd
        typed: VerificationReport = await run_in_threadpool(
            c.deadline.run, lambda: asyncio.run(c.national.report_ofd(pdf, expect))
        )
    else:
        typed = await run_in_threadpool(
            c.deadline.run, lambda: asyncio.run(c.verifier.report(pdf, expect))
        )
    c.metrics.verifications.labels("true" if typed.valid else "false").inc()
    now = datetime.now(UTC)  # the centre reads its own registry: current as of now
    report = stamp(typed.to_json(), now, now=now, max_age=None)
    if fmt == "html":
        from ..report_html import render_report, seal_image_lookup

        page = render_report(report, seal_image_lookup(c.seals, report))
        return HTMLResponse(page)
    return JSONResponse(report)
