"""Sealing OFD documents: the §18 files as ofdrw and the national readers lay them out, each
placement where a reader would expect the seal, and a second seal after the first."""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from xml.etree.ElementTree import Element

import pytest
from ses_pki import SesWorld, make_world

from keystore.sm2 import sm3
from ofds import NS, SesSealer, simple_ofd, unzip_ofd, zip_ofd
from signer.errors import (
    CrossPageNeedsTwoPages,
    InvalidOfd,
    InvalidPlacement,
    KeywordNotFound,
    PageOutOfRange,
    PositionOffPage,
    RequestRefused,
)
from signer.ofd.document import open_document
from signer.ofd.package import parse_xml, read_package
from signer.ofd.placement import AtKeyword, AtPoint, CrossPage, DefaultPlacement, Placement
from signer.ofd.seal import next_signature_path, seal_ofd
from signer.ofd.signatures import Provider
from signer.ofd.verify import verify_ofd
from signer.ses import verify_ses_signature

#: SignatureDateTime (the SES_Signature's timeInfo is the moment of signing)
NOW = datetime(2024, 6, 1, 16, 30, 5, tzinfo=UTC)


def q(tag: str) -> str:
    return f"{{{NS}}}{tag}"


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> SesWorld:
    return make_world(tmp_path_factory.mktemp("ofd-seal-world"))


@pytest.fixture(scope="module")
def ses(world: SesWorld) -> SesSealer:
    return SesSealer.make(world, "合同专用章")


@pytest.fixture(scope="module")
def other_ses(world: SesWorld) -> SesSealer:
    return SesSealer.make(world, "财务专用章")


def _seal(
    data: bytes,
    ses: SesSealer,
    placement: Placement,
    size: tuple[float, float] = (40.0, 40.0),
) -> bytes:
    return seal_ofd(
        data,
        seal_esl=ses.seal_esl,
        sign_ses=ses.sign,
        placement=placement,
        width_mm=size[0],
        height_mm=size[1],
        now=NOW,
    )


def _xml(files: dict[str, bytes], name: str) -> Element:
    return parse_xml(files[name], name)


def _stamps(files: dict[str, bytes], sign_dir: str = "Doc_0/Signs/Sign_0") -> list[Element]:
    info = _xml(files, f"{sign_dir}/Signature.xml").find(q("SignedInfo"))
    assert info is not None
    return info.findall(q("StampAnnot"))


def _box(element: Element, name: str = "Boundary") -> list[float]:
    return [float(v) for v in (element.get(name) or "").split()]


def test_a_seal_at_a_point_writes_the_section_18_files(ses: SesSealer) -> None:
    original = simple_ofd(2)
    sealed = _seal(original, ses, AtPoint(page=2, x=150.0, y=250.0))
    files = unzip_ofd(sealed)
    before = unzip_ofd(original)

    # OFD.xml's DocBody names the signature list
    body = _xml(files, "OFD.xml").find(q("DocBody"))
    assert body is not None
    assert body.findtext(q("Signatures")) == "/Doc_0/Signs/Signatures.xml"
    assert body.findtext(q("DocRoot")) == "Doc_0/Document.xml"

    listing = _xml(files, "Doc_0/Signs/Signatures.xml")
    (entry,) = listing.findall(q("Signature"))
    assert entry.attrib == {
        "ID": "s001",
        "Type": "Seal",
        "BaseLoc": "/Doc_0/Signs/Sign_0/Signature.xml",
    }
    assert listing.findtext(q("MaxSignId")) == "s002"  # the signature, then its stamp

    signature_xml = files["Doc_0/Signs/Sign_0/Signature.xml"]
    root = parse_xml(signature_xml, "Signature.xml")
    info = root.find(q("SignedInfo"))
    assert info is not None
    provider = info.find(q("Provider"))
    assert provider is not None and provider.get("ProviderName") == "eseal"
    assert info.findtext(q("SignatureMethod")) == "1.2.156.10197.1.501"
    assert info.findtext(q("SignatureDateTime")) == "20240601163005Z"
    assert info.findtext(f"{q('Seal')}/{q('BaseLoc')}") == "/Doc_0/Signs/Sign_0/Seal.esl"
    assert root.findtext(q("SignedValue")) == "/Doc_0/Signs/Sign_0/SignedValue.dat"
    assert files["Doc_0/Signs/Sign_0/Seal.esl"] == ses.seal_esl

    # every file as it stood before Signature.xml, except the (growing) signature list
    refs = info.find(q("References"))
    assert refs is not None and refs.get("CheckMethod") == "1.2.156.10197.1.401"
    protected = {
        r.get("FileRef"): base64.b64decode(r.findtext(q("CheckValue")) or "")
        for r in refs.findall(q("Reference"))
    }
    assert set(protected) == {"/" + n for n in before} | {"/Doc_0/Signs/Sign_0/Seal.esl"}
    for ref, digest in protected.items():
        assert sm3(files[ref[1:]]) == digest
    for name in set(before) - {"OFD.xml"}:
        assert files[name] == before[name]  # the document itself is untouched

    # the appearance: a 40 mm seal centred on (150, 250) of page 2
    (stamp,) = _stamps(files)
    page_two = open_document(original).pages[1]
    assert stamp.get("PageRef") == page_two.id
    assert _box(stamp) == [130.0, 230.0, 40.0, 40.0]
    assert stamp.get("Clip") is None
    assert stamp.get("ID") == "s002"

    # the signature value is an SES_Signature over the exact Signature.xml bytes
    checked = verify_ses_signature(files["Doc_0/Signs/Sign_0/SignedValue.dat"], data=signature_xml)
    assert checked.valid and checked.seal.name == "合同专用章"

    # the result reads again as an OFD document, and verifies
    package = read_package(sealed)
    assert package.signatures == "Doc_0/Signs/Signatures.xml"
    assert len(open_document(package).pages) == 2
    report = verify_ofd(sealed)
    assert report.valid
    assert report.signatures[0].stamps[0].page == 2


