"""The license face as a PDF (电子营业执照出具件): laid out like a business license, in Chinese.

Page 1 is the face: 营业执照 as the title, the USCC top left, a QR code top right pointing to
the permanent check page (the status *now*), the fields of the license in two columns, the
registration status at issue, the registration authority and the day of approval bottom
right, where the authority's seal goes, and a footer saying who issued the file and when.
Page 2 is the annex: the permits and filings under the license (许可与备案) with their status
on the day of issue, and the business scope in full when it did not fit on the face.

The text is real text: one Noto CJK face (Song style, ``fonts-noto-cjk``) subset to the
characters used and embedded as a CID font with a ToUnicode map (pyHanko's OpenType
support), so it renders anywhere and can be searched and copied.  The QR code is drawn as
vector squares (``segno``).  Sealing is not done here: :func:`render_license` gives the
unsigned PDF, which the caller seals with the authority's seal (:data:`SEAL_CENTRE` is
where its centre goes).
"""

from __future__ import annotations

import functools
import io
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import segno
from fontTools import subset, ttLib
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.font.opentype import GlyphAccumulator
from pyhanko.pdf_utils.generic import pdf_name
from pyhanko.pdf_utils.writer import PdfFileWriter

from seals.images.fonts import cjk_face_index, find_cjk_font
from seals.license import License, LicenseStatus
from seals.permits import Permit, PermitKind, PermitStatus, beijing_day

__all__ = ["PAGE_SIZE", "SEAL_CENTRE", "LicenseSheet", "render_license"]

#: A4 landscape, points
PAGE_SIZE = (841.89, 595.28)
#: where the registration authority's seal is centred on page 1 (points from bottom left)
SEAL_CENTRE = (640.0, 128.0)

_BEIJING = timezone(timedelta(hours=8), "CST")
_RED = "0.62 0.08 0.08"
_INK = "0.1 0.1 0.1"
_GREY = "0.35 0.35 0.35"
#: the business scope's lines that fit on the face; the rest goes to the annex
_SCOPE_LINES = 8


@dataclass(frozen=True)
class LicenseSheet:
    """What the license PDF shows."""

    license: License
    #: the license's status when the file is made
    status: LicenseStatus
    #: the platform's registration authority, whose seal seals the file
    issuer: str
    issued_at: datetime
    #: the permanent check page the QR code points to
    check_url: str
    permits: Sequence[Permit] = field(default_factory=tuple)


def _date_text(value: str | None) -> str:
    """``2012-03-09`` as on a license, ``2012年03月09日``; other text as it is."""
    if value is None:
        return "—"
    try:
        day = date.fromisoformat(value)
    except ValueError:
        return value
    return f"{day.year}年{day.month:02d}月{day.day:02d}日"


def _term_text(value: str | None) -> str:
    if value is None:
        return "长期"
    parts = [p.strip() for p in value.replace("至", " 至 ").split(" 至 ")]
    return " 至 ".join(_date_text(p) if p else p for p in parts)


# -- fonts -------------------------------------------------------------------------------


def _body_font() -> tuple[Path, int]:
    """The Song (serif) regular face if installed beside the seal font, else that font."""
    found = find_cjk_font()
    regular = found.with_name("NotoSerifCJK-Regular.ttc")
    path = regular if regular.is_file() else found
    return path, cjk_face_index(path)


@functools.lru_cache(maxsize=16)
def _subset_font(path: Path, index: int, chars: frozenset[str]) -> bytes:
    """The face cut down to ``chars`` (a CJK face has 65,000 glyphs; a license uses a few
    hundred), as an OpenType file that pyHanko embeds (subset again) as a CID font."""
    font = ttLib.TTFont(path, fontNumber=index, lazy=True)
    options = subset.Options()
    # horizontal Chinese needs no layout features, and their closure is the slow part
    options.layout_features = []
    options.drop_tables += ["GSUB", "GPOS", "GDEF", "BASE", "VORG", "vhea", "vmtx"]
    options.hinting = False
    options.notdef_outline = True
    subsetter = subset.Subsetter(options)
    subsetter.populate(text="".join(sorted(chars)))
    subsetter.subset(font)
    out = io.BytesIO()
    font.save(out)
    return out.getvalue()


