"""Permits and filings under a license (许可 / 备案): /v1/enterprises/{uscc}/permits.

Admins and the enterprise itself record and change them; verifiers (and the enterprise)
read them.  The rules are :class:`seals.permits.PermitService`'s.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from seals.permits import MAX_DOCUMENT_BYTES, PermitChange, PermitInput

from ..answers import PermitAnswer
from ..auth import Action, Principal, allowed, authorize
from ..deps import ContainerDep, checked_uscc
from ..errors import FileTooLarge, InvalidRequest
from ..responses import PROBLEM_RESPONSES, file_answer

__all__ = ["router"]

router = APIRouter(prefix="/v1/enterprises/{uscc}/permits", tags=["permits"])

Reader = Annotated[Principal, allowed(Action.READ_PERMITS)]
Manager = Annotated[Principal, allowed(Action.MANAGE_PERMITS)]


@router.post(
    "",
    status_code=201,
    summary="Record a permit or filing",
    response_model=PermitAnswer,
    responses=PROBLEM_RESPONSES,
)
async def add(uscc: str, body: PermitInput, c: ContainerDep, who: Manager) -> dict[str, Any]:
    uscc = checked_uscc(uscc)
    authorize(who, uscc, Action.MANAGE_PERMITS)
    permit = await run_in_threadpool(lambda: c.permits.add(uscc, body, actor=who.key_id))
    return permit.to_json(c.permits.now())


@router.get(
    "",
    summary="The permits and filings, with their status now",
    response_model=list[PermitAnswer],
    responses=PROBLEM_RESPONSES,
)
async def listing(uscc: str, c: ContainerDep, who: Reader) -> list[dict[str, Any]]:
    uscc = checked_uscc(uscc)
    authorize(who, uscc, Action.READ_PERMITS)
    permits = await run_in_threadpool(c.permits.permits, uscc)
    now = c.permits.now()
    return [p.to_json(now) for p in permits]


@router.get(
    "/{permit_id}",
    summary="One permit or filing",
    response_model=PermitAnswer,
    responses=PROBLEM_RESPONSES,
)
async def one(uscc: str, permit_id: str, c: ContainerDep, who: Reader) -> dict[str, Any]:
    uscc = checked_uscc(uscc)
    authorize(who, uscc, Action.READ_PERMITS)
    permit = await run_in_threadpool(c.permits.permit, uscc, permit_id)
    return permit.to_json(c.permits.now())


@router.patch(
    "/{permit_id}",
    summary="Change a permit: its fields, or its status (valid, suspended, revoked, expired)",
    response_model=PermitAnswer,
    responses=PROBLEM_RESPONSES,
)
async def change(
    uscc: str, permit_id: str, body: PermitChange, c: ContainerDep, who: Manager
) -> dict[str, Any]:
    uscc = checked_uscc(uscc)
    authorize(who, uscc, Action.MANAGE_PERMITS)
    permit = await run_in_threadpool(
        lambda: c.permits.change(uscc, permit_id, body, actor=who.key_id)
    )
    return permit.to_json(c.permits.now())


@router.put(
    "/{permit_id}/document",
    summary="Attach a copy of the permit (PDF; the body, or the multipart part 'file')",
    response_model=PermitAnswer,
    responses=PROBLEM_RESPONSES,
)
async def attach(
    uscc: str, permit_id: str, request: Request, c: ContainerDep, who: Manager
) -> dict[str, Any]:
    uscc = checked_uscc(uscc)
    authorize(who, uscc, Action.MANAGE_PERMITS)
    data, name = await _document_body(request)
    permit = await run_in_threadpool(
        lambda: c.permits.attach(uscc, permit_id, data, name, actor=who.key_id)
    )
    return permit.to_json(c.permits.now())


@router.get(
    "/{permit_id}/document",
    response_class=Response,
    responses=file_answer(
        "application/pdf",
        "the attached copy of the permit, its SHA-256 checked on read",
        headers={"X-Eseal-Sha256": "SHA-256 of the file"},
    ),
    summary="The attached copy of a permit (PDF)",
)
async def document(uscc: str, permit_id: str, c: ContainerDep, who: Reader) -> Response:
    uscc = checked_uscc(uscc)
    authorize(who, uscc, Action.READ_PERMITS)
    found, content = await run_in_threadpool(c.permits.document, uscc, permit_id)
    return Response(content, media_type="application/pdf", headers={"X-Eseal-Sha256": found.sha256})


async def _document_body(request: Request) -> tuple[bytes, str | None]:
    content_type = request.headers.get("content-type", "")
    name: str | None = None
    if content_type.startswith("multipart/form-data"):
        form = await request.form()
        upload = form.get("file")
        if upload is None or isinstance(upload, str):
            raise InvalidRequest("send the PDF as the multipart part 'file'")
        data = await upload.read()
        name = upload.filename
    else:
        data = await request.body()
    if len(data) > MAX_DOCUMENT_BYTES:
        raise FileTooLarge(f"the document is larger than {MAX_DOCUMENT_BYTES // 2**20} MB")
    return data, name
