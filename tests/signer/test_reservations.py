"""Reserved signature fields in certified documents (signer.certification), below the API.

What a reader of the document sees and what a verifier concludes: the certification level
read back from the file, the reserved fields with their kind and label read from the field
dictionaries, the seal drawn in a reserved field exactly as a new seal would be drawn at that
spot (on rotated pages too), and certified documents that stay valid whatever level the
counter-party seals at.
"""

from __future__ import annotations

import io
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.fields import MDPPerm
from pyhanko.sign.timestamps import TimeStamper

from api.container import Container, build
from api.settings import Settings
from helpers import OTHER_USCC, USCC, license_data
from keystore.errors import EsealError
from pdfs import simple_pdf
from seals.kinds import SealKind
from seals.license import parse_license
from signer.appearance import SealAppearance
from signer.certification import (
    RESERVATION_KEY,
    fill_box,
    read_certification,
    reserved_name,
    signature_fields,
)
from signer.core import DocumentSigner
from signer.levels import PadesLevel
from signer.placement import MM, AtPoint, page_geometries, resolve
from signer.service import ReserveOrder, SealingOptions, SealingService, SealOrder

CONTRACT_MM = 40 * MM


@pytest.fixture(scope="module")
def lab(
    tmp_path_factory: pytest.TempPathFactory, _initialised_template: Path
) -> Iterator[Container]:
    data = tmp_path_factory.mktemp("reservations") / "data"
    shutil.copytree(_initialised_template, data)
    c = build(Settings(data_dir=data, public_url="http://127.0.0.1:8000"))
    c.seals.register(parse_license(license_data()))
    c.seals.register(
        parse_license(
            license_data(uscc=OTHER_USCC, name="示例贸易有限公司", legal_representative="李娜")
        )
    )
    yield c
    c.close()


def reader(pdf: bytes) -> PdfFileReader:
    return PdfFileReader(io.BytesIO(pdf), strict=False)


async def certify(
    lab: Container,
    pdf: bytes,
    *reserve: ReserveOrder,
    seals: tuple[SealKind, ...] = (SealKind.CONTRACT,),
    level: PadesLevel = PadesLevel.B_B,
) -> bytes:
    out, _ = await lab.sealing.seal(
        USCC,
        pdf,
        SealingOptions(
            seals=[SealOrder(k, AtPoint(1, 150, 150)) for k in seals],
            certify=True,
            reserve=reserve,
            level=level,
        ),
    )
    return out


def problem_codes(report: dict[str, object]) -> set[str]:
    out = {p["code"] for p in report["problems"]}  # type: ignore[attr-defined, index]
    for sig in report["signatures"]:  # type: ignore[attr-defined]
        out |= {p["code"] for p in sig["problems"]}
    return out


async def test_reserved_fields_are_read_back_from_the_document(lab: Container) -> None:
    certified = await certify(
        lab,
        simple_pdf(1),
        ReserveOrder(SealKind.CONTRACT, AtPoint(1, 400, 150), label="乙方"),
        ReserveOrder(SealKind.LEGAL_REP, AtPoint(-1, 480, 150)),
    )
    assert read_certification(reader(simple_pdf(1))) is None
    certification = read_certification(reader(certified))
    assert certification is not None and certification.level == 2
    fields = signature_fields(reader(certified))
    assert [(f.name, f.kind, f.label, f.signed, f.page) for f in fields] == [
        (fields[0].name, None, None, True, 1),
        ("eseal-reserved-contract-1", "contract", "乙方", False, 1),
        ("eseal-reserved-legal_rep-1", "legal_rep", None, False, 1),
    ]
    x0, y0, x1, y1 = fields[1].rect or (0, 0, 0, 0)
    assert (round(x1 - x0, 2), round(y1 - y0, 2)) == (round(CONTRACT_MM, 2),) * 2
    assert ((x0 + x1) / 2, (y0 + y1) / 2) == pytest.approx((400, 150), abs=0.01)
    x0, y0, x1, y1 = fields[2].rect or (0, 0, 0, 0)
    assert round(x1 - x0, 2) == round(20 * MM, 2)  # a legal representative's seal is 20 mm
    # the tooltip a reader shows, and the record kept in the field dictionary
    field = reader(certified).root["/AcroForm"]["/Fields"][1].get_object()
    assert field["/TU"] == "乙方（合同专用章）"
    assert field[RESERVATION_KEY]["/Kind"] == "contract"


async def test_kind_from_the_name_when_the_record_is_missing(lab: Container) -> None:
    """A reserved field whose record another tool dropped is still known by its name."""
    certified = await certify(
        lab, simple_pdf(1), ReserveOrder(SealKind.FINANCE, AtPoint(1, 400, 150))
    )
    writer = IncrementalPdfFileWriter(io.BytesIO(certified), strict=False)
    field = writer.root["/AcroForm"]["/Fields"][1].get_object()
    del field[RESERVATION_KEY]
    writer.update_container(field)
    out = io.BytesIO()
    writer.write(out)
    (_, reserved) = signature_fields(reader(out.getvalue()))
    assert (reserved.name, reserved.kind, reserved.label) == (
        "eseal-reserved-finance-1",
        "finance",
        None,
    )


def test_reserved_names_skip_names_in_use() -> None:
    assert reserved_name("contract", set()) == "eseal-reserved-contract-1"
    assert (
        reserved_name("contract", {"eseal-reserved-contract-1", "eseal-reserved-contract-2"})
        == "eseal-reserved-contract-3"
    )