class _Canvas:
    """A page's content stream: text in the one embedded font, lines and squares."""

    def __init__(self, engine: GlyphAccumulator) -> None:
        self._engine = engine
        self._cmap = set(engine.tt.getBestCmap() or {})
        self.ops: list[bytes] = []

    def _drawable(self, text: str) -> str:
        """``text`` with the characters the face lacks shown as ``?`` (its .notdef glyph
        cannot be embedded)."""
        return "".join(ch if ord(ch) in self._cmap else "?" for ch in text)

    def width(self, text: str, size: float) -> float:
        self._engine.font_size = size  # type: ignore[assignment]  # pyHanko says int
        shaped = self._engine.shape(self._drawable(text), with_actual_text=False)
        return float(shaped.x_advance) * size

    def text(
        self,
        x: float,
        y: float,
        text: str,
        size: float,
        *,
        colour: str = _INK,
        bold: bool = False,
        align: str = "left",
        spacing: float = 0.0,
    ) -> float:
        """Draw ``text`` with its baseline at ``y``; returns its width."""
        if not text:
            return 0.0
        self._engine.font_size = size  # type: ignore[assignment]  # pyHanko says int
        text = self._drawable(text)
        shaped = self._engine.shape(text)
        width = float(shaped.x_advance) * size + spacing * max(len(text) - 1, 0)
        if align == "center":
            x -= width / 2
        elif align == "right":
            x -= width
        # bold: the glyphs filled and stroked (the face has one weight embedded)
        mode = b"2 Tr %.2f w " % (size / 40) if bold else b"0 Tr "
        tc = b"%.2f Tc " % spacing if spacing else b"0 Tc "
        self.ops.append(
            b"BT %s rg %s RG %s%s/F1 %.2f Tf 1 0 0 1 %.2f %.2f Tm %s ET"
            % (colour.encode(), colour.encode(), mode, tc, size, x, y, shaped.graphics_ops)
        )
        return width

    def wrap(self, text: str, size: float, width: float) -> list[str]:
        """``text`` broken into lines of at most ``width`` (at any character: Chinese has
        no spaces; a line does not start with a closing punctuation mark)."""
        lines: list[str] = []
        for paragraph in text.splitlines() or [""]:
            line = ""
            for char in paragraph:
                if (
                    line
                    and self.width(line + char, size) > width
                    and char not in "，。、；：）》」”"
                ):
                    lines.append(line)
                    line = char
                else:
                    line += char
            lines.append(line)
        return lines

    def rect(self, x: float, y: float, w: float, h: float, *, colour: str, line: float) -> None:
        self.ops.append(
            b"%s RG %.2f w %.2f %.2f %.2f %.2f re S" % (colour.encode(), line, x, y, w, h)
        )

    def hline(
        self, x1: float, x2: float, y: float, *, colour: str = _GREY, line: float = 0.5
    ) -> None:
        self.ops.append(
            b"%s RG %.2f w %.2f %.2f m %.2f %.2f l S" % (colour.encode(), line, x1, y, x2, y)
        )

    def qr(self, x: float, y: float, size: float, data: str) -> None:
        """A QR code of ``data`` with its bottom-left corner at (x, y), ``size`` wide."""
        code = segno.make(data, error="m", micro=False)
        matrix = [list(row) for row in code.matrix]
        border = 2
        count = len(matrix) + 2 * border
        cell = size / count
        squares = [
            b"%.3f %.3f %.3f %.3f re"
            % (x + (c + border) * cell, y + size - (r + border + 1) * cell, cell, cell)
            for r, row in enumerate(matrix)
            for c, dark in enumerate(row)
            if dark
        ]
        self.ops.append(b"1 1 1 rg %.2f %.2f %.2f %.2f re f" % (x, y, size, size))
        self.ops.append(b"0 0 0 rg " + b" ".join(squares) + b" f")

    def stream(self) -> bytes:
        return b"\n".join(self.ops)


def _characters(sheet: LicenseSheet, fixed: str) -> frozenset[str]:
    lic = sheet.license
    texts = [
        fixed,
        sheet.issuer,
        sheet.check_url,
        *(v for v in lic.model_dump().values() if isinstance(v, str)),
    ]
    for p in sheet.permits:
        texts += [p.name, p.number, p.issuing_authority, p.scope or "", p.kind.label]
    texts.append("".join(chr(c) for c in range(0x20, 0x7F)))
    texts += [s.label for s in LicenseStatus] + [s.label for s in PermitStatus]
    texts += [k.label for k in PermitKind]
    return frozenset("".join(texts)) - {"\n", "\r", "\t"}


# -- the pages -----------------------------------------------------------------------------

#: every character this module writes itself: all of its own text (labels, punctuation)
_OWN_TEXT = Path(__file__).read_text(encoding="utf-8")


