"""Find a text such as ``甲方（盖章）`` in a PDF, with its position on the page.

Real contracts draw Chinese text with CID fonts (``/Type0``, ``/Identity-H``) whose only link to
Unicode is a ``/ToUnicode`` CMap, and producers split text freely: one glyph per ``TJ`` element,
``甲方`` and ``（盖章）`` in separate ``Tj`` operators, kerning numbers in between, the text of a
table cell in a form XObject.  This module therefore runs its own small content-stream
interpreter: it follows the graphics and text state (``cm``, ``q``/``Q``, ``Tm``, ``Td``,
``Tc``, ``Tw``, ``Tz``, ``TL``, ``Ts``, ``TJ`` adjustments, form XObjects), decodes every glyph
through the font's encoding and ``/ToUnicode`` map, and measures it with the font's widths.
The page's glyphs are then searched as one string, so a keyword is found however the
producer cut it up.

Matching ignores whitespace and Unicode compatibility differences (NFKC: full-width and
half-width forms, CJK compatibility ideographs and the Kangxi radicals some producers put
in their ToUnicode maps).  The page text is searched twice: in content-stream order, and in
reading order (lines top to bottom, glyphs left to right) for producers that draw a line out
of order; overlapping hits count once.  Text drawn twice at the same place to fake a bold
face counts once.

Positions are visible-page coordinates in points (origin at the bottom-left corner of the
page as displayed, after ``/CropBox`` and ``/Rotate``).  A glyph's box is its advance width
by the font's declared ascent and descent.

Known limits: glyphs without a Unicode mapping (no ``/ToUnicode`` and a non-Unicode
encoding) cannot be matched; predefined CJK CMaps other than Identity and the Unicode ones
are decoded by their Python codec with the font's default width; the standard 14 fonts
without ``/Widths`` are measured as half an em per glyph; in vertical writing every glyph
is a 1 em cell (``/W2`` is not read); ``/ActualText`` is not used.

It reads PDFs through pyHanko's object model only (pypdf is no runtime dependency of
eseal).  It is pure Python and CPU-bound — about 1.5 s for 100 densely printed pages
(180 000 glyphs) on a 2-core machine, a few milliseconds for a contract page — so async
callers run it in a worker thread.
"""

from __future__ import annotations

import codecs
import functools
import logging
import math
import re
import unicodedata
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.rw_common import PdfHandler

from .errors import InvalidPlacement, KeywordNotFound
from .placement import Matrix, PageGeometry, Rect, iter_pages, open_pdf

__all__ = ["Glyph", "Hit", "find_keyword", "page_glyphs", "text_rotation"]

logger = logging.getLogger(__name__)

_IDENTITY: Matrix = (1.0, 0.0, 0.0, 1.0, 0.0, 0.0)
_MAX_FORM_DEPTH = 12
_MAX_CMAP_RANGE = 0x10000  # a bfrange longer than this is kept as a range, never expanded
_MAX_CMAP_EXPANSION = 0x10000  # codes expanded into the look-up table per CMap, at most
_DEFAULT_ASCENT = 0.88
_DEFAULT_DESCENT = -0.12


@dataclass(frozen=True)
class Hit:
    """One occurrence of a keyword: page counted from 1, box in visible points."""

    page: int
    x0: float
    y0: float
    x1: float
    y1: float

    @property
    def center(self) -> tuple[float, float]:
        return (self.x0 + self.x1) / 2, (self.y0 + self.y1) / 2


@dataclass(frozen=True)
class Glyph:
    """One drawn glyph: its Unicode text (may be empty or several characters) and its box."""

    text: str
    box: Rect
    size: float  #: the font size as seen on the page, in points


# =========================================================================== matrices


def _mul(m: Matrix, n: Matrix) -> Matrix:
    """``m`` then ``n`` (PDF row-vector convention)."""
    a, b, c, d, e, f = m
    p, q, r, s, t, u = n
    return (
        a * p + b * r,
        a * q + b * s,
        c * p + d * r,
        c * q + d * s,
        e * p + f * r + t,
        e * q + f * s + u,
    )


def _matrix(values: list[Any]) -> Matrix:
    a, b, c, d, e, f = (float(v) for v in values)
    return (a, b, c, d, e, f)


# =========================================================================== tokenizer


class _Name(str):
    """A PDF name (without the slash)."""


class _Op(str):
    """A content-stream operator."""


_WS = b"\x00\t\n\x0c\r "
_TOKEN = re.compile(
    rb"""
    (?P<ws>[\x00\t\n\x0c\r ]+)
  | (?P<comment>%[^\r\n]*)
  | (?P<num>[+-]?(?:\d+\.?\d*|\.\d+))(?![^\x00\t\n\x0c\r ()<>\[\]{}/%])
  | (?P<name>/[^\x00\t\n\x0c\r ()<>\[\]{}/%]*)
  | (?P<dopen><<)
  | (?P<dclose>>>)
  | (?P<hex><[0-9A-Fa-f\x00\t\n\x0c\r ]*>)
  | (?P<aopen>\[)
  | (?P<aclose>\])
  | (?P<lit>\()
  | (?P<op>[^\x00\t\n\x0c\r ()<>\[\]{}/%]+)
  | (?P<other>.)
    """,
    re.VERBOSE | re.DOTALL,
)
_NAME_ESCAPE = re.compile(rb"#([0-9A-Fa-f]{2})")
_EI = re.compile(rb"[\x00\t\n\x0c\r ]EI(?=[\x00\t\n\x0c\r ]|$)")
_LIT_ESCAPES = {
    ord("n"): b"\n",
    ord("r"): b"\r",
    ord("t"): b"\t",
    ord("b"): b"\b",
    ord("f"): b"\f",
    ord("("): b"(",
    ord(")"): b")",
    ord("\\"): b"\\",
}