@pytest.mark.parametrize("rotate", [0, 90, 180, 270])
async def test_a_filled_field_shows_the_seal_as_a_new_seal_at_that_spot(
    lab: Container, rotate: int
) -> None:
    """Same size: the seal fills the reserved rectangle exactly and is drawn with the same
    matrix as a seal placed there afresh, so it is upright on a rotated page."""
    pdf = simple_pdf(1, rotate=rotate)
    certified = await certify(lab, pdf, ReserveOrder(SealKind.CONTRACT, AtPoint(1, 300, 200)))
    field = signature_fields(reader(certified))[1]
    seal = SealAppearance(
        lab.seals.seal(OTHER_USCC, SealKind.CONTRACT).image_png,
        width=CONTRACT_MM,
        height=CONTRACT_MM,
    )
    box = fill_box(reader(certified), field, seal)
    (fresh,) = resolve(AtPoint(1, 300, 200), page_geometries(pdf), seal.width, seal.height)
    assert box.rect == pytest.approx(fresh.rect, abs=0.01)
    # the page's text stands upright in user space and turns with /Rotate: so does the seal
    assert box.rotation == fresh.rotation == 0
    assert box.appearance_matrix() == pytest.approx(fresh.appearance_matrix(), abs=0.01)


async def test_a_smaller_seal_is_centred_in_a_larger_field(lab: Container) -> None:
    certified = await certify(
        lab, simple_pdf(1), ReserveOrder(SealKind.CONTRACT, AtPoint(1, 300, 200))
    )
    field = signature_fields(reader(certified))[1]
    small = SealAppearance(
        lab.seals.seal(OTHER_USCC, SealKind.LEGAL_REP).image_png, width=20 * MM, height=20 * MM
    )
    box = fill_box(reader(certified), field, small)
    margin = (CONTRACT_MM - 20 * MM) / 2
    assert box.crop == pytest.approx(
        (-margin, -margin, 20 * MM + margin, 20 * MM + margin), abs=0.01
    )
    # seal point (10 mm, 10 mm), its centre, lands on the field's centre
    a, b, c, d, e, f = box.appearance_matrix()
    centre = 10 * MM
    assert (a * centre + c * centre + e, b * centre + d * centre + f) == pytest.approx(
        (CONTRACT_MM / 2, CONTRACT_MM / 2), abs=0.01
    )


@pytest.mark.slow
async def test_b_lta_counter_seal_on_a_document_certified_with_two_seals(lab: Container) -> None:
    """A certifies with two seals of its own and reserves two for B; B seals both at B-LTA
    (validation data and a document timestamp after A's certification are allowed).

    A seals at B-LT: with A at B-B or B-T, eseal's verifier currently calls A's certificate
    untrusted once B's B-LTA has added revocation data for B's certificates only (the same
    happens without certification; a verifier matter, outside what is tested here)."""
    certified = await certify(
        lab,
        simple_pdf(2),
        ReserveOrder(SealKind.CONTRACT, AtPoint(-1, 400, 150), label="乙方"),
        ReserveOrder(SealKind.LEGAL_REP, AtPoint(-1, 480, 260), label="乙方"),
        seals=(SealKind.CONTRACT, SealKind.LEGAL_REP),
        level=PadesLevel.B_LT,
    )
    both, used = await lab.sealing.seal(
        OTHER_USCC,
        certified,
        SealingOptions(
            seals=[SealOrder(SealKind.LEGAL_REP), SealOrder(SealKind.CONTRACT)],
            level=PadesLevel.B_LTA,
        ),
    )
    assert [s.kind for s in used] == [SealKind.LEGAL_REP, SealKind.CONTRACT]
    report = await lab.verifier.verify(both)
    assert report["valid"] is True, [(s["field"], s["problems"]) for s in report["signatures"]]
    assert "docmdp_violation" not in problem_codes(report)
    assert [s["field"] for s in report["signatures"][2:4]] == [
        "eseal-reserved-legal_rep-1",
        "eseal-reserved-contract-1",
    ]
    assert report["signatures"][3]["level"] == "B-LTA"
    assert reader(both).embedded_signatures[0].docmdp_level is MDPPerm.FILL_FORMS


class CountingTimestamper(TimeStamper):
    """Passes every request to eseal's timestamper and counts the tokens asked for."""

    def __init__(self, inner: TimeStamper) -> None:
        super().__init__()
        self.inner = inner
        self.calls = 0

    async def async_timestamp(self, message_digest: bytes, md_algorithm: str) -> Any:
        self.calls += 1
        return await self.inner.async_timestamp(message_digest, md_algorithm)


async def test_refusal_comes_before_any_signing(lab: Container) -> None:
    """The document is refused as it is read: no timestamp is asked for, nothing signed."""
    certified = await certify(lab, simple_pdf(1))
    ours = lab.sealing.document_signer
    counting = CountingTimestamper(ours._timestamper)  # type: ignore[arg-type]
    sealing = SealingService(lab.seals, DocumentSigner(ours._revocation, counting))
    with pytest.raises(EsealError) as caught:
        await sealing.seal(
            OTHER_USCC,
            certified,
            SealingOptions(seals=[SealOrder(SealKind.CONTRACT)], level=PadesLevel.B_T),
        )
    assert caught.value.code == "document_certified"
    assert counting.calls == 0
    # the same signer, on a document it may seal, does ask for a timestamp
    await sealing.seal(
        OTHER_USCC,
        simple_pdf(1),
        SealingOptions(seals=[SealOrder(SealKind.CONTRACT)], level=PadesLevel.B_T),
    )
    assert counting.calls == 1
