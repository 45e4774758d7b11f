"""The national seal data (SESeal, GB/T 38540-2020 v4 and GM/T 0031-2025 v5; v1 read).

Made with the real SM2 PKI's seal maker, read back, refused when broken; OpenSSL checks the
maker's signature over eSealInfo as carried, with the default user id.  Seals other encoders
write (Bouncy Castle's explicit ``critical FALSE``, long-form and indefinite lengths) are read
and their maker signature checked over the bytes they carry.
"""

from __future__ import annotations

import subprocess
from datetime import timedelta
from pathlib import Path

import pytest
from asn1crypto import cms, core, tsp
from asn1crypto import x509 as asn1_x509
from ses_pki import DISTID, SesWorld, make_world, now, png, reencode

from helpers import require_tool
from keystore import sm2
from seals.errors import DomainError, ErrorKind, InvalidSealData, UnsupportedSealVersion
from seals.esl import (
    SEAL_TYPES,
    ParsedSeal,
    SealExtension,
    ber_load,
    check_maker_signature,
    der_sequence,
    encoded_fields,
    make_seseal,
    parse_seseal,
    strict_load,
)
from seals.esl_asn1 import ExtensionDatas, SESealV1, SESealV4, SESealV5, SesSealInfoV4
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
    # what eseal writes is DER, canonical throughout
    strict_load(SESealV4, der)


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


def test_ber_encodings_are_read_and_checked_over_the_bytes_carried(
    world: SesWorld, signer_certs: list[asn1_x509.Certificate], tmp_path: Path
) -> None:
    der = world.make_seal(signer_certs[0])
    info = encoded_fields(der)[0]
    original = parse_seseal(der)
    # long-form (as some C encoders write) and indefinite lengths around an unchanged
    # eSealInfo: the same seal, its maker signature intact
    assert der[1] == 0x82
    for ber in (b"\x30\x83\x00" + der[2:], b"\x30\x80" + der[4:] + b"\x00\x00"):
        seal = parse_seseal(ber)
        assert seal.der == ber and seal.signed_der == info
        assert seal == ParsedSeal(**{**original.__dict__, "der": ber})
        assert check_maker_signature(seal)
    # eSealInfo itself in BER (indefinite SEQUENCEs, long-form lengths) but signed as DER:
    # the same fields, and the maker's signature does not cover these bytes
    forms = iter(["indefinite", "long1"] * 200)
    ber_info = reencode(info, lambda constructed: next(forms))
    rest = encoded_fields(der)[1:]
    seal = parse_seseal(der_sequence(ber_info, *rest))
    assert (seal.name, seal.certificates, seal.created) == (
        original.name,
        original.certificates,
        original.created,
    )
    assert seal.signed_der == ber_info != info and not check_maker_signature(seal)
    # the maker signs those very bytes (as a BER encoder's maker does): it verifies, over
    # the bytes carried and not over their DER re-encoding
    value = world.maker.signer.sign(ber_info)
    resigned = der_sequence(ber_info, rest[0], rest[1], core.OctetBitString(value).dump())
    seal = parse_seseal(resigned)
    assert seal.signed_der == ber_info and check_maker_signature(seal)
    assert _openssl_verifies(tmp_path, seal.maker_certificate, ber_info, seal.signature)
    assert not _openssl_verifies(tmp_path, seal.maker_certificate, info, seal.signature)


def test_what_is_not_the_structure_is_still_refused(
    world: SesWorld, signer_certs: list[asn1_x509.Certificate]
) -> None:
    der = world.make_seal(signer_certs[0])
    # a BIT STRING with an unused bit in the maker's signature
    value = SESealV4.load(der)["signed_value"].contents
    assert value[0] == 0
    assert _code(der.replace(value, b"\x01" + value[1:])) == "invalid_seal_data"
    # a field more than v4 has (an INTEGER after the signature)
    fields = encoded_fields(der)
    with pytest.raises(InvalidSealData, match="more than its 4 fields"):
        parse_seseal(der_sequence(*fields, b"\x02\x01\x00"))
    # a field missing
    assert _code(der_sequence(*fields[:3])) == "invalid_seal_data"
    # a wrong type: esID as a UTF8String instead of an IA5String
    info_fields = encoded_fields(fields[0])
    es_id = info_fields[1]
    assert es_id[0] == 0x16
    wrong = der_sequence(info_fields[0], b"\x0c" + es_id[1:], *info_fields[2:])
    assert _code(der_sequence(wrong, *fields[1:])) == "invalid_seal_data"
    # a time without a zone (GeneralizedTime in local time, legal BER, no instant)
    created = encoded_fields(info_fields[2])[4]
    assert created[:2] == b"\x18\x0f" and created.endswith(b"Z")
    local = b"\x18\x0e" + created[2:-1]
    prop = der_sequence(
        *encoded_fields(info_fields[2])[:4], local, *encoded_fields(info_fields[2])[5:]
    )
    no_zone = der_sequence(der_sequence(info_fields[0], es_id, prop, *info_fields[3:]), *fields[1:])
    with pytest.raises(InvalidSealData, match="createDate is not a time with a zone"):
        parse_seseal(no_zone)
    # an OBJECT IDENTIFIER padded with 0x80 (not BER)
    algorithm = fields[2]
    assert algorithm[:2] == b"\x06\x08"
    padded = b"\x06\x09" + algorithm[2:3] + b"\x80" + algorithm[3:]
    assert _code(der_sequence(fields[0], fields[1], padded, fields[3])) == "invalid_seal_data"
    # an indefinite length that never ends, and one on a primitive value
    assert _code(b"\x30\x80" + der[4:]) == "invalid_seal_data"
    primitive = b"\x04\x80" + fields[1][4:] + b"\x00\x00"
    assert _code(der_sequence(fields[0], primitive, *fields[2:])) == "invalid_seal_data"


