"""Hostile PDFs for the fuzz tests and ``bench/fuzz.py`` (imported as ``hostile``).

Two sources: *mutations* of real PDFs (byte flips, truncations, chunk duplication and
deletion, damaged xref and trailer, huge numbers), driven by a ``random.Random`` so that a
seed names a case, and *hand-crafted* pathological files (deep nesting, cyclic page trees,
absurd counts, lying lengths, object streams, compression bombs) written by :func:`raw_pdf`.
"""

from __future__ import annotations

import random
import re
import zlib
from collections.abc import Callable

__all__ = ["CRAFTED", "MUTATIONS", "mutate", "raw_pdf"]


# --------------------------------------------------------------------------- raw writer


def raw_pdf(
    objects: list[bytes],
    *,
    root: int = 1,
    trailer_extra: bytes = b"",
    xref: bool = True,
    version: bytes = b"1.7",
) -> bytes:
    """A PDF whose object ``i + 1`` has the body ``objects[i]``, with a correct xref table."""
    out = bytearray(b"%PDF-" + version + b"\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    start = len(out)
    if xref:
        out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
        for off in offsets:
            out += b"%010d 00000 n \n" % off
    out += b"trailer\n<< /Size %d /Root %d 0 R %s>>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        root,
        trailer_extra,
        start,
    )
    return bytes(out)


def stream(data: bytes, extra: bytes = b"", *, length: int | None = None) -> bytes:
    n = len(data) if length is None else length
    return b"<< /Length %d %s>>\nstream\n" % (n, extra) + data + b"\nendstream"


PAGE = b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R >>"
CONTENT = stream(b"BT /F1 12 Tf 72 720 Td (hello) Tj ET")


def _basic(
    pages: bytes,
    page: bytes = PAGE,
    content: bytes = CONTENT,
    more: list[bytes] | None = None,
    catalog: bytes = b"",
) -> bytes:
    return raw_pdf(
        [b"<< /Type /Catalog /Pages 2 0 R " + catalog + b">>", pages, page, content, *(more or [])]
    )


# --------------------------------------------------------------------------- hand-crafted


def deep_arrays(depth: int = 10_000) -> bytes:
    """A page whose /MediaBox is ``depth`` nested arrays."""
    return _basic(
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox "
        + b"[" * depth
        + b"0"
        + b"]" * depth
        + b" /Contents 4 0 R >>",
    )


def deep_dicts(depth: int = 10_000) -> bytes:
    """A catalog entry of ``depth`` nested dictionaries."""
    return _basic(
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        catalog=b"/X " + b"<< /A " * depth + b"1" + b" >>" * depth + b" ",
    )


def deep_indirect_chain(depth: int = 5_000) -> bytes:
    """/MediaBox an indirect reference to a reference to ... (``depth`` objects)."""
    chain = [b"%d 0 R" % (6 + i) for i in range(depth - 1)] + [b"[0 0 595 842]"]
    return _basic(
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox 5 0 R /Contents 4 0 R >>",
        more=[b"6 0 R", *chain],
    )


def cyclic_kids() -> bytes:
    """/Pages lists itself among its /Kids."""
    return _basic(b"<< /Type /Pages /Kids [2 0 R 3 0 R] /Count 2 >>")


def cyclic_two_nodes() -> bytes:
    """Two /Pages nodes that are each other's kid and parent."""
    return _basic(
        b"<< /Type /Pages /Kids [5 0 R] /Count 1 >>",
        more=[b"<< /Type /Pages /Parent 2 0 R /Kids [2 0 R 3 0 R] /Count 1 >>"],
    )


def cyclic_parent() -> bytes:
    """A page that is its own parent (inherited attributes walk /Parent)."""
    return _basic(
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 3 0 R /Contents 4 0 R >>",
    )


def huge_count() -> bytes:
    """A page tree claiming /Count 10^9 with one real page."""
    return _basic(b"<< /Type /Pages /Kids [3 0 R] /Count 1000000000 >>")


