"""Verifying OFD seals: an intact document passes; every kind of tampering a forger would try
is caught and named."""

from __future__ import annotations

import base64
import re
from datetime import UTC, datetime

import pytest

from keystore.sm2 import sm3
from ofds import NS, FakeSes, fake_seal_esl, simple_ofd, unzip_ofd, zip_ofd
from seals.codes import ProblemCode
from seals.vocab import Integrity, ReferenceStatus
from signer.errors import InvalidOfd
from signer.ofd.placement import AtKeyword, CrossPage
from signer.ofd.seal import seal_ofd
from signer.ofd.verify import OfdVerification, verify_ofd

NOW = datetime(2024, 6, 1, 16, 30, 5, tzinfo=UTC)
SEAL = fake_seal_esl("甲方合同专用章")
OTHER_SEAL = fake_seal_esl("乙方合同专用章")
SIGN_0 = "Doc_0/Signs/Sign_0"


@pytest.fixture(scope="module")
def ses() -> FakeSes:
    return FakeSes(SEAL)


@pytest.fixture(scope="module")
def sealed(ses: FakeSes) -> bytes:
    return seal_ofd(
        simple_ofd(2),
        seal_esl=SEAL,
        sign_ses=ses.sign,
        placement=AtKeyword("甲方（盖章）", page=2),
        width_mm=40,
        height_mm=40,
        now=NOW,
    )


def _verify(data: bytes, ses: FakeSes) -> OfdVerification:
    return verify_ofd(data, verify_ses=ses.verify)


def _codes(report: OfdVerification, index: int = 0) -> set[ProblemCode]:
    return {p.code for p in report.signatures[index].problems}


def test_an_intact_document_verifies(sealed: bytes, ses: FakeSes) -> None:
    report = _verify(sealed, ses)
    assert report.intact and report.pages == 2 and report.problems == ()
    (signature,) = report.signatures
    assert signature.integrity is Integrity.OK
    assert (signature.id, signature.type, signature.index) == ("s001", "Seal", 1)
    assert signature.signing_time == NOW.replace(microsecond=0)
    assert signature.signature_method == "1.2.156.10197.1.501"
    assert signature.provider is not None and signature.provider.name == "eseal"
    assert {c.status for c in signature.references} == {ReferenceStatus.OK}
    assert "Doc_0/Pages/Page_1/Content.xml" in {c.path for c in signature.references}
    assert {(u.path, u.reason) for u in signature.uncovered} == {
        ("Doc_0/Signs/Signatures.xml", "signature_list"),
        (f"{SIGN_0}/Signature.xml", "own"),
        (f"{SIGN_0}/SignedValue.dat", "own"),
    }
    (stamp,) = signature.stamps
    assert stamp.page == 2 and stamp.boundary[2:] == (40.0, 40.0)
    assert signature.seal_esl == SEAL and signature.seal_matches is True
    assert signature.ses == {"valid": True}
    assert signature.signature_xml == unzip_ofd(sealed)[f"{SIGN_0}/Signature.xml"]


def test_a_changed_page_is_caught(sealed: bytes, ses: FakeSes) -> None:
    files = unzip_ofd(sealed)
    name = "Doc_0/Pages/Page_1/Content.xml"
    files[name] = files[name].replace(b"100,000.00", b"900,000.00")
    report = _verify(zip_ofd(files), ses)
    assert not report.intact
    assert _codes(report) == {ProblemCode.OFD_FILE_CHANGED}
    assert [c.status for c in report.signatures[0].references if c.path == name] == [
        ReferenceStatus.CHANGED
    ]
    assert name in report.signatures[0].problems[0].message


def test_a_removed_file_is_caught(sealed: bytes, ses: FakeSes) -> None:
    files = unzip_ofd(sealed)
    del files["Doc_0/PublicRes.xml"]
    report = _verify(zip_ofd(files), ses)
    assert _codes(report) == {ProblemCode.OFD_FILE_MISSING}
    statuses = {c.path: c.status for c in report.signatures[0].references}
    assert statuses["Doc_0/PublicRes.xml"] is ReferenceStatus.MISSING