def _literal(data: bytes, pos: int) -> tuple[bytes, int]:
    """Read a literal string whose ``(`` is just before ``pos``; return it and the end."""
    out = bytearray()
    depth = 1
    n = len(data)
    while pos < n:
        ch = data[pos]
        if ch == 0x5C:  # backslash
            pos += 1
            if pos >= n:
                break
            esc = data[pos]
            if esc in _LIT_ESCAPES:
                out += _LIT_ESCAPES[esc]
                pos += 1
            elif 0x30 <= esc <= 0x37:
                end = pos
                while end < n and end < pos + 3 and 0x30 <= data[end] <= 0x37:
                    end += 1
                out.append(int(data[pos:end], 8) & 0xFF)
                pos = end
            elif esc == 0x0D:  # line continuation
                pos += 2 if data[pos + 1 : pos + 2] == b"\n" else 1
            elif esc == 0x0A:
                pos += 1
            else:
                out.append(esc)
                pos += 1
            continue
        if ch == 0x28:
            depth += 1
        elif ch == 0x29:
            depth -= 1
            if depth == 0:
                return bytes(out), pos + 1
        out.append(ch)
        pos += 1
    return bytes(out), pos


def _operations(data: bytes) -> Iterator[tuple[_Op, list[Any]]]:
    """Operators with their operands; inline images are skipped, junk is dropped."""
    operands: list[Any] = []
    stack: list[tuple[str, list[Any]]] = []
    pos = 0
    n = len(data)
    while pos < n:
        m = _TOKEN.match(data, pos)
        if m is None:  # pragma: no cover - the pattern matches any byte
            break
        kind = m.lastgroup
        pos = m.end()
        value: Any
        if kind in ("ws", "comment", "other"):
            continue
        if kind == "num":
            value = float(m.group())
        elif kind == "name":
            raw = _NAME_ESCAPE.sub(lambda g: bytes([int(g.group(1), 16)]), m.group()[1:])
            value = _Name(raw.decode("latin-1"))
        elif kind == "hex":
            digits = bytes(c for c in m.group()[1:-1] if c not in _WS)
            if len(digits) % 2:
                digits += b"0"
            value = bytes.fromhex(digits.decode("ascii"))
        elif kind == "lit":
            value, pos = _literal(data, pos)
        elif kind in ("aopen", "dopen"):
            stack.append((kind, operands))
            operands = []
            continue
        elif kind in ("aclose", "dclose"):
            want = "aopen" if kind == "aclose" else "dopen"
            if not stack or stack[-1][0] != want:
                operands = []
                stack.clear()
                continue
            _, outer = stack.pop()
            if kind == "aclose":
                value = operands
            else:
                items = operands
                value = {
                    items[i]: items[i + 1]
                    for i in range(0, len(items) - 1, 2)
                    if isinstance(items[i], _Name)
                }
            operands = outer
        else:  # an operator (or true/false/null)
            word = m.group().decode("latin-1")
            if word in ("true", "false", "null"):
                operands.append({"true": True, "false": False, "null": None}[word])
                continue
            if stack:  # an operator inside an array or dict: malformed, recover
                stack.clear()
                operands = []
            if word == "ID":
                pos = _skip_inline_image(data, pos, operands)
                operands = []
                continue
            yield _Op(word), operands
            operands = []
            continue
        operands.append(value)


def _skip_inline_image(data: bytes, pos: int, operands: list[Any]) -> int:
    """Skip the data of an inline image (``BI ... ID <data> EI``); return the position after EI."""
    params: dict[str, Any] = {}
    for i in range(0, len(operands) - 1, 2):
        if isinstance(operands[i], _Name):
            params[operands[i]] = operands[i + 1]
    pos += 1  # the single white-space character after ID
    length = params.get("L", params.get("Length"))
    if isinstance(length, float) and length >= 0:
        end = _EI.search(data, pos + int(length) - 1)
        if end is not None:
            return end.end()
    end = _EI.search(data, pos)
    return len(data) if end is None else end.end()


# =========================================================================== CMaps


def _obj(value: Any) -> Any:
    return value.get_object() if isinstance(value, generic.IndirectObject) else value


def _stream_data(stream: Any) -> bytes | None:
    stream = _obj(stream)
    if not isinstance(stream, generic.StreamObject):
        return None
    try:
        return stream.data
    except Exception as exc:  # an undecodable stream is skipped, not fatal
        logger.debug("cannot decode a stream: %s", exc)
        return None


def _utf16(data: bytes) -> str:
    if len(data) % 2:
        return data.decode("latin-1")
    return data.decode("utf-16-be", "replace")


def _range_text(base: Any, offset: int) -> str | None:
    """The text of the code ``offset`` places into a ``bfrange`` starting at ``base``."""
    if isinstance(base, list):
        return _utf16(base[offset]) if offset < len(base) else None
    if isinstance(base, bytes) and base:
        # the last byte counts up (ISO 32000-1, 9.10.3); carrying into the others is what
        # producers that write long ranges expect
        value = int.from_bytes(base, "big") + offset
        if value >= 1 << (8 * len(base)):
            return None
        return _utf16(value.to_bytes(len(base), "big"))
    return None


