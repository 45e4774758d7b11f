"""Known attacks on PDF signatures, each built here from a document sealed by eseal.

Every case must make the report say ``valid: false`` with a specific problem code.  The cases
follow the literature on PDF signature attacks (incremental saving, signature wrapping and
universal signature forgery from Mladenov et al., "1 Trillion Dollar Refund", 2019; shadow
attacks from Mainka et al., 2021) plus identity attacks on the seal itself.  poppler's
``pdfsig`` is run on every attacked file and its verdict recorded, so docs/attacks.md can show
where eseal is stricter.

Regenerate docs/attacks.md with::

    ESEAL_ATTACK_TABLE=docs/attacks.md .venv/bin/pytest tests/signer/test_attacks.py
"""

from __future__ import annotations

import io
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from asn1crypto import cms
from asn1crypto import keys as asn1_keys
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.generic import pdf_name
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.pdf_utils.writer import PdfFileWriter
from pyhanko.sign import fields
from pyhanko.sign.fields import SigFieldSpec, SigSeedSubFilter
from pyhanko.sign.signers import PdfSignatureMetadata, PdfSigner
from pyhanko.sign.signers.pdf_cms import PdfCMSSignedAttributes, Signer, SimpleSigner
from pyhanko.sign.timestamps import TimeStamper
from pyhanko_certvalidator.registry import SimpleCertificateStore

from api.container import Container, build
from api.settings import Settings
from helpers import USCC, license_data, require_tool
from pdfs import simple_pdf
from seals.kinds import SealKind
from seals.license import parse_license
from signer.levels import PadesLevel
from signer.service import SealingOptions, SealOrder


@pytest.fixture(autouse=True)
def _pdfsig() -> None:
    """Every case is also put to poppler's verifier (skipped without it, failed in CI)."""
    require_tool("pdfsig")


TWO_SEALS = (SealKind.CONTRACT, SealKind.LEGAL_REP)


# -- the lab: one eseal instance and the sealed documents the attacks start from -------------


@pytest.fixture(scope="module")
def lab(
    tmp_path_factory: pytest.TempPathFactory, _initialised_template: Path
) -> Iterator[Container]:
    """An eseal instance shared by the attacks that do not change seal state."""
    data = tmp_path_factory.mktemp("attacks") / "data"
    shutil.copytree(_initialised_template, data)
    c = build(Settings(data_dir=data, public_url="http://127.0.0.1:8000"))
    c.seals.register(parse_license(license_data()))
    yield c
    c.close()


async def seal(
    c: Container,
    pdf: bytes,
    level: PadesLevel = PadesLevel.B_T,
    kinds: tuple[SealKind, ...] = TWO_SEALS,
) -> bytes:
    out, _ = await c.sealing.seal(
        USCC, pdf, SealingOptions(seals=[SealOrder(k) for k in kinds], level=level)
    )
    return out


@dataclass
class Docs:
    #: a two-page contract, contract seal then legal representative's seal, B-T
    plain: bytes
    #: the shadow-attack contract (see :func:`shadow_pdf`), sealed the same way
    shadow: bytes


@pytest_asyncio.fixture(scope="module")
async def docs(lab: Container) -> Docs:
    plain = await seal(lab, simple_pdf(2, text="Amount: 100 yuan"))
    shadow = await seal(lab, shadow_pdf())
    report = await lab.verifier.verify(plain, USCC)
    assert report["valid"], report
    report = await lab.verifier.verify(shadow, USCC)
    assert report["valid"], report
    return Docs(plain, shadow)


# -- building blocks --------------------------------------------------------------------------


def _font(w: PdfFileWriter) -> generic.IndirectObject:
    return w.add_object(
        generic.DictionaryObject(
            {
                pdf_name("/Type"): pdf_name("/Font"),
                pdf_name("/Subtype"): pdf_name("/Type1"),
                pdf_name("/BaseFont"): pdf_name("/Helvetica"),
            }
        )
    )


def _text(text: str, y: int = 700) -> bytes:
    return f"BT /F1 18 Tf 72 {y} Td ({text}) Tj ET".encode()


def _box(*values: float) -> generic.ArrayObject:
    return generic.ArrayObject([generic.FloatObject(v) for v in values])


