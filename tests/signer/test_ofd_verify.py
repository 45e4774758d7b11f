"""Verifying OFD seals: an intact document passes; every kind of tampering a forger would try
is caught and named."""

from __future__ import annotations

import base64
import re
from datetime import UTC, datetime, timedelta

import pytest
from ses_pki import SesWorld, make_world

from keystore.sm2 import sm3
from ofds import NS, SesSealer, simple_ofd, unzip_ofd, zip_ofd
from seals.codes import ProblemCode
from seals.vocab import Integrity, ReferenceStatus
from signer.errors import InvalidOfd
from signer.ofd.placement import AtKeyword, CrossPage, DefaultPlacement
from signer.ofd.seal import seal_ofd
from signer.ofd.verify import OfdVerification, verify_ofd
from signer.ses import SesVerification

NOW = datetime(2024, 6, 1, 16, 30, 5, tzinfo=UTC)
SIGN_0 = "Doc_0/Signs/Sign_0"


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> SesWorld:
    return make_world(tmp_path_factory.mktemp("ofd-verify-world"))


@pytest.fixture(scope="module")
def ses(world: SesWorld) -> SesSealer:
    return SesSealer.make(world, "合同专用章")


@pytest.fixture(scope="module")
def other(world: SesWorld) -> SesSealer:
    return SesSealer.make(world, "财务专用章")


@pytest.fixture(scope="module")
def sealed(ses: SesSealer) -> bytes:
    return seal_ofd(
        simple_ofd(2),
        seal_esl=ses.seal_esl,
        sign_ses=ses.sign,
        placement=AtKeyword("甲方（盖章）", page=2),
        width_mm=40,
        height_mm=40,
        now=NOW,
    )


def _verify(data: bytes) -> OfdVerification:
    return verify_ofd(data)


def _codes(report: OfdVerification, index: int = 0) -> set[ProblemCode]:
    return {p.code for p in report.signatures[index].problems}


def test_an_intact_document_verifies(sealed: bytes, ses: SesSealer) -> None:
    report = _verify(sealed)
    assert report.valid and report.intact and report.pages == 2 and report.problems == ()
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
    assert signature.seal_esl == ses.seal_esl and signature.seal_matches is True
    assert isinstance(signature.ses, SesVerification) and signature.ses.valid
    assert signature.ses.data_hash_ok is True
    assert signature.signature_xml == unzip_ofd(sealed)[f"{SIGN_0}/Signature.xml"]


def test_a_changed_page_is_caught(sealed: bytes, ses: SesSealer) -> None:
    files = unzip_ofd(sealed)
    name = "Doc_0/Pages/Page_1/Content.xml"
    files[name] = files[name].replace(b"100,000.00", b"900,000.00")
    report = _verify(zip_ofd(files))
    assert not report.intact
    assert _codes(report) == {ProblemCode.OFD_FILE_CHANGED}
    assert [c.status for c in report.signatures[0].references if c.path == name] == [
        ReferenceStatus.CHANGED
    ]
    assert name in report.signatures[0].problems[0].message


def test_a_removed_file_is_caught(sealed: bytes, ses: SesSealer) -> None:
    files = unzip_ofd(sealed)
    del files["Doc_0/PublicRes.xml"]
    report = _verify(zip_ofd(files))
    assert _codes(report) == {ProblemCode.OFD_FILE_MISSING}
    statuses = {c.path: c.status for c in report.signatures[0].references}
    assert statuses["Doc_0/PublicRes.xml"] is ReferenceStatus.MISSING


@pytest.mark.parametrize("name", ["Doc_0/Res/image_9.png", f"{SIGN_0}/extra.xml", "Doc_1/x.xml"])
def test_an_added_file_is_caught(sealed: bytes, ses: SesSealer, name: str) -> None:
    files = unzip_ofd(sealed)
    files[name] = b"added after signing"
    report = _verify(zip_ofd(files))
    assert _codes(report) == {ProblemCode.OFD_FILE_NOT_COVERED}
    assert (name, "unexplained") in {(u.path, u.reason) for u in report.signatures[0].uncovered}


def test_a_swapped_seal_is_caught(sealed: bytes, other: SesSealer) -> None:
    files = unzip_ofd(sealed)
    files[f"{SIGN_0}/Seal.esl"] = other.seal_esl
    report = _verify(zip_ofd(files))
    assert _codes(report) == {ProblemCode.OFD_FILE_CHANGED, ProblemCode.OFD_SEAL_MISMATCH}
    assert report.signatures[0].seal_matches is False


def test_a_swapped_seal_with_forged_references_is_still_caught(
    sealed: bytes, ses: SesSealer, other: SesSealer
) -> None:
    """The forger also rewrites the CheckValue: Signature.xml then no longer matches the
    signature value, and the seal still differs from the one signed."""
    files = unzip_ofd(sealed)
    files[f"{SIGN_0}/Seal.esl"] = other.seal_esl
    old = base64.b64encode(sm3(ses.seal_esl))
    new = base64.b64encode(sm3(other.seal_esl))
    files[f"{SIGN_0}/Signature.xml"] = files[f"{SIGN_0}/Signature.xml"].replace(old, new)
    report = _verify(zip_ofd(files))
    assert _codes(report) == {ProblemCode.OFD_SEAL_MISMATCH, ProblemCode.DIGEST_MISMATCH}
    assert report.signatures[0].ses.data_hash_ok is False


