"""The verification report as one self-contained HTML page, for a bank clerk to read.

``render_report`` turns the report of :meth:`signer.verify.Verifier.verify` (DESIGN.md
section 3) into a complete page: Chinese labels with the machine keys and values beside them,
the seal images embedded as ``data:`` URIs, inline CSS, no script and no external resource
(a Content-Security-Policy says so to the browser as well).  Every value is escaped: names,
messages and certificate subjects come from untrusted PDFs and certificates.  The renderer
is defensive about the shape, so a broken signature entry that carries only a few keys, or an
unknown problem code added later, still renders.
"""

from __future__ import annotations

import base64
import html
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any, Protocol

__all__ = [
    "NOTICE_MARK",
    "NOTICE_TEXT",
    "PROBLEM_TEXT",
    "REASON_TEXT",
    "SealImage",
    "headline",
    "notice_sentence",
    "render_report",
    "seal_image_lookup",
]

#: ``seal_image(image_sha256)``: the PNG of a registered seal image, or None
SealImage = Callable[[str], bytes | None]

_BEIJING = timezone(timedelta(hours=8))

#: Chinese explanation of each problem code of the report
PROBLEM_TEXT: dict[str, str] = {
    "no_signatures": "文件中没有任何签章。",
    "no_seals": "文件只有文档时间戳，没有电子印章。",
    "expected_enterprise_missing": "没有找到期望企业的有效印章。",
    "signature_not_valid": "有签章未通过验证，原因见该签章下列出的问题。",
    "digest_mismatch": "签名所保护的内容与签名不符：文件在签章后被改动。",
    "signature_invalid": "签名值验证失败。",
    "partial_coverage": "签名没有覆盖文件的一个完整版本，有字节不受签名保护。",
    "modified_after_signing": "签章后文件被修改，这些修改可能改变读者看到的内容。",
    "docmdp_violation": "签章后的修改超出了签名允许的范围。",
    "untrusted_certificate": "印章证书不能链接到受信任的根证书。",
    "timestamp_invalid": "签名时间戳验证失败。",
    "revoked_without_trusted_time": (
        "印章证书已被撤销，且签名没有可信时间戳，无法证明签章早于撤销。"
    ),
    "certificate_revoked": "签章时印章证书已被撤销。",
    "no_uscc": "证书中没有有效的统一社会信用代码。",
    "enterprise_not_registered": "登记系统中没有该统一社会信用代码的企业。",
    "registry_mismatch": "证书中的企业名称或统一社会信用代码与登记信息不一致。",
    "license_not_active_at_signing": "签章时企业营业执照不处于存续状态。",
    "malformed_signature": "签名数据格式错误，无法读取。",
    "byte_range_invalid": "签名的字节范围（/ByteRange）缺失、格式错误或指向了签名以外的内容。",
    "signature_contents_invalid": "签名值（/Contents）为空、全为零或不是有效的签名数据。",
}

#: the Chinese sentence of each notice code; ``{enterprise}`` is 该企业 when the document carries
#: the seals of one enterprise only, ``{date}`` the day (Beijing time) of ``since``
NOTICE_TEXT: dict[str, str] = {
    "license_suspended_now": "{enterprise}营业执照已于 {date} 停业",
    "license_cancelled_since_signing": "{enterprise}营业执照已于 {date} 注销",
    "license_revoked_since_signing": "{enterprise}营业执照已于 {date} 被吊销",
    "seal_revoked_since_signing": "{enterprise}的{seal}已于 {date} 被撤销（原因：{reason}）",
    "seal_revoked_since_signing.certificate_hold": "{enterprise}的{seal}已于 {date} 被暂停使用",
    "seal_superseded": (
        "{enterprise}的{seal}已于 {date} 重新签发，现行为第 {version} 版"
        "（文件中为第 {signed_version} 版）"
    ),
}

#: the short mark of each notice code beside the seal it concerns (summary table, cards)
NOTICE_MARK: dict[str, str] = {
    "license_suspended_now": "执照已停业",
    "license_cancelled_since_signing": "执照已注销",
    "license_revoked_since_signing": "执照已吊销",
    "seal_revoked_since_signing": "印章已撤销",
    "seal_superseded": "印章已重新签发",
}