def shadow_pdf() -> bytes:
    """A contract prepared for shadow attacks, harmless as it is signed.

    Page 1 draws "Amount: 1000000 yuan" and then a form XObject ``/Cover`` (a white box saying
    "Amount: 100 yuan") over it; clause 2 is the XObject ``/Body``.  Prepared but unused: an
    alternative clause (``/Evil``, reachable from the catalog only), a complete second page
    tree, a text under an optional content group that is off, and a text field with the
    value 100.
    """
    w = PdfFileWriter()
    fonts = generic.DictionaryObject({pdf_name("/F1"): _font(w)})

    def form(ops: bytes) -> generic.IndirectObject:
        return w.add_object(
            generic.StreamObject(
                {
                    pdf_name("/Type"): pdf_name("/XObject"),
                    pdf_name("/Subtype"): pdf_name("/Form"),
                    pdf_name("/BBox"): _box(0, 0, 595, 842),
                    pdf_name("/Resources"): generic.DictionaryObject({pdf_name("/Font"): fonts}),
                },
                stream_data=ops,
            )
        )

    cover = form(b"1 1 1 rg 60 690 400 40 re f 0 0 0 rg " + _text("Amount: 100 yuan"))
    body = form(_text("Clause 2: delivery within 30 days", 600))
    evil = form(_text("Clause 2: the buyer waives all claims", 600))
    ocg = w.add_object(
        generic.DictionaryObject(
            {
                pdf_name("/Type"): pdf_name("/OCG"),
                pdf_name("/Name"): generic.TextStringObject("Annex"),
            }
        )
    )
    ops = (
        _text("Amount: 1000000 yuan")
        + b" q /Cover Do Q q /Body Do Q "
        + b"/OC /Annex BDC "
        + _text("Clause 3: penalty 500000 yuan per day", 500)
        + b" EMC"
    )
    page = generic.DictionaryObject(
        {
            pdf_name("/Type"): pdf_name("/Page"),
            pdf_name("/MediaBox"): _box(0, 0, 595, 842),
            pdf_name("/Contents"): w.add_object(generic.StreamObject(stream_data=ops)),
            pdf_name("/Resources"): generic.DictionaryObject(
                {
                    pdf_name("/Font"): fonts,
                    pdf_name("/XObject"): generic.DictionaryObject(
                        {pdf_name("/Cover"): cover, pdf_name("/Body"): body}
                    ),
                    pdf_name("/Properties"): generic.DictionaryObject({pdf_name("/Annex"): ocg}),
                }
            ),
        }
    )
    w.insert_page(page)
    page_ref = w.root["/Pages"]["/Kids"][0]
    # a text field "amount" showing 100
    field_ap = w.add_object(
        generic.StreamObject(
            {
                pdf_name("/Type"): pdf_name("/XObject"),
                pdf_name("/Subtype"): pdf_name("/Form"),
                pdf_name("/BBox"): _box(0, 0, 200, 30),
                pdf_name("/Resources"): generic.DictionaryObject({pdf_name("/Font"): fonts}),
            },
            stream_data=b"/Tx BMC BT /F1 14 Tf 4 8 Td (100) Tj ET EMC",
        )
    )
    text_field = w.add_object(
        generic.DictionaryObject(
            {
                pdf_name("/Type"): pdf_name("/Annot"),
                pdf_name("/Subtype"): pdf_name("/Widget"),
                pdf_name("/FT"): pdf_name("/Tx"),
                pdf_name("/T"): generic.TextStringObject("amount"),
                pdf_name("/V"): generic.TextStringObject("100"),
                pdf_name("/DA"): generic.TextStringObject("/F1 14 Tf 0 g"),
                pdf_name("/Rect"): _box(300, 400, 500, 430),
                pdf_name("/F"): generic.NumberObject(4),
                pdf_name("/P"): page_ref,
                pdf_name("/AP"): generic.DictionaryObject({pdf_name("/N"): field_ap}),
            }
        )
    )
    page_ref.get_object()[pdf_name("/Annots")] = generic.ArrayObject([text_field])
    w.root[pdf_name("/AcroForm")] = generic.DictionaryObject(
        {
            pdf_name("/Fields"): generic.ArrayObject([text_field]),
            pdf_name("/DR"): generic.DictionaryObject({pdf_name("/Font"): fonts}),
            pdf_name("/DA"): generic.TextStringObject("/F1 12 Tf 0 g"),
        }
    )
    w.root[pdf_name("/OCProperties")] = generic.DictionaryObject(
        {
            pdf_name("/OCGs"): generic.ArrayObject([ocg]),
            pdf_name("/D"): generic.DictionaryObject(
                {
                    pdf_name("/OFF"): generic.ArrayObject([ocg]),
                }
            ),
        }
    )
    # a second page tree nobody points at
    page2 = w.add_object(
        generic.DictionaryObject(
            {
                pdf_name("/Type"): pdf_name("/Page"),
                pdf_name("/MediaBox"): _box(0, 0, 595, 842),
                pdf_name("/Contents"): w.add_object(
                    generic.StreamObject(stream_data=_text("Amount: 1000000 yuan, no delivery"))
                ),
                pdf_name("/Resources"): generic.DictionaryObject({pdf_name("/Font"): fonts}),
            }
        )
    )
    pages2 = w.add_object(
        generic.DictionaryObject(
            {
                pdf_name("/Type"): pdf_name("/Pages"),
                pdf_name("/Kids"): generic.ArrayObject([page2]),
                pdf_name("/Count"): generic.NumberObject(1),
            }
        )
    )
    page2.get_object()[pdf_name("/Parent")] = pages2
    w.root[pdf_name("/PieceInfo")] = generic.DictionaryObject(
        {
            pdf_name("/Prepared"): generic.DictionaryObject(
                {pdf_name("/Evil"): evil, pdf_name("/Pages"): pages2}
            ),
        }
    )
    out = io.BytesIO()
    w.write(out)
    return out.getvalue()