@dataclass
class _CMap:
    """The parts of a CMap we need: code lengths, and code → Unicode or code → CID."""

    codespace: list[tuple[int, int, int]]  # (length in bytes, low, high)
    single: dict[tuple[int, int], Any]  # (length, code) → str or CID
    ranges: list[tuple[int, int, int, Any]]  # (length, low, high, base) base: bytes, list or CID
    vertical: bool = False

    def lookup_text(self, length: int, code: int) -> str | None:
        value = self.single.get((length, code))
        if value is not None:
            return str(value)
        for size, low, high, base in self.ranges:
            if size == length and low <= code <= high:
                return _range_text(base, code - low)
        return None

    def lookup_cid(self, length: int, code: int) -> int | None:
        value = self.single.get((length, code))
        if isinstance(value, int):
            return value
        for size, low, high, base in self.ranges:
            if size == length and low <= code <= high and isinstance(base, int):
                return base + code - low
        return None

    def split(self, data: bytes, default: int = 2) -> Iterator[tuple[int, int]]:
        """Cut a string into codes: ``(length, code)`` pairs, by the codespace ranges."""
        pos, n = 0, len(data)
        spaces = sorted(self.codespace)
        while pos < n:
            for size, low, high in spaces:
                if pos + size <= n and low <= int.from_bytes(data[pos : pos + size], "big") <= high:
                    break
            else:
                size = min(spaces[0][0] if spaces else default, n - pos)
            yield size, int.from_bytes(data[pos : pos + size], "big")
            pos += size


_CMAP_TOKEN = re.compile(rb"<[0-9A-Fa-f\s]*>|\[|\]|/[^\s/\[\]<>()]*|\d+|[A-Za-z]+|\([^)]*\)")


def _parse_cmap(data: bytes, *, to_unicode: bool) -> _CMap:
    cmap = _CMap(codespace=[], single={}, ranges=[])
    tokens = _CMAP_TOKEN.findall(data)
    i, n = 0, len(tokens)

    def hexval(tok: bytes) -> bytes:
        digits = bytes(c for c in tok[1:-1] if c not in _WS)
        if len(digits) % 2:
            digits += b"0"
        return bytes.fromhex(digits.decode("ascii"))

    def dst(tok: Any) -> Any:
        if isinstance(tok, list):
            return tok
        if tok.startswith(b"<"):
            return hexval(tok)
        if tok.startswith(b"/"):  # a glyph name as destination
            from fontTools import agl

            return agl.toUnicode(tok[1:].decode("latin-1")).encode("utf-16-be")
        if tok.isdigit():
            return int(tok)
        return None

    section = None
    args: list[Any] = []
    array: list[bytes] | None = None
    while i < n:
        tok = tokens[i]
        i += 1
        if tok in (
            b"begincodespacerange",
            b"beginbfchar",
            b"beginbfrange",
            b"begincidchar",
            b"begincidrange",
        ):
            section, args = tok[5:].decode(), []
            continue
        if tok.startswith(b"end") and section is not None:
            section, args = None, []
            continue
        if tok == b"/WMode" and i < n and tokens[i] == b"1":
            cmap.vertical = True
        if section is None:
            continue
        if tok == b"[":
            array = []
            continue
        if tok == b"]":
            args.append([hexval(t) for t in (array or []) if t.startswith(b"<")])
            array = None
        elif array is not None:
            array.append(tok)
            continue
        else:
            args.append(tok)
        if section == "codespacerange" and len(args) == 2:
            first, last = hexval(args[0]), hexval(args[1])
            cmap.codespace.append(
                (len(first), int.from_bytes(first, "big"), int.from_bytes(last, "big"))
            )
            args = []
        elif section in ("bfchar", "cidchar") and len(args) == 2:
            if isinstance(args[0], bytes) and args[0].startswith(b"<"):
                src = hexval(args[0])
                value = dst(args[1])
                if to_unicode and isinstance(value, bytes):
                    value = _utf16(value)
                if value is not None:
                    cmap.single[(len(src), int.from_bytes(src, "big"))] = value
            args = []
        elif section in ("bfrange", "cidrange") and len(args) == 3:
            if isinstance(args[0], bytes) and isinstance(args[1], bytes):
                low_b, high_b = hexval(args[0]), hexval(args[1])
                low, high = int.from_bytes(low_b, "big"), int.from_bytes(high_b, "big")
                base = dst(args[2])
                if high >= low and base is not None:
                    cmap.ranges.append((len(low_b), low, high, base))
            args = []
    if not to_unicode:
        return cmap
    # expand short bfranges into the dict for fast look-ups (a bfchar entry wins over them)
    kept = []
    budget = _MAX_CMAP_EXPANSION
    for size, low, high, base in cmap.ranges:
        if high - low >= _MAX_CMAP_RANGE or high - low >= budget:
            kept.append((size, low, high, base))
            continue
        budget -= high - low + 1
        for code in range(low, high + 1):
            text = _range_text(base, code - low)
            if text is not None:
                cmap.single.setdefault((size, code), text)
    cmap.ranges = kept
    return cmap


# =========================================================================== fonts

