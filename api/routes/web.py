"""The verification page at ``/``: a bank clerk drops a sealed PDF and reads the report.

The page is plain HTML, CSS and JavaScript from ``api/static`` (no build step, nothing
fetched from another origin).  Its script posts the PDF to ``POST /v1/verify`` twice, once
for the JSON verdict and once with ``format=html`` for the human report, and shows that
report in a sandboxed ``iframe`` (``srcdoc``, no scripts) with the report's own
Content-Security-Policy left as it is.

A frame given by ``srcdoc`` inherits this page's policy on top of its own, so this page's
``style-src`` names the SHA-256 of the report's inline stylesheet: the report keeps its look
and nothing else inline may style or run.  The hash is computed from
:func:`api.report_html.render_report` itself, so a change of the report's CSS cannot leave
the page with a stale hash.

The page's script gets its Chinese texts (problem and notice codes, revocation reasons, seal
kinds) as JSON in ``index.html``, made from :mod:`seals.codes` and :mod:`seals.vocab`: the
registry the report page reads, so the two never say different things.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from functools import cache
from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, Response

from seals.codes import notice_texts, problem_texts
from seals.vocab import REASON_LABELS, SealKind, labels

from ..deps import ContainerDep
from ..errors import NotFound
from ..report_html import render_report

__all__ = ["content_security_policy", "page_texts", "render_index", "router"]

router = APIRouter(tags=["verification page"], include_in_schema=False)

STATIC = Path(__file__).resolve().parent.parent / "static"

#: the files under /static/, with their media types; nothing else is served from there
ASSETS: dict[str, str] = {
    "verify.css": "text/css; charset=utf-8",
    "verify.js": "text/javascript; charset=utf-8",
}

#: the name of the one Trusted Types policy of verify.js (it hands the report to srcdoc)
TRUSTED_TYPES_POLICY = "eseal-report"


def _report_style_hashes() -> list[str]:
    page = render_report({}, lambda _digest: None)
    styles = re.findall(r"<style>(.*?)</style>", page, flags=re.DOTALL)
    return [
        "'sha256-" + base64.b64encode(hashlib.sha256(s.encode("utf-8")).digest()).decode() + "'"
        for s in styles
    ]


@cache
def content_security_policy() -> str:
    """The policy of the page and its assets (see the module docstring for ``style-src``)."""
    return "; ".join(
        [
            "default-src 'none'",
            "script-src 'self'",
            "style-src 'self' " + " ".join(_report_style_hashes()),
            "img-src data:",
            "connect-src 'self'",
            "base-uri 'none'",
            "form-action 'none'",
            "frame-ancestors 'none'",
            "require-trusted-types-for 'script'",
            f"trusted-types {TRUSTED_TYPES_POLICY}",
        ]
    )


def security_headers() -> dict[str, str]:
    return {
        "Content-Security-Policy": content_security_policy(),
        "X-Content-Type-Options": "nosniff",
        "X-Frame-Options": "DENY",
        "Referrer-Policy": "no-referrer",
        "Cross-Origin-Opener-Policy": "same-origin",
        "Cross-Origin-Resource-Policy": "same-origin",
        "Permissions-Policy": "camera=(), microphone=(), geolocation=(), payment=(), usb=()",
        "Cache-Control": "no-cache",
    }


@cache
def _read(name: str) -> str:
    return (STATIC / name).read_text(encoding="utf-8")


def _json_for_script(value: object) -> str:
    """JSON safe inside ``<script type="application/json">`` (no ``</script>`` breakout)."""
    text = json.dumps(value, ensure_ascii=False, sort_keys=True)
    return text.replace("&", "\\u0026").replace("<", "\\u003c").replace(">", "\\u003e")


@cache
def page_texts() -> tuple[dict[str, str], dict[str, dict[str, str]]]:
    """The Chinese texts the page's script needs, from the registry the report page reads.

    The problem texts are ``{code: text}``.  The notice tables are ``notices`` (``{code:
    template}``, and ``{code.reason: template}`` for a notice's variants, the way
    :func:`api.report_html.notice_sentence` picks them), ``marks`` (``{code: mark}``),
    ``reasons`` (the revocation reasons) and ``seal_kinds`` (the seal kinds' labels).
    """
    problems = {code: text["zh"] for code, text in problem_texts().items()}
    notices: dict[str, str] = {}
    marks: dict[str, str] = {}
    for code, text in notice_texts().items():
        notices[code] = text["zh"]
        notices.update({f"{code}.{reason}": zh for reason, zh in text["variants"].items()})
        marks[code] = text["mark"]
    tables = {
        "notices": notices,
        "marks": marks,
        "reasons": dict(REASON_LABELS),
        "seal_kinds": labels(SealKind),
    }
    return problems, tables


def render_index(*, verify_public: bool, max_upload_mb: float) -> str:
    """index.html with the server's settings and the page's Chinese texts filled in."""
    problems, notices = page_texts()
    return (
        _read("index.html")
        .replace("{{verify_public}}", "true" if verify_public else "false")
        .replace("{{max_upload_bytes}}", str(int(max_upload_mb * 1024 * 1024)))
        .replace("{{problem_text}}", _json_for_script(problems))
        .replace("{{notice_text}}", _json_for_script(notices))
    )


@router.get("/", response_class=HTMLResponse)
async def index(c: ContainerDep) -> HTMLResponse:
    page = render_index(
        verify_public=c.settings.verify_public, max_upload_mb=c.settings.max_upload_mb
    )
    return HTMLResponse(page, headers=security_headers())


@router.get("/static/{name}")
async def asset(name: str) -> Response:
    media_type = ASSETS.get(name)
    if media_type is None:
        raise NotFound(f"no static file {name!r}")
    return Response(_read(name), media_type=media_type, headers=security_headers())
