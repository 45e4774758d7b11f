"""Seal data whose dates another encoder wrote in the other ASN.1 time type: a v4 seal with
UTCTime dates, a v1 seal with GeneralizedTime ones.  Both are times with a zone; eseal reads
them (a named leniency, ``seals.esl_asn1.SealTime``) and checks the maker's signature over
the bytes as carried, then verifies a signature made with such a seal."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from asn1crypto import core
from asn1crypto import x509 as asn1_x509
from ses_pki import SesWorld, make_world

from keystore import sm2
from ofds import SesSealer
from seals.esl import check_maker_signature, der_sequence, parse_seseal
from seals.esl_asn1 import SealTime, SESealV1Read, SESealV4Read
from signer.ses import verify_ses_signature
from signer.ses.asn1 import SesSignatureRead

DATES = ("create_date", "valid_start", "valid_end")


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> SesWorld:
    return make_world(Path(tmp_path_factory.mktemp("esl-times")))


def _retimed(info: core.Sequence, alternative: str) -> bytes:
    prop = info["property"]
    for name in DATES:
        prop[name] = SealTime(name=alternative, value=prop[name].native)
    return bytes(info.dump(force=True))


def v4_with_utc_times(world: SesWorld, seal: bytes) -> bytes:
    info = _retimed(SESealV4Read.load(seal)["e_seal_info"], "utc_time")
    maker = world.maker
    return der_sequence(
        info,
        core.OctetString(maker.certificate.dump()).dump(),
        core.ObjectIdentifier(sm2.OID_SM2_WITH_SM3).dump(),
        core.OctetBitString(maker.signer.sign(info)).dump(),
    )


def v1_with_generalized_times(world: SesWorld, seal: bytes) -> bytes:
    loaded = SESealV1Read.load(seal)
    info = _retimed(loaded["eseal_info"], "generalized_time")
    maker = world.maker
    cert = core.OctetString(maker.certificate.dump()).dump()
    algorithm = core.ObjectIdentifier(sm2.OID_SM2_WITH_SM3).dump()
    value = maker.signer.sign(der_sequence(info, cert, algorithm))
    return der_sequence(info, der_sequence(cert, algorithm, core.OctetBitString(value).dump()))


def test_a_v4_seal_with_utc_times_is_read_and_its_maker_signature_holds(
    world: SesWorld,
) -> None:
    base = SesSealer.make(world)
    seal = v4_with_utc_times(world, base.seal_esl)
    assert b"\x17\x0d" in seal and b"\x18\x0f" not in seal  # UTCTime, no GeneralizedTime
    parsed = parse_seseal(seal)
    original = parse_seseal(base.seal_esl)
    assert parsed.version == 4
    # UTCTime has whole seconds, as the seal maker's dates do
    assert parsed.valid_start == original.valid_start and parsed.valid_end == original.valid_end
    assert check_maker_signature(parsed)

    sealer = SesSealer(base.key, base.certificate, seal)
    signed = sealer.sign(b"contract")
    result = verify_ses_signature(signed, data=b"contract")
    assert result.valid, [c.message for c in result.checks if not c.ok]


def test_a_v1_seal_with_generalized_times_is_read(world: SesWorld) -> None:
    base = SesSealer.make(world)
    certificate = base.certificate
    v1 = world.make_v1_seal(asn1_x509.Certificate.load(certificate))
    seal = v1_with_generalized_times(world, v1)
    parsed = parse_seseal(seal)
    assert parsed.version == 1
    assert parsed.valid_end > datetime.now(UTC)
    assert check_maker_signature(parsed)


def test_a_v4_signature_with_a_utc_time_info_verifies(world: SesWorld) -> None:
    """``timeInfo`` written as UTCTime: read as the same instant; the signature over
    ``toSign`` as carried holds."""
    sealer = SesSealer.make(world)
    original = SesSignatureRead.load(sealer.sign(b"contract"))
    to_sign = original["to_sign"]
    when = to_sign["time_info"].native
    to_sign["time_info"] = SealTime(name="utc_time", value=when)
    to_sign_der = bytes(to_sign.dump(force=True))
    signed = der_sequence(
        to_sign_der,
        core.OctetString(sealer.certificate).dump(),
        core.ObjectIdentifier(sm2.OID_SM2_WITH_SM3).dump(),
        core.OctetBitString(sealer.key.sign(to_sign_der)).dump(),
    )
    result = verify_ses_signature(signed, data=b"contract")
    assert result.valid, [c.message for c in result.checks if not c.ok]
    assert result.signing_time == when
