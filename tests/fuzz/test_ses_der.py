"""Properties of the national seal and signature DER (SESeal, SES_Signature), with hypothesis.

* whatever fields a seal is made with, it reads back the same, and its maker signature holds;
* whatever bytes are cut off, changed or added, reading a seal raises only
  ``invalid_seal_data`` or ``unsupported_seal_version``, and verifying a signature raises only
  ``invalid_ses_signature`` or ``unsupported_seal_version``; nothing else escapes;
* a changed seal never passes as the maker's, and a changed signature is never valid unless
  what was signed is unchanged (a flip inside a certificate's unsigned part, say).

Derandomised (the same cases every run) and without a database, as the other fuzz tests.
Keys, certificates and the TSA are the real SM2 PKI's (``ses_pki``), made once per module.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from ses_pki import SesWorld, make_world, now, png

from keystore import sm2
from keystore.errors import EsealError
from seals.errors import DomainError
from seals.esl import check_maker_signature, make_seseal, parse_seseal
from signer.ses import make_ses_signature, verify_ses_signature

DATA = b"protected bytes"
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
    seal_v4: bytes
    seal_v5: bytes
    signature_v4: bytes
    signature_v5: bytes


@pytest.fixture(scope="module")
def samples(tmp_path_factory: pytest.TempPathFactory) -> Samples:
    world = make_world(tmp_path_factory.mktemp("ses-der"))
    key = sm2.Sm2PrivateKey.generate()
    cert = world.seal_certificate(key)
    seal_v4 = world.make_seal(cert)
    seal_v5 = world.make_seal(cert, version=5, timestamp=world.sm2_timestamper())

    def signature(seal: bytes) -> bytes:
        return make_ses_signature(
            seal_der=seal,
            data_hash=sm2.sm3(DATA),
            property_info="/Doc_0/Signs/Sign_0/Signature.xml",
            signer_certificate=cert.dump(),
            sign=key.sign,
            time=now(),
            timestamp=world.sm2_timestamper(),
        )

    return Samples(
        world, key, cert.dump(), seal_v4, seal_v5, signature(seal_v4), signature(seal_v5)
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
@given(which=st.sampled_from(["seal_v4", "seal_v5"]), data=st.data())
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
@given(which=st.sampled_from(["signature_v4", "signature_v5"]), data=st.data())
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
    for seal in (samples.seal_v4, samples.seal_v5):
        with pytest.raises(DomainError) as raised:
            parse_seseal(seal + extra)
        assert raised.value.code == "invalid_seal_data"
    for signature in (samples.signature_v4, samples.signature_v5):
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