def huge_count_bignum() -> bytes:
    """/Count of 400 digits, and a /MediaBox of huge numbers."""
    return _basic(
        b"<< /Type /Pages /Kids [3 0 R] /Count 1" + b"0" * 400 + b" >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 1e308 9"
        + b"9" * 400
        + b"] /Contents 4 0 R >>",
    )


def many_kids(n: int = 200_000) -> bytes:
    """A /Kids array with ``n`` references to the same page."""
    return _basic(b"<< /Type /Pages /Kids [" + b"3 0 R " * n + b"] /Count %d >>" % n)


def negative_count() -> bytes:
    return _basic(b"<< /Type /Pages /Kids [3 0 R] /Count -5 >>")


def length_too_long() -> bytes:
    """A content stream whose /Length runs past the end of the file."""
    return _basic(
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>", content=stream(b"BT ET", length=10**9)
    )


def length_negative() -> bytes:
    return _basic(
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>", content=stream(b"BT ET", length=-100)
    )


def length_indirect_loop() -> bytes:
    """/Length is an indirect reference to the stream itself."""
    return _basic(
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        content=b"<< /Length 4 0 R >>\nstream\nBT ET\nendstream",
    )


def flate_bomb(megabytes: int = 1024) -> bytes:
    """A FlateDecode content stream of ~1 MB that inflates to ``megabytes`` MB of zeros."""
    comp = zlib.compressobj(9)
    chunk = b"\0" * (1 << 20)
    data = b"".join(comp.compress(chunk) for _ in range(megabytes)) + comp.flush()
    return _basic(
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>", content=stream(data, b"/Filter /FlateDecode ")
    )


def flate_bomb_nested(megabytes: int = 1024) -> bytes:
    """Twice deflated (/Filter [/FlateDecode /FlateDecode]): a few KB inflate to GBs."""
    comp = zlib.compressobj(9)
    chunk = b"\0" * (1 << 20)
    once = b"".join(comp.compress(chunk) for _ in range(megabytes)) + comp.flush()
    twice = zlib.compress(once, 9)
    return _basic(
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        content=stream(twice, b"/Filter [/FlateDecode /FlateDecode] "),
    )


def objstm_bomb(megabytes: int = 1024) -> bytes:
    """An object stream (PDF 1.5) that inflates to GBs, holding the page object."""
    header = b"3 0 "
    z = zlib.compressobj(9)
    blank = b" " * (1 << 20)
    comp = z.compress(header + PAGE) + b"".join(z.compress(blank) for _ in range(megabytes))
    comp += z.flush()
    objs = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"",
        CONTENT,
        stream(comp, b"/Type /ObjStm /N 1 /First %d /Filter /FlateDecode " % len(header)),
    ]
    return _xref_stream_pdf(objs, compressed={3: (5, 0)})


def objstm_huge_n() -> bytes:
    """An object stream claiming /N 10^9 objects."""
    header = b"3 0 "
    body = header + PAGE
    objs = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"",
        CONTENT,
        stream(body, b"/Type /ObjStm /N 1000000000 /First %d " % len(header)),
    ]
    return _xref_stream_pdf(objs, compressed={3: (5, 0)})


def objstm_self() -> bytes:
    """An object stream that claims to contain itself."""
    header = b"5 0 3 10 "
    body = header + b"<< /A 1 >> " + PAGE
    objs = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"",
        CONTENT,
        stream(body, b"/Type /ObjStm /N 2 /First %d " % len(header)),
    ]
    return _xref_stream_pdf(objs, compressed={3: (5, 1), 5: (5, 0)})