def test_a_keyword_seal_is_centred_on_the_text(ses: SesSealer) -> None:
    data = simple_ofd(3)
    hits = open_document(data).find_text("乙方（盖章）")
    sealed = _seal(data, ses, AtKeyword("乙方（盖章）", occurrence=-1), (40.0, 30.0))
    (stamp,) = _stamps(unzip_ofd(sealed))
    x, y, w, h = _box(stamp)
    centre = hits[-1].center
    assert stamp.get("PageRef") == open_document(data).pages[2].id
    assert (w, h) == (40.0, 30.0)
    assert x + w / 2 == pytest.approx(centre[0], abs=1e-3)
    assert y + h / 2 == pytest.approx(centre[1], abs=1e-3)


def test_keyword_align_offset_and_page(ses: SesSealer) -> None:
    data = simple_ofd(2)
    (hit,) = open_document(data).find_text("甲方（盖章）", pages=[2])
    placement = AtKeyword("甲方（盖章）", page=2, align="after", offset=(5.0, 10.0))
    (stamp,) = _stamps(unzip_ofd(_seal(data, ses, placement)))
    x, y, _w, h = _box(stamp)
    assert stamp.get("PageRef") == open_document(data).pages[1].id
    assert x == pytest.approx(hit.x1 + 5.0, abs=1e-3)  # left edge after the text, 5 mm on
    assert y + h / 2 == pytest.approx(hit.center[1] - 10.0, abs=1e-3)  # 10 mm up


def test_a_missing_keyword_is_refused(ses: SesSealer) -> None:
    with pytest.raises(KeywordNotFound):
        _seal(simple_ofd(), ses, AtKeyword("丙方（盖章）"))
    with pytest.raises(KeywordNotFound, match="occurrence 3"):
        _seal(simple_ofd(2), ses, AtKeyword("甲方（盖章）", occurrence=3))


def test_a_cross_page_seal_shows_one_strip_per_page_at_the_right_edge(ses: SesSealer) -> None:
    data = simple_ofd(4)
    pages = open_document(data).pages
    stamps = _stamps(unzip_ofd(_seal(data, ses, CrossPage(), (40.0, 40.0))))
    assert [s.get("PageRef") for s in stamps] == [p.id for p in pages]
    strip = 40.0 / 4
    for index, stamp in enumerate(stamps):
        x, y, w, h = _box(stamp)
        cx, cy, cw, ch = _box(stamp, "Clip")
        assert (w, h) == (40.0, 40.0)  # the whole seal's box ...
        assert (cx, cw) == pytest.approx((index * strip, strip))  # ... showing strip i
        assert (cy, ch) == (0.0, 40.0)
        assert x + cx + cw == pytest.approx(210.0, abs=1e-3)  # flush with the right edge
        assert y + h / 2 == pytest.approx(297.0 / 2)  # the middle of the page
    # side by side, the strips make the whole seal
    clips = sorted(_box(s, "Clip")[0] for s in stamps)
    assert clips == pytest.approx([0.0, 10.0, 20.0, 30.0])