#: Predefined CMaps (ISO 32000-1, 9.7.5.2) we decode with a Python codec.
_PREDEFINED_CODECS = {
    "GB-EUC": "gb2312",
    "GBpc-EUC": "gb2312",
    "GBK-EUC": "gbk",
    "GBKp-EUC": "gbk",
    "GBK2K": "gb18030",
    "B5pc": "cp950",
    "ETen-B5": "cp950",
    "ETenms-B5": "cp950",
    "HKscs-B5": "big5hkscs",
    "90ms-RKSJ": "cp932",
    "90msp-RKSJ": "cp932",
    "KSC-EUC": "euc_kr",
    "KSCms-UHC": "cp949",
}


def _number(value: Any, default: float) -> float:
    value = _obj(value)
    try:
        result = float(value)
    except (TypeError, ValueError):
        return default
    return result if math.isfinite(result) else default


class _Font:
    """What the interpreter needs of a font: codes, their text, their widths, ascent/descent.

    Widths, ascent and descent are in text space per unit of font size (1/1000 of glyph
    space for all fonts but Type 3, whose ``/FontMatrix`` says).
    """

    def __init__(self, font: generic.DictionaryObject) -> None:
        self.subtype = str(font.get("/Subtype", ""))
        self.vertical = False
        self.ascent, self.descent = _DEFAULT_ASCENT, _DEFAULT_DESCENT
        self.to_unicode: _CMap | None = None
        data = _stream_data(font.get("/ToUnicode")) if "/ToUnicode" in font else None
        if data:
            try:
                self.to_unicode = _parse_cmap(data, to_unicode=True)
            except Exception as exc:  # a broken map: fall back to the encoding
                logger.debug("unreadable ToUnicode map: %s", exc)
        if self.subtype == "/Type0":
            self._init_composite(font)
        else:
            self._init_simple(font)

    # ------------------------------------------------------------- metrics

    def _metrics(self, descriptor: Any, scale: float) -> None:
        descriptor = _obj(descriptor)
        if not isinstance(descriptor, generic.DictionaryObject):
            return
        ascent = _number(descriptor.get("/Ascent"), 0.0) * scale
        descent = _number(descriptor.get("/Descent"), 0.0) * scale
        if ascent > 0:
            self.ascent = ascent
        if descent < 0:
            self.descent = descent
        if ascent <= 0 and "/FontBBox" in descriptor:
            bbox = [_number(v, 0.0) for v in _obj(descriptor["/FontBBox"])]
            if len(bbox) == 4 and bbox[3] > 0:
                self.ascent = bbox[3] * scale
                self.descent = min(bbox[1] * scale, 0.0) or self.descent

    # ------------------------------------------------------------- composite fonts

    def _init_composite(self, font: generic.DictionaryObject) -> None:
        self.simple = False
        self.codec: str | None = None
        self.encoding_cmap: _CMap | None = None
        self.identity = False
        encoding = _obj(font.get("/Encoding"))
        if isinstance(encoding, generic.NameObject):
            name = str(encoding)[1:]
            self.vertical = name.endswith("-V")
            base = name[:-2] if name[-2:] in ("-H", "-V") else name
            if base == "Identity":
                self.identity = True
            elif "UCS2" in base or "UTF16" in base:
                self.codec = "utf-16-be"
            else:
                self.codec = _PREDEFINED_CODECS.get(base)
        elif isinstance(encoding, generic.StreamObject):
            data = _stream_data(encoding)
            if data:
                self.encoding_cmap = _parse_cmap(data, to_unicode=False)
                self.vertical = (
                    self.encoding_cmap.vertical or _number(encoding.get("/WMode"), 0) == 1
                )
        else:
            self.identity = True

        self.widths: dict[int, float] = {}
        self.default_width = 1.0
        self.vertical_advance = -1.0
        descendants = _obj(font.get("/DescendantFonts"))
        if isinstance(descendants, generic.ArrayObject) and len(descendants):
            cid_font = _obj(descendants[0])
            if isinstance(cid_font, generic.DictionaryObject):
                self.default_width = _number(cid_font.get("/DW"), 1000.0) / 1000
                dw2 = _obj(cid_font.get("/DW2"))
                if isinstance(dw2, generic.ArrayObject) and len(dw2) == 2:
                    self.vertical_advance = _number(dw2[1], -1000.0) / 1000
                self._cid_widths(_obj(cid_font.get("/W")))
                self._metrics(cid_font.get("/FontDescriptor"), 0.001)

    def _cid_widths(self, w: Any) -> None:
        if not isinstance(w, generic.ArrayObject):
            return
        items = [_obj(x) for x in w]
        i = 0
        budget = 200_000
        while i < len(items) and budget > 0:
            first = items[i]
            if i + 1 < len(items) and isinstance(items[i + 1], generic.ArrayObject):
                for k, width in enumerate(items[i + 1]):
                    self.widths[int(_number(first, 0)) + k] = _number(width, 1000.0) / 1000
                budget -= len(items[i + 1])
                i += 2
            elif i + 2 < len(items):
                low, high = int(_number(first, 0)), int(_number(items[i + 1], -1))
                width = _number(items[i + 2], 1000.0) / 1000
                for cid in range(low, min(high, low + budget) + 1):
                    self.widths[cid] = width
                budget -= max(high - low, 0) + 1
                i += 3
            else:
                break

    # ------------------------------------------------------------- simple fonts

    def _init_simple(self, font: generic.DictionaryObject) -> None:
        self.simple = True
        scale = 0.001
        if self.subtype == "/Type3":
            matrix = _obj(font.get("/FontMatrix"))
            if isinstance(matrix, generic.ArrayObject) and len(matrix) == 6:
                scale = abs(_number(matrix[0], 0.001)) or 0.001
        base_font = str(font.get("/BaseFont", ""))
        default = 0.6 if "Courier" in base_font else 0.5
        self.simple_widths: dict[int, float] = {}
        descriptor = _obj(font.get("/FontDescriptor"))
        if isinstance(descriptor, generic.DictionaryObject) and "/MissingWidth" in descriptor:
            missing = _number(descriptor["/MissingWidth"], 0.0) * scale
            if missing > 0:
                default = missing
        self.default_width = default
        widths = _obj(font.get("/Widths"))
        if isinstance(widths, generic.ArrayObject):
            first = int(_number(font.get("/FirstChar"), 0))
            for k, width in enumerate(widths):
                if 0 <= first + k <= 255:
                    self.simple_widths[first + k] = _number(width, 0.0) * scale
        self._metrics(descriptor, scale)
        if self.subtype == "/Type3" and not isinstance(descriptor, generic.DictionaryObject):
            bbox = _obj(font.get("/FontBBox"))
            if isinstance(bbox, generic.ArrayObject) and len(bbox) == 4:
                top, bottom = _number(bbox[3], 0) * scale, _number(bbox[1], 0) * scale
                if top > 0:
                    self.ascent, self.descent = top, min(bottom, 0.0) or self.descent
        self.simple_text = self._simple_encoding(font)

    @staticmethod
    def _simple_encoding(font: generic.DictionaryObject) -> dict[int, str]:
        from fontTools import agl
        from fontTools.encodings.StandardEncoding import StandardEncoding

        def base(name: str) -> dict[int, str]:
            if name == "/WinAnsiEncoding":
                return {c: bytes([c]).decode("cp1252", "replace") for c in range(256)}
            if name == "/MacRomanEncoding":
                return {c: bytes([c]).decode("mac_roman") for c in range(256)}
            if name == "/StandardEncoding":
                return {
                    c: agl.toUnicode(g) for c, g in enumerate(StandardEncoding) if g != ".notdef"
                }
            return {c: chr(c) for c in range(256)}

        encoding = _obj(font.get("/Encoding"))
        table: dict[int, str]
        if isinstance(encoding, generic.NameObject):
            table = base(str(encoding))
        elif isinstance(encoding, generic.DictionaryObject):
            table = base(str(encoding.get("/BaseEncoding", "/StandardEncoding")))
            differences = _obj(encoding.get("/Differences"))
            if isinstance(differences, generic.ArrayObject):
                code = 0
                for item in differences:
                    item = _obj(item)
                    if isinstance(item, generic.NameObject):
                        if 0 <= code <= 255:
                            table[code] = _glyph_text(str(item)[1:])
                        code += 1
                    else:
                        code = int(_number(item, 0))
        else:
            table = base("/StandardEncoding" if font.get("/Subtype") == "/Type1" else "")
        return table

    # ------------------------------------------------------------- decoding

    def decode(self, data: bytes) -> Iterator[tuple[str, float, bool]]:
        """``(text, width, is_space_byte)`` for every code of a shown string."""
        if self.simple:
            for code in data:
                text = None
                if self.to_unicode is not None:
                    text = self.to_unicode.lookup_text(1, code)
                if text is None:
                    text = self.simple_text.get(code, "")
                yield text, self.simple_widths.get(code, self.default_width), code == 32
            return
        yield from self._decode_composite(data)

    def _decode_composite(self, data: bytes) -> Iterator[tuple[str, float, bool]]:
        for length, code in self._split(data):
            cid: int | None
            if self.identity:
                cid = code
            elif self.encoding_cmap is not None:
                cid = self.encoding_cmap.lookup_cid(length, code)
            else:
                cid = None
            text = None
            if self.to_unicode is not None:
                text = self.to_unicode.lookup_text(length, code)
            if text is None and self.codec is not None:
                text = code.to_bytes(length, "big").decode(self.codec, "ignore")
            width = self.default_width if cid is None else self.widths.get(cid, self.default_width)
            yield text or "", width, length == 1 and code == 32

    def _split(self, data: bytes) -> Iterator[tuple[int, int]]:
        if self.identity:
            for pos in range(0, len(data) - 1, 2):
                yield 2, (data[pos] << 8) | data[pos + 1]
            return
        if self.encoding_cmap is not None and self.encoding_cmap.codespace:
            yield from self.encoding_cmap.split(data)
            return
        if self.codec is not None:
            yield from _split_by_codec(data, self.codec)
            return
        if self.to_unicode is not None and self.to_unicode.codespace:
            yield from self.to_unicode.split(data)
            return
        for pos in range(0, len(data) - 1, 2):
            yield 2, (data[pos] << 8) | data[pos + 1]


