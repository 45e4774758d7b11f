"""The verification report as one self-contained HTML page, for a bank clerk to read.

``render_report`` turns the report of :meth:`signer.verify.Verifier.verify` (DESIGN.md
section 3) into a complete page: Chinese labels with the machine keys and values beside them,
the seal images embedded as ``data:`` URIs, inline CSS, no script and no external resource
(a Content-Security-Policy says so to the browser as well).

The markup lives in Jinja2 templates under ``api/templates`` (``report.html`` and its parts in
``report/``), rendered with autoescape on: names, messages and certificate subjects come from
untrusted PDFs and certificates, and every value is escaped unless a template says otherwise
(none does).  The Chinese texts come from :mod:`seals.codes` (problems, notices) and
:mod:`seals.vocab` (the report's words), the same registry the verification page's script
reads.  This module keeps what is not markup: finding the seal images, the sentences of the
headline and the notices (plain text, the page's script builds the same), and the small
formatting filters the templates use.

The renderer is defensive about the shape: the templates see the report through ``obj`` and
``seq`` (a dict, a list, or empty), so a broken signature entry that carries only a few keys,
or an unknown problem or notice code added later, still renders, the latter with its message.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from functools import cache
from pathlib import Path
from typing import Any, Protocol

import jinja2

from seals.codes import NoticeCode, ProblemCode
from seals.permits import PermitKind, PermitStatus
from seals.vocab import (
    REASON_LABELS,
    Coverage,
    Integrity,
    LicenseStatus,
    Modifications,
    PadesLevel,
    SealKind,
    SignatureType,
    TimeSource,
    labels,
)

__all__ = [
    "SealImage",
    "headline",
    "notice_sentence",
    "render_report",
    "seal_image_lookup",
]

#: ``seal_image(image_sha256)``: the PNG of a registered seal image, or None
SealImage = Callable[[str], bytes | None]

TEMPLATES = Path(__file__).resolve().parent / "templates"

_BEIJING = timezone(timedelta(hours=8))

#: the Chinese label of each word the report uses, by the report's key; ``problem`` holds the
#: Chinese text of each problem code
_LABELS: dict[str, dict[str, str]] = {
    "coverage": labels(Coverage),
    "integrity": labels(Integrity),
    "level": labels(PadesLevel),
    "license": labels(LicenseStatus),
    "modifications": labels(Modifications),
    "problem": {p.value: p.zh for p in ProblemCode},
    "seal_kind": labels(SealKind),
    "time_source": labels(TimeSource),
    "type": labels(SignatureType),
    "permit_type": labels(PermitKind),
    "permit_status": labels(PermitStatus),
}


class _SealSource(Protocol):
    """What :func:`seal_image_lookup` needs of :class:`seals.service.SealService`."""

    def seals(self, uscc: str) -> list[Any]: ...

    def seal_by_serial(self, serial: int) -> Any: ...


def seal_image_lookup(seal_service: _SealSource, report: dict[str, Any]) -> SealImage:
    """``seal_image`` for :func:`render_report`: finds each seal image of ``report`` by hash.

    For every signature of the report it looks at the seal version that signed it (by the
    certificate serial, so an older version's image is found too), then at the enterprise's
    current seals; an image is returned only when its SHA-256 matches.  Lookups are lazy and
    cached; anything not found, or any registry error, gives None.
    """
    wanted: dict[str, list[tuple[str | None, str | None]]] = {}
    for sig in _list(report.get("signatures")):
        sig = _dict(sig)
        digest = _dict(sig.get("seal")).get("image_sha256")
        if isinstance(digest, str) and digest:
            uscc = _dict(sig.get("enterprise")).get("uscc")
            serial = _dict(sig.get("certificate")).get("serial")
            wanted.setdefault(digest, []).append(
                (
                    uscc if isinstance(uscc, str) else None,
                    serial if isinstance(serial, str) else None,
                )
            )
    cache: dict[str, bytes | None] = {}

    def by_serial(serial: str | None, digest: str) -> bytes | None:
        if not serial:
            return None
        try:
            seal = seal_service.seal_by_serial(int(serial, 16))
        except Exception:  # a malformed serial or a registry error: no image
            return None
        if seal is not None and seal.image_sha256 == digest:
            return bytes(seal.image_png)
        return None

    def by_enterprise(uscc: str | None, digest: str) -> bytes | None:
        if not uscc:
            return None
        try:
            current = seal_service.seals(uscc)
        except Exception:  # not registered, or a registry error: no image
            return None
        for seal in current:
            if seal.image_sha256 == digest:
                return bytes(seal.image_png)
        return None

    def lookup(digest: str) -> bytes | None:
        if digest not in cache:
            found = None
            for uscc, serial in wanted.get(digest, []):
                found = by_serial(serial, digest) or by_enterprise(uscc, digest)
                if found is not None:
                    break
            cache[digest] = found
        return cache[digest]

    return lookup


# -- the shape of the report, and the filters of the templates --------------------------------


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _dicts(value: Any) -> list[dict[str, Any]]:
    """The items of a list, each as a dict (empty where an item is something else)."""
    return [_dict(item) for item in _list(value)]


def _label(vocabulary: str, value: Any) -> str | None:
    """The Chinese label of ``value`` in one of :data:`_LABELS`, or None for an unknown word."""
    return _LABELS[vocabulary].get(value) if isinstance(value, str) else None


def _machine(value: Any) -> str:
    """A machine key or value as the JSON report spells it (null, true, false)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _beijing(value: str) -> str | None:
    """Beijing time of an ISO instant ("… 北京时间"); a time without zone as it is; or None."""
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        return parsed.strftime("%Y-%m-%d %H:%M:%S")
    return parsed.astimezone(_BEIJING).strftime("%Y-%m-%d %H:%M:%S") + " 北京时间"


def _day(value: Any) -> str:
    """The day (Beijing time) of an ISO instant, as 2026-12-01; the value itself otherwise."""
    if not isinstance(value, str) or not value:
        return "（日期不详）"
    local = _beijing(value)
    return local[:10] if local else value


def _size(value: Any) -> str | None:
    """A byte count for the reader (with KB from 1 KiB on), or None if it is not a count."""
    if not isinstance(value, int) or isinstance(value, bool):
        return None
    text = f"{value:,} 字节"
    if value >= 1024:
        text += f"（{value / 1024:,.1f} KB）"
    return text


# -- sentences: the notices and the headline (plain text; the templates escape them) ----------


_NOTICES = {n.value: n for n in NoticeCode}


def _notice(code: Any) -> NoticeCode | None:
    """The registered notice of a code, or None for a code added later than this page."""
    return _NOTICES.get(code) if isinstance(code, str) else None


def _one_enterprise(report: dict[str, Any]) -> bool:
    usccs = {
        _dict(s.get("enterprise")).get("uscc")
        for s in _dicts(report.get("signatures"))
        if s.get("type") != "document_timestamp"
    }
    usccs |= {n.get("uscc") for n in _dicts(report.get("notices"))}
    return len(usccs - {None}) <= 1


def notice_sentence(notice: dict[str, Any], *, one_enterprise: bool) -> str:
    """The Chinese sentence of a notice, with its date (plain text, not escaped)."""
    code = notice.get("code")
    reason = notice.get("reason")
    known = _notice(code)
    if known is None:  # a code this page does not know: its message, as the server wrote it
        return str(notice.get("message") or code or "")
    template = known.variants.get(str(reason)) or known.zh
    seal = _dict(notice.get("seal"))
    name = notice.get("enterprise") or notice.get("uscc") or "企业"
    values = {
        "enterprise": "该企业" if one_enterprise else f"{name}（{notice.get('uscc')}）",
        "date": _day(notice.get("since")),
        "seal": seal.get("label") or _label("seal_kind", seal.get("kind")) or "印章",
        "reason": REASON_LABELS.get(str(reason), str(reason)),
        "version": str(notice.get("current_version")),
        "signed_version": str(seal.get("version")),
    }
    return template.format(**values)


def headline(report: dict[str, Any]) -> str:
    """The verdict in one Chinese sentence, notices included (plain text, not escaped).

    Valid with notices: 签章有效：签章时营业执照存续；该企业营业执照已于 2026-12-01 注销。
    Not valid only because ``expect_uscc`` has no seal in the document: 文件中没有 <USCC> 的签章。
    """
    report = _dict(report)
    signatures = _dicts(report.get("signatures"))
    seals = [s for s in signatures if s.get("type") != "document_timestamp"]
    one = _one_enterprise(report)
    sentences = [notice_sentence(n, one_enterprise=one) for n in _dicts(report.get("notices"))]
    expect = report.get("expect_uscc")
    if report.get("valid") is True:
        if sentences:
            return "签章有效：签章时营业执照存续；" + "；".join(sentences) + "。"
        return f"文件自签章后未被改动，全部 {len(seals)} 枚印章可信，签章时营业执照存续。"
    text = "不能确认文件自签章后未被改动、由登记企业在营业执照存续期间签章。原因见下方列出的问题。"
    if (
        isinstance(expect, str)
        and expect
        and not any(_dict(s.get("enterprise")).get("uscc") == expect for s in seals)
    ):
        text = f"文件中没有 {expect} 的签章。"
        if seals and all(s.get("valid") is True for s in signatures):
            names = "、".join(
                dict.fromkeys(
                    str(_dict(s.get("enterprise")).get("name") or "未知企业") for s in seals
                )
            )
            text += f"文件中的 {len(seals)} 枚印章（{names}）验证通过。"
        elif seals:
            text += "文件中的其他签章也有问题，见下方列出的问题。"
    if sentences:
        text += "注意：" + "；".join(sentences) + "。"
    return text


def _marks(sig: dict[str, Any], notices: list[dict[str, Any]]) -> list[str]:
    """The short marks of the notices that concern this signature (an unknown code as is)."""
    out: list[str] = []
    for notice in notices:
        code = notice.get("code")
        if sig.get("field") in _list(notice.get("fields")) and isinstance(code, str):
            known = _notice(code)
            mark = known.mark if known else code
            if mark not in out:
                out.append(mark)
    return out


def _reasons(signatures: list[dict[str, Any]]) -> list[tuple[str, str]]:
    """The distinct problem codes of the signatures, each with the numbers of the signatures
    (签章 1、3)."""
    where: dict[str, list[int]] = {}
    for index, sig in enumerate(signatures, start=1):
        for p in _dicts(sig.get("problems")):
            numbers = where.setdefault(str(p.get("code")), [])
            if index not in numbers:
                numbers.append(index)
    return [(code, "、".join(map(str, numbers))) for code, numbers in where.items()]


# -- rendering -------------------------------------------------------------------------------


@cache
def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        # None prints as nothing (the report's absent values), not as "None"
        finalize=lambda value: "" if value is None else value,
    )
    env.filters.update(obj=_dict, dicts=_dicts, machine=_machine, beijing=_beijing, size=_size)
    env.globals.update(label=_label)
    return env