def render_license(sheet: LicenseSheet) -> bytes:
    """The unsigned license PDF (two pages: the face and the annex)."""
    path, index = _body_font()
    font = _subset_font(path, index, _characters(sheet, _OWN_TEXT))
    writer = PdfFileWriter()
    engine = GlyphAccumulator(writer, io.BytesIO(font), 12, bcp47_lang_code="zh-CN")
    font_ref = engine.as_resource()

    face = _Canvas(engine)
    rest_of_scope = _face(face, sheet)
    annex = _Canvas(engine)
    _annex(annex, sheet, rest_of_scope)

    for canvas in (face, annex):
        content = writer.add_object(generic.StreamObject(stream_data=canvas.stream()))
        page = generic.DictionaryObject(
            {
                pdf_name("/Type"): pdf_name("/Page"),
                pdf_name("/MediaBox"): generic.ArrayObject(
                    [generic.FloatObject(0), generic.FloatObject(0)]
                    + [generic.FloatObject(v) for v in PAGE_SIZE]
                ),
                pdf_name("/Resources"): generic.DictionaryObject(
                    {pdf_name("/Font"): generic.DictionaryObject({pdf_name("/F1"): font_ref})}
                ),
                pdf_name("/Contents"): content,
            }
        )
        writer.insert_page(page)
    lic = sheet.license
    writer.set_info(
        generic.DictionaryObject(
            {
                pdf_name("/Title"): generic.TextStringObject(f"营业执照 {lic.name}"),
                pdf_name("/Subject"): generic.TextStringObject(lic.uscc),
                pdf_name("/Author"): generic.TextStringObject(sheet.issuer),
                pdf_name("/Producer"): generic.TextStringObject("eseal"),
            }
        )
    )
    writer.root[pdf_name("/Lang")] = generic.TextStringObject("zh-CN")
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def _frame(c: _Canvas) -> None:
    width, height = PAGE_SIZE
    c.rect(22, 22, width - 44, height - 44, colour=_RED, line=2.2)
    c.rect(28, 28, width - 56, height - 56, colour=_RED, line=0.6)


def _issued_text(at: datetime) -> str:
    local = at.astimezone(_BEIJING)
    return f"{local:%Y-%m-%d %H:%M:%S}（北京时间）"


def _face(c: _Canvas, sheet: LicenseSheet) -> list[str]:
    """Page 1; returns the lines of the business scope that did not fit."""
    lic = sheet.license
    width, height = PAGE_SIZE
    _frame(c)
    c.text(
        width / 2, height - 105, "营业执照", 40, colour=_RED, bold=True, align="center", spacing=18
    )
    c.text(width / 2, height - 130, "（电子营业执照出具件）", 11, colour=_GREY, align="center")

    c.text(60, height - 70, "统一社会信用代码", 11, colour=_GREY)
    c.text(60, height - 92, lic.uscc, 15, bold=True)

    qr = 84.0
    c.qr(width - 60 - qr, height - 52 - qr, qr, sheet.check_url)
    c.text(
        width - 60 - qr / 2, height - 64 - qr, "扫码查询当前状态", 8, colour=_GREY, align="center"
    )

    top = height - 180
    label_size, value_size, step = 11.5, 11.5, 27.0

    def field(x: float, y: float, label: str, value: str, value_width: float) -> float:
        c.text(x, y, label, label_size, colour=_GREY, spacing=label_spacing(label))
        lines = c.wrap(value, value_size, value_width)
        for i, line in enumerate(lines):
            c.text(x + 86, y - i * 16, line, value_size)
        return y - step - (len(lines) - 1) * 16

    def label_spacing(label: str) -> float:
        # labels are justified to four characters' width, as on the paper license
        return (4 - len(label)) * label_size / max(len(label) - 1, 1) if len(label) < 4 else 0.0

    left_x, right_x = 60.0, 450.0
    y = top
    y = field(left_x, y, "名称", lic.name, 290)
    y = field(left_x, y, "类型", lic.type, 290)
    y = field(left_x, y, "法定代表人", lic.legal_representative, 290)
    c.text(left_x, y, "经营范围", label_size, colour=_GREY)
    scope = c.wrap(lic.business_scope or "—", 10.5, 290)
    shown, rest = scope[:_SCOPE_LINES], scope[_SCOPE_LINES:]
    if rest:
        shown[-1] = shown[-1][:-6] + "……（详见附页）"
    for i, line in enumerate(shown):
        c.text(left_x + 86, y - i * 15, line, 10.5)

    y = top
    y = field(right_x, y, "注册资本", lic.registered_capital or "—", 240)
    y = field(right_x, y, "成立日期", _date_text(lic.established), 240)
    y = field(right_x, y, "营业期限", _term_text(lic.business_term), 240)
    y = field(right_x, y, "住所", lic.address or "—", 240)
    field(right_x, y, "登记状态", f"{sheet.status.label}（{_issued_text(sheet.issued_at)}）", 240)

    sx, sy = SEAL_CENTRE
    c.text(sx - 110, sy + 30, "登记机关", 12, colour=_GREY)
    c.text(sx - 40, sy + 30, lic.registration_authority or sheet.issuer, 12)
    c.text(sx - 110, sy + 6, "核准日期", 12, colour=_GREY)
    c.text(sx - 40, sy + 6, _date_text(lic.approved), 12)

    issued = _issued_text(sheet.issued_at)
    footer = f"本件由{sheet.issuer}依据登记信息生成并加盖电子印章，出具时间 {issued}。"
    c.text(60, 52, footer, 8, colour=_GREY)
    c.text(
        60,
        40,
        f"执照的当前状态以扫描右上角二维码或访问 {sheet.check_url} 所示为准。",
        8,
        colour=_GREY,
    )
    c.text(width - 60, 40, "第 1 页 共 2 页", 8, colour=_GREY, align="right")
    return rest