def incremental(data: bytes, change: Callable[[IncrementalPdfFileWriter], None]) -> bytes:
    """An honest incremental update made with pyHanko."""
    w = IncrementalPdfFileWriter(io.BytesIO(data), strict=False)
    change(w)
    out = io.BytesIO()
    w.write(out)
    return out.getvalue()


def _first_page(w: IncrementalPdfFileWriter) -> generic.DictionaryObject:
    page = w.root["/Pages"]["/Kids"][0].get_object()
    assert isinstance(page, generic.DictionaryObject)
    return page


@dataclass(frozen=True)
class SigBytes:
    """Where one signature dictionary sits in the file."""

    byte_range: tuple[int, ...]
    #: span of ``/ByteRange [...]`` in the file, with the spaces reserved after it
    br_span: tuple[int, int]

    @property
    def gap(self) -> tuple[int, int]:
        return self.byte_range[1], self.byte_range[2]


def signatures_in(data: bytes) -> list[SigBytes]:
    """Every ``/ByteRange`` of the file, in file order."""
    return [
        SigBytes(tuple(int(v) for v in m.group(1).split()), m.span())
        for m in re.finditer(rb"/ByteRange\s*\[([0-9 ]+)\] *", data)
    ]


def last_signature(data: bytes) -> SigBytes:
    return max(signatures_in(data), key=lambda s: s.byte_range[2] + s.byte_range[3])


def splice(data: bytes, start: int, end: int, new: bytes) -> bytes:
    """Replace ``data[start:end]`` with ``new`` padded with spaces to the same length."""
    assert len(new) <= end - start, (len(new), end - start)
    return data[:start] + new.ljust(end - start) + data[end:]


def _signature_hex(data: bytes, sig: SigBytes) -> bytes:
    """The hex digits of the real CMS object (without the zero padding)."""
    a, b = sig.gap
    digits = data[a + 1 : b - 1]
    der = bytes.fromhex(digits.decode())
    info = cms.ContentInfo.load(der)
    return digits[: len(info.dump()) * 2]


def _xref_table(
    entries: dict[int, int], size: int, prev: int, root: int, info: int | None
) -> bytes:
    """A classic xref section and trailer for ``{object number: offset}``."""
    lines = [b"xref", b"0 1", b"0000000000 65535 f "]
    for num in sorted(entries):
        lines += [f"{num} 1".encode(), f"{entries[num]:010d} 00000 n ".encode()]
    trailer = f"trailer\n<< /Size {size} /Root {root} 0 R /Prev {prev}"
    if info is not None:
        trailer += f" /Info {info} 0 R"
    return b"\n".join(lines) + b"\n" + trailer.encode() + b" >>\n"


def _trailer_numbers(data: bytes) -> tuple[int, int, int, int | None]:
    """(startxref, /Size, /Root number, /Info number) of the last revision."""
    reader = PdfFileReader(io.BytesIO(data), strict=False)
    startxref = int(data[data.rindex(b"startxref") + 9 :].split()[0])
    trailer = reader.trailer
    root = trailer.raw_get("/Root")
    info = trailer.raw_get("/Info") if "/Info" in trailer else None
    return (
        startxref,
        int(trailer["/Size"]),
        int(root.idnum),
        int(info.idnum) if info is not None else None,
    )


def _page_contents_ref(data: bytes) -> int:
    reader = PdfFileReader(io.BytesIO(data), strict=False)
    page = reader.root["/Pages"]["/Kids"][0].get_object()
    return int(page.raw_get("/Contents").idnum)


# -- attacks ----------------------------------------------------------------------------------


Builder = Callable[[Container, Docs], Awaitable[bytes]]


@dataclass(frozen=True)
class Attack:
    name: str
    family: str
    description: str
    build: Builder
    #: the code the report must carry
    code: str


ATTACKS: list[Attack] = []


def attack(name: str, family: str, code: str) -> Callable[[Builder], Builder]:
    def register(fn: Builder) -> Builder:
        summary = " ".join((fn.__doc__ or "").strip().split("\n\n")[0].split())
        ATTACKS.append(Attack(name, family, summary, fn, code))
        return fn

    return register


# incremental saving attacks


@attack("isa_page_content", "incremental saving", "modified_after_signing")
async def _isa_page_content(c: Container, d: Docs) -> bytes:
    """An update after the seals gives page 1 a new content stream ("Amount: 1000000")."""

    def change(w: IncrementalPdfFileWriter) -> None:
        page = _first_page(w)
        page[pdf_name("/Contents")] = w.add_object(
            generic.StreamObject(stream_data=_text("Amount: 1000000 yuan", 760))
        )
        w.update_container(page)

    return incremental(d.plain, change)