def test_cross_page_bands(ses: SesSealer) -> None:
    data = simple_ofd(2)
    top = _stamps(unzip_ofd(_seal(data, ses, CrossPage(position="top"))))
    assert _box(top[0])[1] == pytest.approx(20.0)
    given = _stamps(unzip_ofd(_seal(data, ses, CrossPage(y=100.0))))
    assert _box(given[1])[1] == pytest.approx(80.0)
    with pytest.raises(PositionOffPage):
        _seal(data, ses, CrossPage(y=400.0))
    with pytest.raises(InvalidPlacement):
        _seal(data, ses, CrossPage(y=100.0, position="top"))
    with pytest.raises(CrossPageNeedsTwoPages):
        _seal(simple_ofd(1), ses, CrossPage())


def test_the_default_is_the_bottom_right_of_the_last_page(ses: SesSealer) -> None:
    data = simple_ofd(2)
    (stamp,) = _stamps(unzip_ofd(_seal(data, ses, DefaultPlacement())))
    assert stamp.get("PageRef") == open_document(data).pages[-1].id
    assert _box(stamp) == [150.0, 237.0, 40.0, 40.0]


@pytest.mark.parametrize(
    ("placement", "error"),
    [
        (AtPoint(page=3, x=100.0, y=100.0), PageOutOfRange),
        (AtPoint(page=0, x=100.0, y=100.0), PageOutOfRange),
        (AtPoint(page=1, x=300.0, y=100.0), PositionOffPage),
        (AtPoint(page=1, x=float("nan"), y=100.0), InvalidPlacement),
        (AtKeyword(""), InvalidPlacement),
    ],
)
def test_placements_that_do_not_fit_are_refused(
    ses: SesSealer, placement: Placement, error: type[Exception]
) -> None:
    with pytest.raises(error):
        _seal(simple_ofd(2), ses, placement)


def test_bad_input_is_refused_before_signing(ses: SesSealer) -> None:
    calls: list[bytes] = []

    def sign(xml: bytes) -> bytes:
        calls.append(xml)
        return ses.sign(xml)

    with pytest.raises(InvalidOfd):
        seal_ofd(
            b"%PDF-1.7",
            seal_esl=ses.seal_esl,
            sign_ses=sign,
            placement=DefaultPlacement(),
            width_mm=40,
            height_mm=40,
            now=NOW,
        )
    with pytest.raises(InvalidPlacement):
        seal_ofd(
            simple_ofd(),
            seal_esl=ses.seal_esl,
            sign_ses=sign,
            placement=DefaultPlacement(),
            width_mm=0,
            height_mm=40,
            now=NOW,
        )
    with pytest.raises(ValueError, match="timezone"):
        seal_ofd(
            simple_ofd(),
            seal_esl=ses.seal_esl,
            sign_ses=sign,
            placement=DefaultPlacement(),
            width_mm=40,
            height_mm=40,
            now=datetime(2024, 6, 1),
        )
    assert calls == []


