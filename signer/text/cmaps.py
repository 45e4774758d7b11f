"""CMaps: how a font's strings are cut into codes, and what each code stands for — Unicode
text (a ``/ToUnicode`` map) or a CID (an embedded ``/Encoding`` CMap)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from .tokens import WHITESPACE

__all__ = ["CMap", "parse_cmap"]

_MAX_CMAP_RANGE = 0x10000  # a bfrange longer than this is kept as a range, never expanded
_MAX_CMAP_EXPANSION = 0x10000  # codes expanded into the look-up table per CMap, at most


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
class CMap:
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


def parse_cmap(data: bytes, *, to_unicode: bool) -> CMap:
    """Read the data of a CMap stream: a ``/ToUnicode`` map (``to_unicode``: destinations
    are UTF-16BE text, short ranges are expanded into the look-up table) or an encoding
    CMap (destinations are CIDs)."""
    cmap = CMap(codespace=[], single={}, ranges=[])
    tokens = _CMAP_TOKEN.findall(data)
    i, n = 0, len(tokens)

    def hexval(tok: bytes) -> bytes:
        digits = bytes(c for c in tok[1:-1] if c not in WHITESPACE)
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