@pytest.mark.parametrize("name", ["Doc_0/Res/image_9.png", f"{SIGN_0}/extra.xml", "Doc_1/x.xml"])
def test_an_added_file_is_caught(sealed: bytes, ses: FakeSes, name: str) -> None:
    files = unzip_ofd(sealed)
    files[name] = b"added after signing"
    report = _verify(zip_ofd(files), ses)
    assert _codes(report) == {ProblemCode.OFD_FILE_NOT_COVERED}
    assert (name, "unexplained") in {(u.path, u.reason) for u in report.signatures[0].uncovered}


def test_a_swapped_seal_is_caught(sealed: bytes, ses: FakeSes) -> None:
    files = unzip_ofd(sealed)
    files[f"{SIGN_0}/Seal.esl"] = OTHER_SEAL
    report = _verify(zip_ofd(files), ses)
    assert _codes(report) == {ProblemCode.OFD_FILE_CHANGED, ProblemCode.OFD_SEAL_MISMATCH}
    assert report.signatures[0].seal_matches is False


def test_a_swapped_seal_with_forged_references_is_still_caught(sealed: bytes, ses: FakeSes) -> None:
    """The forger also rewrites the CheckValue: Signature.xml then no longer matches the
    signature value, and the seal still differs from the one signed."""
    files = unzip_ofd(sealed)
    files[f"{SIGN_0}/Seal.esl"] = OTHER_SEAL
    old = base64.b64encode(sm3(SEAL))
    new = base64.b64encode(sm3(OTHER_SEAL))
    files[f"{SIGN_0}/Signature.xml"] = files[f"{SIGN_0}/Signature.xml"].replace(old, new)
    report = _verify(zip_ofd(files), ses)
    assert _codes(report) == {ProblemCode.OFD_SEAL_MISMATCH, ProblemCode.SIGNATURE_INVALID}
    assert isinstance(report.signatures[0].ses_error, ValueError)


def test_a_moved_stamp_breaks_the_signature_value(sealed: bytes, ses: FakeSes) -> None:
    files = unzip_ofd(sealed)
    xml = files[f"{SIGN_0}/Signature.xml"]
    files[f"{SIGN_0}/Signature.xml"] = re.sub(rb'Boundary="[^"]*"', b'Boundary="0 0 40 40"', xml)
    report = _verify(zip_ofd(files), ses)
    assert _codes(report) == {ProblemCode.SIGNATURE_INVALID}


def test_a_stamp_on_a_page_that_is_not_there_is_reported(sealed: bytes, ses: FakeSes) -> None:
    files = unzip_ofd(sealed)
    xml = files[f"{SIGN_0}/Signature.xml"]
    files[f"{SIGN_0}/Signature.xml"] = re.sub(rb'PageRef="[^"]*"', b'PageRef="999"', xml)
    report = _verify(zip_ofd(files), ses)
    assert ProblemCode.OFD_STAMP_PAGE_MISSING in _codes(report)
    assert report.signatures[0].stamps[0].page is None


def test_a_later_seal_leaves_the_first_intact(sealed: bytes, ses: FakeSes) -> None:
    twice = seal_ofd(
        sealed,
        seal_esl=SEAL,
        sign_ses=ses.sign,
        placement=CrossPage(),
        width_mm=40,
        height_mm=40,
        now=NOW,
    )
    report = _verify(twice, ses)
    assert report.intact and len(report.signatures) == 2
    first, second = report.signatures
    assert {u.reason for u in first.uncovered if "Sign_1" in u.path} == {"other_signature"}
    assert {s.page for s in second.stamps} == {1, 2}
    # a file slipped in beside the later seal is still caught by both
    files = unzip_ofd(twice)
    files["Doc_0/Signs/Sign_1/Page_patch.xml"] = b"<x/>"
    report = _verify(zip_ofd(files), ses)
    assert [_codes(report, i) for i in (0, 1)] == [{ProblemCode.OFD_FILE_NOT_COVERED}] * 2