@attack("isa_content_redefined", "incremental saving", "modified_after_signing")
async def _isa_content_redefined(c: Container, d: Docs) -> bytes:
    """An update redefines page 1's content stream object itself (same object number)."""
    num = _page_contents_ref(d.plain)
    start, size, root, info = _trailer_numbers(d.plain)
    body = _text("Amount: 1000000 yuan", 760)
    offset = len(d.plain) + 1
    obj = b"%d 0 obj\n<< /Length %d >>\nstream\n%s\nendstream\nendobj\n" % (num, len(body), body)
    xref_at = offset + len(obj)
    return (
        d.plain
        + b"\n"
        + obj
        + _xref_table({num: offset}, size, start, root, info)
        + b"startxref\n%d\n%%%%EOF\n" % xref_at
    )


@attack("isa_unlisted_object", "incremental saving", "modified_after_signing")
async def _isa_unlisted_object(c: Container, d: Docs) -> bytes:
    """An update redefines page 1's content stream but its cross-reference section lists
    nothing, so the revision looks empty to a parser that follows the xref (pyHanko's
    difference analysis saw no change). poppler, following the xref, shows the old text; a
    viewer that rebuilds the xref by scanning the file would find the new one."""
    num = _page_contents_ref(d.plain)
    start, size, root, info = _trailer_numbers(d.plain)
    body = _text("Amount: 1000000 yuan", 760)
    obj = b"%d 0 obj\n<< /Length %d >>\nstream\n%s\nendstream\nendobj\n" % (num, len(body), body)
    data = d.plain + b"\n" + obj
    return data + _xref_table({}, size, start, root, info) + b"startxref\n%d\n%%%%EOF\n" % len(data)


@attack("isa_page_replaced", "incremental saving", "modified_after_signing")
async def _isa_page_replaced(c: Container, d: Docs) -> bytes:
    """An update swaps page 1 for a new page with other text (the seal widgets kept)."""

    def change(w: IncrementalPdfFileWriter) -> None:
        old = _first_page(w)
        pages = w.root["/Pages"]
        new = generic.DictionaryObject(
            {
                pdf_name("/Type"): pdf_name("/Page"),
                pdf_name("/Parent"): w.root.raw_get("/Pages"),
                pdf_name("/MediaBox"): old["/MediaBox"],
                pdf_name("/Resources"): old.raw_get("/Resources"),
                pdf_name("/Contents"): w.add_object(
                    generic.StreamObject(stream_data=_text("Amount: 1000000 yuan", 760))
                ),
            }
        )
        if "/Annots" in old:
            new[pdf_name("/Annots")] = old.raw_get("/Annots")
        kids = pages["/Kids"]
        kids[0] = w.add_object(new)
        w.update_container(pages)

    return incremental(d.plain, change)


# signature wrapping


@attack("wrapping_byterange_moved", "signature wrapping", "byte_range_invalid")
async def _wrapping_byterange_moved(c: Container, d: Docs) -> bytes:
    """The last seal's dictionary is redefined with a /ByteRange pointing at a copy of the
    signed bytes placed in an update that also changes page 1: the digest still matches."""
    sig = last_signature(d.plain)
    _, len1, start2, len2 = sig.byte_range
    reader = PdfFileReader(io.BytesIO(d.plain), strict=False)
    sig_ref = None
    for _name, _value, field_ref in fields.enumerate_sig_fields(reader, filled_status=True):
        ref = field_ref.get_object().raw_get("/V")
        if reader.xrefs.get_last_change(ref.reference) == reader.xrefs.total_revisions - 1:
            sig_ref = ref
    assert sig_ref is not None
    sig_obj = sig_ref.get_object()
    contents = d.plain[len1:start2]
    start, size, root, info = _trailer_numbers(d.plain)
    content_num = _page_contents_ref(d.plain)
    out = bytearray(d.plain + b"\n")
    offsets = {}
    body = _text("Amount: 1000000 yuan", 760)
    offsets[content_num] = len(out)
    out += b"%d 0 obj\n<< /Length %d >>\nstream\n%s\nendstream\nendobj\n" % (
        content_num,
        len(body),
        body,
    )
    # the copy of the second signed part, hidden in a stream nobody uses
    copy_num = size
    head = b"%d 0 obj\n<< /Length %d >>\nstream\n" % (copy_num, len2)
    offsets[copy_num] = len(out)
    copy_at = len(out) + len(head)
    out += head + d.plain[start2 : start2 + len2] + b"\nendstream\nendobj\n"
    offsets[sig_ref.idnum] = len(out)
    m = re.search(rb"/M\s*(\([^)]*\))", d.plain[sig.br_span[1] : start2 + len2])
    claimed = m.group(1) if m else b"()"
    out += (
        b"%d 0 obj\n<< /Type /Sig /Filter /Adobe.PPKLite /SubFilter /ETSI.CAdES.detached "
        b"/M %s /Contents %s /ByteRange [0 %d %d %d] >>\nendobj\n"
        % (sig_ref.idnum, claimed, contents, len1, copy_at, len2)
    )
    assert sig_obj["/Type"] == "/Sig"
    xref_at = len(out)
    out += _xref_table(offsets, size + 1, start, root, info)
    out += b"startxref\n%d\n%%%%EOF\n" % xref_at
    return bytes(out)