def test_a_moved_stamp_breaks_the_signature_value(sealed: bytes, ses: SesSealer) -> None:
    files = unzip_ofd(sealed)
    xml = files[f"{SIGN_0}/Signature.xml"]
    files[f"{SIGN_0}/Signature.xml"] = re.sub(rb'Boundary="[^"]*"', b'Boundary="0 0 40 40"', xml)
    report = _verify(zip_ofd(files))
    assert _codes(report) == {ProblemCode.DIGEST_MISMATCH}


def test_a_stamp_on_a_page_that_is_not_there_is_reported(sealed: bytes, ses: SesSealer) -> None:
    files = unzip_ofd(sealed)
    xml = files[f"{SIGN_0}/Signature.xml"]
    files[f"{SIGN_0}/Signature.xml"] = re.sub(rb'PageRef="[^"]*"', b'PageRef="999"', xml)
    report = _verify(zip_ofd(files))
    assert ProblemCode.OFD_STAMP_PAGE_MISSING in _codes(report)
    assert report.signatures[0].stamps[0].page is None


def test_a_later_seal_leaves_the_first_intact(sealed: bytes, ses: SesSealer) -> None:
    twice = seal_ofd(
        sealed,
        seal_esl=ses.seal_esl,
        sign_ses=ses.sign,
        placement=CrossPage(),
        width_mm=40,
        height_mm=40,
        now=NOW,
    )
    report = _verify(twice)
    assert report.intact and len(report.signatures) == 2
    first, second = report.signatures
    assert {u.reason for u in first.uncovered if "Sign_1" in u.path} == {"other_signature"}
    assert {s.page for s in second.stamps} == {1, 2}
    # a file slipped in beside the later seal is still caught by both
    files = unzip_ofd(twice)
    files["Doc_0/Signs/Sign_1/Page_patch.xml"] = b"<x/>"
    report = _verify(zip_ofd(files))
    assert [_codes(report, i) for i in (0, 1)] == [{ProblemCode.OFD_FILE_NOT_COVERED}] * 2


def test_an_invoice_style_signature_that_leaves_ofd_xml_out(ses: SesSealer) -> None:
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
    report = _verify(zip_ofd(files))
    assert report.intact
    (signature,) = report.signatures
    assert ("OFD.xml", "entry") in {(u.path, u.reason) for u in signature.uncovered}
    assert signature.seal_esl == ses.seal_esl and signature.seal_matches is None
    assert signature.signing_time == datetime(2024, 3, 28, 7, 13, 54, tzinfo=UTC)
    assert signature.stamps[0].page == 1


def test_an_unsigned_document_has_no_signatures(ses: SesSealer) -> None:
    report = _verify(simple_ofd())
    assert not report.intact
    assert [p.code for p in report.problems] == [ProblemCode.NO_SIGNATURES]


def test_a_missing_signature_list_is_reported(sealed: bytes, ses: SesSealer) -> None:
    files = unzip_ofd(sealed)
    del files["Doc_0/Signs/Signatures.xml"]
    report = _verify(zip_ofd(files))
    assert [p.code for p in report.problems] == [ProblemCode.OFD_SIGNATURE_LIST_INVALID]


def test_unreadable_signature_parts_are_malformed(sealed: bytes, ses: SesSealer) -> None:
    files = unzip_ofd(sealed)
    files[f"{SIGN_0}/SignedValue.dat"] = b"not DER"
    report = _verify(zip_ofd(files))
    assert ProblemCode.MALFORMED_SIGNATURE in _codes(report)
    files = unzip_ofd(sealed)
    del files[f"{SIGN_0}/Signature.xml"]
    report = _verify(zip_ofd(files))
    assert _codes(report) == {ProblemCode.MALFORMED_SIGNATURE}


def test_a_document_that_is_no_ofd_raises(ses: SesSealer) -> None:
    with pytest.raises(InvalidOfd):
        _verify(b"%PDF-1.7")


def test_a_seal_out_of_its_validity_is_not_valid_but_intact(world: SesWorld) -> None:
    """The document is untouched, but the seal had expired when it signed: the signature is
    not valid, its integrity is ok, and the report says why."""
    start = datetime.now(UTC) - timedelta(days=30)
    expired = SesSealer.make(
        world, "合同专用章", created=start, valid_start=start, valid_end=start + timedelta(days=1)
    )
    data = seal_ofd(
        simple_ofd(),
        seal_esl=expired.seal_esl,
        sign_ses=expired.sign,
        placement=DefaultPlacement(),
        width_mm=40,
        height_mm=40,
        now=NOW,
    )
    report = _verify(data)
    (signature,) = report.signatures
    assert signature.intact and signature.integrity is Integrity.OK
    assert not signature.valid and not report.valid and report.intact
    assert _codes(report) == {ProblemCode.SEAL_NOT_VALID_AT_SIGNING}
