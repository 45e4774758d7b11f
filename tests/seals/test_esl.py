"""The national seal data (SESeal, GB/T 38540-2020 v4 and GM/T 0031-2025 v5; v1 read).

Made with the real SM2 PKI's seal maker, read back, refused when broken; OpenSSL checks the
maker's signature over DER(eSealInfo) with the default user id.
"""

from __future__ import annotations

import subprocess
from datetime import timedelta
from pathlib import Path

import pytest
from asn1crypto import cms, core, tsp
from asn1crypto import x509 as asn1_x509
from ses_pki import DISTID, SesWorld, make_world, now, png

from helpers import require_tool
from keystore import sm2
from seals.errors import DomainError, ErrorKind, InvalidSealData, UnsupportedSealVersion
from seals.esl import (
    SEAL_TYPES,
    ParsedSeal,
    check_maker_signature,
    make_seseal,
    parse_seseal,
)
from seals.esl_asn1 import AnySequence, SESealV1, SESealV4, SESealV5, SesSealInfoV1
from seals.kinds import SealKind


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> SesWorld:
    return make_world(tmp_path_factory.mktemp("ses-world"))


@pytest.fixture(scope="module")
def signer_certs(world: SesWorld) -> list[asn1_x509.Certificate]:
    return [world.seal_certificate(sm2.Sm2PrivateKey.generate()) for _ in range(2)]


def _openssl(*args: str | Path) -> subprocess.CompletedProcess[str]:
    require_tool("openssl")
    return subprocess.run(["openssl", *map(str, args)], capture_output=True, text=True, check=False)


def _openssl_verifies(tmp_path: Path, cert: bytes, message: bytes, signature: bytes) -> bool:
    spki = asn1_x509.Certificate.load(cert).public_key.dump()
    (tmp_path / "pub.der").write_bytes(spki)
    (tmp_path / "msg.bin").write_bytes(message)
    (tmp_path / "msg.sig").write_bytes(signature)
    done = _openssl(
        "pkeyutl",
        "-verify",
        "-pubin",
        "-keyform",
        "DER",
        "-inkey",
        tmp_path / "pub.der",
        "-rawin",
        "-digest",
        "sm3",
        "-in",
        tmp_path / "msg.bin",
        "-sigfile",
        tmp_path / "msg.sig",
        "-pkeyopt",
        DISTID,
    )
    return "Signature Verified Successfully" in done.stdout


def test_seal_type_numbers_are_published_per_kind() -> None:
    assert {kind.value: number for kind, number in SEAL_TYPES.items()} == {
        "official": 1,
        "contract": 2,
        "finance": 3,
        "invoice": 4,
        "legal_rep": 5,
    }
    assert set(SEAL_TYPES) == set(SealKind)


def test_a_v4_seal_reads_back_field_by_field(
    world: SesWorld, signer_certs: list[asn1_x509.Certificate], tmp_path: Path
) -> None:
    start = now()
    image = png(24)
    maker = world.maker
    der = make_seseal(
        es_id="91350100M000100Y43-finance-3",
        seal_type=SEAL_TYPES[SealKind.FINANCE],
        name="财务专用章",
        certificates=[c.dump() for c in signer_certs],
        created=start.replace(microsecond=123456),
        valid_start=start,
        valid_end=start + timedelta(days=365),
        image_png=image,
        width_mm=38,
        height_mm=38,
        maker_certificate=maker.certificate.dump(),
        maker_sign=maker.signer.sign,
    )
    seal = parse_seseal(der)
    assert isinstance(seal, ParsedSeal)
    assert (seal.version, seal.vid, seal.es_id) == (4, "eseal", "91350100M000100Y43-finance-3")
    assert (seal.seal_type, seal.name, seal.cert_list_type) == (3, "财务专用章", 1)
    assert seal.certificates == tuple(c.dump() for c in signer_certs)
    assert seal.cert_digests == ()
    # whole seconds, UTC
    assert (seal.created, seal.valid_start) == (start, start)
    assert seal.valid_end == start + timedelta(days=365)
    assert seal.created.utcoffset() == timedelta(0)
    assert (seal.picture_type, seal.picture_data) == ("png", image)
    assert (seal.width_mm, seal.height_mm) == (38, 38)
    assert seal.extensions == ()
    assert seal.maker_certificate == maker.certificate.dump()
    assert seal.signature_algorithm == sm2.OID_SM2_WITH_SM3
    assert seal.timestamp is None
    assert seal.der == der and seal.signed_der == seal.seal_info_der
    # the exact eSealInfo of the seal, and the maker's signature over it
    assert seal.seal_info_der == SESealV4.load(der)["e_seal_info"].dump()
    assert check_maker_signature(seal)
    assert _openssl_verifies(tmp_path, seal.maker_certificate, seal.signed_der, seal.signature)
    # the BIT STRING holds a DER (r, s) with no unused bits
    sm2.parse_signature(seal.signature)
    assert SESealV4.load(der)["signed_value"].unused_bits == ()


