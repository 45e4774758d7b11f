"""The sealing fast path (signer/fast_seal.py) against pyHanko's path, on the same documents.

Every document of the corpus is sealed twice by the same server: once as it seals by default
(the fast path where it applies) and once with the fast path switched off (pyHanko's signer,
the reference).  Both must put the seal in the same place; every output must validate in
pyHanko (intact, valid, trusted, and no earlier signature disturbed), in poppler's ``pdfsig``,
in endesive's verifier and in ``qpdf --check``, and eseal's own report must find it intact
and the seal ours.  Documents the fast path does not write (certified ones, hybrid
cross-reference files, B-LT) must come out of pyHanko's path either way.
"""

from __future__ import annotations

import io
import re
import shutil
import subprocess
import zlib
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from asn1crypto import pem
from asn1crypto import x509 as asn1_x509
from contract_docs import multi_font_contract
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.generic import pdf_name
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.pdf_utils.writer import PdfFileWriter
from pyhanko.sign.validation import async_validate_pdf_signature
from pyhanko_certvalidator import ValidationContext
from test_signing import endesive, pdfsig

from api.container import Container, build
from api.settings import Settings
from helpers import USCC, license_data, require_tool
from pdfs import simple_pdf
from seals.kinds import SealKind
from seals.license import parse_license
from signer.fast_seal import FAST_LEVELS
from signer.levels import PadesLevel
from signer.placement import AtPoint
from signer.service import ReserveOrder, SealingOptions, SealOrder


@pytest.fixture(scope="module")
def lab(
    tmp_path_factory: pytest.TempPathFactory, _initialised_template: Path
) -> Iterator[Container]:
    data = tmp_path_factory.mktemp("fast-path") / "data"
    shutil.copytree(_initialised_template, data)
    c = build(Settings(data_dir=data))
    c.seals.register(parse_license(license_data()))
    yield c
    c.close()


@pytest.fixture(scope="module")
def fonts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fonts")


# --------------------------------------------------------------------------- the corpus


def _xref_streams(pages: int) -> bytes:
    """A cross-reference stream, no object streams (pyHanko's writer)."""
    w = PdfFileWriter(stream_xrefs=True)
    for i in range(pages):
        content = w.add_object(
            generic.StreamObject(
                stream_data=f"BT /F1 18 Tf 72 760 Td (Page {i + 1}) Tj ET".encode()
            )
        )
        w.insert_page(
            generic.DictionaryObject(
                {
                    pdf_name("/Type"): pdf_name("/Page"),
                    pdf_name("/MediaBox"): generic.ArrayObject(
                        generic.NumberObject(v) for v in (0, 0, 595, 842)
                    ),
                    pdf_name("/Contents"): content,
                    pdf_name("/Resources"): generic.DictionaryObject(),
                }
            )
        )
    out = io.BytesIO()
    w.write(out)
    return out.getvalue()


def _object_streams(pdf: bytes, tmp: Path) -> bytes:
    """The same document rewritten by qpdf with object streams (and so an xref stream)."""
    require_tool("qpdf")
    src, dst = tmp / "plain.pdf", tmp / "objstm.pdf"
    src.write_bytes(pdf)
    subprocess.run(
        ["qpdf", "--object-streams=generate", str(src), str(dst)], check=True, timeout=60
    )
    return dst.read_bytes()


def _hybrid(pdf: bytes) -> bytes:
    """An update with a hybrid cross-reference section: a table whose trailer's /XRefStm
    points at a stream listing an object kept in an object stream (ISO 32000-1, 7.5.8.4)."""
    reader = PdfFileReader(io.BytesIO(pdf), strict=False)
    size = int(reader.trailer["/Size"])
    prev = reader.last_startxref
    holder, extra, xref = size, size + 1, size + 2
    out = bytearray(pdf)
    if not out.endswith(b"\n"):
        out += b"\n"
    packed = b"%d 0 " % extra
    inner = packed + b"<</Note (kept in an object stream)>>"
    holder_at = len(out)
    out += b"%d 0 obj\n<</Type /ObjStm /N 1 /First %d /Length %d>>\nstream\n" % (
        holder,
        len(packed),
        len(inner),
    )
    out += inner + b"\nendstream\nendobj\n"
    rows = b"\x02" + holder.to_bytes(4, "big") + b"\x00\x00"
    xref_at = len(out)
    out += b"%d 0 obj\n<</Type /XRef /W [1 4 2] /Index [%d 1] /Size %d /Length %d>>\nstream\n" % (
        xref,
        extra,
        xref + 1,
        len(rows),
    )
    out += rows + b"\nendstream\nendobj\n"
    table_at = len(out)
    out += b"xref\n0 1\n0000000000 65535 f \n%d 1\n%010d 00000 n \n%d 1\n%010d 00000 n \n" % (
        holder,
        holder_at,
        xref,
        xref_at,
    )
    root = reader.trailer.raw_get("/Root")
    out += b"trailer\n<</Size %d /Root %d %d R /Prev %d /XRefStm %d>>\nstartxref\n%d\n%%%%EOF\n" % (
        xref + 1,
        root.idnum,
        root.generation,
        prev,
        xref_at,
        table_at,
    )
    return bytes(out)


