"""Who a certificate says it is: the USCC in DESIGN.md 1's order, and the seal kind.

Certificates are made here with ``cryptography``, shaped like those of eseal and of other
Chinese CAs (USCC in an extension, the legacy extension, OU, organizationIdentifier with
``NTRCN-``, serialNumber, or a CN ``name@uscc``).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from asn1crypto import core
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID, ObjectIdentifier

from api.container import Container
from helpers import USCC, license_data
from seals.identity import OID_USCC, OID_USCC_LEGACY, identity_of, uscc_of
from seals.kinds import SealKind
from seals.license import parse_license
from seals.uscc import check_character

_KEY = ec.generate_private_key(ec.SECP256R1())
ORG_ID = ObjectIdentifier("2.5.4.97")


def code(first17: str) -> str:
    """A valid USCC from its first 17 characters."""
    return first17 + check_character(first17)


def broken(valid: str) -> str:
    """The same code with a wrong check character."""
    return valid[:17] + ("0" if valid[17] != "0" else "1")


#: six different valid codes, one per source
EXT, LEGACY, OU, ORGID, SERIAL, CN = (code(f"9111000060003{i:03d}1") for i in range(1, 7))


def make_cert(
    subject: list[tuple[ObjectIdentifier, str]],
    extensions: dict[str, bytes] | None = None,
) -> asn1_x509.Certificate:
    """A self-signed certificate with ``subject`` and raw extension values (DER)."""
    now = datetime.now(UTC)
    name = x509.Name([x509.NameAttribute(oid, value) for oid, value in subject])
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(_KEY.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=30))
    )
    for oid, value in (extensions or {}).items():
        builder = builder.add_extension(
            x509.UnrecognizedExtension(ObjectIdentifier(oid), value), critical=False
        )
    cert = builder.sign(_KEY, hashes.SHA256())
    return asn1_x509.Certificate.load(cert.public_bytes(serialization.Encoding.DER))


def utf8(value: str) -> bytes:
    return core.UTF8String(value).dump()


def everything(**codes: str) -> asn1_x509.Certificate:
    """A certificate with a USCC in every place, each place's code given by keyword."""
    subject = [(NameOID.COUNTRY_NAME, "CN"), (NameOID.ORGANIZATION_NAME, "某某科技有限公司")]
    exts: dict[str, bytes] = {}
    if "ext" in codes:
        exts[OID_USCC] = utf8(codes["ext"])
    if "legacy" in codes:
        exts[OID_USCC_LEGACY] = core.PrintableString(codes["legacy"]).dump()
    if "ou" in codes:
        subject.append((NameOID.ORGANIZATIONAL_UNIT_NAME, codes["ou"]))
    if "orgid" in codes:
        subject.append((ORG_ID, "NTRCN-" + codes["orgid"]))
    if "serial" in codes:
        subject.append((NameOID.SERIAL_NUMBER, codes["serial"]))
    if "cn" in codes:
        subject.append((NameOID.COMMON_NAME, "某某科技有限公司@" + codes["cn"]))
    else:
        subject.append((NameOID.COMMON_NAME, "某某科技有限公司"))
    return make_cert(subject, exts)


SOURCES = [
    ("ext", EXT, "extension"),
    ("legacy", LEGACY, "legacy_extension"),
    ("ou", OU, "ou"),
    ("orgid", ORGID, "organization_identifier"),
    ("serial", SERIAL, "serial_number"),
    ("cn", CN, "common_name"),
]


def test_the_six_codes_are_valid_and_different() -> None:
    assert len({EXT, LEGACY, OU, ORGID, SERIAL, CN}) == 6
    assert all(broken(c) != c for c in (EXT, LEGACY, OU, ORGID, SERIAL, CN))


@pytest.mark.parametrize("first", range(len(SOURCES)), ids=[s[2] for s in SOURCES])
def test_order_of_design_1_each_source_wins_over_the_later_ones(first: int) -> None:
    present = {key: value for key, value, _ in SOURCES[first:]}
    found = uscc_of(everything(**present))
    assert found == (SOURCES[first][1], SOURCES[first][2])


@pytest.mark.parametrize("first", range(len(SOURCES)), ids=[s[2] for s in SOURCES])
def test_each_source_alone(first: int) -> None:
    key, value, source = SOURCES[first]
    identity = identity_of(everything(**{key: value}))
    assert (identity.uscc, identity.uscc_source) == (value, source)


@pytest.mark.parametrize("bad", range(len(SOURCES) - 1), ids=[s[2] for s in SOURCES[:-1]])
def test_a_wrong_check_character_is_skipped_for_the_next_source(bad: int) -> None:
    present = {key: value for key, value, _ in SOURCES[bad:]}
    present[SOURCES[bad][0]] = broken(SOURCES[bad][1])
    assert uscc_of(everything(**present)) == (SOURCES[bad + 1][1], SOURCES[bad + 1][2])


