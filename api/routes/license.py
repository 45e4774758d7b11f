"""The license as identity: the sealed license PDF, scan-to-check codes, the check page.

* ``GET /v1/enterprises/{uscc}/license.pdf``: the license face and the permits annex, sealed
  B-LTA by the registration authority (:class:`api.license_desk.LicenseDesk`).
* ``POST /v1/enterprises/{uscc}/license-qr``: a code valid for ``ESEAL_CHECK_CODE_MINUTES``
  (5 by default): its URL and QR image.
* ``GET /check/{uscc}``: the check page for a phone, no JavaScript.  Without a code it is the
  permanent page the license PDF's QR code opens; with one (``at``, ``until``, ``sig``) it
  shows when the code was made, or says that it has expired or is not genuine (and then
  nothing of the license).  Either way the status shown is the status *now*.
"""

from __future__ import annotations

import base64
import hashlib
from functools import cache
from pathlib import Path
from typing import Annotated, Any

import jinja2
from fastapi import APIRouter
from fastapi.responses import HTMLResponse, Response
from starlette.concurrency import run_in_threadpool

from seals.check_codes import CodeState

from ..answers import CheckCodeAnswer
from ..auth import Action, Principal, allowed, authorize
from ..deps import ContainerDep, checked_uscc
from ..responses import PROBLEM_RESPONSES, file_answer

__all__ = ["CHECK_PAGE_POLICY", "render_check_page", "router"]

router = APIRouter(tags=["license"])

PdfReader = Annotated[Principal, allowed(Action.READ_LICENSE_PDF)]
Holder = Annotated[Principal, allowed(Action.SHOW_LICENSE)]

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"

#: the check page runs no script and loads nothing: its one stylesheet is inline
CHECK_PAGE_POLICY = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; "
    "form-action 'none'; frame-ancestors 'none'"
)


@router.get(
    "/v1/enterprises/{uscc}/license.pdf",
    response_class=Response,
    responses=file_answer(
        "application/pdf",
        "the license face (照面信息, status, registration authority, a QR code of the check "
        "page) and an annex of its permits, sealed B-LTA by the registration authority",
        headers={
            "X-Eseal-Sha256": "SHA-256 of the file",
            "Content-Disposition": "attachment; filename=<uscc>-license.pdf",
        },
    ),
    summary="The license as a sealed PDF (执照出示 / 留档)",
)
async def license_pdf(uscc: str, c: ContainerDep, who: PdfReader) -> Response:
    uscc = checked_uscc(uscc)
    authorize(who, uscc, Action.READ_LICENSE_PDF)
    pdf = await c.license_desk.license_pdf(uscc, actor=who.key_id)
    return Response(
        pdf,
        media_type="application/pdf",
        headers={
            "X-Eseal-Sha256": hashlib.sha256(pdf).hexdigest(),
            "Content-Disposition": f'attachment; filename="{uscc}-license.pdf"',
        },
    )


@router.post(
    "/v1/enterprises/{uscc}/license-qr",
    status_code=201,
    summary="A short-lived scan-to-check code of the license (亮照 / 扫码核验)",
    response_model=CheckCodeAnswer,
    responses=PROBLEM_RESPONSES,
)
async def license_qr(uscc: str, c: ContainerDep, who: Holder) -> dict[str, Any]:
    uscc = checked_uscc(uscc)
    authorize(who, uscc, Action.SHOW_LICENSE)
    issued = await c.license_desk.make_code(uscc, actor=who.key_id)
    return {
        "url": issued.url,
        "made_at": issued.code.made_at.isoformat(),
        "expires_at": issued.code.expires_at.isoformat(),
        "qr_png": base64.b64encode(issued.png).decode("ascii"),
    }


@router.get("/check/{uscc}", response_class=HTMLResponse, include_in_schema=False)
async def check_page(
    uscc: str,
    c: ContainerDep,
    at: str | None = None,
    until: str | None = None,
    sig: str | None = None,
) -> HTMLResponse:
    uscc = uscc.strip().upper()[:40]
    coded = any(v is not None for v in (at, until, sig))
    state, code = (
        c.license_desk.read_code(uscc, at, until, sig) if coded else (CodeState.VALID, None)
    )
    view = None
    if state is CodeState.VALID:
        view = await run_in_threadpool(c.license_desk.view, uscc)
    status = 200
    if state is CodeState.EXPIRED:
        status = 410
    elif state is CodeState.INVALID:
        status = 400
    elif view is None:
        status = 404
    page = render_check_page(
        uscc=uscc,
        view=view,
        coded=coded,
        state=state.value,
        made_at=_local(code.made_at) if code else None,
        expires_at=_local(code.expires_at) if code else None,
    )
    return HTMLResponse(
        page,
        status_code=status,
        headers={
            "Content-Security-Policy": CHECK_PAGE_POLICY,
            "X-Content-Type-Options": "nosniff",
            "Referrer-Policy": "no-referrer",
            "Cache-Control": "no-store",
        },
    )


def _local(at: Any) -> str:
    from datetime import timedelta, timezone

    return str(at.astimezone(timezone(timedelta(hours=8))).strftime("%Y-%m-%d %H:%M:%S"))


@cache
def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=True,
        trim_blocks=True,
        lstrip_blocks=True,
        undefined=jinja2.StrictUndefined,
    )


def render_check_page(**context: Any) -> str:
    """The check page (``templates/check.html``), autoescaped."""
    return _environment().get_template("check.html").render(**context)
