"""Faster readers and writers of PDF tokens, installed into pyHanko at import.

pyHanko 0.38 reads ``<...>`` strings one byte at a time in Python; a signature's /Contents is
16,384 hex digits, so reading the signatures of a 2-seal document cost ~100 ms — 40 % of a
verification, and most of the archive's look at the sealed file.  This reader finds the
closing ``>`` by chunks and decodes with :func:`binascii.unhexlify`; it accepts and refuses
exactly what pyHanko's does (``tests/signer/test_speedups.py`` compares the two).

The same byte-at-a-time loops read every name and skip the white space before every token
(:func:`read_until_delimiter`, :func:`read_non_whitespace`), and write every name one byte per
``write`` call (:func:`write_name`): together a third of the time a seal spends reading and
writing its incremental update.  Their replacements read by chunks, find the end with a regular
expression and seek back, and write a name's escaped form in one call (remembered per name);
they leave the stream where pyHanko's would, return and write the same bytes and raise the
same errors (``tests/signer/test_fast_path_speedups.py`` compares them on generated input).
"""

from __future__ import annotations

import binascii
import re
from typing import Any

from pyhanko.pdf_utils import generic, misc
from pyhanko.pdf_utils.misc import PdfStreamError, PdfWriteError

__all__ = [
    "ORIGINAL_DECODE_NAME",
    "ORIGINAL_READ_HEX",
    "ORIGINAL_READ_NON_WHITESPACE",
    "ORIGINAL_READ_UNTIL_DELIMITER",
    "ORIGINAL_WRITE_NAME",
    "decode_name",
    "install",
    "read_hex_string_from_stream",
    "read_non_whitespace",
    "read_until_delimiter",
    "write_name",
]

ORIGINAL_READ_HEX = generic.read_hex_string_from_stream
ORIGINAL_READ_NON_WHITESPACE = misc.read_non_whitespace
ORIGINAL_READ_UNTIL_DELIMITER = misc.read_until_delimiter
ORIGINAL_WRITE_NAME = generic.NameObject.write_to_stream
ORIGINAL_DECODE_NAME = generic._decode_name
_WHITESPACE = b"\x00\t\n\x0c\r "
_HEX = re.compile(rb"[0-9A-Fa-f]*")
_CHUNK = 8192


def read_hex_string_from_stream(stream: Any) -> Any:
    stream.read(1)  # the "<"
    start = stream.tell()
    parts: list[bytes] = []
    length = 0
    while True:
        chunk = stream.read(_CHUNK)
        if not chunk:
            raise PdfStreamError("Stream has ended unexpectedly")
        end = chunk.find(b">")
        if end >= 0:
            parts.append(chunk[:end])
            length += end
            stream.seek(start + length + 1)
            break
        parts.append(chunk)
        length += len(chunk)
    raw = b"".join(parts)
    if b"%" in raw:  # a comment: pyHanko skips it to the end of its line, ">" included
        stream.seek(start - 1)
        return ORIGINAL_READ_HEX(stream)
    digits = raw.translate(None, _WHITESPACE)
    if not _HEX.fullmatch(digits):
        bad = re.search(rb"[^0-9A-Fa-f]", digits)
        raise PdfStreamError("Unexpected token in hex string: " + repr(bad.group() if bad else b""))
    if len(digits) % 2:
        digits += b"0"
    return generic.pdf_string(binascii.unhexlify(digits))


_TOKEN_CHUNK = 64
_NOT_WHITESPACE = re.compile(rb"[^ \n\r\t\f\x00]")
_DELIMITER = re.compile(rb"[ \n\r\t\f\x00()<>\[\]{}/%]")


def read_non_whitespace(stream: Any, seek_back: bool = False, allow_eof: bool = False) -> Any:
    """The next byte that is not PDF white space (comments skipped), consumed unless
    ``seek_back``; at the end ``b""`` with ``allow_eof``, else :class:`PdfStreamError`."""
    while True:
        chunk = stream.read(_TOKEN_CHUNK)
        if not chunk:
            if allow_eof:
                return b""
            raise PdfStreamError("Stream ended prematurely")
        found = _NOT_WHITESPACE.search(chunk)
        if found is None:
            continue
        start = found.start()
        stream.seek(start - len(chunk) + (0 if seek_back else 1), 1)
        tok = chunk[start : start + 1]
        if tok != b"%":
            return tok
        if not seek_back:
            stream.seek(-1, 1)
        misc.skip_over_comments(stream)


def read_until_delimiter(stream: Any) -> bytes:
    """The bytes up to the next delimiter or white space (or the end), the stream left at
    that delimiter."""
    parts: list[bytes] = []
    while True:
        chunk = stream.read(_TOKEN_CHUNK)
        if not chunk:
            return b"".join(parts)
        found = _DELIMITER.search(chunk)
        if found is not None:
            start = found.start()
            parts.append(chunk[:start])
            stream.seek(start - len(chunk), 1)
            return b"".join(parts)
        parts.append(chunk)


#: names remembered (decoded, and escaped for writing): the few hundred names documents use
#: over and over; long ones are not kept, so no input can make the memo large
_NAME_CACHE_LIMIT = 4096
_NAME_CACHE_LENGTH = 64
_DECODED: dict[bytes, str] = {}
_NAME_BYTES: dict[str, bytes] = {}


def decode_name(name_bytes: bytes) -> Any:
    """pyHanko's ``_decode_name`` (a name's bytes after the slash, escapes expanded), its
    result remembered by the bytes: a new ``NameObject`` of the same text every time."""
    text = _DECODED.get(name_bytes)
    if text is None:
        text = str(ORIGINAL_DECODE_NAME(name_bytes))
        if len(name_bytes) <= _NAME_CACHE_LENGTH and len(_DECODED) < _NAME_CACHE_LIMIT:
            _DECODED[bytes(name_bytes)] = text
    return generic.NameObject(text)


#: how pyHanko writes each byte of a name after the slash: itself if regular and printable,
#: else ``#`` and its hex value without padding (pyHanko's own quirk, kept)
_NAME_ESCAPES = [
    bytes((b,))
    if b != 0x23 and 0x21 <= b <= 0x7E and misc.is_regular_character(b)
    else f"#{b:X}".encode("ascii")
    for b in range(256)
]


def write_name(self: Any, stream: Any, handler: Any = None, container_ref: Any = None) -> None:
    """pyHanko's ``NameObject.write_to_stream`` in one ``write``."""
    encoded = _NAME_BYTES.get(self)
    if encoded is None:
        raw = str.encode(self, "utf8")
        if not raw:
            raise StopIteration  # what pyHanko's loop raises on an empty name
        if raw[0] != 0x2F:
            raise PdfWriteError(f"Could not serialise name object {self!r}, must start with /")
        encoded = b"/" + b"".join([_NAME_ESCAPES[b] for b in raw[1:]])
        if len(self) <= _NAME_CACHE_LENGTH and len(_NAME_BYTES) < _NAME_CACHE_LIMIT:
            _NAME_BYTES[str(self)] = encoded
    stream.write(encoded)


def install() -> None:
    generic.read_hex_string_from_stream = read_hex_string_from_stream
    for module in (misc, generic):
        module.read_non_whitespace = read_non_whitespace  # type: ignore[attr-defined]
        module.read_until_delimiter = read_until_delimiter  # type: ignore[attr-defined]
    generic.NameObject.write_to_stream = write_name  # type: ignore[method-assign]
    generic._decode_name = decode_name