def _annex(c: _Canvas, sheet: LicenseSheet, rest_of_scope: list[str]) -> None:
    width, height = PAGE_SIZE
    _frame(c)
    lic = sheet.license
    day = beijing_day(sheet.issued_at)
    c.text(
        width / 2, height - 70, "附件：许可与备案信息", 18, colour=_RED, bold=True, align="center"
    )
    c.text(
        width / 2,
        height - 92,
        f"{lic.name}（统一社会信用代码 {lic.uscc}）· 状态为出具之日 {day.isoformat()} 的状态",
        9,
        colour=_GREY,
        align="center",
    )
    columns = (
        ("序号", 60),
        ("类型", 92),
        ("名称", 130),
        ("编号", 270),
        ("发证机关", 400),
        ("有效期限", 540),
        ("状态", 690),
    )
    y = height - 125
    for title, x in columns:
        c.text(x, y, title, 10, colour=_GREY)
    c.hline(56, width - 56, y - 6, line=0.8)
    y -= 24
    if not sheet.permits:
        c.text(60, y, "无", 10)
        y -= 20
    for n, permit in enumerate(sheet.permits, 1):
        if y < 110:
            c.text(60, y, f"……（另有 {len(sheet.permits) - n + 1} 项，见核验页）", 9, colour=_GREY)
            y -= 18
            break
        status = permit.status_on(day)
        end = permit.valid_to.isoformat() if permit.valid_to else "长期"
        period = f"{permit.valid_from.isoformat()} 至 {end}"
        cells = (
            (str(n), 60, 30),
            (permit.kind.label, 92, 36),
            (permit.name, 130, 135),
            (permit.number, 270, 125),
            (permit.issuing_authority, 400, 135),
            (period, 540, 145),
            (status.label + ("（即将到期）" if permit.expiring(day) else ""), 690, 100),
        )
        used = 1
        for text, x, w in cells:
            lines = c.wrap(text, 9.5, w)
            used = max(used, len(lines))
            for i, line in enumerate(lines):
                c.text(x, y - i * 13, line, 9.5)
        y -= used * 13
        if permit.scope:
            for i, line in enumerate(c.wrap(f"许可范围：{permit.scope}", 8.5, width - 200)[:3]):
                c.text(130, y - i * 12, line, 8.5, colour=_GREY)
                used += 1
            y -= 12 * min(3, len(c.wrap(f"许可范围：{permit.scope}", 8.5, width - 200)))
        c.hline(56, width - 56, y + 4, colour="0.8 0.8 0.8", line=0.4)
        y -= 14
    if rest_of_scope:
        y -= 10
        c.text(60, y, "经营范围（续）", 10, colour=_GREY)
        y -= 18
        for line in rest_of_scope:
            if y < 70:
                break
            c.text(60, y, line, 9.5)
            y -= 14
    c.text(
        60,
        40,
        f"本附件与第 1 页为同一文件，出具时间 {_issued_text(sheet.issued_at)}。",
        8,
        colour=_GREY,
    )
    c.text(width - 60, 40, "第 2 页 共 2 页", 8, colour=_GREY, align="right")
