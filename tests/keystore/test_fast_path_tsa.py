"""The built-in TSA's tokens, joined from cached encodings, are the bytes asn1crypto would write.

The reference below is the token as the TSA built it before its encodings were cached: every
value an asn1crypto object, the whole response dumped at once.  With an RSA key (PKCS#1 v1.5
signatures are deterministic), a fixed clock and fixed serials, the two must be identical byte
for byte; with ECDSA, identical but for the signature value, which must verify.  The
in-process timestamper's direct path must give the token the request/response round trip
gives for the same nonce.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from asn1crypto import algos, cms, tsp
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from pyhanko.sign.general import as_signing_certificate_v2, simple_cms_attribute
from pyhanko.sign.validation.generic_cms import validate_tst_signed_data
from pyhanko.sign.validation.status import TimestampSignatureStatus
from pyhanko_certvalidator import ValidationContext

from keystore import der
from keystore.signers import LoadedKeySigner
from keystore.tsa import TimeStampAuthority, _cms_time

PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey
FIXED = datetime(2026, 11, 22, 8, 30, 15, tzinfo=UTC)


def _name(cn: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "CN"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "eseal test"),
            x509.NameAttribute(NameOID.COMMON_NAME, cn),
        ]
    )


def _cert(
    cn: str, key: PrivateKey, issuer: tuple[x509.Certificate, PrivateKey] | None, *, tsa: bool
) -> x509.Certificate:
    now = datetime.now(UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(cn))
        .issuer_name(issuer[0].subject if issuer else _name(cn))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=not tsa, path_length=None), critical=True)
    )
    if tsa:
        builder = builder.add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.TIME_STAMPING]), critical=True
        )
    return builder.sign(issuer[1] if issuer else key, hashes.SHA256())


def _asn1(cert: x509.Certificate) -> asn1_x509.Certificate:
    return asn1_x509.Certificate.load(cert.public_bytes(serialization.Encoding.DER))


class Tsa:
    def __init__(self, kind: str) -> None:
        root_key = ec.generate_private_key(ec.SECP256R1())
        self.root = _cert("root", root_key, None, tsa=False)
        self.key: PrivateKey = (
            rsa.generate_private_key(public_exponent=65537, key_size=2048)
            if kind == "rsa"
            else ec.generate_private_key(ec.SECP256R1())
        )
        self.cert = _cert(f"TSA {kind}", self.key, (self.root, root_key), tsa=True)
        self.kind = kind

    def authority(self, **kwargs: object) -> TimeStampAuthority:
        serials = iter(range(1000, 10**6))
        chain = [_asn1(self.root)]
        return TimeStampAuthority(
            LoadedKeySigner(self.key, _asn1(self.cert), chain),
            _asn1(self.cert),
            chain,
            clock=kwargs.pop("clock", lambda: FIXED),  # type: ignore[arg-type]
            serial_source=lambda: next(serials),
            **kwargs,  # type: ignore[arg-type]
        )


@pytest.fixture(scope="module", params=["rsa", "ec"])
def tsa(request: pytest.FixtureRequest) -> Iterator[Tsa]:
    yield Tsa(request.param)


async def _reference(authority: TimeStampAuthority, request: bytes, serial: int) -> bytes:
    """The response as the TSA built it before: asn1crypto objects, dumped at once."""
    req = tsp.TimeStampReq.load(request)
    gen_time = authority._now()
    fields: dict[str, object] = {
        "version": "v1",
        "policy": authority.policy,
        "message_imprint": req["message_imprint"],
        "serial_number": serial,
        "gen_time": gen_time,
    }
    if authority._accuracy is not None:
        fields["accuracy"] = authority._accuracy
    if req["nonce"].native is not None:
        fields["nonce"] = req["nonce"].native
    fields["tsa"] = asn1_x509.GeneralName(
        name="directory_name", value=authority.certificate.subject
    )
    tst_info_der = tsp.TSTInfo(fields).dump()
    scv2 = tsp.SigningCertificateV2.load(
        as_signing_certificate_v2(authority.certificate, "sha256").dump()
    )
    signed_attrs = cms.CMSAttributes(
        [
            simple_cms_attribute("content_type", "tst_info"),
            simple_cms_attribute("signing_time", _cms_time(gen_time.replace(microsecond=0))),
            simple_cms_attribute("message_digest", hashlib.sha256(tst_info_der).digest()),
            simple_cms_attribute("signing_certificate_v2", scv2),
        ]
    )
    signature = await authority.signer.async_sign_raw(signed_attrs.dump(), "sha256")
    signer_info = authority.signer.signer_info("sha256", signed_attrs, signature)
    signed_data: dict[str, object] = {
        "version": "v3",
        "digest_algorithms": cms.DigestAlgorithms([algos.DigestAlgorithm({"algorithm": "sha256"})]),
        "encap_content_info": cms.EncapsulatedContentInfo(
            {
                "content_type": cms.ContentType("tst_info"),
                "content": cms.ParsableOctetString(tst_info_der),
            }
        ),
        "signer_infos": cms.SignerInfos([signer_info]),
    }
    if req["cert_req"].native:
        signed_data["certificates"] = cms.CertificateSet(
            [
                cms.CertificateChoices(name="certificate", value=c)
                for c in [authority.certificate, *authority.chain]
            ]
        )
    token = cms.ContentInfo({"content_type": "signed_data", "content": cms.SignedData(signed_data)})
    return tsp.TimeStampResp({"status": {"status": "granted"}, "time_stamp_token": token}).dump()


def _request(algorithm: str, *, nonce: int | None, cert_req: bool) -> bytes:
    fields: dict[str, object] = {
        "version": "v1",
        "message_imprint": {
            "hash_algorithm": {"algorithm": algorithm},
            "hashed_message": hashlib.new(algorithm, b"document").digest(),
        },
        "cert_req": cert_req,
    }
    if nonce is not None:
        fields["nonce"] = nonce
    return tsp.TimeStampReq(fields).dump()


def _parts(token: cms.ContentInfo) -> list[bytes]:
    """Every element of a token as encoded, but the signature value (ECDSA signatures vary
    in length, and so do the lengths of what holds them)."""
    signed_data = token["content"]
    info = signed_data["signer_infos"][0]
    parts = [token["content_type"].dump()]
    parts += [signed_data[k].dump() for k in signed_data if k != "signer_infos"]
    parts += [info[k].dump() for k in info if k != "signature"]
    return parts


def _response_parts(response: bytes) -> list[bytes]:
    resp = tsp.TimeStampResp.load(response)
    return [resp["status"].dump(), *_parts(resp["time_stamp_token"])]


def _verify(tsa: Tsa, response: bytes) -> None:
    info = tsp.TimeStampResp.load(response)["time_stamp_token"]["content"]["signer_infos"][0]
    # what is signed is the attributes' SET OF, not their [0] IMPLICIT form
    data, signature = b"\x31" + info["signed_attrs"].dump()[1:], info["signature"].native
    if isinstance(tsa.key, rsa.RSAPrivateKey):
        tsa.key.public_key().verify(signature, data, padding.PKCS1v15(), hashes.SHA256())
    else:
        tsa.key.public_key().verify(signature, data, ec.ECDSA(hashes.SHA256()))


@pytest.mark.parametrize("algorithm", ["sha256", "sha384", "sha512", "sha3_256"])
@pytest.mark.parametrize(
    ("nonce", "cert_req"),
    [(0x0123_4567_89AB_CDEF, True), (None, True), (-5, False), (2**64 + 1, False)],
)
@pytest.mark.parametrize(
    "accuracy", [timedelta(seconds=1), timedelta(milliseconds=250), None], ids=str
)
async def test_responses_are_the_bytes_asn1crypto_wrote(
    tsa: Tsa, algorithm: str, nonce: int | None, cert_req: bool, accuracy: timedelta | None
) -> None:
    clock_time = FIXED.replace(microsecond=123_456)
    authority = tsa.authority(accuracy=accuracy, clock=lambda: clock_time)
    request = _request(algorithm, nonce=nonce, cert_req=cert_req)
    fast = await authority.respond(request)
    reference = await _reference(authority, request, 1000)
    _verify(tsa, fast)
    if tsa.kind == "rsa":
        assert fast == reference
    else:
        assert _response_parts(fast) == _response_parts(reference)


async def test_the_direct_path_gives_the_round_trip_token(tsa: Tsa) -> None:
    digest = hashlib.sha256(b"signature value").digest()
    direct = await tsa.authority().token_for_digest(digest, "sha256", 0x0102_0304_0506_0708)
    response = await tsa.authority().respond(
        tsp.TimeStampReq(
            {
                "version": "v1",
                "message_imprint": {
                    "hash_algorithm": {"algorithm": "sha256"},
                    "hashed_message": digest,
                },
                "nonce": 0x0102_0304_0506_0708,
                "cert_req": True,
            }
        ).dump()
    )
    token = tsp.TimeStampResp.load(response)["time_stamp_token"].dump()
    if tsa.kind == "rsa":
        assert direct == token
    else:
        assert _parts(cms.ContentInfo.load(direct)) == _parts(cms.ContentInfo.load(token))


async def test_the_in_process_timestamper_token_validates(tsa: Tsa) -> None:
    authority = tsa.authority(clock=lambda: datetime.now(UTC))
    digest = hashlib.sha256(b"signature value").digest()
    token = await authority.timestamper().async_timestamp(digest, "sha256")
    tst_info = token["content"]["encap_content_info"]["content"].parsed
    assert tst_info["message_imprint"]["hashed_message"].native == digest
    assert tst_info["nonce"].native > 0
    context = ValidationContext(trust_roots=[_asn1(tsa.root)], allow_fetching=False)
    kwargs = await validate_tst_signed_data(token["content"], context, lambda _: digest)
    status = TimestampSignatureStatus(**kwargs)
    assert status.intact and status.valid and status.trusted


async def test_the_direct_path_refuses_what_respond_refuses(tsa: Tsa) -> None:
    authority = tsa.authority()
    assert not authority.issues_directly("sha1")
    assert not authority.issues_directly("md5")
    with pytest.raises(ValueError):
        await authority.token_for_digest(b"\x00" * 20, "sha256", None)
    with pytest.raises(ValueError):
        await authority.token_for_digest(b"\x00" * 20, "sha1", None)


def test_der_helpers_match_asn1crypto() -> None:
    from asn1crypto import core

    for value in (0, 1, 127, 128, 255, 256, -1, -128, -129, 2**64, -(2**64), 2**127 + 5):
        assert der.integer(value) == core.Integer(value).dump()
    for size in (0, 1, 127, 128, 255, 256, 65535, 65536):
        blob = b"\x07" * size
        assert der.octet_string(blob) == core.OctetString(blob).dump()
    items = [core.Integer(v).dump() for v in (300, 2, 70000, 1)]
    assert der.set_of(*items) == core.SetOf(
        [core.Integer(v) for v in (300, 2, 70000, 1)], spec=core.Integer
    ).dump(force=True)


async def test_the_gen_time_read_from_the_token_is_asn1cryptos(tsa: Tsa) -> None:
    """Sealing records the signature timestamp's genTime (the archive's timestamp time) read
    straight from the token's bytes: the time asn1crypto parses, with and without a nonce and
    an accuracy, with microseconds; a token of another shape is parsed by asn1crypto."""
    from keystore.tsa import token_gen_time

    digest = hashlib.sha256(b"signature value").digest()
    times = [
        FIXED,
        FIXED.replace(microsecond=123456),
        datetime(2049, 12, 31, 23, 59, 59, tzinfo=UTC),
    ]
    for when in times:
        for accuracy in (None, timedelta(seconds=1), timedelta(milliseconds=1)):
            authority = tsa.authority(clock=lambda when=when: when, accuracy=accuracy)
            for nonce in (None, 0x0102_0304):
                token = cms.ContentInfo.load(
                    await authority.token_for_digest(digest, "sha256", nonce)
                )
                parsed = token["content"]["encap_content_info"]["content"].parsed
                assert token_gen_time(token) == parsed["gen_time"].native
    # indefinite lengths inside (BER, as some TSAs write): not read by hand, asn1crypto's answer
    data = await tsa.authority().token_for_digest(digest, "sha256", None)
    _, start, end = der.element(data)
    (_, oid_start, oid_end), (_, content_start, content_end) = der.children(data, start, end)
    oid = der.tlv(0x06, data[oid_start:oid_end])
    ber = b"\xa0\x80" + data[content_start:content_end] + b"\x00\x00"
    token = cms.ContentInfo.load(der.sequence(oid, ber))
    assert b"\xa0\x80" in token.dump()
    assert token_gen_time(token) == FIXED
