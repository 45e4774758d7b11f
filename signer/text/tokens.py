"""The content-stream tokenizer: operators with their operands (ISO 32000-1, 7.2 and 7.8.2).

It never fails on junk: bytes it cannot read are dropped, an operator inside an unfinished
array or dictionary drops the operands, and the data of inline images (``BI ... ID ... EI``)
is skipped.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

__all__ = ["WHITESPACE", "Name", "Op", "operations"]


class Name(str):
    """A PDF name (without the slash)."""


class Op(str):
    """A content-stream operator."""


#: The white-space characters of PDF (ISO 32000-1, 7.2.2).
WHITESPACE = b"\x00\t\n\x0c\r "
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


def operations(data: bytes) -> Iterator[tuple[Op, list[Any]]]:
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
            value = Name(raw.decode("latin-1"))
        elif kind == "hex":
            digits = bytes(c for c in m.group()[1:-1] if c not in WHITESPACE)
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
                    if isinstance(items[i], Name)
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
            yield Op(word), operands
            operands = []
            continue
        operands.append(value)


def _skip_inline_image(data: bytes, pos: int, operands: list[Any]) -> int:
    """Skip the data of an inline image (``BI ... ID <data> EI``); return the position after EI."""
    params: dict[str, Any] = {}
    for i in range(0, len(operands) - 1, 2):
        if isinstance(operands[i], Name):
            params[operands[i]] = operands[i + 1]
    pos += 1  # the single white-space character after ID
    length = params.get("L", params.get("Length"))
    if isinstance(length, float) and length >= 0:
        end = _EI.search(data, pos + int(length) - 1)
        if end is not None:
            return end.end()
    end = _EI.search(data, pos)
    return len(data) if end is None else end.end()
