"""Fonts as the text reader needs them: how a shown string is cut into codes, the Unicode text
and the width of each, and the font's ascent and descent (simple, Type 3 and composite fonts)."""

from __future__ import annotations

import codecs
import logging
from collections.abc import Iterator
from typing import Any

from pyhanko.pdf_utils import generic

from ..pdf_objects import deref, number, stream_data
from .cmaps import CMap, parse_cmap

__all__ = ["Font"]

logger = logging.getLogger(__name__)

_DEFAULT_ASCENT = 0.88
_DEFAULT_DESCENT = -0.12


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


class Font:
    """What the interpreter needs of a font: codes, their text, their widths, ascent/descent.

    Widths, ascent and descent are in text space per unit of font size (1/1000 of glyph
    space for all fonts but Type 3, whose ``/FontMatrix`` says).
    """

    def __init__(self, font: generic.DictionaryObject) -> None:
        self.subtype = str(font.get("/Subtype", ""))
        self.vertical = False
        self.ascent, self.descent = _DEFAULT_ASCENT, _DEFAULT_DESCENT
        self.to_unicode: CMap | None = None
        data = stream_data(font.get("/ToUnicode")) if "/ToUnicode" in font else None
        if data:
            try:
                self.to_unicode = parse_cmap(data, to_unicode=True)
            except Exception as exc:  # a broken map: fall back to the encoding
                logger.debug("unreadable ToUnicode map: %s", exc)
        if self.subtype == "/Type0":
            self._init_composite(font)
        else:
            self._init_simple(font)

    # ------------------------------------------------------------- metrics

    def _metrics(self, descriptor: Any, scale: float) -> None:
        descriptor = deref(descriptor)
        if not isinstance(descriptor, generic.DictionaryObject):
            return
        ascent = number(descriptor.get("/Ascent"), 0.0) * scale
        descent = number(descriptor.get("/Descent"), 0.0) * scale
        if ascent > 0:
            self.ascent = ascent
        if descent < 0:
            self.descent = descent
        if ascent <= 0 and "/FontBBox" in descriptor:
            bbox = [number(v, 0.0) for v in deref(descriptor["/FontBBox"])]
            if len(bbox) == 4 and bbox[3] > 0:
                self.ascent = bbox[3] * scale
                self.descent = min(bbox[1] * scale, 0.0) or self.descent

    # ------------------------------------------------------------- composite fonts

    def _init_composite(self, font: generic.DictionaryObject) -> None:
        self.simple = False
        self.codec: str | None = None
        self.encoding_cmap: CMap | None = None
        self.identity = False
        encoding = deref(font.get("/Encoding"))
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
            data = stream_data(encoding)
            if data:
                self.encoding_cmap = parse_cmap(data, to_unicode=False)
                self.vertical = (
                    self.encoding_cmap.vertical or number(encoding.get("/WMode"), 0) == 1
                )
        else:
            self.identity = True

        self.widths: dict[int, float] = {}
        self.default_width = 1.0
        self.vertical_advance = -1.0
        descendants = deref(font.get("/DescendantFonts"))
        if isinstance(descendants, generic.ArrayObject) and len(descendants):
            cid_font = deref(descendants[0])
            if isinstance(cid_font, generic.DictionaryObject):
                self.default_width = number(cid_font.get("/DW"), 1000.0) / 1000
                dw2 = deref(cid_font.get("/DW2"))
                if isinstance(dw2, generic.ArrayObject) and len(dw2) == 2:
                    self.vertical_advance = number(dw2[1], -1000.0) / 1000
                self._cid_widths(deref(cid_font.get("/W")))
                self._metrics(cid_font.get("/FontDescriptor"), 0.001)

    def _cid_widths(self, w: Any) -> None:
        if not isinstance(w, generic.ArrayObject):
            return
        items = [deref(x) for x in w]
        i = 0
        budget = 200_000
        while i < len(items) and budget > 0:
            first = items[i]
            if i + 1 < len(items) and isinstance(items[i + 1], generic.ArrayObject):
                for k, width in enumerate(items[i + 1]):
                    self.widths[int(number(first, 0)) + k] = number(width, 1000.0) / 1000
                budget -= len(items[i + 1])
                i += 2
            elif i + 2 < len(items):
                low, high = int(number(first, 0)), int(number(items[i + 1], -1))
                width = number(items[i + 2], 1000.0) / 1000
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
            matrix = deref(font.get("/FontMatrix"))
            if isinstance(matrix, generic.ArrayObject) and len(matrix) == 6:
                scale = abs(number(matrix[0], 0.001)) or 0.001
        base_font = str(font.get("/BaseFont", ""))
        default = 0.6 if "Courier" in base_font else 0.5
        self.simple_widths: dict[int, float] = {}
        descriptor = deref(font.get("/FontDescriptor"))
        if isinstance(descriptor, generic.DictionaryObject) and "/MissingWidth" in descriptor:
            missing = number(descriptor["/MissingWidth"], 0.0) * scale
            if missing > 0:
                default = missing
        self.default_width = default
        widths = deref(font.get("/Widths"))
        if isinstance(widths, generic.ArrayObject):
            first = int(number(font.get("/FirstChar"), 0))
            for k, width in enumerate(widths):
                if 0 <= first + k <= 255:
                    self.simple_widths[first + k] = number(width, 0.0) * scale
        self._metrics(descriptor, scale)
        if self.subtype == "/Type3" and not isinstance(descriptor, generic.DictionaryObject):
            bbox = deref(font.get("/FontBBox"))
            if isinstance(bbox, generic.ArrayObject) and len(bbox) == 4:
                top, bottom = number(bbox[3], 0) * scale, number(bbox[1], 0) * scale
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

        encoding = deref(font.get("/Encoding"))
        table: dict[int, str]
        if isinstance(encoding, generic.NameObject):
            table = base(str(encoding))
        elif isinstance(encoding, generic.DictionaryObject):
            table = base(str(encoding.get("/BaseEncoding", "/StandardEncoding")))
            differences = deref(encoding.get("/Differences"))
            if isinstance(differences, generic.ArrayObject):
                code = 0
                for item in differences:
                    item = deref(item)
                    if isinstance(item, generic.NameObject):
                        if 0 <= code <= 255:
                            table[code] = _glyph_text(str(item)[1:])
                        code += 1
                    else:
                        code = int(number(item, 0))
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