def _xref_stream_pdf(
    objects: list[bytes],
    compressed: dict[int, tuple[int, int]],
    *,
    size: int | None = None,
    w: bytes = b"[1 4 2]",
    prev: int | None = None,
) -> bytes:
    """A PDF 1.5 with an xref stream; ``compressed`` maps object numbers to (stream, index)."""
    out = bytearray(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
    offsets: dict[int, int] = {}
    for number, body in enumerate(objects, start=1):
        if number in compressed:
            continue
        offsets[number] = len(out)
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref_num = len(objects) + 1
    offsets[xref_num] = len(out)
    rows = [bytes([0]) + (0).to_bytes(4, "big") + (65535).to_bytes(2, "big")]
    for number in range(1, xref_num + 1):
        if number in compressed:
            s, i = compressed[number]
            rows.append(bytes([2]) + s.to_bytes(4, "big") + i.to_bytes(2, "big"))
        else:
            rows.append(bytes([1]) + offsets[number].to_bytes(4, "big") + (0).to_bytes(2, "big"))
    data = b"".join(rows)
    extra = b"/Type /XRef /Size %d /W %s /Root 1 0 R " % (size or xref_num + 1, w)
    if prev is not None:
        extra += b"/Prev %d " % prev
    out += b"%d 0 obj\n" % xref_num + stream(data, extra) + b"\nendobj\n"
    out += b"startxref\n%d\n%%%%EOF\n" % offsets[xref_num]
    return bytes(out)


def xref_stream_huge_size() -> bytes:
    """An xref stream claiming /Size 2^31 and /Index over all of it."""
    objs = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        PAGE,
        CONTENT,
    ]
    return _xref_stream_pdf(objs, {}, size=2**31)


def xref_stream_huge_w() -> bytes:
    """An xref stream whose /W asks for 10^6-byte fields."""
    objs = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        PAGE,
        CONTENT,
    ]
    return _xref_stream_pdf(objs, {}, w=b"[1 1000000 2]")