@attack("wrapping_hidden_xref", "signature wrapping", "byte_range_invalid")
async def _wrapping_hidden_xref(c: Container, d: Docs) -> bytes:
    """New objects and a second xref section hidden in the unsigned /Contents gap of the last
    seal (the signature hex cut short, the rest a string), reached by a final ``startxref``."""
    sig = last_signature(d.plain)
    a, b = sig.gap
    real = _signature_hex(d.plain, sig)
    start, size, root, info = _trailer_numbers(d.plain)
    num = _page_contents_ref(d.plain)
    body = _text("Amount: 1000000 yuan", 760)
    prefix = b"<" + real + b"> /Pad ("
    obj_at = a + len(prefix)
    obj = b"\n%d 0 obj\n<< /Length %d >>\nstream\n%s\nendstream\nendobj\n" % (num, len(body), body)
    xref_at = obj_at + len(obj)
    hidden = prefix + obj + _xref_table({num: obj_at + 1}, size, start, root, info) + b")"
    data = splice(d.plain, a, b, hidden)
    return data + b"startxref\n%d\n%%%%EOF\n" % xref_at


# universal signature forgery


@attack("usf_contents_empty", "universal signature forgery", "signature_contents_invalid")
async def _usf_contents_empty(c: Container, d: Docs) -> bytes:
    """The last seal's /Contents emptied (``<>``, padded with spaces)."""
    a, b = last_signature(d.plain).gap
    return splice(d.plain, a, b, b"<>")


@attack("usf_contents_zeroed", "universal signature forgery", "signature_contents_invalid")
async def _usf_contents_zeroed(c: Container, d: Docs) -> bytes:
    """The last seal's /Contents overwritten with zeros (same length)."""
    a, b = last_signature(d.plain).gap
    return splice(d.plain, a, b, b"<" + b"0" * (b - a - 2) + b">")


@attack("usf_byterange_missing", "universal signature forgery", "byte_range_invalid")
async def _usf_byterange_missing(c: Container, d: Docs) -> bytes:
    """The last seal's /ByteRange removed."""
    s, e = last_signature(d.plain).br_span
    return splice(d.plain, s, e, b"")


@attack("usf_byterange_malformed", "universal signature forgery", "byte_range_invalid")
async def _usf_byterange_malformed(c: Container, d: Docs) -> bytes:
    """The last seal's /ByteRange with three numbers."""
    sig = last_signature(d.plain)
    s, e = sig.br_span
    _, len1, start2, _ = sig.byte_range
    return splice(d.plain, s, e, b"/ByteRange [0 %d %d]" % (len1, start2))


@attack("usf_byterange_last_update_only", "universal signature forgery", "byte_range_invalid")
async def _usf_byterange_last_update_only(c: Container, d: Docs) -> bytes:
    """The last seal's /ByteRange starts at its own update, not at the start of the file."""
    sig = last_signature(d.plain)
    s, e = sig.br_span
    _, len1, start2, len2 = sig.byte_range
    rev_start = d.plain.rindex(b"%%EOF", 0, len1) + len(b"%%EOF")
    return splice(
        d.plain, s, e, b"/ByteRange [%d %d %d %d]" % (rev_start, len1 - rev_start, start2, len2)
    )


@attack("usf_byterange_short", "universal signature forgery", "partial_coverage")
async def _usf_byterange_short(c: Container, d: Docs) -> bytes:
    """The last seal's /ByteRange stops before the end of its revision (the xref of its own
    update is not covered)."""
    sig = last_signature(d.plain)
    s, e = sig.br_span
    _, len1, start2, _ = sig.byte_range
    xref = d.plain.rindex(b"startxref")
    return splice(d.plain, s, e, b"/ByteRange [0 %d %d %d]" % (len1, start2, xref - start2))


# shadow attacks


@attack("shadow_hide", "shadow attack", "modified_after_signing")
async def _shadow_hide(c: Container, d: Docs) -> bytes:
    """Hide: the update empties the signed cover XObject, revealing "Amount: 1000000" below."""

    def change(w: IncrementalPdfFileWriter) -> None:
        cover = _first_page(w)["/Resources"]["/XObject"].raw_get("/Cover")
        old = cover.get_object()
        # the same object number, now an empty form
        w.objects[(cover.generation, cover.idnum)] = generic.StreamObject(
            {k: old.raw_get(k) for k in old if k not in ("/Length", "/Filter")}, stream_data=b""
        )

    return incremental(d.shadow, change)