def test_an_invoice_style_signature_that_leaves_ofd_xml_out(ses: FakeSes) -> None:
    """Invoice platforms protect the document's files but not OFD.xml, name no Seal.esl,
    and number IDs plainly: that verifies, with the seal taken from the signature value."""
    files = unzip_ofd(simple_ofd(1))
    files["OFD.xml"] = files["OFD.xml"].replace(
        b"</ofd:DocRoot>",
        b"</ofd:DocRoot><ofd:Signatures>Doc_0/Signs/Signatures.xml</ofd:Signatures>",
    )
    refs = "".join(
        f'<ofd:Reference FileRef="/{name}"><ofd:CheckValue>'
        f"{base64.b64encode(sm3(content)).decode()}</ofd:CheckValue></ofd:Reference>"
        for name, content in files.items()
        if name != "OFD.xml"
    )
    signature_xml = (
        f'<?xml version="1.0" encoding="UTF-8"?><ofd:Signature xmlns:ofd="{NS}">'
        '<ofd:SignedInfo><ofd:Provider ProviderName="Invoice_OES" Version="1.0" Company=""/>'
        "<ofd:SignatureMethod>1.2.156.10197.1.501</ofd:SignatureMethod>"
        "<ofd:SignatureDateTime>20240328071354Z</ofd:SignatureDateTime>"
        f'<ofd:References CheckMethod="1.2.156.10197.1.401">{refs}</ofd:References>'
        '<ofd:StampAnnot ID="1" PageRef="3" Boundary="153.00 50.00 40.00 30.00"/>'
        "</ofd:SignedInfo><ofd:SignedValue>/Doc_0/Signs/Sign_0/SignedValue.dat</ofd:SignedValue>"
        "</ofd:Signature>"
    ).encode()
    files["Doc_0/Signs/Signatures.xml"] = (
        f'<ofd:Signatures xmlns:ofd="{NS}"><ofd:MaxSignId>1</ofd:MaxSignId>'
        '<ofd:Signature ID="1" Type="Seal" BaseLoc="Sign_0/Signature.xml"/></ofd:Signatures>'
    ).encode()
    files[f"{SIGN_0}/Signature.xml"] = signature_xml
    files[f"{SIGN_0}/SignedValue.dat"] = ses.sign(signature_xml)
    report = _verify(zip_ofd(files), ses)
    assert report.intact
    (signature,) = report.signatures
    assert ("OFD.xml", "entry") in {(u.path, u.reason) for u in signature.uncovered}
    assert signature.seal_esl == SEAL and signature.seal_matches is None
    assert signature.signing_time == datetime(2024, 3, 28, 7, 13, 54, tzinfo=UTC)
    assert signature.stamps[0].page == 1


def test_an_unsigned_document_has_no_signatures(ses: FakeSes) -> None:
    report = _verify(simple_ofd(), ses)
    assert not report.intact
    assert [p.code for p in report.problems] == [ProblemCode.NO_SIGNATURES]


def test_a_missing_signature_list_is_reported(sealed: bytes, ses: FakeSes) -> None:
    files = unzip_ofd(sealed)
    del files["Doc_0/Signs/Signatures.xml"]
    report = _verify(zip_ofd(files), ses)
    assert [p.code for p in report.problems] == [ProblemCode.OFD_SIGNATURE_LIST_INVALID]


def test_unreadable_signature_parts_are_malformed(sealed: bytes, ses: FakeSes) -> None:
    files = unzip_ofd(sealed)
    files[f"{SIGN_0}/SignedValue.dat"] = b"not DER"
    report = _verify(zip_ofd(files), ses)
    assert ProblemCode.MALFORMED_SIGNATURE in _codes(report)
    files = unzip_ofd(sealed)
    del files[f"{SIGN_0}/Signature.xml"]
    report = _verify(zip_ofd(files), ses)
    assert _codes(report) == {ProblemCode.MALFORMED_SIGNATURE}


def test_a_document_that_is_no_ofd_raises(ses: FakeSes) -> None:
    with pytest.raises(InvalidOfd):
        _verify(b"%PDF-1.7", ses)