def test_every_source_wrong_gives_none() -> None:
    cert = everything(**{key: broken(value) for key, value, _ in SOURCES})
    assert uscc_of(cert) is None
    identity = identity_of(cert)
    assert identity.uscc is None and identity.uscc_source is None


def test_no_source_at_all_gives_none() -> None:
    cert = make_cert([(NameOID.COMMON_NAME, "某某科技有限公司"), (NameOID.COUNTRY_NAME, "CN")])
    assert uscc_of(cert) is None


@pytest.mark.parametrize(
    "value",
    ["9111000060003IOZSV", "91110000600037341", "", "not a code", "NTRCN-"],
)
def test_malformed_values_are_not_codes(value: str) -> None:
    cert = make_cert(
        [
            (NameOID.COMMON_NAME, "x"),
            (NameOID.ORGANIZATIONAL_UNIT_NAME, value or " "),
            (ORG_ID, value or " "),
        ],
        {OID_USCC: utf8(value)},
    )
    assert uscc_of(cert) is None


def test_extension_forms_utf8_printable_and_raw_bytes() -> None:
    for value in (utf8(EXT), core.PrintableString(EXT).dump(), EXT.encode()):
        cert = make_cert([(NameOID.COMMON_NAME, "x")], {OID_USCC: value})
        assert uscc_of(cert) == (EXT, "extension")


def test_organization_identifier_without_prefix_and_one_of_several_ous() -> None:
    cert = make_cert([(NameOID.COMMON_NAME, "x"), (ORG_ID, ORGID)])
    assert uscc_of(cert) == (ORGID, "organization_identifier")
    cert = make_cert(
        [
            (NameOID.ORGANIZATIONAL_UNIT_NAME, "财务部"),
            (NameOID.ORGANIZATIONAL_UNIT_NAME, OU),
            (NameOID.COMMON_NAME, "x"),
        ]
    )
    assert uscc_of(cert) == (OU, "ou")


def test_common_name_takes_the_part_after_the_last_at() -> None:
    cert = make_cert([(NameOID.COMMON_NAME, f"a@b公司@{CN}")])
    assert uscc_of(cert) == (CN, "common_name")
    cert = make_cert([(NameOID.COMMON_NAME, f"{CN}@公司")])
    assert uscc_of(cert) is None


# -- the seal kind ----------------------------------------------------------------------------


TITLE = ObjectIdentifier("2.5.4.12")


@pytest.mark.parametrize("kind", list(SealKind), ids=lambda k: k.value)
def test_seal_kind_from_the_title(kind: SealKind) -> None:
    person = kind is SealKind.LEGAL_REP
    title = "法定代表人" if person else kind.label
    cn = "张三" if person else f"某某科技有限公司·{kind.label}"
    identity = identity_of(
        make_cert(
            [
                (NameOID.COUNTRY_NAME, "CN"),
                (NameOID.ORGANIZATION_NAME, "某某科技有限公司"),
                (NameOID.ORGANIZATIONAL_UNIT_NAME, OU),
                (TITLE, title),
                (NameOID.COMMON_NAME, cn),
            ]
        )
    )
    assert identity.kind is kind
    assert identity.title == title
    assert identity.organisation == "某某科技有限公司"
    assert identity.common_name == cn
    assert identity.person == ("张三" if person else None)


def test_legal_rep_label_as_title_and_kind_from_the_cn_without_title() -> None:
    identity = identity_of(
        make_cert([(TITLE, SealKind.LEGAL_REP.label), (NameOID.COMMON_NAME, "李四")])
    )
    assert identity.kind is SealKind.LEGAL_REP and identity.person == "李四"
    identity = identity_of(make_cert([(NameOID.COMMON_NAME, "某某科技有限公司·财务专用章")]))
    assert identity.kind is SealKind.FINANCE and identity.title is None


def test_unknown_title_gives_no_kind() -> None:
    identity = identity_of(make_cert([(TITLE, "总经理"), (NameOID.COMMON_NAME, "王五")]))
    assert identity.kind is None and identity.person is None


def test_eseal_seal_certificates(container: Container) -> None:
    """The five certificates eseal issues read back as their own enterprise and kind."""
    _, seals = container.seals.register(parse_license(license_data()))
    for seal in seals:
        der = x509.load_pem_x509_certificate(seal.certificate_pem.encode()).public_bytes(
            serialization.Encoding.DER
        )
        identity = identity_of(asn1_x509.Certificate.load(der))
        assert (identity.uscc, identity.uscc_source) == (USCC, "extension")
        assert identity.kind is seal.kind
        assert identity.organisation == license_data()["name"]