def _glyph_text(name: str) -> str:
    from fontTools import agl

    try:
        return agl.toUnicode(name)
    except Exception:  # pragma: no cover - defensive against odd names
        return ""


def _split_by_codec(data: bytes, codec: str) -> Iterator[tuple[int, int]]:
    """Cut a string into the codes of a multi-byte codec by feeding it byte by byte."""
    decoder = codecs.getincrementaldecoder(codec)("ignore")
    start = 0
    for pos in range(len(data)):
        if decoder.decode(data[pos : pos + 1]) or pos - start >= 3:
            size = pos - start + 1
            yield size, int.from_bytes(data[start : pos + 1], "big")
            decoder.reset()
            start = pos + 1


# =========================================================================== interpreter


@dataclass
class _GState:
    ctm: Matrix = _IDENTITY
    font: _Font | None = None
    size: float = 0.0
    char_spacing: float = 0.0
    word_spacing: float = 0.0
    scale: float = 1.0
    leading: float = 0.0
    rise: float = 0.0

    def copy(self) -> _GState:
        return _GState(**self.__dict__)


class _Interpreter:
    def __init__(
        self,
        geometry: PageGeometry,
        fonts: dict[Any, _Font | None],
        *,
        glyph_limit: int | None = None,
    ) -> None:
        self.to_visible = geometry.visible_matrix
        self.fonts = fonts
        self.glyphs: list[Glyph] = []
        #: glyphs counted by the direction of their "up" in user space (0, 90, 180, 270:
        #: how far the text is turned counter-clockwise from upright in user space)
        self.directions: dict[int, int] = {}
        self._counted = 0
        self._limit = glyph_limit

    # ------------------------------------------------------------- resources

    def _font(self, resources: Any, name: str) -> _Font | None:
        fonts = _obj(resources.get("/Font")) if isinstance(resources, dict) else None
        if not isinstance(fonts, generic.DictionaryObject) or "/" + name not in fonts:
            return None
        raw = fonts.raw_get("/" + name)
        key: Any = raw.reference if isinstance(raw, generic.IndirectObject) else id(raw)
        if key not in self.fonts:
            font = _obj(raw)
            try:
                readable = isinstance(font, generic.DictionaryObject)
                self.fonts[key] = _Font(font) if readable else None
            except Exception as exc:  # an unreadable font: its text is skipped
                logger.debug("unreadable font %s: %s", name, exc)
                self.fonts[key] = None
        return self.fonts[key]

    # ------------------------------------------------------------- run

    def run(self, data: bytes, resources: Any, state: _GState, depth: int, seen: frozenset) -> None:
        stack: list[_GState] = []
        tm: Matrix = _IDENTITY
        tlm: Matrix = _IDENTITY
        for op, args in _operations(data):
            if self._limit is not None and self._counted >= self._limit:
                return
            try:
                if op == "q":
                    stack.append(state.copy())
                elif op == "Q":
                    if stack:
                        state = stack.pop()
                elif op == "cm" and len(args) == 6:
                    state.ctm = _mul(_matrix(args), state.ctm)
                elif op == "BT":
                    tm = tlm = _IDENTITY
                elif op == "Tf" and len(args) == 2:
                    state.font = self._font(resources, str(args[0]))
                    state.size = float(args[1])
                elif op == "Tc" and args:
                    state.char_spacing = float(args[0])
                elif op == "Tw" and args:
                    state.word_spacing = float(args[0])
                elif op == "Tz" and args:
                    state.scale = float(args[0]) / 100
                elif op == "TL" and args:
                    state.leading = float(args[0])
                elif op == "Ts" and args:
                    state.rise = float(args[0])
                elif op in ("Td", "TD") and len(args) == 2:
                    tx, ty = float(args[0]), float(args[1])
                    if op == "TD":
                        state.leading = -ty
                    tlm = _mul((1.0, 0.0, 0.0, 1.0, tx, ty), tlm)
                    tm = tlm
                elif op == "Tm" and len(args) == 6:
                    tlm = tm = _matrix(args)
                elif op == "T*":
                    tlm = _mul((1.0, 0.0, 0.0, 1.0, 0.0, -state.leading), tlm)
                    tm = tlm
                elif op in ("Tj", "'", '"'):
                    if op == '"' and len(args) == 3:
                        state.word_spacing, state.char_spacing = float(args[0]), float(args[1])
                    if op in ("'", '"'):
                        tlm = _mul((1.0, 0.0, 0.0, 1.0, 0.0, -state.leading), tlm)
                        tm = tlm
                    if args and isinstance(args[-1], bytes):
                        tm = self._show(state, tm, args[-1])
                elif op == "TJ" and args and isinstance(args[0], list):
                    for item in args[0]:
                        if isinstance(item, bytes):
                            tm = self._show(state, tm, item)
                        elif isinstance(item, float):
                            tm = self._adjust(state, tm, item)
                elif op == "Do" and args and depth < _MAX_FORM_DEPTH:
                    self._form(resources, str(args[0]), state, depth, seen)
            except Exception as exc:  # malformed content: skip the operator, keep reading
                logger.debug("skipping malformed operator %s: %s", op, exc)

    def _form(self, resources: Any, name: str, state: _GState, depth: int, seen: frozenset) -> None:
        xobjects = _obj(resources.get("/XObject")) if isinstance(resources, dict) else None
        if not isinstance(xobjects, generic.DictionaryObject) or "/" + name not in xobjects:
            return
        raw = xobjects.raw_get("/" + name)
        key = raw.reference if isinstance(raw, generic.IndirectObject) else id(raw)
        if key in seen:
            return
        form = _obj(raw)
        if not isinstance(form, generic.StreamObject) or form.get("/Subtype") != "/Form":
            return
        data = _stream_data(form)
        if not data:
            return
        inner = state.copy()
        matrix = _obj(form.get("/Matrix"))
        if isinstance(matrix, generic.ArrayObject) and len(matrix) == 6:
            inner.ctm = _mul(_matrix([_number(v, 0.0) for v in matrix]), inner.ctm)
        form_resources = _obj(form.get("/Resources"))
        if not isinstance(form_resources, generic.DictionaryObject):
            form_resources = resources
        self.run(data, form_resources, inner, depth + 1, seen | {key})

    # ------------------------------------------------------------- text

    def _adjust(self, state: _GState, tm: Matrix, amount: float) -> Matrix:
        shift = -amount / 1000 * state.size
        if state.font is not None and state.font.vertical:
            return _mul((1.0, 0.0, 0.0, 1.0, 0.0, shift), tm)
        return _mul((1.0, 0.0, 0.0, 1.0, shift * state.scale, 0.0), tm)

    def _show(self, state: _GState, tm: Matrix, data: bytes) -> Matrix:
        font = state.font
        if font is None:
            return tm
        size, hscale, rise = state.size, state.scale, state.rise
        # text space -> visible page, once per string; glyphs only move along it
        to_user = _mul(tm, state.ctm)
        a, b, c, d, e, f = _mul(to_user, self.to_visible)
        up = _quarter_turns(to_user[2], to_user[3])
        seen_size = size * math.hypot(c, d)
        scaled = size * hscale
        dx = dy = 0.0
        for text, width, is_space in font.decode(data):
            # the glyph's box in text space: advance width by ascent/descent (or, in
            # vertical writing, a 1 em cell hanging below the origin)
            if font.vertical:
                x0, x1 = -width / 2 * scaled, width / 2 * scaled
                y0, y1 = rise - size, rise
            else:
                x0, x1 = 0.0, width * scaled
                y0, y1 = font.descent * size + rise, font.ascent * size + rise
            mx, my = dx + (x0 + x1) / 2, dy + (y0 + y1) / 2
            wx, wy = (x1 - x0) / 2, (y1 - y0) / 2
            cx, cy = a * mx + c * my + e, b * mx + d * my + f
            hx, hy = abs(a) * wx + abs(c) * wy, abs(b) * wx + abs(d) * wy
            self._add(Glyph(text, (cx - hx, cy - hy, cx + hx, cy + hy), seen_size))
            if up is not None and text.strip():
                self.directions[up] = self.directions.get(up, 0) + 1
                self._counted += 1
            spacing = state.char_spacing + (state.word_spacing if is_space else 0.0)
            if font.vertical:
                dy += font.vertical_advance * size + spacing
            else:
                dx += (width * size + spacing) * hscale
        return _mul((1.0, 0.0, 0.0, 1.0, dx, dy), tm) if dx or dy else tm

    def _add(self, glyph: Glyph) -> None:
        # a producer faking bold draws the same glyph again a hair's breadth away
        for previous in self.glyphs[-2:]:
            if previous.text == glyph.text and _overlap(previous.box, glyph.box) > 0.7:
                return
        self.glyphs.append(glyph)