def test_openssl_refuses_the_maker_signature_over_changed_seal_info(
    world: SesWorld, signer_certs: list[asn1_x509.Certificate], tmp_path: Path
) -> None:
    seal = parse_seseal(world.make_seal(signer_certs[0]))
    changed = seal.signed_der.replace("合同专用章".encode(), "财务专用章".encode())
    assert changed != seal.signed_der
    assert not _openssl_verifies(tmp_path, seal.maker_certificate, changed, seal.signature)


def test_a_changed_seal_fails_the_maker_signature(
    world: SesWorld, signer_certs: list[asn1_x509.Certificate]
) -> None:
    der = world.make_seal(signer_certs[0])
    # the name changed, all else intact: still a well-formed seal, no longer the maker's
    tampered = der.replace("合同专用章".encode(), "财务专用章".encode())
    seal = parse_seseal(tampered)
    assert seal.name == "财务专用章"
    assert not check_maker_signature(seal)
    # another certificate in place of the maker's
    other = SESealV4.load(der).copy()
    other["cert"] = signer_certs[1].dump()
    assert not check_maker_signature(parse_seseal(other.dump(force=True)))


def test_a_v5_seal_carries_a_timestamp_over_its_signature_value(
    world: SesWorld, signer_certs: list[asn1_x509.Certificate], tmp_path: Path
) -> None:
    der = world.make_seal(signer_certs[0], version=5, timestamp=world.sm2_timestamper())
    seal = parse_seseal(der)
    assert seal.version == 5 and check_maker_signature(seal)
    assert _openssl_verifies(tmp_path, seal.maker_certificate, seal.signed_der, seal.signature)
    assert seal.timestamp is not None
    token = cms.ContentInfo.load(seal.timestamp)
    tst_info = token["content"]["encap_content_info"]["content"].parsed
    assert isinstance(tst_info, tsp.TSTInfo)
    imprint = tst_info["message_imprint"]
    # the imprint is SM3 of the signature value: the DER (r, s), not the BIT STRING
    assert imprint["hash_algorithm"]["algorithm"].native == "sm3"
    assert imprint["hashed_message"].native == sm2.sm3(seal.signature)
    # timeStamp [0] EXPLICIT BIT STRING (no unused bits) holding the token, after the value
    tagged = core.OctetBitString(seal.timestamp, explicit=0).dump()
    assert tagged[0] == 0xA0 and der.endswith(tagged)


def test_a_v5_seal_without_timestamp(
    world: SesWorld, signer_certs: list[asn1_x509.Certificate]
) -> None:
    der = world.make_seal(signer_certs[0], version=5)
    seal = parse_seseal(der)
    assert (seal.version, seal.timestamp) == (5, None) and check_maker_signature(seal)
    # the same layout as v4 except the names: only the header says which it is
    assert len(SESealV5.load(der).native) == 5 and SESealV5.load(der)["time_stamp"].native is None


def test_a_v4_seal_takes_no_timestamp_and_versions_are_4_or_5(
    world: SesWorld, signer_certs: list[asn1_x509.Certificate]
) -> None:
    with pytest.raises(ValueError, match="version 5"):
        world.make_seal(signer_certs[0], timestamp=world.sm2_timestamper())
    for version in (1, 3, 6):
        with pytest.raises(ValueError, match="version 4 or 5"):
            world.make_seal(signer_certs[0], version=version)


def test_making_refuses_what_cannot_be_a_seal(
    world: SesWorld, signer_certs: list[asn1_x509.Certificate]
) -> None:
    cert = signer_certs[0]
    start = now()
    for changes, message in (
        ({"image_png": b"GIF89a..."}, "PNG"),
        ({"valid_end": start - timedelta(days=1), "valid_start": start}, "after valid_start"),
        ({"certificates": []}, "at least one"),
        ({"certificates": [b"not a certificate"]}, "not a DER X.509"),
        ({"es_id": "合同-1"}, "ASCII"),
        ({"width_mm": 0}, "positive"),
        ({"created": start.replace(tzinfo=None)}, "aware"),
        # the maker signs with another key than its certificate's
        ({"maker_sign": sm2.Sm2PrivateKey.generate().sign}, "does not verify"),
    ):
        with pytest.raises(ValueError, match=message):
            world.make_seal(cert, **changes)


# -- refusing bytes that are not a seal ------------------------------------------------------


def _code(der: bytes) -> str:
    with pytest.raises(DomainError) as raised:
        parse_seseal(der)
    assert raised.value.kind is ErrorKind.INVALID
    return raised.value.code


