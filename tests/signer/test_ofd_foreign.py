"""OFD documents laid out the way ofdrw's ``OFDSigner`` writes them (``ofdrw-sign``), read by
eseal's verifier (the report of ``POST /v1/verify``).

The packages are built here, byte for byte as ofdrw lays them out: ``OFD.xml`` naming
``/Doc_0/Signs/Signatures.xml``, entries with absolute ``BaseLoc``, ``Signature.xml`` with the
``ofd:`` prefix, Provider ``ofdrw-sign``, SignatureMethod ``1.2.156.10197.1.501``, a zone-less
``SignatureDateTime``, ``CheckMethod`` ``SM3`` and absolute ``FileRef``s, protecting every file
(ofdrw's default *whole protected* mode) or all but ``Signatures.xml`` (*continue* mode).
Seals are real GB/T 38540 v4 ones (``SESV4Container``); plain digital signatures
(``Type="Sign"``) are ofdrw's two containers: ``GBT35275DSContainer`` (a GB/T 35275
SignedData over the SM3 of ``Signature.xml``) and ``GMDigestSignatureContainer`` (a bare SM2
value, no certificate).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from asn1crypto import pem as asn1_pem
from ses_pki import SesWorld, make_world
from trusting import container_trusting

from api.container import Container
from invoices import invoice, invoice_ofd, invoice_xml
from ofds import (
    SesSealer,
    gbt35275,
    gbt35275_pkcs9,
    ofdrw_sign,
    simple_ofd,
    unzip_ofd,
    zip_ofd,
)
from signer.errors import InvalidOfd
from signer.invoice import check_invoice

PAGE = "Doc_0/Pages/Page_0/Content.xml"


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> SesWorld:
    return make_world(tmp_path_factory.mktemp("ofdrw-world"))


@pytest.fixture(scope="module")
def ses(world: SesWorld) -> SesSealer:
    return SesSealer.make(world, "合同专用章")


@pytest.fixture(scope="module")
def trusting(
    tmp_path_factory: pytest.TempPathFactory, _initialised_template: Path, world: SesWorld
) -> Iterator[Container]:
    """eseal with the foreign platform's SM2 chain in its trust bundle: an SES signature
    carries the signer's certificate alone, so its seal CA must be there beside the root."""
    where = tmp_path_factory.mktemp("ofdrw-trusting")
    bundle = where / "bundle.pem"
    bundle.write_bytes(b"".join(asn1_pem.armor("CERTIFICATE", c.dump()) for c in world.pki.chain()))
    yield from container_trusting(_initialised_template, where, bundle)


@pytest.fixture(scope="module")
def plain(
    tmp_path_factory: pytest.TempPathFactory, _initialised_template: Path
) -> Iterator[Container]:
    yield from container_trusting(
        _initialised_template, tmp_path_factory.mktemp("ofdrw-plain"), None
    )


def codes(entry: dict[str, object]) -> list[str]:
    return [p["code"] for p in entry["problems"]]  # type: ignore[attr-defined,index]


async def report(c: Container, files: dict[str, bytes]) -> dict[str, object]:
    return (await c.national.report_ofd(zip_ofd(files))).to_json()


# -- plain digital signatures (Type="Sign") ---------------------------------------------------


async def test_a_gbt35275_digital_signature_is_intact_and_trusted_through_the_bundle(
    ses: SesSealer, trusting: Container, plain: Container
) -> None:
    files = ofdrw_sign(
        unzip_ofd(simple_ofd(1)), lambda xml, _info: gbt35275(ses, xml), sign_type="Sign"
    )
    (entry,) = (await report(trusting, files))["signatures"]  # type: ignore[misc]
    assert entry["integrity"] == "ok" and entry["intact"] is True, entry
    assert entry["trusted"] is True, entry["problems"]
    assert entry["algorithm"] == "sm2"
    assert "national_seal" not in entry  # a signature, no seal
    assert {r["status"] for r in entry["references"]} == {"ok"}
    # the foreign seal certificate's enterprise is not in our registry: that, nothing else
    assert codes(entry) == ["enterprise_not_registered"]

    (entry,) = (await report(plain, files))["signatures"]  # type: ignore[misc]
    assert entry["intact"] is True and entry["trusted"] is False
    assert "untrusted_certificate" in codes(entry)


async def test_a_pkcs9_digital_signature_is_intact(ses: SesSealer, trusting: Container) -> None:
    """ofdrw's PKCS#9 form: the SM2 signature over the authenticated attributes, whose
    messageDigest is the SM3 of Signature.xml."""
    files = ofdrw_sign(
        unzip_ofd(simple_ofd(1)), lambda xml, _info: gbt35275_pkcs9(ses, xml), sign_type="Sign"
    )
    (entry,) = (await report(trusting, files))["signatures"]  # type: ignore[misc]
    assert entry["integrity"] == "ok" and entry["trusted"] is True, entry
    assert codes(entry) == ["enterprise_not_registered"]


async def test_a_changed_document_breaks_the_digital_signature(
    ses: SesSealer, trusting: Container
) -> None:
    signed = ofdrw_sign(
        unzip_ofd(simple_ofd(1)), lambda xml, _info: gbt35275(ses, xml), sign_type="Sign"
    )
    page = dict(signed)
    page[PAGE] = page[PAGE].replace("合同".encode(), "合约".encode())
    xml_path = "Doc_0/Signs/Sign_0/Signature.xml"
    claimed = dict(signed)
    claimed[xml_path] = claimed[xml_path].replace(b"2026-03-01", b"2026-03-02")
    for changed, code in ((page, "ofd_file_changed"), (claimed, "digest_mismatch")):
        result = await report(trusting, changed)
        (entry,) = result["signatures"]  # type: ignore[misc]
        assert result["valid"] is False
        assert entry["integrity"] == "broken" and entry["intact"] is False
        assert code in codes(entry)