def _quarter_turns(ux: float, uy: float) -> int | None:
    """The text's "up" vector ``(ux, uy)`` in user space as the counter-clockwise turn from
    upright (0, 90, 180 or 270), or ``None`` when it is degenerate or not near a quarter."""
    if not (math.isfinite(ux) and math.isfinite(uy)) or (ux == 0 and uy == 0):
        return None
    angle = math.degrees(math.atan2(uy, ux)) - 90.0  # upright text has up = (0, 1)
    turns = round(angle / 90.0)
    if abs(angle - turns * 90.0) > 20.0:  # slanted text says nothing about the page's up
        return None
    return int(turns * 90) % 360


def text_rotation(
    page: generic.DictionaryObject,
    fonts: dict[Any, Any] | None = None,
    *,
    glyph_limit: int = 500,
) -> int | None:
    """Which way the text of a page stands in user space: the counter-clockwise turn (0,
    90, 180, 270) of most of its glyphs' "up", counted over the first ``glyph_limit``
    glyphs; ``None`` for a page without readable text (a scan, a blank page).

    A page drawn upright and turned by ``/Rotate`` for display answers 0; a landscape page
    whose producer drew the text turned by 90° and set ``/Rotate 90`` to compensate (so it
    reads upright on screen) answers 90.
    """
    interpreter = _Interpreter(
        PageGeometry.from_page(page), {} if fonts is None else fonts, glyph_limit=glyph_limit
    )
    interpreter.run(_page_content(page), _inherited_resources(page), _GState(), 0, frozenset())
    if not interpreter.directions:
        return None
    # the most glyphs win; a tie goes to upright, then to the smaller turn
    return max(sorted(interpreter.directions), key=lambda r: (interpreter.directions[r], r == 0))