def _seal_png(sig: dict[str, Any], seal_image: SealImage) -> str | None:
    """The base64 of the seal image of a signature, or None (the page renders without it)."""
    digest = _dict(sig.get("seal")).get("image_sha256")
    if not isinstance(digest, str) or not digest:
        return None
    try:
        png = seal_image(digest)
    except Exception:  # a registry error: the page still renders without the image
        return None
    return base64.b64encode(png).decode("ascii") if png else None


def render_report(report: dict[str, Any], seal_image: SealImage) -> str:
    """The verification report as a complete, self-contained HTML page (UTF-8 text)."""
    report = _dict(report)
    signatures = _dicts(report.get("signatures"))
    notices = _dicts(report.get("notices"))
    one = _one_enterprise(report)
    cards = [
        {
            "sig": sig,
            "png": _seal_png(sig, seal_image),
            "marks": _marks(sig, notices),
        }
        for sig in signatures
    ]
    return (
        _environment()
        .get_template("report.html")
        .render(
            report=report,
            signatures=signatures,
            seals=[s for s in signatures if s.get("type") != "document_timestamp"],
            notices=[(n, notice_sentence(n, one_enterprise=one)) for n in notices],
            cards=cards,
            headline=headline(report),
            reasons=_reasons(signatures),
        )
    )