async def test_a_bare_sm2_signature_names_no_signer(ses: SesSealer, trusting: Container) -> None:
    """ofdrw's digest mode writes the SM2 value alone: eseal cannot say whose it is, and
    says so instead of calling it malformed."""
    files = ofdrw_sign(
        unzip_ofd(simple_ofd(1)), lambda xml, _info: ses.key.sign(xml), sign_type="Sign"
    )
    result = await report(trusting, files)
    (entry,) = result["signatures"]  # type: ignore[misc]
    assert result["valid"] is False and entry["intact"] is False
    assert codes(entry) == ["ofd_signer_unknown"]


# -- seals (Type="Seal", SESV4Container) -------------------------------------------------------


@pytest.mark.parametrize(
    "layout",
    [
        {},
        {"continue_mode": True},
        {"relative_base_loc": True},
        {"check_method": "1.2.156.10197.1.401"},
    ],
    ids=["whole-protected", "continue", "relative-baseloc", "oid-check-method"],
)
async def test_ofdrw_seal_layouts_are_intact(
    ses: SesSealer, trusting: Container, layout: dict[str, object]
) -> None:
    files = ofdrw_sign(
        unzip_ofd(simple_ofd(1)),
        lambda xml, info: ses.sign(xml, property_info=info),
        seal_esl=ses.seal_esl,
        **layout,  # type: ignore[arg-type]
    )
    (entry,) = (await report(trusting, files))["signatures"]  # type: ignore[misc]
    assert entry["integrity"] == "ok" and entry["trusted"] is True, entry
    assert codes(entry) == ["enterprise_not_registered"]
    assert entry["national_seal"]["property_info"] == "/Doc_0/Signs/Sign_0/Signature.xml"


async def test_a_seal_then_a_digital_signature_then_a_change(
    ses: SesSealer, trusting: Container
) -> None:
    """A seal in continue mode, then a GB/T 35275 signature: both intact; a page changed
    after both breaks both."""
    first = ofdrw_sign(
        unzip_ofd(simple_ofd(1)),
        lambda xml, info: ses.sign(xml, property_info=info),
        seal_esl=ses.seal_esl,
        continue_mode=True,
    )
    both = ofdrw_sign(first, lambda xml, _info: gbt35275(ses, xml), sign_type="Sign")
    entries = (await report(trusting, both))["signatures"]
    assert [e["integrity"] for e in entries] == ["ok", "ok"]  # type: ignore[attr-defined]
    changed = dict(both)
    changed[PAGE] += b" "
    entries = (await report(trusting, changed))["signatures"]
    assert [e["integrity"] for e in entries] == ["broken", "broken"]  # type: ignore[attr-defined]


# -- XML in the encodings Chinese producers declare -------------------------------------------


def _in_gbk(data: bytes) -> bytes:
    text = data.decode("utf-8").replace('encoding="UTF-8"', 'encoding="GBK"')
    return text.encode("gbk")


async def test_a_document_whose_xml_is_gbk_verifies(ses: SesSealer, trusting: Container) -> None:
    """Pages, document and signature files declared and written in GBK (as Java and .NET
    producers may) read as written; the protected bytes are the GBK ones."""
    files = unzip_ofd(simple_ofd(1))
    for name in ("Doc_0/Document.xml", PAGE):
        files[name] = _in_gbk(files[name])
    signed = ofdrw_sign(
        files, lambda xml, info: ses.sign(xml, property_info=info), seal_esl=ses.seal_esl
    )
    result = await trusting.national.report_ofd(zip_ofd(signed))
    (entry,) = result.to_json()["signatures"]
    assert result.file.pages == 1
    assert entry["integrity"] == "ok" and entry["page"] == 1, entry
    changed = dict(signed)
    changed[PAGE] = _in_gbk(files[PAGE].decode("gbk").replace("合同", "合约").encode())
    (entry,) = (await report(trusting, changed))["signatures"]  # type: ignore[misc]
    assert entry["integrity"] == "broken" and "ofd_file_changed" in codes(entry)


@pytest.mark.parametrize("declared", ["UTF-0", "GB2312"])
async def test_xml_that_cannot_be_decoded_is_invalid_ofd(
    ses: SesSealer, trusting: Container, declared: str
) -> None:
    """An encoding no codec knows, or bytes that are not in the declared one: 422
    ``invalid_ofd``, not a server error."""
    files = unzip_ofd(simple_ofd(1))
    files["Doc_0/Document.xml"] = (
        files["Doc_0/Document.xml"]
        .replace(b'encoding="UTF-8"', f'encoding="{declared}"'.encode())
        .replace(b"<ofd:Pages>", b"<ofd:Pages>\xff\xfe")
    )
    with pytest.raises(InvalidOfd):
        await trusting.national.report_ofd(zip_ofd(files))


def test_an_invoice_whose_xml_is_gbk_is_read() -> None:
    """The invoice check (``POST /v1/invoices/check``) reads a GBK-declared invoice XML as
    written, and agrees with the OFD."""
    inv = invoice()
    xml = invoice_xml(inv).decode("utf-8").replace('encoding="UTF-8"', 'encoding="GBK"')
    verdict = check_invoice(invoice_ofd(inv), xml.encode("gbk"))
    assert verdict.xml is not None and verdict.xml.number == "25442000000123456789"
    assert verdict.consistent, verdict.problems
