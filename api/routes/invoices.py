"""数电票 checks: ``POST /v1/invoices/check``.

Multipart with the tax platform's files of one invoice: ``ofd`` (the 版式文件) and/or ``xml``
(the 数据文件), at least one.  The answer is one JSON verdict (200, also when the files
disagree: ``consistent`` says so).  eseal reads these files and never re-signs them; nothing is
archived or audited.  Bad input is a problem+json: ``invalid_upload`` (not multipart, neither
file, a part that is not a file), ``invalid_ofd``, ``invalid_invoice`` (422), or
``file_too_large`` (413, the upload limit).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from signer.invoice import InvoiceVerdict, check_invoice

from ..answers import InvoiceCheckAnswer
from ..auth import Action, Principal, allowed
from ..deps import ContainerDep
from ..errors import InvalidRequest
from ..problems import PROBLEM_RESPONSES

__all__ = ["router"]

router = APIRouter(prefix="/v1", tags=["invoices"])

Checker = Annotated[Principal, allowed(Action.CHECK_INVOICES)]

_PARTS = ("ofd", "xml")
_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "properties": {
                        "ofd": {
                            "type": "string",
                            "format": "binary",
                            "description": "the invoice's OFD (版式文件) as the platform issued it",
                        },
                        "xml": {
                            "type": "string",
                            "format": "binary",
                            "description": "the invoice's XML (数据文件, root EInvoice)",
                        },
                    },
                    "description": "at least one of the two",
                }
            }
        },
    }
}


async def _invoice_files(request: Request) -> tuple[bytes | None, bytes | None]:
    """The bytes of the ``ofd`` and ``xml`` parts (None for a part not sent)."""
    if not request.headers.get("content-type", "").startswith("multipart/form-data"):
        raise InvalidRequest(
            "send multipart/form-data with the invoice's OFD in the part 'ofd' and/or its XML "
            "in the part 'xml'",
            code="invalid_upload",
        )
    form = await request.form(max_files=2, max_fields=10)
    files: dict[str, bytes] = {}
    try:
        for name in _PARTS:
            part = form.get(name)
            if part is None:
                continue
            if not isinstance(part, UploadFile):
                raise InvalidRequest(
                    f"the part '{name}' must be a file (a filename in its Content-Disposition)",
                    code="invalid_upload",
                )
            files[name] = await part.read()
    finally:
        await form.close()
    if not files:
        raise InvalidRequest(
            "send the invoice's OFD in the part 'ofd', its XML in the part 'xml', or both",
            code="invalid_upload",
        )
    return files.get("ofd"), files.get("xml")


@router.post(
    "/invoices/check",
    response_model=InvoiceCheckAnswer,
    responses=PROBLEM_RESPONSES,
    summary="Check a 数电票: its OFD and/or XML, read and cross-checked (multipart: ofd, xml)",
    openapi_extra=_BODY,
)
async def check(request: Request, c: ContainerDep, who: Checker) -> InvoiceVerdict:
    ofd, xml = await _invoice_files(request)
    # the OFD verifier is wired here once it exists: verify_signature=<its per-signature check>
    return await run_in_threadpool(
        c.deadline.run, lambda: check_invoice(ofd, xml, verify_signature=None)
    )
