"""Every seal with an SM2 key gets its GB/T 38540 seal data (SESeal, .esl) when it is issued or
re-issued, made anew when its image or SM2 certificate changes; ``ESEAL_SES_SEAL_VERSION=5``
adds an SM2 timestamp over the seal maker's signature."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from asn1crypto import cms as asn1_cms
from asn1crypto import x509 as asn1_x509
from pydantic import ValidationError

from api.container import Container, build
from api.settings import Settings
from helpers import USCC, license_data
from keystore import sm2
from keystore.sm2_pki import verify_certificate_signature
from seals.certificates import pem_der
from seals.errors import InvalidLicense
from seals.esl import SEAL_TYPES, ParsedSeal, check_maker_signature, parse_seseal
from seals.esl_maker import EslNotAvailable
from seals.images import render_seal
from seals.kinds import SealKind
from seals.license import parse_license
from seals.model import Seal

NAME = "北京字节跳动网络技术有限公司"
#: what each seal is called in its seal data: the text engraved on it
NAMES = {
    SealKind.OFFICIAL: NAME,
    SealKind.CONTRACT: NAME + "合同专用章",
    SealKind.FINANCE: NAME + "财务专用章",
    SealKind.INVOICE: NAME + "发票专用章",
    SealKind.LEGAL_REP: "张利东印",
}
SIZES_MM = {
    SealKind.OFFICIAL: (40, 40),
    SealKind.CONTRACT: (40, 40),
    SealKind.FINANCE: (38, 38),
    SealKind.INVOICE: (40, 30),
    SealKind.LEGAL_REP: (20, 20),
}


def _parsed(seal: Seal) -> ParsedSeal:
    assert seal.esl is not None, f"the {seal.kind.value} seal has no seal data"
    return parse_seseal(seal.esl)


def _sm2_certificate(seal: Seal) -> asn1_x509.Certificate:
    assert seal.sm2_certificate_pem is not None
    return asn1_x509.Certificate.load(pem_der(seal.sm2_certificate_pem))


def _check(c: Container, seal: Seal, *, es_id: str, version: int = 4) -> ParsedSeal:
    """What a relying party checks of a seal's seal data, and what it must say."""
    parsed = _parsed(seal)
    assert parsed.version == version and parsed.vid == "eseal"
    assert (seal.esl_id, seal.esl_version) == (es_id, version)
    assert parsed.es_id == es_id
    assert parsed.seal_type == SEAL_TYPES[seal.kind]
    assert parsed.name == NAMES[seal.kind]
    # signed by the platform's seal maker, whose certificate our SM2 seal CA issued
    assert check_maker_signature(parsed)
    maker = asn1_x509.Certificate.load(parsed.maker_certificate)
    assert parsed.maker_certificate == c.sm2_pki.seal_maker().certificate.dump()
    verify_certificate_signature(maker, c.sm2_pki.certificate("issuing"))
    # the seal's own SM2 certificate is the one that may sign with it, for as long as it lives
    cert = _sm2_certificate(seal)
    assert parsed.certificates == (cert.dump(),)
    validity = cert["tbs_certificate"]["validity"]
    assert parsed.valid_start == validity["not_before"].native
    assert parsed.valid_end == validity["not_after"].native
    # the picture is the seal's image at its real size
    assert parsed.picture_type.lower() == "png"
    assert parsed.picture_data == seal.image_png
    assert (parsed.width_mm, parsed.height_mm) == SIZES_MM[seal.kind]
    return parsed


def test_registration_gives_every_seal_its_seal_data(container: Container) -> None:
    before = datetime.now(UTC).replace(microsecond=0)
    _, seals = container.seals.register(parse_license(license_data()))
    after = datetime.now(UTC)
    assert [s.kind for s in seals] == list(SealKind)
    for seal in seals:
        parsed = _check(container, seal, es_id=f"{USCC}{SEAL_TYPES[seal.kind]}0001")
        assert before <= parsed.created <= after
        assert parsed.timestamp is None  # version 4 has none
        # what is stored is what registration returned
        stored = container.seals.seal_data(USCC, seal.kind)
        assert stored.esl == seal.esl
        assert seal.to_json()["esl"]["es_id"] == seal.esl_id
    # five seals, five esIDs
    assert len({s.esl_id for s in seals}) == 5


def test_filing_codes_of_the_license_input_are_the_es_ids(container: Container) -> None:
    codes = {"contract": "1101080012345", "legal_rep": "1101080012349"}
    enterprise, seals = container.seals.register(parse_license(license_data(seal_codes=codes)))
    assert enterprise.license.seal_codes == codes
    assert enterprise.to_json()["seal_codes"] == codes
    by_kind = {s.kind: s for s in seals}
    _check(container, by_kind[SealKind.CONTRACT], es_id="1101080012345")
    _check(container, by_kind[SealKind.LEGAL_REP], es_id="1101080012349")
    _check(container, by_kind[SealKind.FINANCE], es_id=f"{USCC}30001")
    # a re-issue is a new version of the same physical seal: the same filing code
    new = container.seals.reissue_seal(USCC, SealKind.CONTRACT)
    _check(container, new, es_id="1101080012345")
    # the codes are kept with the license, as registered
    assert container.seals.enterprise(USCC).license.seal_codes == codes


