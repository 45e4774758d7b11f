"""The human verification report (api/report_html.py) on real reports and on hostile ones.

Real reports come from sealing a PDF with two seals at B-LTA and verifying it, as issued and
after an incremental update that changes the first page's text.  Synthetic reports carry
markup, quotes and URLs in every text field, to show the page renders them inert.
"""

from __future__ import annotations

import base64
import io
import re
from dataclasses import dataclass
from datetime import date, timedelta
from html.parser import HTMLParser
from typing import Any

import pytest
from markupsafe import escape
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.generic import pdf_name
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter

from api.container import Container
from api.report_html import render_report, seal_image_lookup
from helpers import USCC, license_data
from pdfs import simple_pdf
from seals.codes import NoticeCode, ProblemCode
from seals.kinds import SealKind
from seals.license import parse_license
from seals.permits import PermitInput, beijing_day
from signer.levels import PadesLevel
from signer.service import SealingOptions, SealOrder


class _Page(HTMLParser):
    """Every start tag with its attributes, and whether the tags balance."""

    VOID = frozenset({"meta", "img", "br", "link", "input", "hr"})

    def __init__(self, text: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.stack: list[str] = []
        self.balanced = True
        self.text: list[str] = []
        self.feed(text)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        if tag not in self.VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack.pop() != tag:
            self.balanced = False

    def handle_data(self, data: str) -> None:
        self.text.append(data)

    def attrs(self, name: str) -> list[str]:
        return [a[name] or "" for _, a in self.tags if name in a]


def _no_external_resources(page: str) -> None:
    parsed = _Page(page)
    assert parsed.balanced and not parsed.stack
    for value in parsed.attrs("src"):
        assert value.startswith("data:image/png;base64,")
    assert parsed.attrs("href") == []
    tags = [tag for tag, _ in parsed.tags]
    assert not set(tags) & {"script", "link", "iframe", "object", "embed", "form", "base", "svg"}
    assert tags.count("style") == 1
    css = page.split("<style>", 1)[1].split("</style>", 1)[0]
    assert "url(" not in css and "@import" not in css
    assert not re.search(r"""(src|href|action)\s*=\s*["']?\s*(https?:)?//""", page, re.I)
    for _, attrs in parsed.tags:
        assert not any(name.startswith("on") for name in attrs)
    csp = [a.get("content") for t, a in parsed.tags if a.get("http-equiv")]
    assert csp and "default-src 'none'" in (csp[0] or "")


def _esc(text: str) -> str:
    """``text`` as the page writes it (autoescaped: ``&lt;``, ``&#34;``, ``&#39;``)."""
    return str(escape(text))


def _codes(report: dict[str, Any]) -> set[str]:
    codes = {p["code"] for p in report["problems"]}
    for sig in report["signatures"]:
        codes |= {p["code"] for p in sig["problems"]}
    return codes


# -- real reports ----------------------------------------------------------------------------


@dataclass
class Sealed:
    container: Container
    pdf: bytes


@pytest.fixture
async def sealed(container: Container) -> Sealed:
    container.seals.register(parse_license(license_data()))
    options = SealingOptions(
        seals=[SealOrder(SealKind.CONTRACT), SealOrder(SealKind.LEGAL_REP)],
        level=PadesLevel.B_LTA,
    )
    pdf, _ = await container.sealing.seal(USCC, simple_pdf(2), options)
    return Sealed(container, pdf)


def _tamper(signed: bytes) -> bytes:
    """Incremental update changing one byte of the first page's text after all signatures."""
    w = IncrementalPdfFileWriter(io.BytesIO(signed))
    page = w.root["/Pages"]["/Kids"][0]
    data = page["/Contents"].data
    at = data.index(b"(") + 1
    changed = data[:at] + bytes([data[at] ^ 0x01]) + data[at + 1 :]
    page[pdf_name("/Contents")] = w.add_object(generic.StreamObject(stream_data=changed))
    w.update_container(page)
    out = io.BytesIO()
    w.write(out)
    return out.getvalue()


async def test_valid_report_page(sealed: Sealed) -> None:
    c = sealed.container
    report = await c.verifier.verify(sealed.pdf, USCC)
    assert report["valid"] is True
    page = render_report(report, seal_image_lookup(c.seals, report))

    assert page.startswith("<!DOCTYPE html>") and page.rstrip().endswith("</html>")
    assert '<span class="verdict big good">有效</span>' in page
    assert "valid: true" in page and "无效" not in page
    assert USCC in page and "北京字节跳动网络技术有限公司" in page
    assert report["file"]["sha256"] in page and f"{report['file']['size']:,} 字节" in page
    for label, code in [
        ("合同专用章", "contract"),
        ("法定代表人章", "legal_rep"),
        ("存续", "active"),
        ("完整", "ok"),
        ("可信", "true"),
        ("可信时间戳", "timestamp"),
        ("文档时间戳", "document_timestamp"),
    ]:
        assert label in page and f'<code class="m">{code}</code>' in page, (label, code)
    for sig in report["signatures"]:
        assert _esc(sig["field"]) in page
        if sig["type"] == "signature":
            assert f'<code class="m">{sig["level"]}</code>' in page
    for label in [
        "统一社会信用代码",
        "签章时间",
        "时间戳",
        "营业执照状态（签章时）",
        "营业执照状态（现在）",
        "覆盖范围",
        "签章后的修改",
        "证书撤销",
        "页数",
    ]:
        assert label in page

    # each seal image embedded as a data: URI, the very PNG registered for that seal
    images = _Page(page).attrs("src")
    assert len(images) == 2
    for kind, src in zip((SealKind.CONTRACT, SealKind.LEGAL_REP), images, strict=True):
        png = base64.b64decode(src.removeprefix("data:image/png;base64,"))
        assert png == c.seals.seal(USCC, kind).image_png
    # signatures in document order
    assert page.index("合同专用章 <code") < page.index("法定代表人章 <code")
    assert page.index("法定代表人章 <code") < page.index("文档时间戳 3 / 3")
    _no_external_resources(page)


async def test_tampered_report_page(sealed: Sealed) -> None:
    c = sealed.container
    report = await c.verifier.verify(_tamper(sealed.pdf), USCC)
    assert report["valid"] is False
    page = render_report(report, seal_image_lookup(c.seals, report))

    assert '<span class="verdict big fail">无效</span>' in page and "valid: false" in page
    assert "可疑" in page and '<code class="m">suspicious</code>' in page
    codes = _codes(report)
    assert "modified_after_signing" in codes
    for code in codes:
        assert f'<code class="m">{code}</code>' in page
        assert _esc(ProblemCode(code).zh) in page
    for problem in report["problems"]:  # the document-level problems, with their details
        assert _esc(problem["message"]) in page
    assert len(_Page(page).attrs("src")) == 2
    _no_external_resources(page)


async def test_lookup_finds_an_older_seal_version(sealed: Sealed) -> None:
    """After a reissue the current seals differ; the version that signed is found by serial."""
    c = sealed.container
    report = await c.verifier.verify(sealed.pdf, USCC)
    digest = report["signatures"][0]["seal"]["image_sha256"]
    lookup = seal_image_lookup(c.seals, report)
    assert lookup(digest) == c.seals.seal(USCC, SealKind.CONTRACT).image_png
    assert lookup("0" * 64) is None


# -- hostile and odd reports -----------------------------------------------------------------

EVIL = '<script>alert("x")</script><img src=x onerror=alert(1)>"\'&'
URL = "https://evil.example/track.png"


def _hostile_report() -> dict[str, Any]:
    text = f"{EVIL} {URL}"
    return {
        "valid": False,
        "expect_uscc": text,
        "file": {"sha256": text, "size": text, "pages": text},
        "signatures": [
            {
                "field": text,
                "type": "signature",
                "integrity": text,
                "intact": False,
                "trusted": text,
                "coverage": text,
                "modifications": text,
                "certificate": {"subject": text, "issuer": text, "serial": text},
                "signing_time": text,
                "timestamp": {"time": text, "valid": text, "tsa": text},
                "level": text,
                "time_source": text,
                "seal": {"kind": text, "label": text, "image_sha256": "a" * 64, "version": text},
                "revoked": {"revoked": True, "at": text, "reason": text, "at_signing": True},
                "enterprise": {
                    "uscc": text,
                    "uscc_source": text,
                    "name": text,
                    "license_status_now": text,
                    "license_status_at_signing": text,
                    "matches_registry": text,
                },
                "valid": False,
                "problems": [{"code": text, "message": text}],
            }
        ],
        "problems": [{"code": text, "message": text}],
    }


def test_untrusted_text_is_inert() -> None:
    page = render_report(_hostile_report(), lambda digest: b"\x89PNG fake")
    assert "<script" not in page.lower()
    assert _esc(EVIL) in page
    parsed = _Page(page)
    assert [a for t, a in parsed.tags if t == "img"] == [
        {
            "class": "seal",
            "alt": f"{EVIL} {URL}",
            "src": "data:image/png;base64," + base64.b64encode(b"\x89PNG fake").decode(),
        }
    ]
    assert EVIL in "".join(parsed.text)  # shown to the reader as text
    _no_external_resources(page)


def test_broken_signature_and_unknown_code_render() -> None:
    report = {
        "valid": False,
        "expect_uscc": None,
        "file": {"sha256": "ab" * 32, "size": 10, "pages": 1},
        "signatures": [
            {
                "field": "Sig1",
                "type": "signature",
                "integrity": "broken",
                "intact": False,
                "trusted": False,
                "valid": False,
                "problems": [
                    {"code": "malformed_signature", "message": "bad /ByteRange"},
                    {"code": "brand_new_code", "message": "added later"},
                ],
            },
        ],
        "problems": [{"code": "signature_not_valid", "message": "signature 'Sig1' is not valid"}],
    }
    page = render_report(report, lambda digest: None)
    assert "已破坏" in page and '<code class="m">broken</code>' in page
    assert ProblemCode.MALFORMED_SIGNATURE.zh in page
    assert '<code class="m">brand_new_code</code>' in page and "未收录的问题代码" in page
    assert "不可信" in page and "无登记的印章图像" in page
    _no_external_resources(page)


def test_no_signatures_and_missing_image() -> None:
    empty = {
        "valid": False,
        "expect_uscc": None,
        "file": {"sha256": "00", "size": 5, "pages": 1},
        "signatures": [],
        "problems": [{"code": "no_signatures", "message": "none"}],
    }
    page = render_report(empty, lambda digest: None)
    assert ProblemCode.NO_SIGNATURES.zh in page and "文件中没有签名" in page

    def failing(digest: str) -> bytes | None:
        raise RuntimeError("registry down")

    one = _hostile_report()
    one["signatures"][0]["seal"]["label"] = "合同专用章"
    page = render_report(one, failing)
    assert "未找到登记的印章图像" in page and "data:image" not in page


def _one_seal_report(
    problems: list[dict[str, Any]], notices: list[dict[str, Any]]
) -> dict[str, Any]:
    """A document with one seal (field Sig1) carrying ``problems``, which the document carries
    too, and ``notices`` on that seal."""
    return {
        "valid": not problems,
        "expect_uscc": None,
        "file": {"sha256": "ef" * 32, "size": 100, "pages": 1},
        "signatures": [
            {
                "field": "Sig1",
                "type": "signature",
                "valid": not problems,
                "seal": {"kind": "contract", "label": "合同专用章", "version": 1},
                "enterprise": {"uscc": USCC, "name": "北京示例科技有限公司"},
                "problems": problems,
            }
        ],
        "problems": problems,
        "notices": notices,
    }


def test_every_problem_code_renders_its_chinese_text() -> None:
    problems = [{"code": p.value, "message": f"{p.en} <{p.value}>"} for p in ProblemCode]
    page = render_report(_one_seal_report(problems, []), lambda digest: None)
    for p in ProblemCode:
        # the document's problems, the seal's, and the list of reasons under the verdict
        assert page.count(_esc(p.zh)) == 3, p
        assert page.count(f'<code class="m">{p.value}</code>') == 3, p
        assert page.count(_esc(f"{p.en} <{p.value}>")) == 2, p  # each with its message
    assert "未收录的问题代码" not in page
    _no_external_resources(page)


def test_every_notice_code_renders_its_chinese_text() -> None:
    from seals.model import RevocationReason
    from seals.verdict import NOTICE_CODES
    from seals.vocab import REASON_LABELS

    assert set(NOTICE_CODES) <= {
        n.value for n in NoticeCode
    }  # what the verdict makes is registered
    # every notice, each of its variants, and a revoked seal for every reason eseal revokes with
    cases = [(n, "key_compromise") for n in NoticeCode]
    cases += [(n, reason) for n in NoticeCode for reason in n.variants]
    cases += [(NoticeCode.SEAL_REVOKED_SINCE_SIGNING, r.value) for r in RevocationReason]
    notices = [
        {
            "code": n.value,
            "message": n.en,
            "since": "2026-11-30T17:00:00+00:00",
            "uscc": USCC,
            "enterprise": "北京示例科技有限公司",
            "fields": ["Sig1"],
            "reason": reason,
            "current_version": 3,
            "seal": {"kind": "contract", "version": 1},
        }
        for n, reason in cases
    ]
    page = render_report(_one_seal_report([], notices), lambda digest: None)
    for n, reason in cases:
        # the variant for its reason, else the notice's sentence, filled in
        sentence = n.variants.get(reason, n.zh).format(
            enterprise="该企业",
            date="2026-12-01",
            seal="合同专用章",
            reason=REASON_LABELS[reason],
            version="3",
            signed_version="1",
        )
        assert "{" not in sentence and _esc(sentence) in page, (n, reason)
        assert f'<code class="m">{n.value}</code>' in page
    # the seal's line in the summary table carries each notice's mark once
    row = re.search(r'<tr class="noticed"><td class="num">1</td>(.*?)</tr>', page)
    assert row
    for n in NoticeCode:
        assert row.group(1).count(f'<span class="nmark">{_esc(n.mark)}</span>') == 1, n
    _no_external_resources(page)


def test_unknown_codes_render_with_their_message() -> None:
    """A code added to the verifier later than this page still shows, with its message."""
    problems = [{"code": "brand_new_code", "message": f"added later {EVIL}"}]
    notices = [
        {"code": "brand_new_notice", "message": f"said later {EVIL}", "fields": ["Sig1"]},
    ]
    page = render_report(_one_seal_report(problems, notices), lambda digest: None)
    assert page.count("（未收录的问题代码）") == 3
    assert page.count('<code class="m">brand_new_code</code>') == 3
    assert page.count(_esc(f"added later {EVIL}")) == 2
    # the notice: its message as the sentence, its code as the mark beside the seal
    assert _esc(f"said later {EVIL}") in page
    assert '<code class="m">brand_new_notice</code>' in page
    assert '<span class="nmark">brand_new_notice</span>' in page
    _no_external_resources(page)


@dataclass
class _FakeSeal:
    image_sha256: str
    image_png: bytes


class _FakeSeals:
    def __init__(self) -> None:
        self.by_serial = {0xAB: _FakeSeal("old", b"old png")}
        self.current = {"U1": [_FakeSeal("new", b"new png")]}
        self.calls = 0

    def seals(self, uscc: str) -> list[Any]:
        self.calls += 1
        if uscc not in self.current:
            raise LookupError(uscc)
        return list(self.current[uscc])

    def seal_by_serial(self, serial: int) -> Any:
        return self.by_serial.get(serial)


def test_lookup_by_serial_then_enterprise() -> None:
    def sig(digest: str, uscc: str, serial: str) -> dict[str, Any]:
        return {
            "seal": {"image_sha256": digest},
            "enterprise": {"uscc": uscc},
            "certificate": {"serial": serial},
        }

    report = {
        "signatures": [
            sig("old", "U1", "ab"),
            sig("new", "U1", "zz-not-hex"),
            sig("gone", "U2", "cd"),
            "not a dict",
        ]
    }
    service = _FakeSeals()
    lookup = seal_image_lookup(service, report)
    assert lookup("old") == b"old png"  # the signing version, by certificate serial
    assert lookup("new") == b"new png"  # bad serial: the enterprise's current seals
    assert lookup("new") == b"new png" and service.calls == 1  # cached
    assert lookup("gone") is None  # enterprise unknown to the registry
    assert lookup("never in the report") is None


# -- notices ---------------------------------------------------------------------------------


def _noticed_report() -> dict[str, Any]:
    """Valid, two enterprises, with notices on the first one's seals (and one unknown code)."""

    def sig(field: str, uscc: str, name: str, kind: str, label: str) -> dict[str, Any]:
        return {
            "field": field,
            "type": "signature",
            "valid": True,
            "integrity": "ok",
            "trusted": True,
            "seal": {"kind": kind, "label": label, "version": 1},
            "enterprise": {"uscc": uscc, "name": name},
            "problems": [],
        }

    return {
        "valid": True,
        "expect_uscc": None,
        "file": {"sha256": "cd" * 32, "size": 100, "pages": 1},
        "signatures": [
            sig("Seal1", USCC, EVIL, "contract", "合同专用章"),
            sig("Seal2", "91110000600037341L", "示例贸易有限公司", "contract", "合同专用章"),
        ],
        "problems": [],
        "notices": [
            {
                "code": "license_revoked_since_signing",
                "message": "m1",
                "since": "2026-11-30T17:00:00+00:00",
                "uscc": USCC,
                "enterprise": EVIL,
                "fields": ["Seal1"],
            },
            {
                "code": "seal_superseded",
                "message": "m2",
                "since": "2026-12-02T01:00:00+00:00",
                "uscc": USCC,
                "enterprise": EVIL,
                "fields": ["Seal1"],
                "current_version": 3,
                "seal": {"kind": "contract", "label": "合同专用章", "version": 1},
            },
            {
                "code": "seal_revoked_since_signing",
                "message": "m3",
                "since": "2026-12-02T01:00:00+00:00",
                "uscc": USCC,
                "enterprise": EVIL,
                "fields": ["Seal1"],
                "reason": "key_compromise",
                "seal": {"kind": "contract", "label": "合同专用章", "version": 1},
            },
            {
                "code": "brand_new_notice",
                "message": f"later {EVIL}",
                "since": None,
                "uscc": USCC,
                "enterprise": EVIL,
                "fields": ["Seal1"],
            },
        ],
    }


def test_notices_in_the_headline_and_the_summary_table() -> None:
    from api.report_html import headline

    report = _noticed_report()
    page = render_report(report, lambda digest: None)
    # two enterprises: each notice names its enterprise (escaped), dates in Beijing time
    name = _esc(EVIL)
    assert (
        _esc(f"签章有效：签章时营业执照存续；{EVIL}（{USCC}）营业执照已于 2026-12-01 被吊销；")
        in page
    )
    assert "的合同专用章已于 2026-12-02 重新签发，现行为第 3 版（文件中为第 1 版）" in page
    assert "已于 2026-12-02 被撤销（原因：密钥泄露）" in page
    assert name in page and EVIL not in page
    # an unknown notice code still shows, with the server's own message
    assert _esc(f"later {EVIL}") in page
    assert '<code class="m">brand_new_notice</code>' in page
    assert 'class="overall good noticed"' in page and '<div class="notices">' in page
    # the summary table marks the first seal only, with each notice's mark once
    rows = re.findall(r"<tr( class=\"noticed\")?><td class=\"num\">(\d)</td>(.*?)</tr>", page)
    assert [(bool(cls), num) for cls, num, _ in rows] == [(True, "1"), (False, "2")]
    assert all(rows[0][2].count(m) == 1 for m in ("执照已吊销", "印章已重新签发", "印章已撤销"))
    assert "nmark" not in rows[1][2]
    _no_external_resources(page)
    # one enterprise: "该企业"
    one = {**report, "signatures": report["signatures"][:1]}
    assert headline(one).startswith(
        "签章有效：签章时营业执照存续；该企业营业执照已于 2026-12-01 被吊销；"
    )


def test_headline_for_an_expected_enterprise_without_a_seal() -> None:
    from api.report_html import headline

    report = {
        **_noticed_report(),
        "valid": False,
        "notices": [],
        "expect_uscc": "914403001922038216",
        "problems": [{"code": "expected_enterprise_missing", "message": "none"}],
    }
    text = headline(report)
    assert text.startswith("文件中没有 914403001922038216 的签章。文件中的 2 枚印章")
    assert "验证通过" in text and "不能确认" not in text
    # a seal of it is there but not valid: the usual sentence
    report["expect_uscc"] = USCC
    report["signatures"][0]["valid"] = False
    assert headline(report).startswith("不能确认文件自签章后未被改动")


# -- the enterprise's permits now ------------------------------------------------------------


def _permit_rows(page: str) -> dict[str, tuple[str, list[str]]]:
    """The rows of the permits table, by number: their classes and their cells' text."""
    rows = {}
    for classes, cells in re.findall(r'<tr class="permit ([^"]*)">(.*?)</tr>', page, re.S):
        text = [
            " ".join(_Page(cell).text).split()
            for cell in re.findall(r"<td[^>]*>(.*?)</td>", cells, re.S)
        ]
        joined = [" ".join(words) for words in text]
        rows[joined[2]] = (classes, joined)
    return rows


async def test_the_report_page_lists_the_permits_now(sealed: Sealed) -> None:
    c = sealed.container
    today = beijing_day(c.permits.now())
    for kind, name, number, valid_to, status in (
        ("许可", "食品经营许可证", "JY-NOW", today + timedelta(days=400), "valid"),
        ("许可", "道路运输经营许可证", "YS-OLD", today - timedelta(days=1), "valid"),
        ("许可", "危险化学品经营许可证", "WH-SOON", today + timedelta(days=10), "valid"),
        ("许可", "出版物经营许可证", "CB-STOP", today + timedelta(days=10), "suspended"),
        ("备案", "ICP备案", "京ICP备12025439号", None, "valid"),
    ):
        c.permits.add(
            USCC,
            PermitInput.model_validate(
                {
                    "type": kind,
                    "name": name,
                    "number": number,
                    "issuing_authority": f"{EVIL}管理局" if number == "JY-NOW" else "北京市商务局",
                    "valid_from": date(2019, 1, 1),
                    "valid_to": valid_to,
                    "status": status,
                }
            ),
        )
    report = await c.verifier.verify(sealed.pdf, USCC)
    page = render_report(report, seal_image_lookup(c.seals, report))
    assert "许可与备案（现在）" in page and '<code class="m">enterprise.permits_now</code>' in page
    # once per seal that the enterprise applied, as in the JSON report
    assert page.count('<table class="permits">') == 2

    (card, _) = page.split("法定代表人章 <code", 1)
    rows = _permit_rows(card)
    assert list(rows) == ["JY-NOW", "YS-OLD", "WH-SOON", "CB-STOP", "京ICP备12025439号"]
    classes, cells = rows["JY-NOW"]
    assert classes == "valid"
    assert cells[:2] == ["许可 permit", "食品经营许可证"]
    assert cells[3] == f"{EVIL}管理局"  # escaped: shown as text, no markup
    assert _esc(EVIL) in page and EVIL not in page
    assert cells[4] == "有效 valid" and cells[5] == (today + timedelta(days=400)).isoformat()
    # past its last day: expired, though nobody changed it
    classes, cells = rows["YS-OLD"]
    assert classes == "expired" and cells[4] == "过期 expired"
    assert cells[5] == (today - timedelta(days=1)).isoformat()
    # ending within 30 days: marked, and the notice is above, beside the verdict
    classes, cells = rows["WH-SOON"]
    assert classes == "valid expiring"
    assert cells[4] == "有效 valid 即将到期"
    assert cells[5] == f"{(today + timedelta(days=10)).isoformat()} （30 天内到期）"
    ending = (today + timedelta(days=10)).isoformat()
    assert f"该企业有许可或备案将于 {ending} 到期" in page.split('<div class="notices">', 1)[1]
    # a suspended permit is not "expiring": it is not valid now
    classes, cells = rows["CB-STOP"]
    assert classes == "suspended" and cells[4] == "暂停 suspended"
    classes, cells = rows["京ICP备12025439号"]
    assert cells[0] == "备案 filing" and cells[5] == "长期 null"
    _no_external_resources(page)


async def test_no_permits_no_permit_table(sealed: Sealed) -> None:
    report = await sealed.container.verifier.verify(sealed.pdf, USCC)
    assert all("permits_now" not in s.get("enterprise", {}) for s in report["signatures"])
    page = render_report(report, seal_image_lookup(sealed.container.seals, report))
    assert "许可与备案" not in page and "permits" not in page.split("</style>", 1)[1]
