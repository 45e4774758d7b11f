"""Certification (DocMDP): the level eseal writes, and changes a certification forbids.

The level is read from the signed file itself, by pyHanko's reader and by hand from the
signature dictionary (``/Reference [<< /TransformMethod /DocMDP /TransformParams << /P n >> >>]``)
and the catalog's ``/Perms /DocMDP``.  The violations are made with pyHanko directly: a
document certified with one of the enterprise's own seals (so that nothing but the change is
wrong), then a revision that the certification's level does not allow.
"""

from __future__ import annotations

import io
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.generic import pdf_name
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.fields import MDPPerm, SigFieldSpec, SigSeedSubFilter
from pyhanko.sign.signers import PdfSignatureMetadata, PdfSigner

from api.container import Container, build
from api.settings import Settings
from helpers import USCC, license_data
from pdfs import simple_pdf
from seals.kinds import SealKind
from seals.license import parse_license
from signer.levels import PadesLevel
from signer.service import SealingOptions, SealOrder


@pytest.fixture(scope="module")
def lab(
    tmp_path_factory: pytest.TempPathFactory, _initialised_template: Path
) -> Iterator[Container]:
    data = tmp_path_factory.mktemp("docmdp") / "data"
    shutil.copytree(_initialised_template, data)
    c = build(Settings(data_dir=data, public_url="http://127.0.0.1:8000"))
    c.seals.register(parse_license(license_data()))
    yield c
    c.close()


def docmdp_in_file(data: bytes) -> list[int | None]:
    """Per signature in document order: the /P of its DocMDP reference, or None."""
    reader = PdfFileReader(io.BytesIO(data), strict=False)
    levels: list[int | None] = []
    for sig in reader.embedded_signatures:
        p = None
        for ref in sig.sig_object.get("/Reference", []):
            ref = ref.get_object()
            if ref.get("/TransformMethod") == "/DocMDP":
                p = int(ref["/TransformParams"].get("/P", 2))
        levels.append(p)
        # pyHanko's reading of the same agrees
        assert sig.docmdp_level == (None if p is None else MDPPerm(p))
    return levels


def certifying_signature_in_catalog(data: bytes) -> bool:
    """The catalog's /Perms /DocMDP names the first signature (ISO 32000-1, 12.8.4)."""
    reader = PdfFileReader(io.BytesIO(data), strict=False)
    perms = reader.root.get("/Perms")
    if perms is None or "/DocMDP" not in perms:
        return False
    first = reader.embedded_signatures[0].sig_object
    return perms.raw_get("/DocMDP").get_object() is first or perms["/DocMDP"].get(
        "/Contents"
    ) == first.get("/Contents")


def codes_of(entry: dict[str, Any]) -> list[str]:
    return [p["code"] for p in entry["problems"]]


async def test_a_certified_seal_has_docmdp_level_2_in_the_file(lab: Container) -> None:
    out, _ = await lab.sealing.seal(
        USCC,
        simple_pdf(1),
        SealingOptions(seals=[SealOrder(SealKind.CONTRACT)], level=PadesLevel.B_T, certify=True),
    )
    assert docmdp_in_file(out) == [2]  # form filling and further signatures allowed
    assert certifying_signature_in_catalog(out)
    report = await lab.verifier.verify(out, USCC)
    assert report["valid"] is True, report


async def test_a_second_seal_on_a_certified_document_is_an_approval(lab: Container) -> None:
    out, _ = await lab.sealing.seal(
        USCC,
        simple_pdf(1),
        SealingOptions(
            seals=[SealOrder(SealKind.CONTRACT), SealOrder(SealKind.LEGAL_REP)],
            level=PadesLevel.B_T,
            certify=True,
        ),
    )
    assert docmdp_in_file(out) == [2, None]
    assert certifying_signature_in_catalog(out)
    report = await lab.verifier.verify(out, USCC)
    assert report["valid"] is True, report
    assert all("docmdp_violation" not in codes_of(e) for e in report["signatures"])


async def test_an_uncertified_seal_has_no_docmdp(lab: Container) -> None:
    out, _ = await lab.sealing.seal(
        USCC,
        simple_pdf(1),
        SealingOptions(seals=[SealOrder(SealKind.CONTRACT)], level=PadesLevel.B_B),
    )
    assert docmdp_in_file(out) == [None]
    assert not certifying_signature_in_catalog(out)