@pytest.mark.parametrize(
    ("codes", "says"),
    [
        ({"contract": "110108001234"}, "13 digits"),
        ({"contract": "110108001234X"}, "13 digits"),
        ({"contract": "１１０１０８００１２３４５"}, "13 digits"),  # full-width digits
        ({"stamp": "1101080012345"}, "unknown seal kind"),
        ({"contract": "1101080012345", "finance": "1101080012345"}, "same filing code"),
        (["1101080012345"], "seal_codes"),
    ],
)
def test_filing_codes_are_checked(codes: object, says: str) -> None:
    with pytest.raises(InvalidLicense) as caught:
        parse_license(license_data(seal_codes=codes))
    assert "seal_codes" in str(caught.value) and says in str(caught.value)


def test_reissue_makes_new_seal_data_and_keeps_the_old(container: Container) -> None:
    _, seals = container.seals.register(parse_license(license_data()))
    old = next(s for s in seals if s.kind is SealKind.FINANCE)
    new = container.seals.reissue_seal(USCC, SealKind.FINANCE)
    assert new.version == 2 and new.esl != old.esl
    _check(container, new, es_id=f"{USCC}30002")
    assert _parsed(new).certificates != _parsed(old).certificates  # the new SM2 certificate
    # the old version keeps its seal data (documents sealed with it carry a copy anyway)
    assert old.sm2_serial is not None
    kept = container.seals.seal_by_sm2_serial(old.sm2_serial)
    assert kept is not None and kept.version == 1 and kept.esl == old.esl


def test_an_image_upload_makes_the_seal_data_anew(container: Container) -> None:
    _, seals = container.seals.register(parse_license(license_data()))
    old = next(s for s in seals if s.kind is SealKind.OFFICIAL)
    scan = render_seal(SealKind.OFFICIAL, name=NAME, uscc=USCC, legal_representative="", dpi=300)
    updated = container.seals.replace_image(USCC, SealKind.OFFICIAL, scan)
    assert updated.image_png != old.image_png and updated.version == 1
    # the same seal version, so the same esID; the new picture, signed again
    parsed = _check(container, updated, es_id=f"{USCC}10001")
    assert parsed.picture_data == updated.image_png != old.image_png
    assert container.seals.seal_data(USCC, SealKind.OFFICIAL).esl == updated.esl


def test_a_seal_without_sm2_has_no_seal_data(settings: Settings) -> None:
    c = build(settings.model_copy(update={"seal_algorithms": "ec-p256"}))
    try:
        _, seals = c.seals.register(parse_license(license_data()))
        assert all(s.esl is None and s.to_json()["esl"] is None for s in seals)
        with pytest.raises(EslNotAvailable) as caught:
            c.seals.seal_data(USCC, SealKind.CONTRACT)
        assert caught.value.code == "algorithm_not_available"
    finally:
        c.close()


@pytest.fixture
def v5(settings: Settings) -> Iterator[Container]:
    c = build(settings.model_copy(update={"ses_seal_version": 5}))
    yield c
    c.close()


def test_version_5_carries_an_sm2_timestamp_over_the_makers_signature(v5: Container) -> None:
    _, seals = v5.seals.register(parse_license(license_data()))
    for seal in seals:
        parsed = _check(v5, seal, es_id=f"{USCC}{SEAL_TYPES[seal.kind]}0001", version=5)
        assert parsed.timestamp is not None
        token = asn1_cms.ContentInfo.load(parsed.timestamp)
        signed = token["content"]
        tst = signed["encap_content_info"]["content"].parsed
        # an SM3 imprint of the maker's signature value
        imprint = tst["message_imprint"]
        assert imprint["hash_algorithm"]["algorithm"].dotted == "1.2.156.10197.1.401"
        assert bytes(imprint["hashed_message"]) == sm2.sm3(parsed.signature)
        # from our SM2 TSA, signed SM2-with-SM3 over the signed attributes
        (info,) = signed["signer_infos"]
        tsa = v5.sm2_pki.certificate("tsa")
        assert info["sid"].chosen["serial_number"].native == tsa.serial_number
        attrs = info["signed_attrs"].untag().dump()
        sm2.Sm2PublicKey.from_spki(tsa.public_key).verify(bytes(info["signature"]), attrs)
        assert tst["gen_time"].native >= parsed.created


def test_eseal_init_makes_the_seal_maker(_initialised_template: Path) -> None:
    """``eseal init`` (api.container.initialise) leaves a seal maker in the SM2 PKI, before
    any server start could add one."""
    sm2_dir = _initialised_template / "pki" / "sm2"
    assert "maker" in json.loads((sm2_dir / "sm2-pki.json").read_text())["keys"]
    maker = asn1_x509.Certificate.load(pem_der((sm2_dir / "maker.pem").read_text()))
    assert maker.subject.native["common_name"]


def test_the_ses_seal_version_setting(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    assert Settings(data_dir=tmp_path).ses_seal_version == 4
    monkeypatch.setenv("ESEAL_SES_SEAL_VERSION", "5")
    assert Settings(data_dir=tmp_path).ses_seal_version == 5
    for wrong in ("3", "6", "v4"):
        monkeypatch.setenv("ESEAL_SES_SEAL_VERSION", wrong)
        with pytest.raises(ValidationError, match="ses_seal_version"):
            Settings(data_dir=tmp_path)