def test_a_second_seal_continues_the_first(ses: SesSealer, other_ses: SesSealer) -> None:
    first = _seal(simple_ofd(3), ses, AtKeyword("甲方（盖章）", page=3))
    second = seal_ofd(
        first,
        seal_esl=other_ses.seal_esl,
        sign_ses=other_ses.sign,
        placement=AtKeyword("乙方（盖章）", page=3),
        width_mm=40,
        height_mm=40,
        now=NOW,
        provider=Provider("contract-system", "Example Co.", "2.1"),
    )
    a, b = unzip_ofd(first), unzip_ofd(second)
    # the first seal's files and OFD.xml stay as they were: only the list grows
    changed = {n for n in a if a[n] != b.get(n)}
    assert changed == {"Doc_0/Signs/Signatures.xml"}
    assert set(b) - set(a) == {
        "Doc_0/Signs/Sign_1/Seal.esl",
        "Doc_0/Signs/Sign_1/Signature.xml",
        "Doc_0/Signs/Sign_1/SignedValue.dat",
    }
    listing = _xml(b, "Doc_0/Signs/Signatures.xml")
    entries = [(e.get("ID"), e.get("BaseLoc")) for e in listing.findall(q("Signature"))]
    assert entries == [
        ("s001", "/Doc_0/Signs/Sign_0/Signature.xml"),
        ("s003", "/Doc_0/Signs/Sign_1/Signature.xml"),
    ]
    assert listing.findtext(q("MaxSignId")) == "s004"
    (stamp,) = _stamps(b, "Doc_0/Signs/Sign_1")
    assert stamp.get("ID") == "s004"
    # the second seal protects the first seal's files, not the signature list
    info = _xml(b, "Doc_0/Signs/Sign_1/Signature.xml").find(q("SignedInfo"))
    assert info is not None
    provider = info.find(q("Provider"))
    assert provider is not None
    assert provider.attrib == {
        "ProviderName": "contract-system",
        "Company": "Example Co.",
        "Version": "2.1",
    }
    refs = {r.get("FileRef") for r in info.iter(q("Reference"))}
    assert {
        "/Doc_0/Signs/Sign_0/Signature.xml",
        "/Doc_0/Signs/Sign_0/SignedValue.dat",
        "/Doc_0/Signs/Sign_1/Seal.esl",
    } <= refs
    assert "/Doc_0/Signs/Signatures.xml" not in refs
    # both verify, each with its own seal
    report = verify_ofd(second)
    assert report.valid
    assert [s.seal_esl for s in report.signatures] == [ses.seal_esl, other_ses.seal_esl]


def test_a_second_cross_page_seal_takes_the_next_band(ses: SesSealer) -> None:
    once = _seal(simple_ofd(2), ses, CrossPage(), (40.0, 40.0))
    twice = _seal(once, ses, CrossPage(), (40.0, 40.0))
    files = unzip_ofd(twice)
    first = _box(_stamps(files)[0])
    second = _box(_stamps(files, "Doc_0/Signs/Sign_1")[0])
    assert abs(first[1] - second[1]) >= 40.0 + 2.0  # no overlap, 2 mm apart at least


def test_plain_numbered_ids_keep_their_style(ses: SesSealer) -> None:
    files = unzip_ofd(_seal(simple_ofd(), ses, DefaultPlacement()))
    files["Doc_0/Signs/Signatures.xml"] = (
        files["Doc_0/Signs/Signatures.xml"].replace(b"s002", b"2").replace(b'"s001"', b'"1"')
    )
    again = unzip_ofd(_seal(zip_ofd(files), ses, DefaultPlacement()))
    listing = _xml(again, "Doc_0/Signs/Signatures.xml")
    assert [e.get("ID") for e in listing.findall(q("Signature"))] == ["1", "3"]
    assert listing.findtext(q("MaxSignId")) == "4"


def test_a_document_whose_list_is_protected_cannot_take_another_seal(ses: SesSealer) -> None:
    files = unzip_ofd(_seal(simple_ofd(), ses, DefaultPlacement()))
    # as ofdrw's default (whole-protected) mode writes it: the list among the references
    files["Doc_0/Signs/Sign_0/Signature.xml"] = files["Doc_0/Signs/Sign_0/Signature.xml"].replace(
        b"</ofd:References>",
        b'<ofd:Reference FileRef="/Doc_0/Signs/Signatures.xml"><ofd:CheckValue>'
        + base64.b64encode(sm3(files["Doc_0/Signs/Signatures.xml"]))
        + b"</ofd:CheckValue></ofd:Reference></ofd:References>",
    )
    with pytest.raises(RequestRefused) as caught:
        _seal(zip_ofd(files), ses, DefaultPlacement())
    assert caught.value.code == "signature_list_protected"


def test_property_info_can_name_the_signature_file(ses: SesSealer) -> None:
    """As ofdrw does: the SES_Signature's propertyInfo is the path of the Signature.xml it
    signs, known before sealing."""
    data = simple_ofd()
    path = next_signature_path(data)
    assert path == "/Doc_0/Signs/Sign_0/Signature.xml"
    sealed = seal_ofd(
        data,
        seal_esl=ses.seal_esl,
        sign_ses=lambda xml: ses.sign(xml, property_info=path),
        placement=DefaultPlacement(),
        now=NOW,
    )
    (signature,) = verify_ofd(sealed).signatures
    assert signature.stamps[0].boundary[2:] == (40.0, 40.0)  # the seal's own picture size
    assert signature.path == path[1:]
    assert signature.ses.property_info == path
    assert next_signature_path(sealed) == "/Doc_0/Signs/Sign_1/Signature.xml"
