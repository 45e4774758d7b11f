"""Properties of the national seal and signature encodings (SESeal, SES_Signature v1, v4, v5),
with hypothesis.

* whatever fields a seal is made with, it reads back the same, and its maker signature holds;
* whatever bytes are cut off, changed or added, reading a seal raises only
  ``invalid_seal_data`` or ``unsupported_seal_version``, and verifying a signature raises only
  ``invalid_ses_signature`` or ``unsupported_seal_version``; nothing else escapes;
* a changed seal never passes as the maker's, and a changed signature is never valid unless
  what was signed is unchanged (a flip inside a certificate's unsigned part, say);
* any BER encoding of a seal or signature (long-form, non-minimal or indefinite lengths, as
  other encoders write) reads as the same fields; its signatures are checked over the bytes
  it carries, so they hold when made over those bytes and fail when those bytes are not what
  was signed; cut short or followed by anything, it is still refused.

Derandomised (the same cases every run) and without a database, as the other fuzz tests.
Keys, certificates and the TSA are the real SM2 PKI's (``ses_pki``), made once per module.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta, timezone

import pytest
from asn1crypto import core
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from ses_pki import LENGTH_FORMS, SesWorld, make_v1_signature, make_world, now, png, reencode

from keystore import sm2
from keystore.errors import EsealError
from seals.errors import DomainError
from seals.esl import (
    ParsedSeal,
    check_maker_signature,
    der_sequence,
    encoded_fields,
    make_seseal,
    parse_seseal,
)
from signer.ses import make_ses_signature, verify_ses_signature

DATA = b"protected bytes"
PROPERTY = "/Doc_0/Signs/Sign_0/Signature.xml"
SEAL_CODES = {"invalid_seal_data", "unsupported_seal_version"}
SIGNATURE_CODES = {"invalid_ses_signature", "unsupported_seal_version"}

FUZZ = settings(
    max_examples=80,
    deadline=None,
    database=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)


@dataclass(frozen=True)
class Samples:
    world: SesWorld
    signer_key: sm2.Sm2PrivateKey
    signer_cert: bytes
    seal_v1: bytes
    seal_v4: bytes
    seal_v5: bytes
    signature_v1: bytes
    signature_v4: bytes
    signature_v5: bytes
    #: a v4 signature without a timestamp, to be signed again over other encodings
    signature_v4_plain: bytes

    def __repr__(self) -> str:  # hypothesis prints it with a failing example
        return "Samples(...)"


@pytest.fixture(scope="module")
def samples(tmp_path_factory: pytest.TempPathFactory) -> Samples:
    world = make_world(tmp_path_factory.mktemp("ses-der"))
    key = sm2.Sm2PrivateKey.generate()
    cert = world.seal_certificate(key)
    seal_v4 = world.make_seal(cert)
    seal_v5 = world.make_seal(cert, version=5, timestamp=world.sm2_timestamper())
    seal_v1 = world.make_v1_seal(cert)

    def signature(seal: bytes, *, stamped: bool = True) -> bytes:
        return make_ses_signature(
            seal_der=seal,
            data_hash=sm2.sm3(DATA),
            property_info=PROPERTY,
            signer_certificate=cert.dump(),
            sign=key.sign,
            time=now(),
            timestamp=world.sm2_timestamper() if stamped else None,
        )

    signature_v1 = make_v1_signature(
        seal_v1,
        signer_certificate=cert.dump(),
        sign=key.sign,
        time_info=now().strftime("%Y%m%d%H%M%SZ").encode(),
        data_hash=sm2.sm3(DATA),
        property_info=PROPERTY,
    )
    return Samples(
        world,
        key,
        cert.dump(),
        seal_v1,
        seal_v4,
        seal_v5,
        signature_v1,
        signature(seal_v4),
        signature(seal_v5),
        signature(seal_v4, stamped=False),
    )


def _mutate(der: bytes, data: st.DataObject) -> bytes:
    which = data.draw(st.sampled_from(["flip", "insert", "delete", "truncate", "append"]))
    if which == "append":
        return der + data.draw(st.binary(min_size=1, max_size=16))
    at = data.draw(st.integers(0, len(der) - 1))
    if which == "flip":
        value = data.draw(st.integers(0, 255).filter(lambda b: b != der[at]))
        return der[:at] + bytes([value]) + der[at + 1 :]
    if which == "insert":
        return der[:at] + data.draw(st.binary(min_size=1, max_size=8)) + der[at:]
    if which == "delete":
        return der[:at] + der[at + data.draw(st.integers(1, 8)) :]
    return der[:at]


# -- making and reading back ---------------------------------------------------------------

_zones = st.builds(
    timezone, st.integers(-23 * 60 - 59, 23 * 60 + 59).map(lambda m: timedelta(minutes=m))
)
_times = st.datetimes(
    min_value=datetime(1000, 1, 1), max_value=datetime(9990, 12, 31), timezones=_zones
)


@FUZZ
@given(
    version=st.sampled_from([4, 5]),
    es_id=st.text(st.characters(max_codepoint=127), min_size=1, max_size=64),
    vid=st.text(st.characters(max_codepoint=127), min_size=1, max_size=16),
    name=st.text(min_size=1, max_size=40),
    seal_type=st.integers(0, 2**63),
    size=st.tuples(st.integers(1, 10_000), st.integers(1, 10_000)),
    created=_times,
    start=_times,
    length=st.timedeltas(min_value=timedelta(seconds=1), max_value=timedelta(days=3650)),
    tail=st.binary(max_size=64),
)
def test_any_seal_reads_back_what_it_was_made_with(
    samples: Samples,
    version: int,
    es_id: str,
    vid: str,
    name: str,
    seal_type: int,
    size: tuple[int, int],
    created: datetime,
    start: datetime,
    length: timedelta,
    tail: bytes,
) -> None:
    maker = samples.world.maker
    end = start + length
    start_s = start.astimezone(UTC).replace(microsecond=0)
    end_s = end.astimezone(UTC).replace(microsecond=0)
    if end_s <= start_s or end.astimezone(UTC).year > 9999:
        return
    image = png(4) + tail
    der = make_seseal(
        es_id=es_id,
        seal_type=seal_type,
        name=name,
        certificates=[samples.signer_cert],
        created=created,
        valid_start=start,
        valid_end=end,
        image_png=image,
        width_mm=size[0],
        height_mm=size[1],
        maker_certificate=maker.certificate.dump(),
        maker_sign=maker.signer.sign,
        version=version,
        vid=vid,
    )
    seal = parse_seseal(der)
    assert (seal.version, seal.vid, seal.es_id, seal.name) == (version, vid, es_id, name)
    assert (seal.seal_type, seal.width_mm, seal.height_mm) == (seal_type, *size)
    assert seal.created == created.astimezone(UTC).replace(microsecond=0)
    assert (seal.valid_start, seal.valid_end) == (start_s, end_s)
    assert seal.picture_data == image and seal.certificates == (samples.signer_cert,)
    assert check_maker_signature(seal) and seal.der == der


# -- bytes that are not what they were -----------------------------------------------------


@FUZZ
@given(which=st.sampled_from(["seal_v1", "seal_v4", "seal_v5"]), data=st.data())
def test_a_mutated_seal_is_refused_or_fails_its_maker_signature(
    samples: Samples, which: str, data: st.DataObject
) -> None:
    original = getattr(samples, which)
    mutated = _mutate(original, data)
    try:
        seal = parse_seseal(mutated)
    except DomainError as exc:
        assert exc.code in SEAL_CODES
        return
    if check_maker_signature(seal):
        # only bytes the maker did not sign changed (its certificate's unsigned parts...)
        assert seal.signed_der == parse_seseal(original).signed_der


@FUZZ
@given(which=st.sampled_from(["signature_v1", "signature_v4", "signature_v5"]), data=st.data())
def test_a_mutated_signature_is_refused_or_not_valid(
    samples: Samples, which: str, data: st.DataObject
) -> None:
    original = getattr(samples, which)
    mutated = _mutate(original, data)
    try:
        result = verify_ses_signature(mutated, data=DATA)
    except EsealError as exc:
        assert isinstance(exc, DomainError) and exc.code in SIGNATURE_CODES
        return
    assert [c.name for c in result.checks][:2] == ["format", "seal_maker_signature"]
    if result.valid:
        assert result.to_sign_der == verify_ses_signature(original).to_sign_der
        assert result.signature == verify_ses_signature(original).signature


@FUZZ
@given(extra=st.binary(min_size=1, max_size=32))
def test_trailing_bytes_are_refused(samples: Samples, extra: bytes) -> None:
    for seal in (samples.seal_v1, samples.seal_v4, samples.seal_v5):
        with pytest.raises(DomainError) as raised:
            parse_seseal(seal + extra)
        assert raised.value.code == "invalid_seal_data"
    for signature in (samples.signature_v1, samples.signature_v4, samples.signature_v5):
        with pytest.raises(DomainError) as raised:
            verify_ses_signature(signature + extra)
        assert raised.value.code == "invalid_ses_signature"


def test_every_truncation_is_refused(samples: Samples) -> None:
    seal = samples.seal_v5
    for cut in range(len(seal)):
        with pytest.raises(DomainError) as raised:
            parse_seseal(seal[:cut])
        assert raised.value.code == "invalid_seal_data", cut
    signature = samples.signature_v5
    for cut in range(0, len(signature), 7):
        with pytest.raises(DomainError) as raised:
            verify_ses_signature(signature[:cut])
        assert raised.value.code == "invalid_ses_signature", cut


# -- BER encodings of the same structure ---------------------------------------------------


def _forms(data: st.DataObject) -> Callable[[bool], str]:
    return lambda constructed: data.draw(st.sampled_from(LENGTH_FORMS))


def _bits(value: bytes) -> bytes:
    return bytes(core.OctetBitString(value).dump())


def _same_fields(seal: ParsedSeal, original: ParsedSeal, *, resigned: bool = False) -> bool:
    """The same seal but for the bytes it was read from (and, ``resigned``, the maker's
    signature value over them)."""
    carried = {"der": original.der, "seal_info_der": original.seal_info_der}
    if resigned:
        carried["signature"] = original.signature
    return replace(seal, **carried, signed_der=original.signed_der) == original


def _refused_cut_or_extended(ber: bytes, extra: bytes, read: Callable[[bytes], object]) -> None:
    for changed in (ber[:-1], ber[: len(ber) // 2], ber + extra):
        with pytest.raises(DomainError) as raised:
            read(changed)
        assert raised.value.code in SEAL_CODES | SIGNATURE_CODES


@FUZZ
@given(
    which=st.sampled_from(["seal_v1", "seal_v4", "seal_v5"]),
    data=st.data(),
    extra=st.binary(min_size=1, max_size=8),
)
def test_any_ber_encoding_of_a_seal_reads_the_same(
    samples: Samples, which: str, data: st.DataObject, extra: bytes
) -> None:
    der = getattr(samples, which)
    original = parse_seseal(der)
    ber = reencode(der, _forms(data))
    seal = parse_seseal(ber)
    assert _same_fields(seal, original) and seal.der == ber
    # the maker's signature is checked over eSealInfo as carried: it holds exactly when
    # those bytes are the ones the maker signed
    assert seal.seal_info_der in ber
    assert check_maker_signature(seal) == (seal.signed_der == original.signed_der)
    _refused_cut_or_extended(ber, extra, parse_seseal)


@FUZZ
@given(which=st.sampled_from(["seal_v1", "seal_v4"]), data=st.data())
def test_a_ber_seal_its_maker_signed_as_carried_verifies(
    samples: Samples, which: str, data: st.DataObject
) -> None:
    original = parse_seseal(getattr(samples, which))
    outer = encoded_fields(original.der)
    forms = _forms(data)
    info = reencode(outer[0], forms)
    sign = samples.world.maker.signer.sign
    if which == "seal_v1":
        # the maker signs SEQUENCE {esealInfo, cert, algorithm}, each as carried
        cert, algorithm = (reencode(part, forms) for part in encoded_fields(outer[1])[:2])
        value = sign(der_sequence(info, cert, algorithm))
        rest = [b"\x30\x80" + cert + algorithm + _bits(value) + b"\x00\x00"]
    else:
        rest = [reencode(field, forms) for field in (*outer[1:3], _bits(sign(info)))]
    seal = parse_seseal(b"\x30\x80" + info + b"".join(rest) + b"\x00\x00")
    assert seal.seal_info_der == info and _same_fields(seal, original, resigned=True)
    assert check_maker_signature(seal)


@FUZZ
@given(
    which=st.sampled_from(["signature_v1", "signature_v4_plain"]),
    data=st.data(),
    indefinite=st.booleans(),
    extra=st.binary(min_size=1, max_size=8),
)
def test_a_ber_signature_signed_as_carried_is_valid(
    samples: Samples, which: str, data: st.DataObject, indefinite: bool, extra: bytes
) -> None:
    der = getattr(samples, which)
    original = verify_ses_signature(der, data=DATA)
    assert original.valid
    to_sign, *rest = encoded_fields(der)
    fields = encoded_fields(to_sign)
    forms = _forms(data)
    # toSign in BER around the seal as its maker wrote it (field 1), signed as carried
    parts = [field if i == 1 else reencode(field, forms) for i, field in enumerate(fields)]
    joined = b"".join(parts)
    ber_to_sign = b"\x30\x80" + joined + b"\x00\x00" if indefinite else der_sequence(joined)
    others = b"".join(reencode(field, forms) for field in rest[:-1])  # v4: cert, algorithm
    value = _bits(samples.signer_key.sign(ber_to_sign))
    ber = b"\x30\x80" + ber_to_sign + others + value + b"\x00\x00"
    result = verify_ses_signature(ber, data=DATA)
    assert result.valid, result.checks
    assert result.to_sign_der == ber_to_sign and result.version == original.version
    assert (result.seal, result.signing_time, result.property_info) == (
        original.seal,
        original.signing_time,
        original.property_info,
    )
    # the same value carried with toSign in its DER form: not what was signed, unless equal
    swapped = b"\x30\x80" + to_sign + others + value + b"\x00\x00"
    assert verify_ses_signature(swapped, data=DATA).valid == (to_sign == ber_to_sign)
    _refused_cut_or_extended(ber, extra, verify_ses_signature)