def test_an_ext_data_with_critical_false_written_out_is_read_and_verified(
    world: SesWorld, signer_certs: list[asn1_x509.Certificate], tmp_path: Path
) -> None:
    """Bouncy Castle's DERSequence (ofdrw) writes ExtData's DEFAULT ``critical FALSE``; the
    maker signs eSealInfo so encoded, and the signature holds over exactly those bytes."""
    oid = core.ObjectIdentifier("1.2.156.112578.1.1").dump()
    ext_data = der_sequence(oid, b"\x01\x01\x00", core.OctetString(b"ofdrw").dump())
    base = encoded_fields(world.make_seal(signer_certs[0]))[0]
    info = der_sequence(*encoded_fields(base), der_sequence(ext_data))
    assert b"\x01\x01\x00" in info
    maker = world.maker
    der = der_sequence(
        info,
        core.OctetString(maker.certificate.dump()).dump(),
        core.ObjectIdentifier(sm2.OID_SM2_WITH_SM3).dump(),
        core.OctetBitString(maker.signer.sign(info)).dump(),
    )
    seal = parse_seseal(der)
    assert seal.extensions == (SealExtension("1.2.156.112578.1.1", False, b"ofdrw"),)
    assert seal.signed_der == info and check_maker_signature(seal)
    assert _openssl_verifies(tmp_path, seal.maker_certificate, seal.signed_der, seal.signature)
    # DER would leave the DEFAULT out: a re-encoding is not what the maker signed
    canonical = SesSealInfoV4.load(info).dump(force=True)
    assert canonical != info and b"\x01\x01\x00" not in canonical
    assert not _openssl_verifies(tmp_path, seal.maker_certificate, canonical, seal.signature)
    # critical TRUE is read as such, in BER any non-zero octet
    flagged = der_sequence(oid, b"\x01\x01\x01", core.OctetString(b"x").dump())
    assert ber_load(ExtensionDatas, der_sequence(flagged))[0]["critical"].native is True


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
    seal_der = world.make_v1_seal(signer_certs[0])
    seal = parse_seseal(seal_der)
    assert (seal.version, seal.vid, seal.name) == (1, "vendor-1.0", "测试有限公司")
    assert seal.certificates == (signer_certs[0].dump(),) and seal.cert_list_type == 1
    assert seal.valid_end - seal.created == timedelta(days=30)
    info, sign_info = encoded_fields(seal_der)
    assert SESealV1.load(seal_der)["eseal_info"]["header"]["version"].native == 1
    assert seal.seal_info_der == info
    assert seal.signed_der == der_sequence(info, *encoded_fields(sign_info)[:2])
    assert check_maker_signature(seal)
    assert _openssl_verifies(tmp_path, seal.maker_certificate, seal.signed_der, seal.signature)
    # signed over eSealInfo alone (the v4 rule) is not a v1 maker signature
    wrong = SESealV1.load(seal_der).copy()
    wrong["sign_info"]["sign_data"] = world.maker.signer.sign(info)
    assert not check_maker_signature(parse_seseal(wrong.dump(force=True)))
    # in BER, the maker signing the three fields as carried (a DER SEQUENCE around them)
    forms = iter(["indefinite", "long0"] * 400)
    ber_info = reencode(info, lambda constructed: next(forms))
    cert, algorithm, _ = encoded_fields(sign_info)
    value = world.maker.signer.sign(der_sequence(ber_info, cert, algorithm))
    ber = (
        b"\x30\x80"
        + ber_info
        + der_sequence(cert, algorithm, core.OctetBitString(value).dump())
        + b"\x00\x00"
    )
    seal = parse_seseal(ber)
    assert seal.version == 1 and seal.seal_info_der == ber_info
    assert check_maker_signature(seal)