async def _certify(c: Container, level: MDPPerm) -> bytes:
    """simple_pdf(1) certified at ``level`` with the enterprise's contract seal (pyHanko)."""
    _, signer = c.seals.signer_for(USCC, SealKind.CONTRACT)
    meta = PdfSignatureMetadata(
        field_name="certifier",
        md_algorithm="sha256",
        subfilter=SigSeedSubFilter.PADES,
        certify=True,
        docmdp_permissions=level,
    )
    w = IncrementalPdfFileWriter(io.BytesIO(simple_pdf(1)), strict=False)
    out = io.BytesIO()
    await PdfSigner(
        meta, signer=signer, new_field_spec=SigFieldSpec("certifier", box=(50, 50, 150, 150))
    ).async_sign_pdf(w, output=out)
    data = out.getvalue()
    assert docmdp_in_file(data) == [level.value]
    return data


async def _second_seal(c: Container, data: bytes) -> bytes:
    """An approval signature in a new field, by the legal representative's seal."""
    _, signer = c.seals.signer_for(USCC, SealKind.LEGAL_REP)
    w = IncrementalPdfFileWriter(io.BytesIO(data), strict=False)
    out = io.BytesIO()
    await PdfSigner(
        PdfSignatureMetadata(
            field_name="approval", md_algorithm="sha256", subfilter=SigSeedSubFilter.PADES
        ),
        signer=signer,
        new_field_spec=SigFieldSpec("approval", box=(300, 50, 400, 150)),
    ).async_sign_pdf(w, output=out)
    return out.getvalue()


def _annotation(data: bytes) -> bytes:
    """A text annotation (a sticky note) added to page 1 in a new revision."""
    w = IncrementalPdfFileWriter(io.BytesIO(data), strict=False)
    page = w.root["/Pages"]["/Kids"][0]
    note = w.add_object(
        generic.DictionaryObject(
            {
                pdf_name("/Type"): pdf_name("/Annot"),
                pdf_name("/Subtype"): pdf_name("/Text"),
                pdf_name("/Rect"): generic.ArrayObject(
                    [generic.FloatObject(v) for v in (300, 700, 320, 720)]
                ),
                pdf_name("/Contents"): generic.TextStringObject("Amount is 1000000 now"),
            }
        )
    )
    annots = page.get("/Annots")
    page[pdf_name("/Annots")] = generic.ArrayObject([*(annots or []), note])
    w.update_container(page)
    out = io.BytesIO()
    w.write(out)
    return out.getvalue()


async def _report_of_certifier(c: Container, data: bytes) -> tuple[dict[str, Any], dict[str, Any]]:
    report = await c.verifier.verify(data, USCC)
    certifier = report["signatures"][0]
    return report, certifier


async def test_untouched_certifications_are_valid(lab: Container) -> None:
    """The documents the violations start from are fine as they are."""
    for level in (MDPPerm.NO_CHANGES, MDPPerm.FILL_FORMS):
        report, certifier = await _report_of_certifier(lab, await _certify(lab, level))
        assert report["valid"] is True, report
        assert certifier["integrity"] == "ok" and codes_of(certifier) == []


async def test_any_change_after_a_no_changes_certification_is_a_violation(lab: Container) -> None:
    """P=1: no change at all (pyHanko will not even sign such a document; a note is enough)."""
    data = _annotation(await _certify(lab, MDPPerm.NO_CHANGES))
    report, certifier = await _report_of_certifier(lab, data)
    assert "docmdp_violation" in codes_of(certifier), certifier
    assert certifier["integrity"] == "suspicious" and certifier["valid"] is False
    assert report["valid"] is False


async def test_a_new_seal_field_after_a_form_filling_certification_is_a_violation(
    lab: Container,
) -> None:
    """P=2 allows filling the fields that exist, signatures included, not adding new ones
    (which is why eseal makes every seal's field in the certifying revision)."""
    data = await _second_seal(lab, await _certify(lab, MDPPerm.FILL_FORMS))
    report, certifier = await _report_of_certifier(lab, data)
    assert "docmdp_violation" in codes_of(certifier), certifier
    assert certifier["integrity"] == "suspicious" and certifier["valid"] is False
    assert report["valid"] is False
    # the later seal itself is intact and trusted: it is the change that is refused
    later = report["signatures"][1]
    assert later["intact"] and later["trusted"] and "docmdp_violation" not in codes_of(later)


async def test_an_annotation_after_a_form_filling_certification_is_a_violation(
    lab: Container,
) -> None:
    """P=2 allows filling forms and signing, not annotations (those need P=3)."""
    data = _annotation(await _certify(lab, MDPPerm.FILL_FORMS))
    report, certifier = await _report_of_certifier(lab, data)
    assert "docmdp_violation" in codes_of(certifier), certifier
    assert certifier["valid"] is False and report["valid"] is False
