"""DER encoding of the few shapes the signing fast paths assemble by hand.

asn1crypto re-encodes a value built from Python objects at every ``dump()``, at a cost that
grows with each level of nesting; a CMS signature or a timestamp token built that way costs
milliseconds, nearly all of it re-serialising certificates and attributes that are the same
for every document.  The fast paths (:mod:`keystore.tsa`, :mod:`keystore.signers`) encode
those parts once and join them with the few values that change, through these helpers.  They
write what asn1crypto writes: definite minimal lengths, minimal INTEGERs, SET OF sorted by
encoding (X.690 11.6); the tests compare their output with asn1crypto's byte for byte.
"""

from __future__ import annotations

__all__ = [
    "children",
    "context",
    "element",
    "integer",
    "octet_string",
    "sequence",
    "set_of",
    "tlv",
]

SEQUENCE = 0x30
SET = 0x31
INTEGER = 0x02
OCTET_STRING = 0x04


def tlv(tag: int, content: bytes) -> bytes:
    """One element: tag, definite length in the fewest octets, content."""
    size = len(content)
    if size < 0x80:
        return bytes((tag, size)) + content
    length = size.to_bytes((size.bit_length() + 7) // 8, "big")
    return bytes((tag, 0x80 | len(length))) + length + content


def sequence(*parts: bytes) -> bytes:
    return tlv(SEQUENCE, b"".join(parts))


def set_of(*parts: bytes) -> bytes:
    """A SET OF: its elements in the order of their encodings, as DER wants."""
    return tlv(SET, b"".join(sorted(parts)))


def integer(value: int) -> bytes:
    """A minimal two's-complement INTEGER."""
    size = (value + (value < 0)).bit_length() // 8 + 1
    return tlv(INTEGER, value.to_bytes(size, "big", signed=True))


def octet_string(value: bytes) -> bytes:
    return tlv(OCTET_STRING, value)


def context(number: int, content: bytes, *, constructed: bool = True) -> bytes:
    """A context-specific tag ``[number]`` (below 31) around ``content``: the contents of an
    IMPLICIT field, or the encoding of the inner value of an EXPLICIT one."""
    return tlv((0xA0 if constructed else 0x80) | number, content)


def element(data: bytes, at: int = 0) -> tuple[int, int, int]:
    """The element at ``at``: its tag, where its content starts and where it ends.  Definite
    lengths only (DER); :class:`ValueError` for anything else or an element that overruns."""
    if at + 2 > len(data):
        raise ValueError("truncated element")
    tag, first = data[at], data[at + 1]
    if tag & 0x1F == 0x1F:
        raise ValueError("high tag numbers are not read here")
    start = at + 2
    if first < 0x80:
        size = first
    else:
        octets = first & 0x7F
        if octets == 0 or octets > 4:
            raise ValueError("indefinite or oversized length")
        size = int.from_bytes(data[start : start + octets], "big")
        start += octets
    end = start + size
    if end > len(data):
        raise ValueError("element overruns its data")
    return tag, start, end


def children(data: bytes, start: int, end: int) -> list[tuple[int, int, int]]:
    """The elements (tag, content start, end) one after another in ``data[start:end]``."""
    out = []
    at = start
    while at < end:
        found = element(data, at)
        if found[2] > end:
            raise ValueError("element overruns its parent")
        out.append(found)
        at = found[2]
    return out