@dataclass(frozen=True)
class Case:
    document: Callable[[Container, Path, Path], Awaitable[bytes]]
    options: SealingOptions
    #: whether the fast path writes it (else both sides are pyHanko's)
    fast: bool


def _one(kind: SealKind = SealKind.CONTRACT, level: PadesLevel = PadesLevel.B_T) -> SealingOptions:
    return SealingOptions(seals=[SealOrder(kind)], level=level)


async def _sealed_once(c: Container, pdf: bytes) -> bytes:
    c.sealing.document_signer.fast_path = False
    try:
        out, _ = await c.sealing.seal(USCC, pdf, _one(SealKind.LEGAL_REP))
    finally:
        c.sealing.document_signer.fast_path = True
    return out


async def _certified(c: Container, pdf: bytes) -> bytes:
    out, _ = await c.sealing.seal(
        USCC,
        pdf,
        SealingOptions(
            seals=[SealOrder(SealKind.LEGAL_REP, AtPoint(1, 150, 150))],
            certify=True,
            reserve=[ReserveOrder(SealKind.CONTRACT, AtPoint(1, 400, 150), label="乙方")],
            level=PadesLevel.B_B,
        ),
    )
    return out


def _plain(pdf: Callable[[], bytes]) -> Callable[[Container, Path, Path], Awaitable[bytes]]:
    async def make(c: Container, fonts: Path, tmp: Path) -> bytes:
        return pdf()

    return make


async def _contract(c: Container, fonts: Path, tmp: Path) -> bytes:
    return multi_font_contract(fonts)


async def _objstm(c: Container, fonts: Path, tmp: Path) -> bytes:
    return _object_streams(simple_pdf(3), tmp)


async def _objstm_signed(c: Container, fonts: Path, tmp: Path) -> bytes:
    return await _sealed_once(c, _object_streams(simple_pdf(2), tmp))


async def _signed(c: Container, fonts: Path, tmp: Path) -> bytes:
    return await _sealed_once(c, simple_pdf(2))


async def _fast_signed(c: Container, fonts: Path, tmp: Path) -> bytes:
    out, _ = await c.sealing.seal(USCC, simple_pdf(1), _one(SealKind.LEGAL_REP))
    return out


async def _certified_doc(c: Container, fonts: Path, tmp: Path) -> bytes:
    return await _certified(c, simple_pdf(1))


async def _hybrid_doc(c: Container, fonts: Path, tmp: Path) -> bytes:
    return _hybrid(simple_pdf(2))


CASES = {
    "Chinese contract, 4 pages, B-T": Case(_contract, _one(), fast=True),
    "Chinese contract, B-B": Case(_contract, _one(level=PadesLevel.B_B), fast=True),
    "one page": Case(_plain(lambda: simple_pdf(1)), _one(), fast=True),
    "multi-page, two seals in one request": Case(
        _plain(lambda: simple_pdf(5)),
        SealingOptions(
            seals=[SealOrder(SealKind.CONTRACT), SealOrder(SealKind.LEGAL_REP)],
            level=PadesLevel.B_T,
        ),
        fast=True,
    ),
    "rotated 90": Case(_plain(lambda: simple_pdf(2, rotate=90)), _one(), fast=True),
    "rotated 270, landscape": Case(
        _plain(lambda: simple_pdf(1, rotate=270, size=(842, 595))), _one(), fast=True
    ),
    "at a point on page 1": Case(
        _plain(lambda: simple_pdf(3)),
        SealingOptions(seals=[SealOrder(SealKind.CONTRACT, AtPoint(1, 300, 400))]),
        fast=True,
    ),
    "xref stream": Case(_plain(lambda: _xref_streams(2)), _one(), fast=True),
    "object streams": Case(_objstm, _one(), fast=True),
    "object streams, signed before": Case(_objstm_signed, _one(), fast=True),
    "signed before by pyHanko's path": Case(_signed, _one(), fast=True),
    "signed before by the fast path": Case(_fast_signed, _one(), fast=True),
    "hybrid xref": Case(_hybrid_doc, _one(), fast=False),
    "certified, reserved field": Case(_certified_doc, _one(), fast=False),
    "B-LT": Case(_plain(lambda: simple_pdf(1)), _one(level=PadesLevel.B_LT), fast=False),
    "certifying": Case(
        _plain(lambda: simple_pdf(1)),
        SealingOptions(seals=[SealOrder(SealKind.CONTRACT)], certify=True),
        fast=False,
    ),
}


# --------------------------------------------------------------------------- the checks