def xref_prev_loop() -> bytes:
    """A trailer whose /Prev points at its own xref section."""
    base = _basic(b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>")
    start = int(re.findall(rb"startxref\s+(\d+)", base)[-1])
    return base.replace(b"/Root 1 0 R", b"/Root 1 0 R /Prev %d" % start)


def xref_prev_chain(n: int = 2_000) -> bytes:
    """``n`` incremental updates, each a new xref section with /Prev to the one before."""
    data = bytearray(_basic(b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>"))
    for _ in range(n):
        prev = int(re.findall(rb"startxref\s+(\d+)", bytes(data))[-1])
        off = len(data)
        data += b"4 0 obj\n" + CONTENT + b"\nendobj\n"
        start = len(data)
        data += (
            b"xref\n4 1\n%010d 00000 n \ntrailer\n<< /Size 5 /Root 1 0 R /Prev %d >>\n"
            b"startxref\n%d\n%%%%EOF\n" % (off, prev, start)
        )
    return bytes(data)


def xref_prev_negative() -> bytes:
    base = _basic(b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>")
    return base.replace(b"/Root 1 0 R", b"/Root 1 0 R /Prev -99999999999")


def no_xref() -> bytes:
    """No xref table at all (readers must reconstruct or refuse)."""
    return raw_pdf(
        [
            b"<< /Type /Catalog /Pages 2 0 R >>",
            b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
            PAGE,
            CONTENT,
        ],
        xref=False,
    )


def huge_xref_subsection() -> bytes:
    """An xref subsection header claiming 10^9 entries."""
    base = _basic(b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>")
    return base.replace(b"xref\n0 5\n", b"xref\n0 1000000000\n")


def huge_object_number() -> bytes:
    return _basic(
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents "
        b"99999999999999999999 0 R >>",
    )


def root_not_dict() -> bytes:
    return raw_pdf([b"[1 2 3]", b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>", PAGE, CONTENT])


def pages_not_dict() -> bytes:
    return _basic(b"(a string)")


def kids_not_array() -> bytes:
    return _basic(b"<< /Type /Pages /Kids 3 0 R /Count 1 >>")


def empty_kids() -> bytes:
    return _basic(b"<< /Type /Pages /Kids [] /Count 0 >>")


def mediabox_garbage() -> bytes:
    return _basic(
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [/a (b) null true] /Rotate 45 /Contents 4 0 R >>",
    )


def mediabox_zero() -> bytes:
    return _basic(
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 0 0] /Contents 4 0 R >>",
    )


def deep_page_tree(depth: int = 5_000) -> bytes:
    """A page tree ``depth`` /Pages nodes deep with one page at the bottom."""
    first = 5
    nodes = []
    for i in range(depth):
        number = first + i
        parent = 2 if i == 0 else number - 1
        kid = number + 1 if i < depth - 1 else 3
        nodes.append(b"<< /Type /Pages /Parent %d 0 R /Kids [%d 0 R] /Count 1 >>" % (parent, kid))
    page = b"<< /Type /Page /Parent %d 0 R /MediaBox [0 0 595 842] /Contents 4 0 R >>" % (
        first + depth - 1
    )
    return _basic(b"<< /Type /Pages /Kids [5 0 R] /Count 1 >>", page, more=nodes)


def acroform_cycle() -> bytes:
    """An AcroForm whose field is its own kid (field enumeration walks /Kids)."""
    return _basic(
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        catalog=b"/AcroForm << /Fields [5 0 R] >> ",
        more=[b"<< /FT /Sig /T (s) /Kids [5 0 R] >>"],
    )


def fake_signature() -> bytes:
    """A signature field with a /V whose /ByteRange and /Contents are nonsense."""
    return _basic(
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        catalog=b"/AcroForm << /Fields [5 0 R] /SigFlags 3 >> ",
        more=[
            b"<< /FT /Sig /T (s) /Type /Annot /Subtype /Widget /Rect [0 0 0 0] "
            b"/P 3 0 R /V 6 0 R >>",
            b"<< /Type /Sig /Filter /Adobe.PPKLite /SubFilter /ETSI.CAdES.detached "
            b"/ByteRange [0 99999999999 -5 1"
            + b"0" * 30
            + b"] /Contents <3082ffff"
            + b"00" * 64
            + b"> >>",
        ],
    )


def fake_signature_zero_range() -> bytes:
    return _basic(
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        catalog=b"/AcroForm << /Fields [5 0 R] /SigFlags 3 >> ",
        more=[
            b"<< /FT /Sig /T (s) /V 6 0 R >>",
            b"<< /Type /Sig /ByteRange [0 0 0 0] /Contents <> >>",
        ],
    )


def encrypted() -> bytes:
    return _basic(b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>").replace(
        b"/Root 1 0 R", b"/Root 1 0 R /Encrypt << /Filter /Standard /V 99 /R 99 >>"
    )


def many_objects(n: int = 100_000) -> bytes:
    """``n`` tiny objects in the xref table."""
    return _basic(b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>", more=[b"null"] * n)


def long_name() -> bytes:
    return _basic(
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>", catalog=b"/" + b"A" * 1_000_000 + b" 1 "
    )


def long_string_escapes() -> bytes:
    return _basic(
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>", catalog=b"/S (" + b"\\(" * 500_000 + b") "
    )


CRAFTED: dict[str, Callable[[], bytes]] = {
    f.__name__: f
    for f in (
        deep_arrays,
        deep_dicts,
        deep_indirect_chain,
        cyclic_kids,
        cyclic_two_nodes,
        cyclic_parent,
        huge_count,
        huge_count_bignum,
        many_kids,
        negative_count,
        length_too_long,
        length_negative,
        length_indirect_loop,
        flate_bomb,
        flate_bomb_nested,
        objstm_bomb,
        objstm_huge_n,
        objstm_self,
        xref_stream_huge_size,
        xref_stream_huge_w,
        xref_prev_loop,
        xref_prev_chain,
        xref_prev_negative,
        no_xref,
        huge_xref_subsection,
        huge_object_number,
        root_not_dict,
        pages_not_dict,
        kids_not_array,
        empty_kids,
        mediabox_garbage,
        mediabox_zero,
        deep_page_tree,
        acroform_cycle,
        fake_signature,
        fake_signature_zero_range,
        encrypted,
        many_objects,
        long_name,
        long_string_escapes,
    )
}


# --------------------------------------------------------------------------- mutations


def _flip(data: bytes, rnd: random.Random) -> bytes:
    b = bytearray(data)
    for _ in range(rnd.randint(1, 16)):
        i = rnd.randrange(len(b))
        b[i] ^= 1 << rnd.randrange(8)
    return bytes(b)


def _random_bytes(data: bytes, rnd: random.Random) -> bytes:
    b = bytearray(data)
    i = rnd.randrange(len(b))
    n = rnd.randint(1, 64)
    b[i : i + n] = bytes(rnd.randrange(256) for _ in range(n))
    return bytes(b)


def _truncate(data: bytes, rnd: random.Random) -> bytes:
    return data[: rnd.randrange(8, len(data))]


def _duplicate(data: bytes, rnd: random.Random) -> bytes:
    i = rnd.randrange(len(data))
    j = min(len(data), i + rnd.randint(1, 4096))
    k = rnd.randrange(len(data))
    return data[:k] + data[i:j] * rnd.randint(1, 8) + data[k:]


def _delete(data: bytes, rnd: random.Random) -> bytes:
    i = rnd.randrange(len(data))
    return data[:i] + data[i + rnd.randint(1, 2048) :]


_NUMBER = re.compile(rb"(?<![\w.])\d+(?![\w.])")
_HUGE = [
    b"9" * 400,
    b"-1",
    b"0",
    b"4294967296",
    b"18446744073709551617",
    b"1e400",
    b"-0",
    b"2147483648",
    b"99999999999",
]


def _numbers(data: bytes, rnd: random.Random) -> bytes:
    spots = [m.span() for m in _NUMBER.finditer(data)]
    if not spots:
        return _flip(data, rnd)
    out = bytearray(data)
    for a, b in sorted(rnd.sample(spots, min(len(spots), rnd.randint(1, 4))), reverse=True):
        out[a:b] = rnd.choice(_HUGE)
    return bytes(out)


_KEYWORDS = [
    b"xref",
    b"trailer",
    b"startxref",
    b"/Root",
    b"/Size",
    b"/Prev",
    b"/Length",
    b"/Count",
    b"/Kids",
    b"/Parent",
    b"/Type",
    b"/Pages",
    b"obj",
    b"endobj",
    b"stream",
    b"endstream",
    b"/ByteRange",
    b"/Contents",
    b"/AcroForm",
    b"/Filter",
    b"/W",
    b"/Index",
    b"/DSS",
    b"/Fields",
    b"/V",
    b"R",
]


def _structure(data: bytes, rnd: random.Random) -> bytes:
    """Damage around a structural keyword: the xref table, trailer and friends."""
    key = rnd.choice(_KEYWORDS)
    spots = [m.start() for m in re.finditer(re.escape(key), data)]
    if not spots:
        return _flip(data, rnd)
    at = rnd.choice(spots)
    action = rnd.randrange(5)
    if action == 0:  # remove the keyword
        return data[:at] + data[at + len(key) :]
    if action == 1:  # replace it by another
        return data[:at] + rnd.choice(_KEYWORDS) + data[at + len(key) :]
    if action == 2:  # garble what follows
        n = rnd.randint(1, 40)
        return (
            data[: at + len(key)]
            + bytes(rnd.randrange(32, 127) for _ in range(n))
            + data[at + len(key) + n :]
        )
    if action == 3:  # shift everything after it (offsets now lie)
        return data[:at] + b" " * rnd.randint(1, 200) + data[at:]
    return data[:at] + data[at:][: rnd.randint(0, 64)] * 2 + data[at:]


def _splice_nesting(data: bytes, rnd: random.Random) -> bytes:
    i = rnd.randrange(len(data))
    depth = rnd.choice([100, 1000, 10_000])
    open_, close = rnd.choice([(b"[", b"]"), (b"<<", b">>"), (b"<< /A ", b" >>")])
    return data[:i] + open_ * depth + b"0" + close * depth + data[i:]


MUTATIONS: dict[str, Callable[[bytes, random.Random], bytes]] = {
    "flip": _flip,
    "random_bytes": _random_bytes,
    "truncate": _truncate,
    "duplicate": _duplicate,
    "delete": _delete,
    "numbers": _numbers,
    "structure": _structure,
    "nesting": _splice_nesting,
}


def mutate(data: bytes, rnd: random.Random, rounds: int | None = None) -> tuple[bytes, list[str]]:
    """``data`` with 1-3 random mutations; returns the bytes and the mutations' names."""
    names = []
    for _ in range(rounds or rnd.randint(1, 3)):
        name = rnd.choice(sorted(MUTATIONS))
        data = MUTATIONS[name](data, rnd) or data
        names.append(name)
    return data, names
