"""The national signature data (SES_Signature v4 and v5 made; v1, v4 and v5 verified): made
around a real SESeal with real SM2 keys and the SM2 TSA, verified in GM/T 0031's order, each
failure caught at its own step.  OpenSSL checks the signer's signature over TBS_Sign as carried,
with the default user id.  GM/T 0031-2014 (v1) signatures are made here as ofdrw makes them.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from asn1crypto import cms, core
from asn1crypto import x509 as asn1_x509
from ses_pki import DISTID, SesWorld, make_v1_signature, make_world, now, reencode

from helpers import require_tool
from keystore import sm2
from seals.codes import ProblemCode, problem_texts
from seals.errors import DomainError, InvalidSesSignature, UnsupportedSealVersion
from seals.esl import der_sequence, encoded_fields, parse_seseal, strict_load
from seals.esl_asn1 import SESealV4, SESealV5
from signer.ses import SesStep, SesVerification, make_ses_signature, verify_ses_signature
from signer.ses.asn1 import SesSignature, TbsSign
from signer.ses.timeinfo import read_time_info

DATA = "<ofd:Signature>合同第 7 页</ofd:Signature>".encode()
PROPERTY = "/Doc_0/Signs/Sign_0/Signature.xml"
ORDER = [
    "format",
    "seal_maker_signature",
    "seal_created_in_maker_validity",
    "seal_validity",
    "signer_in_cert_list",
    "data_hash",
    "signature",
    "timestamp",
]


class Signer:
    def __init__(self, world: SesWorld) -> None:
        self.key = sm2.Sm2PrivateKey.generate()
        self.cert = world.seal_certificate(self.key)
        self.der = bytes(self.cert.dump())


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> SesWorld:
    return make_world(tmp_path_factory.mktemp("ses-signature-world"))


@pytest.fixture(scope="module")
def signer(world: SesWorld) -> Signer:
    return Signer(world)


@pytest.fixture(scope="module")
def other(world: SesWorld) -> Signer:
    return Signer(world)


def _sign(world: SesWorld, signer: Signer, seal: bytes, **changes: Any) -> bytes:
    fields: dict[str, Any] = {
        "seal_der": seal,
        "data_hash": sm2.sm3(DATA),
        "property_info": PROPERTY,
        "signer_certificate": signer.der,
        "sign": signer.key.sign,
        "time": now(),
        "timestamp": world.sm2_timestamper(),
    }
    fields.update(changes)
    return make_ses_signature(**fields)


def _failed(result: SesVerification) -> list[str]:
    return [c.name for c in result.checks if not c.ok]


def _assemble(
    to_sign: dict[str, Any],
    cert: bytes,
    sign: Callable[[bytes], bytes],
    timestamp: Callable[[bytes], bytes] | None = None,
) -> bytes:
    """An SES_Signature put together by hand, for what make_ses_signature refuses to make."""
    tbs = TbsSign(to_sign)
    value = sign(bytes(tbs.dump()))
    fields: dict[str, Any] = {
        "to_sign": tbs,
        "cert": cert,
        "signature_alg_id": sm2.OID_SM2_WITH_SM3,
        "signature": value,
    }
    if timestamp is not None:
        fields["time_stamp"] = timestamp(value)
    return bytes(SesSignature(fields).dump())


def _to_sign(seal: bytes, *, version: int = 4, time: datetime | None = None) -> dict[str, Any]:
    return {
        "version": version,
        "eseal": SESealV5.load(seal),
        "time_info": time or now(),
        "data_hash": sm2.sm3(DATA),
        "property_info": PROPERTY,
    }


def _openssl_verifies(tmp_path: Path, cert: asn1_x509.Certificate, msg: bytes, sig: bytes) -> bool:
    require_tool("openssl")
    (tmp_path / "pub.der").write_bytes(cert.public_key.dump())
    (tmp_path / "msg.bin").write_bytes(msg)
    (tmp_path / "msg.sig").write_bytes(sig)
    done = subprocess.run(
        [
            "openssl",
            "pkeyutl",
            "-verify",
            "-pubin",
            "-keyform",
            "DER",
            "-inkey",
            str(tmp_path / "pub.der"),
            "-rawin",
            "-digest",
            "sm3",
            "-in",
            str(tmp_path / "msg.bin"),
            "-sigfile",
            str(tmp_path / "msg.sig"),
            "-pkeyopt",
            DISTID,
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    return "Signature Verified Successfully" in done.stdout


# -- what holds --------------------------------------------------------------------------------


def test_a_v4_signature_verifies_step_by_step(
    world: SesWorld, signer: Signer, tmp_path: Path
) -> None:
    seal = world.make_seal(signer.cert)
    signed_at = now()
    der = _sign(world, signer, seal, time=signed_at.replace(microsecond=999))
    result = verify_ses_signature(der, data=DATA)
    assert result.valid and result.problems == ()
    assert [c.name for c in result.checks] == ORDER
    assert all(c.ok and c.problem is None and c.message for c in result.checks)
    assert result.version == 4 and result.seal == parse_seseal(seal)
    assert result.signer_certificate is not None
    assert result.signer_certificate.dump() == signer.der
    assert result.signing_time == signed_at
    assert result.timestamp_time is not None
    assert abs(result.timestamp_time - signed_at) < timedelta(minutes=1)
    assert (result.data_hash, result.data_hash_ok) == (sm2.sm3(DATA), True)
    assert result.property_info == PROPERTY
    assert result.signature_algorithm == sm2.OID_SM2_WITH_SM3
    assert result.tsa_certificate is not None
    assert result.tsa_certificate.dump() == world.pki.certificate("tsa").dump()
    # the seal inside is the seal given, byte for byte
    assert bytes(SesSignature.load(der)["to_sign"]["eseal"].dump()) == seal
    # what eseal writes is DER; OpenSSL: the signer's SM2 signature over TBS_Sign
    strict_load(SesSignature, der)
    assert result.to_sign_der == SesSignature.load(der)["to_sign"].dump()
    assert _openssl_verifies(tmp_path, signer.cert, result.to_sign_der, result.signature)
    # the timestamp's imprint is SM3 of the signature value (the DER r, s)
    token = cms.ContentInfo.load(result.timestamp or b"")
    imprint = token["content"]["encap_content_info"]["content"].parsed["message_imprint"]
    assert imprint["hashed_message"].native == sm2.sm3(result.signature)


def test_a_v5_signature_with_a_v5_seal_checks_both_timestamps(
    world: SesWorld, signer: Signer
) -> None:
    seal = world.make_seal(signer.cert, version=5, timestamp=world.sm2_timestamper())
    result = verify_ses_signature(_sign(world, signer, seal), data_hash=sm2.sm3(DATA))
    assert result.valid and result.version == 5 and result.seal.version == 5
    names = [c.name for c in result.checks]
    assert names == [*ORDER[:2], "seal_timestamp", *ORDER[2:]]
    assert "timestamp by" in result.checks[2].message


def test_versions_and_what_is_left_out(world: SesWorld, signer: Signer) -> None:
    v4_seal = world.make_seal(signer.cert)
    # a v5 signature over a v4 seal
    result = verify_ses_signature(_sign(world, signer, v4_seal, version=5), data=DATA)
    assert result.valid and (result.version, result.seal.version) == (5, 4)
    # no data, no timestamp: those steps are not in the list
    result = verify_ses_signature(_sign(world, signer, v4_seal, timestamp=None))
    assert result.valid and result.data_hash_ok is None and result.timestamp is None
    assert [c.name for c in result.checks] == [
        n for n in ORDER if n not in ("data_hash", "timestamp")
    ]
    assert result.timestamp_time is None
    with pytest.raises(ValueError, match="not both"):
        verify_ses_signature(_sign(world, signer, v4_seal), data=DATA, data_hash=sm2.sm3(DATA))


def test_sha256_imprints_and_an_ecdsa_tsa_are_accepted(world: SesWorld, signer: Signer) -> None:
    seal = world.make_seal(signer.cert)
    sha256 = _sign(world, signer, seal, timestamp=world.sm2_timestamper(digest="sha256"))
    assert verify_ses_signature(sha256, data=DATA).valid
    ecdsa = _sign(
        world,
        signer,
        seal,
        timestamp=lambda value: world.timestamp(value, digest="sha256", sm2_tsa=False),
    )
    result = verify_ses_signature(ecdsa, data=DATA)
    assert result.valid, result.checks
    assert result.tsa_certificate is not None
    assert "SM2" not in result.tsa_certificate.subject.human_friendly


def test_making_refuses_what_would_not_verify(
    world: SesWorld, signer: Signer, other: Signer
) -> None:
    seal = world.make_seal(signer.cert)
    for changes, message in (
        ({"signer_certificate": other.der, "sign": other.key.sign}, "does not name the signer"),
        ({"sign": other.key.sign}, "does not verify"),
        ({"data_hash": b"\x00" * 20}, "32-byte"),
        ({"property_info": "签章.xml"}, "ASCII"),
        ({"time": now().replace(tzinfo=None)}, "aware"),
        ({"version": 1}, "version 4 or 5"),
    ):
        with pytest.raises(ValueError, match=message):
            _sign(world, signer, seal, **changes)


# -- each failure at its step ----------------------------------------------------------------


def test_an_expired_seal_fails_the_validity_step(world: SesWorld, signer: Signer) -> None:
    start = now() - timedelta(days=30)
    seal = world.make_seal(
        signer.cert, created=start, valid_start=start, valid_end=start + timedelta(days=29)
    )
    result = verify_ses_signature(_sign(world, signer, seal), data=DATA)
    assert not result.valid and _failed(result) == ["seal_validity"]
    assert result.problems == (ProblemCode.SEAL_NOT_VALID_AT_SIGNING,)
    assert "outside the seal's validity" in result.checks[3].message
    # judged at a time within the period, it holds
    assert verify_ses_signature(_sign(world, signer, seal), at=start + timedelta(days=1)).valid
    # a seal not valid yet
    later = now() + timedelta(days=2)
    future = world.make_seal(signer.cert, valid_start=later, valid_end=later + timedelta(days=9))
    assert _failed(verify_ses_signature(_sign(world, signer, future))) == ["seal_validity"]


def test_a_signer_not_in_the_cert_list_fails_that_step(
    world: SesWorld, signer: Signer, other: Signer
) -> None:
    seal = world.make_seal(signer.cert)
    der = _assemble(_to_sign(seal), other.der, other.key.sign, world.sm2_timestamper())
    result = verify_ses_signature(der, data=DATA)
    assert _failed(result) == ["signer_in_cert_list"]
    assert result.problems == (ProblemCode.SIGNER_NOT_IN_SEAL,)


def test_changed_data_fails_the_data_hash_step(world: SesWorld, signer: Signer) -> None:
    der = _sign(world, signer, world.make_seal(signer.cert))
    result = verify_ses_signature(der, data=DATA + b" ")
    assert _failed(result) == ["data_hash"] and result.data_hash_ok is False
    assert result.problems == (ProblemCode.DIGEST_MISMATCH,)
    assert _failed(verify_ses_signature(der, data_hash=sm2.sm3(b"other"))) == ["data_hash"]


def test_a_bad_signature_fails_the_signature_step(
    world: SesWorld, signer: Signer, other: Signer
) -> None:
    seal = world.make_seal(signer.cert)
    # signed with another key than the listed certificate's
    der = _assemble(_to_sign(seal), signer.der, other.key.sign)
    result = verify_ses_signature(der, data=DATA)
    assert _failed(result) == ["signature"]
    assert result.problems == (ProblemCode.SIGNATURE_INVALID,)
    # a signed field changed after signing (the property info, same length)
    good = _sign(world, signer, seal, timestamp=None)
    tampered = good.replace(PROPERTY.encode(), PROPERTY.replace("Sign_0", "Sign_1").encode())
    assert _failed(verify_ses_signature(tampered, data=DATA)) == ["signature"]
    # an algorithm other than SM2 with SM3
    changed = SesSignature.load(good).copy()
    changed["signature_alg_id"] = "1.2.840.10045.4.3.2"
    result = verify_ses_signature(changed.dump(force=True), data=DATA)
    assert _failed(result) == ["signature"] and "not SM2 with SM3" in result.checks[-1].message


def test_a_bad_timestamp_fails_the_timestamp_step(world: SesWorld, signer: Signer) -> None:
    seal = world.make_seal(signer.cert)
    cases: dict[str, bytes] = {}
    # a valid token, but over other bytes than the signature value
    cases["imprint"] = _assemble(
        _to_sign(seal), signer.der, signer.key.sign, lambda value: world.timestamp(value + b".")
    )
    # a token whose TSA signature is broken (one bit of s flipped, still DER)
    good = _sign(world, signer, seal)
    token = bytes(SesSignature.load(good)["time_stamp"])
    tsa_signature = bytes(cms.ContentInfo.load(token)["content"]["signer_infos"][0]["signature"])
    broken = bytearray(tsa_signature)
    broken[-1] ^= 0x01
    cases["tsa signature"] = good.replace(tsa_signature, bytes(broken))
    # a token from a day after the signing time
    world.tsa_time[0] = now() + timedelta(days=1)
    try:
        cases["genTime"] = _sign(world, signer, seal)
    finally:
        world.tsa_time[0] = None
    # not a token at all
    cases["garbage"] = _assemble(_to_sign(seal), signer.der, signer.key.sign, lambda _: b"\x30\x00")
    messages = {
        "imprint": "imprint is not that of the signature value",
        "tsa signature": "does not verify",
        "genTime": "more than 0:10:00 from the signing time",
        "garbage": "not a DER TimeStampToken",
    }
    for case, der in cases.items():
        result = verify_ses_signature(der, data=DATA)
        assert _failed(result) == ["timestamp"], case
        assert result.problems == (ProblemCode.TIMESTAMP_INVALID,), case
        assert messages[case] in result.checks[-1].message, (case, result.checks[-1].message)
        assert result.timestamp_time is None


def test_a_changed_seal_fails_the_maker_signature_step(world: SesWorld, signer: Signer) -> None:
    seal = world.make_seal(signer.cert)
    # the seal's id changed after the maker signed (the certificates untouched)
    tampered = seal.replace(b"-contract-1", b"-contract-2")
    assert tampered != seal
    result = verify_ses_signature(_sign(world, signer, tampered), data=DATA)
    assert _failed(result) == ["seal_maker_signature"]
    assert result.problems == (ProblemCode.SEAL_MAKER_SIGNATURE_INVALID,)


def test_a_seal_made_outside_the_maker_validity_fails_that_step(
    world: SesWorld, signer: Signer
) -> None:
    maker_start = world.maker.certificate["tbs_certificate"]["validity"]["not_before"].native
    seal = world.make_seal(signer.cert, created=maker_start - timedelta(days=1))
    result = verify_ses_signature(_sign(world, signer, seal), data=DATA)
    assert _failed(result) == ["seal_created_in_maker_validity"]
    assert result.problems == (ProblemCode.SEAL_CREATED_OUTSIDE_MAKER_VALIDITY,)


def test_a_bad_seal_timestamp_fails_that_step(world: SesWorld, signer: Signer) -> None:
    # a v5 seal whose timestamp stamps other bytes than the maker's signature value
    seal = world.make_seal(
        signer.cert, version=5, timestamp=lambda value: world.timestamp(value + b".")
    )
    result = verify_ses_signature(_sign(world, signer, seal), data=DATA)
    assert _failed(result) == ["seal_timestamp"]
    assert result.problems == (ProblemCode.SEAL_TIMESTAMP_INVALID,)


def test_everything_wrong_at_once_is_listed_in_order(
    world: SesWorld, signer: Signer, other: Signer
) -> None:
    start = now() - timedelta(days=30)
    maker_start = world.maker.certificate["tbs_certificate"]["validity"]["not_before"].native
    seal = world.make_seal(
        signer.cert,
        created=maker_start - timedelta(days=1),
        valid_start=start,
        valid_end=start + timedelta(days=1),
    )
    tampered = seal.replace(b"-contract-1", b"-contract-2")
    der = _assemble(
        _to_sign(tampered),
        other.der,
        signer.key.sign,
        lambda value: world.timestamp(value + b"."),
    )
    result = verify_ses_signature(der, data=b"changed")
    assert _failed(result) == [
        "seal_maker_signature",
        "seal_created_in_maker_validity",
        "seal_validity",
        "signer_in_cert_list",
        "data_hash",
        "signature",
        "timestamp",
    ]
    assert [p.value for p in result.problems] == [
        "seal_maker_signature_invalid",
        "seal_created_outside_maker_validity",
        "seal_not_valid_at_signing",
        "signer_not_in_seal",
        "digest_mismatch",
        "signature_invalid",
        "timestamp_invalid",
    ]


# -- bytes that are not a signature ------------------------------------------------------------


def _error(der: bytes) -> DomainError:
    with pytest.raises(DomainError) as raised:
        verify_ses_signature(der)
    return raised.value


def test_bytes_that_are_not_an_ses_signature_raise(world: SesWorld, signer: Signer) -> None:
    der = _sign(world, signer, world.make_seal(signer.cert))
    for bad in (
        b"",
        b"\x30\x00",
        der[:-1],
        der[: len(der) // 2],
        der + b"\x00",
        b"\x30\x80" + der[4:],  # an indefinite length without its end
        world.make_seal(signer.cert),  # a seal is not a signature
    ):
        error = _error(bad)
        assert isinstance(error, InvalidSesSignature) and error.code == "invalid_ses_signature"
    # a signature whose seal is not a seal
    seal = SESealV4.load(world.make_seal(signer.cert)).copy()
    seal["e_seal_info"]["header"]["id"] = "XX"
    broken = _assemble(_to_sign(seal.dump(force=True)), signer.der, signer.key.sign)
    error = _error(broken)
    assert error.code == "invalid_ses_signature" and "not a seal" in error.detail


def test_unknown_versions_raise_unsupported_seal_version(world: SesWorld, signer: Signer) -> None:
    seal = world.make_seal(signer.cert)
    for version in (0, 2, 3, 6):
        error = _error(_assemble(_to_sign(seal, version=version), signer.der, signer.key.sign))
        assert isinstance(error, UnsupportedSealVersion)
        assert (error.code, error.version) == ("unsupported_seal_version", version)
    # version 1 says GM/T 0031-2014's layout, which v4's fields are not
    error = _error(_assemble(_to_sign(seal, version=1), signer.der, signer.key.sign))
    assert isinstance(error, InvalidSesSignature)
    assert "not a version 1 SES_Signature" in error.detail
    # a v4 signature carrying a seal whose header says 7
    seal7 = SESealV4.load(seal).copy()
    seal7["e_seal_info"]["header"]["version"] = 7
    error = _error(_assemble(_to_sign(seal7.dump(force=True)), signer.der, signer.key.sign))
    assert isinstance(error, UnsupportedSealVersion) and error.version == 7


def test_the_new_problem_codes_have_their_texts() -> None:
    texts = problem_texts()
    by_value = {p.value: p for p in ProblemCode}
    for code in (
        "seal_maker_signature_invalid",
        "seal_timestamp_invalid",
        "seal_created_outside_maker_validity",
        "seal_not_valid_at_signing",
        "signer_not_in_seal",
    ):
        assert texts[code]["en"] and texts[code]["zh"].endswith("。")
        assert by_value[code].zh == texts[code]["zh"]
    assert [s.value for s in SesStep] == [*ORDER[:2], "seal_timestamp", *ORDER[2:]]


# -- BER from other encoders ---------------------------------------------------------------------


def test_a_ber_signature_verifies_over_the_to_sign_it_carries(
    world: SesWorld, signer: Signer, tmp_path: Path
) -> None:
    seal = world.make_seal(signer.cert)
    der = _sign(world, signer, seal, timestamp=None)
    to_sign, *rest = encoded_fields(der)
    # long-form and indefinite lengths around an unchanged toSign: valid as it was
    for ber in (b"\x30\x83\x00" + der[2:], b"\x30\x80" + to_sign + b"".join(rest) + b"\x00\x00"):
        result = verify_ses_signature(ber, data=DATA)
        assert result.valid and result.to_sign_der == to_sign
    # toSign itself in BER (the seal inside as its maker wrote it), signed as carried
    ber_to_sign = _ber_around_seal(to_sign, ["long1", "indefinite", "long0"])
    value = signer.key.sign(ber_to_sign)
    ber = der_sequence(ber_to_sign, *rest[:2], core.OctetBitString(value).dump())
    result = verify_ses_signature(ber, data=DATA)
    assert result.valid, result.checks
    assert result.to_sign_der == ber_to_sign and result.seal == parse_seseal(seal)
    assert _openssl_verifies(tmp_path, signer.cert, ber_to_sign, result.signature)
    # a signature over the DER re-encoding is not one over what is carried
    value = signer.key.sign(TbsSign.load(ber_to_sign).dump(force=True))
    ber = der_sequence(ber_to_sign, *rest[:2], core.OctetBitString(value).dump())
    assert _failed(verify_ses_signature(ber, data=DATA)) == ["signature"]


def test_a_seal_another_encoder_wrote_in_ber_is_carried_as_it_is(
    world: SesWorld, signer: Signer
) -> None:
    der_seal = world.make_seal(signer.cert)
    ber_seal = b"\x30\x83\x00" + der_seal[2:]  # a long-form length: the maker's bytes
    der = _sign(world, signer, ber_seal, timestamp=None)
    assert encoded_fields(encoded_fields(der)[0])[1] == ber_seal
    result = verify_ses_signature(der, data=DATA)
    assert result.valid and result.seal.der == ber_seal
    # all that eseal wrote around it is DER
    to_sign, cert, algorithm, value = encoded_fields(der)
    version, _, time, data_hash, property_info = encoded_fields(to_sign)
    for spec, field in (
        (core.Integer, version),
        (core.GeneralizedTime, time),
        (core.OctetBitString, data_hash),
        (core.IA5String, property_info),
        (core.OctetString, cert),
        (core.ObjectIdentifier, algorithm),
        (core.OctetBitString, value),
    ):
        strict_load(spec, field)
    assert der[:2] == to_sign[:2] == b"\x30\x82"


# -- GM/T 0031-2014 (v1) -------------------------------------------------------------------------

#: ofdrw's SESV1Container: LocalDateTime.now() as "yyyy-MM-dd HH:mm:ss", no zone
OFDRW_TIME = "%Y-%m-%d %H:%M:%S"
CST = timezone(timedelta(hours=8))


def _v1(world: SesWorld, signer: Signer, seal: bytes, **changes: Any) -> bytes:
    fields: dict[str, Any] = {
        "signer_certificate": signer.der,
        "sign": signer.key.sign,
        "time_info": now().astimezone(CST).strftime(OFDRW_TIME).encode(),
        "data_hash": sm2.sm3(DATA),
        "property_info": PROPERTY,
    }
    fields.update(changes)
    return make_v1_signature(seal, **fields)


def test_a_v1_signature_over_a_v1_seal_verifies(
    world: SesWorld, signer: Signer, tmp_path: Path
) -> None:
    seal = world.make_v1_seal(signer.cert)
    signed_at = now()
    der = _v1(
        world, signer, seal, time_info=signed_at.astimezone(CST).strftime(OFDRW_TIME).encode()
    )
    result = verify_ses_signature(der, data=DATA)
    assert result.valid, result.checks
    assert (result.version, result.seal.version) == (1, 1)
    assert [c.name for c in result.checks] == ORDER[:-1]  # no timestamp in v1
    assert result.signing_time == signed_at and result.signing_time.tzinfo is not None
    assert "read as China Standard Time" in result.checks[0].message
    assert result.signer_certificate_der == signer.der
    assert (result.data_hash, result.data_hash_ok) == (sm2.sm3(DATA), True)
    assert result.property_info == PROPERTY and result.timestamp is None
    assert result.signature_algorithm == sm2.OID_SM2_WITH_SM3
    assert result.seal == parse_seseal(seal)
    # what the signer signed: TBS_Sign with cert and algorithm inside, as carried
    assert result.to_sign_der == encoded_fields(der)[0]
    assert _openssl_verifies(tmp_path, signer.cert, result.to_sign_der, result.signature)


def test_v1_time_info_forms() -> None:
    when = datetime(2024, 3, 28, 7, 13, 54, tzinfo=UTC)
    for octets in (
        b"2024-03-28 15:13:54",  # ofdrw: local, no zone (China Standard Time)
        b"2024-03-28T15:13:54+08:00",
        b"2024-03-28 07:13:54Z",
        b"20240328071354Z",  # GeneralizedTime text
        b"20240328151354.000+0800",
        b"240328071354Z",  # UTCTime text
        b"\x17\x0d240328071354Z",  # an encoded UTCTime
        b"\x18\x0f20240328071354Z",  # an encoded GeneralizedTime
    ):
        assert read_time_info(octets)[0] == when, octets
    assert read_time_info(b"20240328071354Z")[1] is None
    assert "China Standard Time" in (read_time_info(b"2024-03-28 15:13:54")[1] or "")
    for bad in (b"", b"yesterday", b"2024-13-28 15:13:54", b"\xff\xfe", b"2024032807"):
        with pytest.raises(ValueError, match="timeInfo"):
            read_time_info(bad)


def test_v1_failures_are_caught_at_their_steps(
    world: SesWorld, signer: Signer, other: Signer
) -> None:
    seal = world.make_v1_seal(signer.cert)
    der = _v1(world, signer, seal)
    assert _failed(verify_ses_signature(der, data=DATA + b" ")) == ["data_hash"]
    # signed with another key than the certificate's
    assert _failed(verify_ses_signature(_v1(world, signer, seal, sign=other.key.sign))) == [
        "signature"
    ]
    # a signed field changed after signing
    tampered = der.replace(PROPERTY.encode(), PROPERTY.replace("Sign_0", "Sign_1").encode())
    assert _failed(verify_ses_signature(tampered)) == ["signature"]
    # a signer the seal does not list
    assert _failed(verify_ses_signature(_v1(world, other, seal, signer_certificate=other.der))) == [
        "signer_in_cert_list"
    ]
    # a seal whose maker signature is not over SEQUENCE {esealInfo, cert, algorithm}
    forged = world.make_v1_seal(signer.cert, sign=other.key.sign)
    assert _failed(verify_ses_signature(_v1(world, signer, forged))) == ["seal_maker_signature"]
    # an expired seal: v1 seals here are valid 30 days from an hour ago
    late = (now() + timedelta(days=31)).astimezone(CST).strftime(OFDRW_TIME).encode()
    assert _failed(verify_ses_signature(_v1(world, signer, seal, time_info=late))) == [
        "seal_validity"
    ]


def test_v1_generations_do_not_mix_and_its_types_are_kept(world: SesWorld, signer: Signer) -> None:
    v1_seal = world.make_v1_seal(signer.cert)
    v4_seal = world.make_seal(signer.cert)
    # a v1 signature carrying a v4 seal, a v4 signature carrying a v1 seal
    error = _error(_v1(world, signer, v4_seal))
    assert isinstance(error, UnsupportedSealVersion) and error.version == 4
    error = _error(_assemble(_to_sign(v1_seal), signer.der, signer.key.sign))
    assert isinstance(error, UnsupportedSealVersion) and error.version == 1
    # a timeInfo that is not a time
    error = _error(_v1(world, signer, v1_seal, time_info=b"\x01\x02"))
    assert isinstance(error, InvalidSesSignature) and "timeInfo" in error.detail
    # timeInfo as an OCTET STRING (ofdrw reads it; the standard says BIT STRING)
    der = _v1(world, signer, v1_seal)
    to_sign, value = encoded_fields(der)
    fields = list(encoded_fields(to_sign))
    assert fields[2][0] == 0x03
    octets = core.OctetString(core.OctetBitString.load(fields[2]).native).dump()
    changed = der_sequence(der_sequence(*fields[:2], octets, *fields[3:]), value)
    assert _error(changed).code == "invalid_ses_signature"


def _ber_around_seal(to_sign: bytes, forms: list[str]) -> bytes:
    """``to_sign`` in BER: indefinite, each field re-encoded but the seal (field 1), which its
    maker signed as it is."""
    chosen = iter(forms * 100)
    fields = encoded_fields(to_sign)
    return (
        b"\x30\x80"
        + b"".join(
            f if i == 1 else reencode(f, lambda c: next(chosen)) for i, f in enumerate(fields)
        )
        + b"\x00\x00"
    )


def test_a_ber_v1_signature_verifies_over_what_it_carries(world: SesWorld, signer: Signer) -> None:
    seal = world.make_v1_seal(signer.cert)
    ber_to_sign = _ber_around_seal(encoded_fields(_v1(world, signer, seal))[0], ["long3", "long0"])
    value = core.OctetBitString(signer.key.sign(ber_to_sign)).dump()
    result = verify_ses_signature(b"\x30\x80" + ber_to_sign + value + b"\x00\x00", data=DATA)
    assert result.valid and result.version == 1 and result.to_sign_der == ber_to_sign