def _overlap(a: Rect, b: Rect) -> float:
    """Intersection over the smaller area (0 when either box is empty)."""
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    if w <= 0 or h <= 0:
        return 0.0
    area = min((a[2] - a[0]) * (a[3] - a[1]), (b[2] - b[0]) * (b[3] - b[1]))
    return (w * h) / area if area > 0 else 0.0


def _page_content(page: generic.DictionaryObject) -> bytes:
    contents = _obj(page.get("/Contents"))
    parts: list[Any] = list(contents) if isinstance(contents, generic.ArrayObject) else [contents]
    chunks = []
    for part in parts:
        data = _stream_data(part)
        if data:
            chunks.append(data)
    return b"\n".join(chunks)


def page_glyphs(
    page: generic.DictionaryObject,
    geometry: PageGeometry | None = None,
    fonts: dict[Any, Any] | None = None,
) -> list[Glyph]:
    """Every glyph drawn by a page's content, in content-stream order, in visible points."""
    if geometry is None:
        geometry = PageGeometry.from_page(page)
    interpreter = _Interpreter(geometry, {} if fonts is None else fonts)
    resources = _inherited_resources(page)
    interpreter.run(_page_content(page), resources, _GState(), 0, frozenset())
    return interpreter.glyphs


def _inherited_resources(page: generic.DictionaryObject) -> Any:
    node: Any = page
    for _ in range(64):
        if not isinstance(node, generic.DictionaryObject):
            break
        if "/Resources" in node:
            return _obj(node["/Resources"])
        node = _obj(node.get("/Parent"))
    return generic.DictionaryObject()