def test_truncated_over_long_and_garbage_bytes_are_invalid_seal_data(
    world: SesWorld, signer_certs: list[asn1_x509.Certificate]
) -> None:
    der = world.make_seal(signer_certs[0])
    for cut in (1, 2, 10, len(der) // 2, len(der) - 1):
        assert _code(der[:cut]) == "invalid_seal_data", cut
    for extra in (b"\x00", b"\x05\x00", der):
        assert _code(der + extra) == "invalid_seal_data"
    for garbage in (b"", b"\x00", b"%PDF-1.7", b"\x30\x00", b"\x30\x03\x02\x01\x04"):
        assert _code(garbage) == "invalid_seal_data"
    with pytest.raises(InvalidSealData, match="1 bytes of trailing data"):
        parse_seseal(der + b"\x00")
    with pytest.raises(InvalidSealData, match="Insufficient data"):
        parse_seseal(der[:-1])


def test_ber_is_not_der(world: SesWorld, signer_certs: list[asn1_x509.Certificate]) -> None:
    der = world.make_seal(signer_certs[0])
    # the same seal with a long-form length on the outer SEQUENCE (legal BER, not DER)
    assert der[1] == 0x82
    ber = b"\x30\x83\x00" + der[2:]
    with pytest.raises(InvalidSealData, match="BER or not in canonical form"):
        parse_seseal(ber)
    # indefinite length
    assert _code(b"\x30\x80" + der[4:] + b"\x00\x00") == "invalid_seal_data"
    # a BIT STRING with an unused bit in the maker's signature
    value = SESealV4.load(der)["signed_value"].contents
    assert value[0] == 0
    assert _code(der.replace(value, b"\x01" + value[1:])) == "invalid_seal_data"


def _with_header(der: bytes, ident: str, version: int) -> bytes:
    seal = SESealV4.load(der).copy()
    seal["e_seal_info"]["header"]["id"] = ident
    seal["e_seal_info"]["header"]["version"] = version
    return bytes(seal.dump(force=True))


def test_the_version_comes_from_the_header(
    world: SesWorld, signer_certs: list[asn1_x509.Certificate]
) -> None:
    der = world.make_seal(signer_certs[0])
    for version in (0, 2, 3, 6, 99):
        with pytest.raises(UnsupportedSealVersion) as raised:
            parse_seseal(_with_header(der, "ES", version))
        assert raised.value.code == "unsupported_seal_version"
        assert raised.value.version == version
        assert raised.value.to_problem()["version"] == version
    with pytest.raises(InvalidSealData, match='not "ES"'):
        parse_seseal(_with_header(der, "EX", 4))
    # four fields of v4 under a header saying 1: read as v1 (two fields), so not a seal
    assert _code(_with_header(der, "ES", 1)) == "invalid_seal_data"
    # v4's layout is v5's without a timestamp: a header saying 5 reads it as v5
    assert parse_seseal(_with_header(der, "ES", 5)).version == 5
    # a v5 seal with a timestamp under a header saying 4: a fifth field v4 does not have
    v5 = world.make_seal(signer_certs[0], version=5, timestamp=world.sm2_timestamper())
    seal = SESealV5.load(v5).copy()
    seal["e_seal_info"]["header"]["version"] = 4
    assert _code(bytes(seal.dump(force=True))) == "invalid_seal_data"


def test_a_v1_seal_is_read_and_its_maker_signature_checked(
    world: SesWorld, signer_certs: list[asn1_x509.Certificate], tmp_path: Path
) -> None:
    """GM/T 0031-2014: UTCTime dates, no certListType, the maker signing SEQUENCE {esealInfo,
    cert, signatureAlgorithm}."""
    start = now()
    maker = world.maker
    info = SesSealInfoV1(
        {
            "header": {"id": "ES", "version": 1, "vid": "vendor-1.0"},
            "es_id": "v1-seal-7",
            "property": {
                "type": 1,
                "name": "测试有限公司",
                "cert_list": [signer_certs[0].dump()],
                "create_date": start,
                "valid_start": start,
                "valid_end": start + timedelta(days=30),
            },
            "picture": {"type": "PNG", "data": png(), "width": 40, "height": 40},
        }
    )
    to_sign = AnySequence()
    for part in (
        info,
        core.OctetString(maker.certificate.dump()),
        core.ObjectIdentifier(sm2.OID_SM2_WITH_SM3),
    ):
        to_sign.append(core.Any.load(part.dump()))
    signed = bytes(to_sign.dump())
    seal_der = SESealV1(
        {
            "eseal_info": info,
            "sign_info": {
                "cert": maker.certificate.dump(),
                "signature_algorithm": sm2.OID_SM2_WITH_SM3,
                "sign_data": maker.signer.sign(signed),
            },
        }
    ).dump()
    seal = parse_seseal(seal_der)
    assert (seal.version, seal.vid, seal.es_id, seal.name) == (
        1,
        "vendor-1.0",
        "v1-seal-7",
        "测试有限公司",
    )
    assert seal.certificates == (signer_certs[0].dump(),) and seal.cert_list_type == 1
    assert (seal.created, seal.valid_end) == (start, start + timedelta(days=30))
    assert seal.signed_der == signed and seal.seal_info_der == info.dump()
    assert check_maker_signature(seal)
    assert _openssl_verifies(tmp_path, seal.maker_certificate, seal.signed_der, seal.signature)
    # signed over eSealInfo alone (the v4 rule) is not a v1 maker signature
    wrong = SESealV1.load(seal_der).copy()
    wrong["sign_info"]["sign_data"] = maker.signer.sign(info.dump())
    assert not check_maker_signature(parse_seseal(wrong.dump(force=True)))