#: RFC 5280 revocation reasons in Chinese
REASON_TEXT: dict[str, str] = {
    "unspecified": "未说明",
    "key_compromise": "密钥泄露",
    "ca_compromise": "签发机构密钥泄露",
    "affiliation_changed": "隶属关系变更",
    "superseded": "已被新版本取代",
    "cessation_of_operation": "停止经营",
    "certificate_hold": "暂停使用",
    "privilege_withdrawn": "权限撤回",
}

_INTEGRITY = {"ok": "完整", "suspicious": "可疑", "broken": "已破坏"}
_LICENSE = {"active": "存续", "suspended": "停业", "cancelled": "注销", "revoked": "吊销"}
_COVERAGE = {
    "entire_file": "覆盖整个文件",
    "earlier_revision": "覆盖文件的较早版本（其后另有追加内容）",
    "partial": "只覆盖部分字节",
}
_MODIFICATIONS = {
    "none": "无",
    "later_signatures": "仅追加了其后的签章",
    "form_filling": "填写了表单",
    "annotations": "添加了批注",
    "other": "其他修改",
}
_LEVEL = {
    "B-B": "基本签名",
    "B-T": "含时间戳",
    "B-LT": "含长期验证数据",
    "B-LTA": "长期归档（含文档时间戳）",
}
_TIME_SOURCE = {"timestamp": "可信时间戳", "claimed": "签章方自称的时间（无可信时间戳）"}
_TYPE = {"signature": "电子印章", "document_timestamp": "文档时间戳"}
_SEAL_KIND = {
    "official": "企业法定名称章",
    "contract": "合同专用章",
    "finance": "财务专用章",
    "invoice": "发票专用章",
    "legal_rep": "法定代表人章",
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


# -- rendering -------------------------------------------------------------------------------


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _e(value: Any) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def _code(value: Any) -> str:
    """A machine key or value, shown beside its Chinese label."""
    if value is None:
        text = "null"
    elif isinstance(value, bool):
        text = "true" if value else "false"
    else:
        text = str(value)
    return f'<code class="m">{_e(text)}</code>'


def _mapped(table: dict[str, str], value: Any) -> str:
    """The Chinese word for ``value`` with the machine value beside it."""
    if value is None:
        return f'<span class="na">无</span> {_code(None)}'
    word = table.get(value) if isinstance(value, str) else None
    return f"{_e(word)} {_code(value)}" if word else _code(value)


def _yes_no(value: Any, yes: str, no: str, *, good: bool = True) -> str:
    if not isinstance(value, bool):
        return f'<span class="na">未知</span> {_code(value)}'
    cls = "ok" if value is good else "bad"
    return f'<span class="{cls}">{_e(yes if value else no)}</span> {_code(value)}'


def _time(value: Any) -> str:
    """Beijing time for the reader, the ISO value as reported beside it."""
    if not isinstance(value, str) or not value:
        return f'<span class="na">无</span> {_code(None)}'
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return _code(value)
    if parsed.tzinfo is None:
        return f"{_e(parsed.strftime('%Y-%m-%d %H:%M:%S'))} {_code(value)}"
    local = parsed.astimezone(_BEIJING).strftime("%Y-%m-%d %H:%M:%S")
    return f"{_e(local)} 北京时间 {_code(value)}"


def _size(value: Any) -> str:
    if isinstance(value, int) and not isinstance(value, bool):
        text = f"{value:,} 字节"
        if value >= 1024:
            text += f"（{value / 1024:,.1f} KB）"
        return _e(text)
    return _code(value)


def _row(label: str, key: str, value_html: str, *, wide: bool = False) -> str:
    cls = ' class="wide"' if wide else ""
    return f"<div{cls}><dt>{_e(label)} {_code(key)}</dt><dd>{value_html}</dd></div>"


def _problems(items: Any, *, context: str) -> str:
    problems = [_dict(p) for p in _list(items)]
    if not problems:
        return ""
    lines = []
    for p in problems:
        code = p.get("code")
        text = PROBLEM_TEXT.get(code) if isinstance(code, str) else None
        chinese = _e(text) if text else '<span class="na">（未收录的问题代码）</span>'
        lines.append(
            f'<li><div class="ptext">{chinese} {_code(code)}</div>'
            f'<div class="pmsg">{_e(p.get("message"))}</div></li>'
        )
    return (
        f'<section class="problems"><h3>{_e(context)} {_code("problems")}</h3>'
        f"<ul>{''.join(lines)}</ul></section>"
    )


def _verdict_badge(valid: Any, *, big: bool = False) -> str:
    cls = "verdict big" if big else "verdict"
    if valid is True:
        return f'<span class="{cls} good">有效</span> {_code("valid: true")}'
    word = "false" if valid is False else str(valid)
    return f'<span class="{cls} fail">无效</span> {_code("valid: " + word)}'


def _seal_image(sig: dict[str, Any], seal_image: SealImage) -> str:
    digest = _dict(sig.get("seal")).get("image_sha256")
    png = None
    if isinstance(digest, str) and digest:
        try:
            png = seal_image(digest)
        except Exception:  # the page still renders without the image
            png = None
    if png:
        data = base64.b64encode(png).decode("ascii")
        label = _dict(sig.get("seal")).get("label") or "印章"
        return (
            f'<img class="seal" alt="{_e(label)}" src="data:image/png;base64,{data}">'
            f'<div class="cap">印章图像 {_code("image_sha256")}</div>'
            f'<div class="hash">{_e(digest)}</div>'
        )
    if _dict(sig.get("seal")) and digest:
        return (
            '<div class="noimg">未找到登记的印章图像</div>'
            f'<div class="cap">{_code("image_sha256")}</div><div class="hash">{_e(digest)}</div>'
        )
    if sig.get("type") == "document_timestamp":
        return '<div class="noimg">文档时间戳<br>（无印章图像）</div>'
    return '<div class="noimg">无登记的印章图像</div>'


def _signature(
    index: int,
    total: int,
    sig: dict[str, Any],
    seal_image: SealImage,
    marks: list[str] | None = None,
) -> str:
    kind_type = sig.get("type")
    seal = _dict(sig.get("seal"))
    enterprise = _dict(sig.get("enterprise"))
    timestamp = _dict(sig.get("timestamp"))
    revoked = _dict(sig.get("revoked"))
    cert = _dict(sig.get("certificate"))
    is_ts = kind_type == "document_timestamp"
    rows: list[str] = []
    integrity = sig.get("integrity")
    integrity_cls = {"ok": "ok", "suspicious": "warn"}.get(str(integrity), "bad")
    integrity_row = _row(
        "完整性",
        "integrity",
        f'<span class="{integrity_cls}">{_mapped(_INTEGRITY, integrity)}</span>',
    )
    trusted_row = _row("可信", "trusted", _yes_no(sig.get("trusted"), "可信", "不可信"))
    coverage_row = _row("覆盖范围", "coverage", _mapped(_COVERAGE, sig.get("coverage")))
    modifications_row = _row(
        "签章后的修改", "modifications", _mapped(_MODIFICATIONS, sig.get("modifications"))
    )
    ts_time_row = _row(
        "时间戳",
        "timestamp.time",
        _time(timestamp.get("time"))
        if timestamp
        else f'<span class="na">无时间戳</span> {_code(None)}',
    )
    ts_valid_row = (
        _row("时间戳验证", "timestamp.valid", _yes_no(timestamp.get("valid"), "有效", "无效"))
        if timestamp
        else ""
    )
    tsa_row = (
        _row("时间戳机构", "timestamp.tsa", _e(timestamp.get("tsa")), wide=True)
        if timestamp
        else ""
    )
    if is_ts:
        rows += [
            ts_time_row,
            ts_valid_row,
            tsa_row,
            integrity_row,
            trusted_row,
            coverage_row,
            modifications_row,
        ]
    else:
        kind = seal.get("kind")
        label = seal.get("label") or (_SEAL_KIND.get(kind) if isinstance(kind, str) else None)
        version = seal.get("version")
        uscc = enterprise.get("uscc")
        source = enterprise.get("uscc_source")
        rows += [
            _row(
                "印章类型",
                "seal.kind",
                f'<span class="strong">{_e(label) if label else "未知"}</span> {_code(kind)}'
                + (f" 第 {_e(version)} 版" if version is not None else ""),
            ),
            _row(
                "企业名称",
                "enterprise.name",
                f'<span class="strong">{_e(enterprise.get("name") or "未知")}</span>',
            ),
            _row(
                "统一社会信用代码",
                "enterprise.uscc",
                (
                    f'<span class="strong mono">{_e(uscc)}</span>'
                    if uscc
                    else f'<span class="na">无</span> {_code(None)}'
                )
                + (f' <span class="small">来源 {_code(source)}</span>' if source else ""),
            ),
            _row(
                "与登记信息一致",
                "enterprise.matches_registry",
                _yes_no(enterprise.get("matches_registry"), "一致", "不一致"),
            ),
            _row(
                "营业执照状态（现在）",
                "license_status_now",
                _license(enterprise.get("license_status_now")),
            ),
            _row(
                "营业执照状态（签章时）",
                "license_status_at_signing",
                _license(enterprise.get("license_status_at_signing")),
            ),
            integrity_row,
            trusted_row,
            _row("证书撤销", "revoked", _revoked(revoked)),
            modifications_row,
            coverage_row,
            _row("签名级别", "level", _mapped(_LEVEL, sig.get("level"))),
            _row("签章时间", "signing_time", _time(sig.get("signing_time"))),
            ts_time_row,
            _row("时间依据", "time_source", _mapped(_TIME_SOURCE, sig.get("time_source"))),
            ts_valid_row,
            tsa_row,
        ]
    if cert:
        rows.append(
            _row(
                "证书",
                "certificate",
                f'<div class="small">主体 {_e(cert.get("subject"))}</div>'
                f'<div class="small">颁发者 {_e(cert.get("issuer"))}</div>'
                f'<div class="small">序列号 <span class="mono">'
                f"{_e(cert.get('serial'))}</span></div>",
                wide=True,
            )
        )
    rows.append(
        _row(
            "签名域", "field", f'<span class="mono small">{_e(sig.get("field"))}</span>', wide=True
        )
    )
    heading = _TYPE.get(kind_type, "签名") if isinstance(kind_type, str) else "签名"
    title = seal.get("label") if not is_ts else None
    return (
        f'<article class="sig {"valid" if sig.get("valid") is True else "invalid"}">'
        f"<header><h2>{_e(heading)} {index} / {total}"
        f"{' · ' + _e(title) if title else ''} {_code(kind_type)}</h2>"
        f"<div>{_verdict_badge(sig.get('valid'))}{_mark_html(marks or [])}</div></header>"
        f"{_problems(sig.get('problems'), context='此签章的问题')}"
        f'<div class="body"><div class="left">{_seal_image(sig, seal_image)}</div>'
        f'<dl class="facts">{"".join(rows)}</dl></div>'
        "</article>"
    )


def _license(value: Any) -> str:
    cls = "ok" if value == "active" else ("na" if value is None else "bad")
    return f'<span class="{cls}">{_mapped(_LICENSE, value)}</span>'


def _revoked(revoked: dict[str, Any]) -> str:
    if not revoked:
        return f'<span class="na">未知</span> {_code(None)}'
    if revoked.get("revoked") is not True:
        return f'<span class="ok">未撤销</span> {_code(False)}'
    at_signing = revoked.get("at_signing")
    parts = [
        f'<span class="{"bad" if at_signing else "warn"}">已撤销</span> {_code(True)}',
        f"撤销时间 {_time(revoked.get('at'))}",
    ]
    if revoked.get("reason"):
        parts.append(f"原因 {_code(revoked.get('reason'))}")
    parts.append(
        ("签章时已撤销" if at_signing else "签章时尚未撤销")
        + f" {_code('at_signing: ' + ('true' if at_signing else 'false'))}"
    )
    return "<br>".join(parts)


def _reasons(signatures: list[dict[str, Any]]) -> str:
    """The distinct problems of the signatures, each with the numbers of the signatures."""
    where: dict[str, list[int]] = {}
    for index, sig in enumerate(signatures, start=1):
        for p in _list(sig.get("problems")):
            code = _dict(p).get("code")
            key = str(code)
            if index not in where.setdefault(key, []):
                where[key].append(index)
    if not where:
        return ""
    items = []
    for code, indexes in where.items():
        text = PROBLEM_TEXT.get(code)
        chinese = _e(text) if text else '<span class="na">（未收录的问题代码）</span>'
        numbers = "、".join(str(i) for i in indexes)
        items.append(f"<li>签章 {_e(numbers)}：{chinese} {_code(code)}</li>")
    return f'<ul class="reasons">{"".join(items)}</ul>'


def _day(value: Any) -> str:
    """The day (Beijing time) of an ISO instant, as 2026-12-01; the value itself otherwise."""
    if not isinstance(value, str) or not value:
        return "（日期不详）"
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return value
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(_BEIJING)
    return parsed.strftime("%Y-%m-%d")


def _one_enterprise(report: dict[str, Any]) -> bool:
    usccs = {
        _dict(s.get("enterprise")).get("uscc")
        for s in map(_dict, _list(report.get("signatures")))
        if s.get("type") != "document_timestamp"
    }
    usccs |= {_dict(n).get("uscc") for n in _list(report.get("notices"))}
    return len(usccs - {None}) <= 1


def notice_sentence(notice: dict[str, Any], *, one_enterprise: bool) -> str:
    """The Chinese sentence of a notice, with its date (plain text, not escaped)."""
    code = notice.get("code")
    reason = notice.get("reason")
    template = None
    if isinstance(code, str):
        template = NOTICE_TEXT.get(f"{code}.{reason}") or NOTICE_TEXT.get(code)
    if template is None:  # a code this page does not know: its message, as the server wrote it
        return str(notice.get("message") or code or "")
    seal = _dict(notice.get("seal"))
    kind = seal.get("kind")
    name = notice.get("enterprise") or notice.get("uscc") or "企业"
    values = {
        "enterprise": "该企业" if one_enterprise else f"{name}（{notice.get('uscc')}）",
        "date": _day(notice.get("since")),
        "seal": seal.get("label")
        or (_SEAL_KIND.get(kind) if isinstance(kind, str) else None)
        or "印章",
        "reason": REASON_TEXT.get(str(reason), str(reason)),
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
    signatures = [_dict(s) for s in _list(report.get("signatures"))]
    seals = [s for s in signatures if s.get("type") != "document_timestamp"]
    one = _one_enterprise(report)
    sentences = [
        notice_sentence(_dict(n), one_enterprise=one) for n in _list(report.get("notices"))
    ]
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
    """The short marks of the notices that concern this signature."""
    out: list[str] = []
    for notice in notices:
        code = notice.get("code")
        if sig.get("field") in _list(notice.get("fields")) and isinstance(code, str):
            mark = NOTICE_MARK.get(code, code)
            if mark not in out:
                out.append(mark)
    return out


def _mark_html(marks: list[str]) -> str:
    return "".join(f'<span class="nmark">{_e(m)}</span>' for m in marks)


def _notices(report: dict[str, Any]) -> str:
    """The notices, in amber, for the headline area."""
    notices = [_dict(n) for n in _list(report.get("notices"))]
    if not notices:
        return ""
    one = _one_enterprise(report)
    items = "".join(
        f"<li>{_e(notice_sentence(n, one_enterprise=one))} {_code(n.get('code'))}"
        + (f' <span class="small">自 {_time(n.get("since"))}</span>' if n.get("since") else "")
        + "</li>"
        for n in notices
    )
    return (
        f'<div class="notices"><div class="nhead">签章后发生的变化 {_code("notices")}</div>'
        f"<ul>{items}</ul></div>"
    )


def _summary_table(signatures: list[dict[str, Any]], notices: list[dict[str, Any]]) -> str:
    if not signatures:
        return ""
    rows = []
    for index, sig in enumerate(signatures, start=1):
        seal = _dict(sig.get("seal"))
        enterprise = _dict(sig.get("enterprise"))
        is_ts = sig.get("type") == "document_timestamp"
        label = "文档时间戳" if is_ts else (seal.get("label") or "未知印章")
        verdict = (
            '<span class="ok">有效</span>'
            if sig.get("valid") is True
            else '<span class="bad">无效</span>'
        )
        marks = _marks(sig, notices)
        row_class = ' class="noticed"' if marks else ""
        rows.append(
            f'<tr{row_class}><td class="num">{index}</td>'
            f"<td>{_e(label)}</td><td>{_e(enterprise.get('name') or '—')}</td>"
            f'<td class="mono">{_e(enterprise.get("uscc") or "—")}</td>'
            f"<td>{verdict}{_mark_html(marks)}</td></tr>"
        )
    return (
        '<table class="summary"><thead><tr><th>序号</th><th>印章</th><th>企业名称</th>'
        f"<th>统一社会信用代码</th><th>结论 {_code('valid')}</th></tr></thead>"
        f"<tbody>{''.join(rows)}</tbody></table>"
    )


def render_report(report: dict[str, Any], seal_image: SealImage) -> str:
    """The verification report as a complete, self-contained HTML page (UTF-8 text)."""
    report = _dict(report)
    valid = report.get("valid")
    file = _dict(report.get("file"))
    signatures = [_dict(s) for s in _list(report.get("signatures"))]
    seals = [s for s in signatures if s.get("type") != "document_timestamp"]
    expect = report.get("expect_uscc")
    notices = [_dict(n) for n in _list(report.get("notices"))]
    summary = headline(report)
    file_rows = [
        _row(
            "SHA-256",
            "file.sha256",
            f'<span class="mono">{_e(file.get("sha256"))}</span>',
            wide=True,
        ),
        _row("大小", "file.size", _size(file.get("size"))),
        _row("页数", "file.pages", _e(file.get("pages"))),
        _row(
            "期望企业",
            "expect_uscc",
            f'<span class="mono">{_e(expect)}</span>'
            if expect
            else f'<span class="na">未指定</span> {_code(None)}',
        ),
        _row(
            "签章数",
            "signatures",
            f"{len(seals)} 枚印章，{len(signatures) - len(seals)} 个文档时间戳",
        ),
    ]
    total = len(signatures)
    cards = "".join(
        _signature(i, total, sig, seal_image, _marks(sig, notices))
        for i, sig in enumerate(signatures, start=1)
    )
    if not cards:
        cards = '<p class="na">文件中没有签名。</p>'
    return (
        "<!DOCTYPE html>\n"
        '<html lang="zh-CN"><head><meta charset="utf-8">'
        '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; '
        "img-src data:; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'\">"
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<meta name="referrer" content="no-referrer">'
        "<title>电子印章验证报告</title>"
        f"<style>{_CSS}</style></head><body><main>"
        '<h1>电子印章验证报告 <span class="sub">verification report</span></h1>'
        f'<section class="overall {"good" if valid is True else "fail"}'
        f'{" noticed" if notices else ""}">'
        f'<div class="vline">验证结论 {_verdict_badge(valid, big=True)}</div>'
        f'<p class="headline">{_e(summary)}</p>{_notices(report)}'
        f"{_summary_table(signatures, notices)}{_reasons(signatures)}</section>"
        f"{_problems(report.get('problems'), context='文件的问题')}"
        f'<section class="file"><h2>文件 {_code("file")}</h2>'
        f'<dl class="facts">{"".join(file_rows)}</dl></section>'
        f'<h2 class="sigs">签章（按文件中的顺序） {_code("signatures")}</h2>'
        f"{cards}"
        "<footer>本页由 eseal 根据验证报告生成；中文说明旁为报告中的机器字段与取值。"
        "时间以北京时间（UTC+8）显示。</footer>"
        "</main></body></html>\n"
    )


_CSS = """
*{box-sizing:border-box}
body{margin:0;background:#f3f4f6;color:#1f2937;
font:15px/1.55 "Noto Sans CJK SC","Source Han Sans SC","PingFang SC","Microsoft YaHei",
"Hiragino Sans GB",sans-serif}
main{max-width:1120px;margin:0 auto;padding:24px 28px 40px}
h1{font-size:26px;margin:0 0 16px}
h1 .sub{font-size:15px;font-weight:normal;color:#6b7280}
h2{font-size:18px;margin:0}
h2.sigs{margin:28px 0 12px}
h3{font-size:15px;margin:0 0 6px}
code.m{font:12px/1.4 "DejaVu Sans Mono",Consolas,monospace;background:#eef0f3;color:#374151;
border:1px solid #dde1e6;border-radius:4px;padding:0 4px;white-space:nowrap}
.mono{font-family:"DejaVu Sans Mono",Consolas,monospace;word-break:break-all}
.small{font-size:13px;color:#4b5563}
.strong{font-weight:bold}
.na{color:#6b7280}
.ok{color:#047857}
.warn{color:#b45309}
.bad{color:#b91c1c;font-weight:bold}
.overall{border-radius:10px;padding:18px 24px;margin-bottom:16px;border:2px solid}
.overall.good{background:#ecfdf5;border-color:#10b981}
.overall.fail{background:#fef2f2;border-color:#ef4444}
.overall.good.noticed{background:#fffbeb;border-color:#f59e0b}
.notices{margin:10px 0 0;padding:8px 14px;background:#fef3c7;border:1px solid #f59e0b;
border-radius:8px;color:#78350f}
.overall.noticed p.headline{color:#92400e;font-weight:bold}
.notices .nhead{font-weight:bold}
.notices ul{margin:4px 0 0;padding-left:20px}
.nmark{display:inline-block;margin-left:8px;border-radius:4px;padding:0 6px;font-size:13px;
background:#fef3c7;color:#92400e;border:1px solid #f59e0b;font-weight:bold}
table.summary{width:100%;border-collapse:collapse;background:#fff;font-size:14px;margin-top:10px}
table.summary th,table.summary td{border:1px solid #e5e7eb;padding:4px 8px;text-align:left}
table.summary th{background:#f9fafb;font-weight:normal;color:#4b5563;font-size:13px}
table.summary tr.noticed td{background:#fffbeb}
td.num{text-align:center}
.overall p{margin:8px 0 0;font-size:16px}
ul.reasons{margin:8px 0 0;padding-left:22px;font-size:15px}
.vline{font-size:20px;font-weight:bold;display:flex;align-items:center;gap:14px;flex-wrap:wrap}
.verdict{display:inline-block;border-radius:6px;padding:1px 12px;color:#fff;font-weight:bold}
.verdict.big{font-size:34px;padding:2px 22px;letter-spacing:4px}
.verdict.good{background:#059669}
.verdict.fail{background:#dc2626}
section.file,article.sig,section.problems{background:#fff;border:1px solid #d1d5db;
border-radius:10px;padding:16px 20px;margin-bottom:16px}
section.file h2{margin-bottom:10px}
article.sig{border-left:6px solid #10b981;break-inside:avoid}
article.sig.invalid{border-left-color:#ef4444}
article.sig header{display:flex;justify-content:space-between;align-items:center;gap:12px;
border-bottom:1px solid #e5e7eb;padding-bottom:10px;margin-bottom:12px}
.body{display:flex;gap:22px;align-items:flex-start}
.left{flex:0 0 190px;text-align:center}
img.seal{width:170px;height:auto;max-height:170px;object-fit:contain;display:block;
margin:4px auto 6px}
.noimg{width:170px;height:120px;margin:4px auto 6px;border:1px dashed #9ca3af;border-radius:8px;
display:flex;align-items:center;justify-content:center;color:#6b7280;font-size:13px;padding:8px}
.cap{font-size:12px;color:#6b7280}
.hash{font:11px/1.3 "DejaVu Sans Mono",monospace;color:#6b7280;word-break:break-all}
dl.facts{flex:1;display:grid;grid-template-columns:1fr 1fr;gap:8px 24px;margin:0;min-width:0}
dl.facts>div{min-width:0;border-bottom:1px dotted #e5e7eb;padding-bottom:5px}
dl.facts>div.wide{grid-column:1 / -1}
dt{font-size:13px;color:#6b7280}
dd{margin:1px 0 0;overflow-wrap:anywhere}
section.problems{background:#fffbeb;border-color:#f59e0b}
article.sig section.problems{margin:0 0 12px}
section.problems ul{margin:0;padding-left:20px}
section.problems li{margin:4px 0}
.ptext{font-weight:bold}
.pmsg{font-size:13px;color:#4b5563;overflow-wrap:anywhere}
footer{color:#6b7280;font-size:13px;margin-top:24px}
@media (max-width:760px){.body{flex-direction:column}.left{flex:none;width:100%}
dl.facts{grid-template-columns:1fr}}
@media print{body{background:#fff}main{padding:0}}
"""