def _pyhanko_wrote(original: bytes, sealed: bytes) -> bool:
    """Whether pyHanko's signer wrote the update: it names itself as the producer (in /Info
    or its XMP metadata), which the fast path does not touch."""
    tail = sealed[len(original) :]
    if b"pyHanko" in tail:
        return True
    for stream in re.findall(rb"/FlateDecode.*?stream\r?\n(.*?)endstream", tail, flags=re.S):
        try:
            if b"pyHanko" in zlib.decompress(stream):
                return True
        except zlib.error:
            continue
    return False


def _root(c: Container) -> asn1_x509.Certificate:
    der = pem.unarmor((c.settings.pki_dir / "root.pem").read_bytes())[2]
    return asn1_x509.Certificate.load(der)


def _new_widgets(before: bytes, after: bytes) -> list[tuple[int, tuple[float, ...]]]:
    """(page index, /Rect) of each signature field ``after`` has and ``before`` had not."""
    old = {
        s.field_name for s in PdfFileReader(io.BytesIO(before), strict=False).embedded_signatures
    }
    reader = PdfFileReader(io.BytesIO(after), strict=False)
    pages = {reader.find_page_for_modification(i)[0].idnum: i for i in range(_page_count(reader))}
    out = []
    for sig in reader.embedded_signatures:
        if sig.field_name in old:
            continue
        widget = sig.sig_field
        kids = widget.get("/Kids")
        if kids is not None:
            widget = kids[0].get_object()
        rect = tuple(round(float(v), 2) for v in widget["/Rect"])
        out.append((pages[widget.raw_get("/P").idnum], rect))
    return out


def _page_count(reader: PdfFileReader) -> int:
    return int(reader.root["/Pages"]["/Count"])


async def _pyhanko_validates(c: Container, pdf: bytes) -> None:
    reader = PdfFileReader(io.BytesIO(pdf), strict=False)
    for sig in reader.embedded_signatures:
        status = await async_validate_pdf_signature(sig, ValidationContext(trust_roots=[_root(c)]))
        assert status.intact and status.valid and status.trusted, status.pretty_print_details()
        assert status.docmdp_ok is not False, status.pretty_print_details()
        assert status.bottom_line, status.pretty_print_details()


async def _eseal_report_ok(c: Container, pdf: bytes, seals: int) -> None:
    report = await c.verifier.verify(pdf)
    assert report["valid"], report
    assert len(report["signatures"]) == seals
    for entry in report["signatures"]:
        assert entry["intact"] and entry["integrity"] == "ok" and entry["trusted"], entry
        assert entry["valid"] and not entry["problems"], entry
        # identity: a seal of ours, its version known, the enterprise found
        assert entry["seal"]["version"] is not None and entry["seal"]["image_sha256"], entry
        assert entry["enterprise"] is not None, entry


def _external_tools_validate(
    c: Container, pdf: bytes, seals: int, tmp: Path, *, whole: bool
) -> None:
    path = tmp / "sealed.pdf"
    path.write_bytes(pdf)
    blocks = pdfsig(path)
    assert len(blocks) == seals
    for block in blocks:
        assert "Signature Validation: Signature is Valid." in block, block
    if whole:  # nothing after the last seal (B-LT adds validation data after it)
        assert "Total document signed" in blocks[-1], blocks[-1]
    results = endesive(path, c.settings.pki_dir)
    assert len(results) == seals
    for r in results:
        assert r["hash_ok"] is True and r["signature_ok"] is True and r["cert_ok"] is True, r
    check = subprocess.run(["qpdf", "--check", str(path)], capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr
    assert "No syntax or stream encoding errors" in check.stdout


# --------------------------------------------------------------------------- the test


@pytest.mark.parametrize("name", list(CASES))
async def test_fast_path_and_pyhanko_path_seal_alike_and_validate_everywhere(
    lab: Container, fonts: Path, tmp_path: Path, name: str
) -> None:
    require_tool("pdfsig", "qpdf")
    case = CASES[name]
    original = await case.document(lab, fonts, tmp_path)
    before = len(PdfFileReader(io.BytesIO(original), strict=False).embedded_signatures)
    signer = lab.sealing.document_signer
    assert signer.fast_path
    fast, _ = await lab.sealing.seal(USCC, original, case.options)
    signer.fast_path = False
    try:
        reference, _ = await lab.sealing.seal(USCC, original, case.options)
    finally:
        signer.fast_path = True

    assert fast.startswith(original) and reference.startswith(original)  # incremental
    assert _pyhanko_wrote(original, reference)
    assert _pyhanko_wrote(original, fast) is not case.fast
    # the same seals in the same places, whichever path wrote them
    assert _new_widgets(original, fast) == _new_widgets(original, reference)
    seals = before + len(case.options.seals)
    for pdf in (fast, reference):
        await _pyhanko_validates(lab, pdf)
    await _eseal_report_ok(lab, fast, seals)
    whole = case.options.level in FAST_LEVELS
    _external_tools_validate(lab, fast, seals, tmp_path, whole=whole)