@attack("shadow_hide_optional_content", "shadow attack", "modified_after_signing")
async def _shadow_hide_oc(c: Container, d: Docs) -> bytes:
    """Hide (alternative content): the update turns on an optional content group that was off
    when signed, showing a penalty clause."""

    def change(w: IncrementalPdfFileWriter) -> None:
        props = w.root["/OCProperties"]
        props["/D"] = generic.DictionaryObject(
            {
                pdf_name("/ON"): props["/OCGs"],
            }
        )
        w.update_root()

    return incremental(d.shadow, change)


@attack("shadow_replace_xobject", "shadow attack", "modified_after_signing")
async def _shadow_replace(c: Container, d: Docs) -> bytes:
    """Replace: the update points the page's clause 2 at the prepared, signed but unused
    XObject."""

    def change(w: IncrementalPdfFileWriter) -> None:
        page = _first_page(w)
        evil = w.root["/PieceInfo"]["/Prepared"].raw_get("/Evil")
        page["/Resources"]["/XObject"][pdf_name("/Body")] = evil
        w.update_container(page)

    return incremental(d.shadow, change)


@attack("shadow_replace_form_field", "shadow attack", "modified_after_signing")
async def _shadow_replace_field(c: Container, d: Docs) -> bytes:
    """Replace (overlay form field): the update fills the signed text field with 1000000."""

    def change(w: IncrementalPdfFileWriter) -> None:
        field = w.root["/AcroForm"]["/Fields"].raw_get(0)
        obj = field.get_object()
        obj[pdf_name("/V")] = generic.TextStringObject("1000000")
        ap = generic.StreamObject(
            {
                pdf_name("/Type"): pdf_name("/XObject"),
                pdf_name("/Subtype"): pdf_name("/Form"),
                pdf_name("/BBox"): _box(0, 0, 200, 30),
            },
            stream_data=b"/Tx BMC BT /F1 14 Tf 4 8 Td (1000000) Tj ET EMC",
        )
        obj[pdf_name("/AP")] = generic.DictionaryObject({pdf_name("/N"): w.add_object(ap)})
        w.mark_update(field)

    return incremental(d.shadow, change)


@attack("shadow_hide_and_replace", "shadow attack", "modified_after_signing")
async def _shadow_hide_and_replace(c: Container, d: Docs) -> bytes:
    """Hide-and-replace: the update points the catalog at the prepared second page tree."""

    def change(w: IncrementalPdfFileWriter) -> None:
        w.root[pdf_name("/Pages")] = w.root["/PieceInfo"]["/Prepared"].raw_get("/Pages")
        w.update_root()

    return incremental(d.shadow, change)


# identity attacks