# =========================================================================== search


@functools.lru_cache(maxsize=65536)
def _normalise(text: str) -> str:
    """NFKC without any whitespace: what matching compares."""
    return "".join(ch for ch in unicodedata.normalize("NFKC", text) if not _ignorable(ch))


def _ignorable(ch: str) -> bool:
    return ch.isspace() or unicodedata.category(ch) in ("Cc", "Cf")


def _search(glyphs: list[Glyph], needle: str, gap_limit: bool) -> Iterator[Rect]:
    chars: list[str] = []
    owners: list[int] = []
    previous: Glyph | None = None
    for index, glyph in enumerate(glyphs):
        text = _normalise(glyph.text)
        if not text:
            continue
        if gap_limit and previous is not None:
            gap = glyph.box[0] - previous.box[2]
            if gap > 3 * max(glyph.size, previous.size) or gap < -0.5 * glyph.size:
                chars.append("\uffff")  # a column break: no match may span it
                owners.append(-1)
        for ch in text:
            chars.append(ch)
            owners.append(index)
        previous = glyph
    haystack = "".join(chars)
    start = haystack.find(needle)
    while start >= 0:
        boxes = [glyphs[owners[i]].box for i in range(start, start + len(needle))]
        yield (
            min(b[0] for b in boxes),
            min(b[1] for b in boxes),
            max(b[2] for b in boxes),
            max(b[3] for b in boxes),
        )
        start = haystack.find(needle, start + 1)


def _reading_order(glyphs: list[Glyph]) -> list[Glyph]:
    """Lines top to bottom, glyphs left to right (upright horizontal text only)."""
    upright = [g for g in glyphs if g.box[2] - g.box[0] <= 1.5 * max(g.size, 1e-6) + 1]
    upright.sort(key=lambda g: -(g.box[1] + g.box[3]) / 2)
    lines: list[list[Glyph]] = []
    line_y = 0.0
    for glyph in upright:
        centre = (glyph.box[1] + glyph.box[3]) / 2
        if lines and abs(centre - line_y) <= 0.4 * max(glyph.size, 1e-6):
            lines[-1].append(glyph)
        else:
            lines.append([glyph])
            line_y = centre
    ordered: list[Glyph] = []
    for line in lines:
        ordered.extend(sorted(line, key=lambda g: g.box[0]))
    return ordered


def _sort_reading(rects: list[Rect]) -> list[Rect]:
    rects = sorted(rects, key=lambda r: -(r[1] + r[3]) / 2)
    lines: list[list[Rect]] = []
    for rect in rects:
        centre = (rect[1] + rect[3]) / 2
        if lines:
            last = lines[-1][0]
            if abs(centre - (last[1] + last[3]) / 2) <= 0.4 * (last[3] - last[1]):
                lines[-1].append(rect)
                continue
        lines.append([rect])
    return [r for line in lines for r in sorted(line, key=lambda r: r[0])]


def find_keyword(
    pdf: bytes | PdfHandler,
    keyword: str,
    *,
    pages: Iterable[int] | None = None,
    missing_ok: bool = False,
) -> list[Hit]:
    """Every occurrence of ``keyword`` in the text of the document, in reading order.

    ``pdf`` is the file's bytes or a pyHanko reader or writer.  ``pages`` (counted from 1)
    limits the search.  Whitespace and Unicode compatibility differences are ignored.

    :raises KeywordNotFound: no occurrence, unless ``missing_ok``.
    :raises InvalidPlacement: an empty keyword.
    """
    needle = _normalise(keyword or "")
    if not needle:
        raise InvalidPlacement("the keyword is empty")
    handler = open_pdf(pdf)
    wanted = None if pages is None else set(pages)
    fonts: dict[Any, Any] = {}
    hits: list[Hit] = []
    for number, page in enumerate(iter_pages(handler), start=1):
        if wanted is not None and number not in wanted:
            continue
        glyphs = page_glyphs(page, PageGeometry.from_page(page), fonts)
        if not set(needle) <= {ch for g in glyphs for ch in _normalise(g.text)}:
            continue
        found: list[Rect] = []
        in_stream_order = _search(glyphs, needle, gap_limit=False)
        in_reading_order = _search(_reading_order(glyphs), needle, gap_limit=True)
        for rect in (*in_stream_order, *in_reading_order):
            if all(_overlap(rect, other) < 0.5 for other in found):
                found.append(rect)
        hits.extend(Hit(number, *rect) for rect in _sort_reading(found))
    if not hits and not missing_ok:
        shown = keyword if len(keyword) <= 40 else keyword[:40] + "…"
        raise KeywordNotFound(f"the keyword {shown!r} is not in the text of the document")
    return hits
