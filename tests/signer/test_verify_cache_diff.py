"""The fast path of the difference analysis (signer/own_updates.py) answers exactly as
pyHanko's default policy for eseal's later seals, and leaves every other update to it."""

from __future__ import annotations

import io
from collections.abc import Callable

import pytest
import pytest_asyncio
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.diff_analysis import DEFAULT_DIFF_POLICY, DiffResult, ModificationLevel

from api.container import Container
from helpers import USCC, license_data
from pdfs import simple_pdf
from seals.kinds import SealKind
from seals.license import parse_license
from signer.levels import PadesLevel
from signer.own_updates import later_seals
from signer.service import SealingOptions, SealOrder

KINDS = (SealKind.CONTRACT, SealKind.LEGAL_REP, SealKind.FINANCE, SealKind.OFFICIAL)


@pytest_asyncio.fixture
async def documents(container: Container) -> dict[str, bytes]:
    """eseal's documents: 2, 3 and 4 seals at B-T, 2 at B-B, 2 on a 3-page document, and
    seals added one request after another."""
    container.seals.register(parse_license(license_data()))

    async def seal(pdf: bytes, kinds: tuple[SealKind, ...], level: PadesLevel) -> bytes:
        out, _ = await container.sealing.seal(
            USCC, pdf, SealingOptions(seals=[SealOrder(k) for k in kinds], level=level)
        )
        return out

    one = await seal(simple_pdf(1), KINDS[:1], PadesLevel.B_T)
    not_xmp = _update(simple_pdf(1), _junk_metadata)
    return {
        # eseal's sealing writes XMP of its own over it
        "two over metadata that is not XMP": await seal(not_xmp, KINDS[:2], PadesLevel.B_T),
        "two B-T": await seal(simple_pdf(1), KINDS[:2], PadesLevel.B_T),
        "three B-T": await seal(simple_pdf(1), KINDS[:3], PadesLevel.B_T),
        "four B-T": await seal(simple_pdf(1), KINDS, PadesLevel.B_T),
        "two B-B": await seal(simple_pdf(1), KINDS[:2], PadesLevel.B_B),
        "two on three pages": await seal(simple_pdf(3), KINDS[:2], PadesLevel.B_T),
        "one, then another": await seal(one, (SealKind.LEGAL_REP,), PadesLevel.B_T),
    }


def _reader(pdf: bytes) -> PdfFileReader:
    return PdfFileReader(io.BytesIO(pdf), strict=False)


def _bases(pdf: bytes) -> list[int]:
    """The signed revisions of the signatures followed by later revisions."""
    reader = _reader(pdf)
    last = reader.xrefs.total_revisions - 1
    return [s.signed_revision for s in reader.embedded_signatures if s.signed_revision < last]


def _junk_metadata(w: IncrementalPdfFileWriter) -> None:
    junk = generic.StreamObject(
        {
            generic.NameObject("/Type"): generic.NameObject("/Metadata"),
            generic.NameObject("/Subtype"): generic.NameObject("/XML"),
        },
        stream_data=b"<not-xmp/>",
    )
    w.root["/Metadata"] = w.add_object(junk)
    w.update_root()


async def test_same_answer_as_pyhanko_on_eseals_documents(documents: dict[str, bytes]) -> None:
    checked = 0
    for name, pdf in documents.items():
        for base in _bases(pdf):
            fast = later_seals(_reader(pdf), base)
            assert fast is not None, f"{name}: the fast path refused eseal's own update"
            full = DEFAULT_DIFF_POLICY.review_file(_reader(pdf), base)
            assert isinstance(full, DiffResult), (name, full)
            assert full.modification_level is ModificationLevel.FORM_FILLING
            assert fast == full.changed_form_fields, name
            checked += 1
    assert checked == 1 + 1 + 2 + 3 + 1 + 1 + 1


def _update(pdf: bytes, change: Callable[[IncrementalPdfFileWriter], None]) -> bytes:
    w = IncrementalPdfFileWriter(io.BytesIO(pdf), strict=False)
    change(w)
    out = io.BytesIO()
    w.write(out)
    return out.getvalue()


def _page(w: IncrementalPdfFileWriter) -> generic.DictionaryObject:
    page = w.root["/Pages"]["/Kids"][0].get_object()
    assert isinstance(page, generic.DictionaryObject)
    return page


def _annotation(w: IncrementalPdfFileWriter) -> None:
    page = _page(w)
    note = w.add_object(
        generic.DictionaryObject(
            {
                generic.NameObject("/Type"): generic.NameObject("/Annot"),
                generic.NameObject("/Subtype"): generic.NameObject("/Text"),
                generic.NameObject("/Rect"): generic.ArrayObject(
                    [generic.NumberObject(v) for v in (10, 10, 50, 50)]
                ),
            }
        )
    )
    page["/Annots"].append(note)
    w.update_container(page)


def _content(w: IncrementalPdfFileWriter) -> None:
    page = _page(w)
    extra = w.add_object(generic.StreamObject(stream_data=b"BT /F1 40 Tf 50 400 Td (PAID) Tj ET"))
    page["/Contents"] = generic.ArrayObject([page.raw_get("/Contents"), extra])
    w.update_container(page)


def _media_box(w: IncrementalPdfFileWriter) -> None:
    page = _page(w)
    page["/MediaBox"] = generic.ArrayObject([generic.NumberObject(v) for v in (0, 0, 300, 300)])
    w.update_container(page)


def _catalog_entry(w: IncrementalPdfFileWriter) -> None:
    w.root["/OpenAction"] = generic.ArrayObject([generic.NameObject("/Fit")])
    w.update_root()


def _rewrite_only(w: IncrementalPdfFileWriter) -> None:
    w.update_container(_page(w))


@pytest.mark.parametrize(
    "change", [_annotation, _content, _media_box, _catalog_entry, _rewrite_only]
)
async def test_any_other_update_goes_to_pyhanko(
    documents: dict[str, bytes], change: Callable[[IncrementalPdfFileWriter], None]
) -> None:
    pdf = _update(documents["two B-T"], change)
    for base in _bases(pdf):
        assert later_seals(_reader(pdf), base) is None


async def test_an_old_reference_to_a_new_object_goes_to_pyhanko(
    documents: dict[str, bytes],
) -> None:
    """An object of the first revision that names an object number a later seal's update
    introduces (a reference made live later): only a reading of the old revision finds it."""
    pdf = documents["two B-T"]
    reader = _reader(pdf)
    last = reader.xrefs.total_revisions - 1
    introduced = max(r.idnum for r in reader.xrefs.explicit_refs_in_revision(last))
    old = b"/Type /Catalog"
    at = pdf.index(old)
    assert at < reader.xrefs.get_xref_container_info(0).end_location  # in the first revision
    new = f"/Z {introduced} 0 R".encode().ljust(len(old))
    changed = pdf[:at] + new + pdf[at + len(old) :]
    assert later_seals(_reader(pdf), 1) is not None
    assert later_seals(_reader(changed), 1) is None