def _self_made(
    subject_of: x509.Certificate, *, copy_issuer: x509.Certificate | None = None
) -> SimpleSigner:
    """A key and certificate made by the attacker with the seal's subject (and extension)."""
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.now(UTC)
    issuer = copy_issuer.subject if copy_issuer is not None else subject_of.subject
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject_of.subject)
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(subject_of.serial_number if copy_issuer else x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=365))
        .add_extension(
            x509.KeyUsage(True, True, False, False, False, False, False, False, False),
            critical=True,
        )
    )
    for ext in subject_of.extensions:
        if ext.oid.dotted_string == "1.2.156.10260.4.1.4":
            builder = builder.add_extension(ext.value, critical=False)
    cert = builder.sign(key, hashes.SHA256())
    asn1_cert = asn1_x509.Certificate.load(cert.public_bytes(serialization.Encoding.DER))
    asn1_key = asn1_keys.PrivateKeyInfo.load(
        key.private_bytes(
            serialization.Encoding.DER,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return SimpleSigner(asn1_cert, asn1_key, SimpleCertificateStore())


async def _sign_with(
    data: bytes,
    signer: Signer,
    name: str,
    *,
    when: datetime | None = None,
    timestamper: TimeStamper | None = None,
) -> bytes:
    """Sign with pyHanko directly, as an attacker holding ``signer`` would: a new visible
    field, PAdES, no validation data; ``when`` is the claimed signing time."""
    w = IncrementalPdfFileWriter(io.BytesIO(data), strict=False)
    pdf_signer = PdfSigner(
        PdfSignatureMetadata(
            field_name=name, md_algorithm="sha256", subfilter=SigSeedSubFilter.PADES
        ),
        signer=signer,
        timestamper=timestamper,
        new_field_spec=SigFieldSpec(name, box=(400, 100, 500, 200)),
    )
    if timestamper is not None:
        out = io.BytesIO()
        await pdf_signer.async_sign_pdf(w, bytes_reserved=16_384, output=out)
        return out.getvalue()
    session = pdf_signer.init_signing_session(w)
    if when is not None:
        session.system_time = when
    tbs = session.prepare_tbs_document(validation_info=None, bytes_reserved=16_384)
    prepared, output = tbs.digest_tbs_document(output=io.BytesIO())
    post = await tbs.perform_signature(
        document_digest=prepared.document_digest,
        pdf_cms_signed_attrs=PdfCMSSignedAttributes(signing_time=session.system_time),
    )
    await post.post_signature_processing(output)
    return bytes(output.getvalue())


def _seal_cert(c: Container, kind: SealKind) -> x509.Certificate:
    return x509.load_pem_x509_certificate(c.seals.seal(USCC, kind).certificate_pem.encode())


@attack("self_made_certificate", "identity", "untrusted_certificate")
async def _self_made_certificate(c: Container, d: Docs) -> bytes:
    """A second contract seal signed by a self-signed certificate with the enterprise's name,
    USCC, seal title and USCC extension."""
    signer = _self_made(_seal_cert(c, SealKind.CONTRACT))
    return await _sign_with(d.plain, signer, "eseal-contract-forged")


@attack("self_made_certificate_copying_issuer", "identity", "untrusted_certificate")
async def _self_made_copying_issuer(c: Container, d: Docs) -> bytes:
    """As above, the certificate also copying eseal's issuer name and the seal's serial."""
    signer = _self_made(
        _seal_cert(c, SealKind.CONTRACT),
        copy_issuer=x509.load_der_x509_certificate(c.pki.chain()[0].dump()),
    )
    return await _sign_with(d.plain, signer, "eseal-contract-forged")


# -- running them -----------------------------------------------------------------------------


@dataclass
class Row:
    name: str
    family: str
    description: str
    #: the code the test requires
    code: str
    #: every code of the report, in order, without repeats
    codes: list[str]
    pdfsig: str


ROWS: dict[str, Row] = {}


def pdfsig_verdict(data: bytes) -> str:
    """poppler's verdict, one clause per signature (no network, no trust store)."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "attacked.pdf"
        path.write_bytes(data)
        out = subprocess.run(
            ["pdfsig", "-no-ocsp", str(path)], capture_output=True, text=True, timeout=60
        )
    blocks = re.split(r"^Signature #\d+:$", out.stdout, flags=re.M)[1:]
    if not blocks:
        text = (out.stdout + out.stderr).strip().splitlines()
        return (text[-1] if text else f"exit {out.returncode}").strip()
    parts = []
    for i, block in enumerate(blocks, 1):
        sig = re.search(r"Signature Validation: (.*)", block)
        total = (
            "total"
            if "Total document signed" in block
            else ("not total" if "Not total document signed" in block else "")
        )
        verdict = sig.group(1).strip().rstrip(".") if sig else "no verdict"
        parts.append(f"#{i} {verdict}" + (f" ({total})" if total else ""))
    return "; ".join(parts)


def codes_of(report: dict[str, Any]) -> list[str]:
    out: list[str] = []
    for entry in report["signatures"]:
        out += [p["code"] for p in entry["problems"] if p["code"] not in out]
    return out


async def check(
    c: Container, data: bytes, name: str, family: str, description: str, code: str
) -> dict[str, Any]:
    """Verify the attacked file, require ``valid: false`` with ``code``, record the row."""
    report = await c.verifier.verify(data, USCC)
    codes = codes_of(report)
    assert report["valid"] is False, report
    assert code in codes, (codes, report)
    assert "signature_not_valid" in [p["code"] for p in report["problems"]]
    verdict = pdfsig_verdict(data)
    assert verdict  # pdfsig ran and said something
    ROWS[name] = Row(name, family, description, code, codes, verdict)
    return report


async def test_the_documents_attacked_are_valid(lab: Container, docs: Docs) -> None:
    """The baseline: both documents as eseal sealed them."""
    for name, data, what in (
        ("genuine_plain", docs.plain, "The two-page contract as sealed (no attack)."),
        (
            "genuine_shadow",
            docs.shadow,
            "The shadow-attack contract as sealed: its prepared content is hidden (no attack).",
        ),
    ):
        report = await lab.verifier.verify(data, USCC)
        assert report["valid"] is True, report
        assert codes_of(report) == []
        ROWS[name] = Row(name, "genuine", what, "", [], pdfsig_verdict(data))


@pytest.mark.parametrize("case", ATTACKS, ids=lambda a: a.name)
async def test_attack_is_not_valid_with_its_code(lab: Container, docs: Docs, case: Attack) -> None:
    data = await case.build(lab, docs)
    report = await check(lab, data, case.name, case.family, case.description, case.code)
    if case.family in ("incremental saving", "shadow attack"):
        # the seals themselves are intact: it is what came after them that is refused
        assert all(e["intact"] for e in report["signatures"]), report
    if case.family == "identity":
        forged = report["signatures"][-1]
        assert forged["intact"] and not forged["trusted"] and not forged["valid"]
        assert forged["enterprise"]["uscc"] == USCC  # it claims the enterprise...
        assert forged["seal"]["image_sha256"] is None  # ...but is none of its seals
        assert all(e["valid"] for e in report["signatures"][:-1])


async def test_revoked_seal_backdated_by_a_claimed_time(container: Container) -> None:
    """A stolen seal key used after the seal was revoked, the signature claiming a time before
    the revocation (B-B, no timestamp), and the same with a timestamp from eseal's TSA."""
    c = container
    enterprise, _ = c.seals.register(parse_license(license_data()))
    _, stolen = c.seals.signer_for(USCC, SealKind.CONTRACT)  # taken while the seal was active
    c.seals.revoke_seal(USCC, SealKind.CONTRACT, "key compromised")
    revoked_at = c.seals.seal(USCC, SealKind.CONTRACT).status_changed_at
    assert revoked_at is not None
    claimed = enterprise.registered_at  # after registration, before the revocation
    assert claimed < revoked_at

    data = await _sign_with(simple_pdf(1), stolen, "eseal-contract-backdated", when=claimed)
    report = await check(
        c,
        data,
        "revoked_seal_backdated",
        "identity",
        "A seal key used after the seal's revocation, the signature claiming "
        "a time before it (no timestamp).",
        "revoked_without_trusted_time",
    )
    sig = report["signatures"][0]
    assert sig["intact"] and sig["trusted"] and sig["integrity"] == "ok"
    assert sig["time_source"] == "claimed" and sig["level"] == "B-B"
    assert sig["revoked"]["revoked"] and sig["revoked"]["at_signing"]
    assert sig["enterprise"]["license_status_at_signing"] == "active"

    data = await _sign_with(
        simple_pdf(1), stolen, "eseal-contract-after-revocation", timestamper=c.tsa.timestamper()
    )
    report = await check(
        c,
        data,
        "revoked_seal_timestamped",
        "identity",
        "The same key used after the revocation with a trusted timestamp.",
        "certificate_revoked",
    )
    assert report["signatures"][0]["time_source"] == "timestamp"


# -- docs/attacks.md --------------------------------------------------------------------------

_ORDER = [
    "genuine_plain",
    "genuine_shadow",
    *(a.name for a in ATTACKS),
    "revoked_seal_backdated",
    "revoked_seal_timestamped",
]


def render_table(rows: dict[str, Row]) -> str:
    lines = [
        "# Attacks on sealed PDFs: what eseal reports, what poppler says",
        "",
        "Generated by `tests/signer/test_attacks.py`, which builds every case from a document",
        "sealed by eseal (two seals, contract seal then legal representative's seal, PAdES B-T,",
        "unless the case says otherwise) and requires `valid: false` with the *required code*.",
        "The first two rows are the untouched documents the attacks start from.  Regenerate",
        "with:",
        "",
        "```",
        "ESEAL_ATTACK_TABLE=docs/attacks.md .venv/bin/pytest tests/signer/test_attacks.py",
        "```",
        "",
        "*Codes reported* lists every problem code of the report's signatures, first seen first;",
        "the codes are documented in `signer/verify.py`.  *pdfsig* is poppler's `pdfsig -no-ocsp`",
        "(poppler " + _poppler_version() + ") on the same file, one clause per signature in",
        "document order: its *Signature Validation* line and whether it says the signature",
        "covers the total document.  pdfsig here has no trust store, so its certificate line",
        '("issuer isn\'t Trusted" for every signature, genuine or not) is left out.',
        "",
        "Where pdfsig says *Signature is Valid* for every signature, a reader relying on it",
        "would accept the attacked document: compare with the genuine rows, where the attacked",
        'file differs only by "not total" on the last signature, which legitimate later',
        "updates (validation data, document timestamps, further seals) also cause.",
        "",
        "| family | case | what the attacker did | eseal: required code | codes reported "
        "| pdfsig |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for name in _ORDER:
        row = rows.get(name)
        if row is None:
            continue
        lines.append(
            f"| {row.family} | `{row.name}` | {row.description} | "
            + (f"`{row.code}`" if row.code else "none: `valid: true`")
            + " | "
            + (", ".join(f"`{c}`" for c in row.codes) or "none")
            + f" | {row.pdfsig} |"
        )
    return "\n".join(lines) + "\n"


def _poppler_version() -> str:
    out = subprocess.run(["pdfsig", "-v"], capture_output=True, text=True, timeout=30)
    found = re.search(r"version (\S+)", out.stdout + out.stderr)
    return found.group(1) if found else "unknown"


@pytest.fixture(scope="module", autouse=True)
def _attack_table() -> Iterator[None]:
    yield
    target = os.environ.get("ESEAL_ATTACK_TABLE")
    if target and all(name in ROWS for name in _ORDER):
        Path(target).write_text(render_table(ROWS), encoding="utf-8")
