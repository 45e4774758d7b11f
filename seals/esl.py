"""The national seal data of a seal (电子印章数据, ``SESeal``): making, reading, checking.

GB/T 38540-2020 (version 4) and GM/T 0031-2025 (version 5) seals are made and read; GM/T
0031-2014 (version 1) seals are read.  The ASN.1 is :mod:`seals.esl_asn1`.  Decisions a
caller may notice:

* **The version comes from the header** (``SES_Header``: ``ID`` "ES" and ``version``), never
  from how many fields the structure has: the reader looks at ``eSealInfo.header`` first and
  then reads the whole seal with that version's layout.  A header whose ``ID`` is not "ES" is
  :class:`~seals.errors.InvalidSealData`; a version other than 1, 4 and 5 is
  :class:`~seals.errors.UnsupportedSealVersion`.
* **Read as BER, checked as the structure, signatures over the bytes carried**: other
  national implementations do not all write DER (Bouncy Castle's ``DERSequence`` writes an
  ``ExtData.critical`` FALSE out, some C encoders use long-form lengths, BER streams
  indefinite ones), so any valid BER encoding of the right structure is read (:func:`ber_load`).
  What is refused, as ``invalid_seal_data``: another structure (a wrong tag or type, a field
  missing or one too many), bytes cut short or after the outer SEQUENCE, a BIT STRING that
  carries octets (signature, timestamp) with unused bits, an INTEGER, BOOLEAN or OBJECT
  IDENTIFIER no encoder may write (empty, two-octet, padded), a time without a zone, and
  constructed (chunked) strings, which asn1crypto does not read inside a structure.  The
  maker's signature is checked over ``eSealInfo`` exactly as the seal carries it
  (:attr:`ParsedSeal.signed_der`, cut out of the input by :func:`encoded_fields`), never over
  a re-encoding, which would differ from what the maker signed whenever the maker's encoder
  was not canonical.
* **What we write** (v4 and v5): ``Vid`` "eseal" unless told, ``certListType`` 1 (the signers'
  certificates themselves), the picture type ``png``, times as UTC ``GeneralizedTime`` in
  whole seconds, the maker's signature SM2-with-SM3 (``1.2.156.10197.1.501``) with the default
  user id over DER(``eSealInfo``), as a DER ``SEQUENCE {r, s}``; no ``extDatas``.
* **The v5 timestamp** (``SESeal.timeStamp [0]``) is an RFC 3161 ``TimeStampToken`` (a CMS
  ``ContentInfo``, DER) whose ``messageImprint`` is the hash (SM3, or SHA-256) of the seal's
  signature value: the octets of ``signatureValue``, i.e. the DER ``SEQUENCE {r, s}``, not its
  BIT STRING header.  It is carried as the octets of a BIT STRING, as ofdrw's ``ses.v5`` and
  its ``TimeStampHook`` (called with the signature value) do.
* **Seal type numbers** are eseal's (:data:`SEAL_TYPES`): the standard leaves them to the
  issuer.
"""

from __future__ import annotations

import enum
import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

from asn1crypto import cms as asn1_cms
from asn1crypto import core, parser
from asn1crypto import x509 as asn1_x509

from keystore import sm2

from .errors import InvalidSealData, UnsupportedSealVersion
from .esl_asn1 import (
    CertDigestList,
    CertInfoList,
    SESealV1Read,
    SESealV4,
    SESealV4Read,
    SESealV5,
    SESealV5Read,
    SesHeader,
    SesSealInfoV4,
)
from .kinds import SealKind

__all__ = [
    "HEADER_ID",
    "MADE_VERSIONS",
    "PICTURE_TYPE_PNG",
    "READ_VERSIONS",
    "SEAL_TYPES",
    "SIGNATURE_ALGORITHMS",
    "CertDigest",
    "CertListType",
    "ParsedSeal",
    "SealExtension",
    "ber_load",
    "certificate_sm2_key",
    "check_maker_signature",
    "check_timestamp_token",
    "der_sequence",
    "encoded_fields",
    "lists_signer",
    "make_seseal",
    "parse_seseal",
    "seal_header",
    "strict_load",
]

#: eseal's seal type numbers (``SES_ESPropertyInfo.type``); the standard leaves them to issuers
SEAL_TYPES: dict[SealKind, int] = {
    SealKind.OFFICIAL: 1,
    SealKind.CONTRACT: 2,
    SealKind.FINANCE: 3,
    SealKind.INVOICE: 4,
    SealKind.LEGAL_REP: 5,
}

#: header versions this module reads: GM/T 0031-2014, GB/T 38540-2020, GM/T 0031-2025
READ_VERSIONS = (1, 4, 5)
#: header versions :func:`make_seseal` writes
MADE_VERSIONS = (4, 5)

#: the header's ``ID``
HEADER_ID = "ES"
#: the picture type we write
PICTURE_TYPE_PNG = "png"
_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"

#: signature algorithms of a maker's (and a signer's) signature that are checked: SM2-with-SM3,
#: and the bare SM2 signature OID (GM/T 0006) some makers write, which with SM2 means SM3 too
SIGNATURE_ALGORITHMS = (sm2.OID_SM2_WITH_SM3, sm2.OID_SM2_SIGN)

T = TypeVar("T", bound=core.Asn1Value)


class CertListType(enum.IntEnum):
    """``SES_ESPropertyInfo.certListType``: what ``certList`` holds."""

    CERTIFICATES = 1  #: the signers' certificates (DER)
    DIGESTS = 2  #: hashes of the signers' certificates (:class:`CertDigest`)


@dataclass(frozen=True)
class CertDigest:
    """One ``CertDigestObj``: the hash of a signer's certificate."""

    #: the hash algorithm as the maker named it (``PrintableString``: "SM3", "SHA256"...)
    type: str
    value: bytes


@dataclass(frozen=True)
class SealExtension:
    """One ``ExtData`` of ``eSealInfo.extDatas``."""

    extn_id: str  #: dotted OID
    critical: bool
    value: bytes


@dataclass(frozen=True)
class ParsedSeal:
    """A national seal as read by :func:`parse_seseal`.  Times are aware, in UTC."""

    #: the header's version: 1 (GM/T 0031-2014), 4 (GB/T 38540-2020), 5 (GM/T 0031-2025)
    version: int
    #: the header's ``Vid``: who made the seal data
    vid: str
    #: ``esID``: the seal's identifier
    es_id: str
    #: ``property.type`` (eseal's numbers: :data:`SEAL_TYPES`)
    seal_type: int
    #: ``property.name``
    name: str
    #: 1: ``certificates`` holds the signers' certificates; 2: ``cert_digests`` their hashes
    cert_list_type: int
    #: DER of each signer certificate (certListType 1; empty otherwise)
    certificates: tuple[bytes, ...]
    #: the signers' certificate hashes (certListType 2; empty otherwise)
    cert_digests: tuple[CertDigest, ...]
    created: datetime
    valid_start: datetime
    valid_end: datetime
    #: ``picture.type`` as written ("png", "PNG", "gif", "ofd"...)
    picture_type: str
    picture_data: bytes
    width_mm: int
    height_mm: int
    #: ``eSealInfo.extDatas``
    extensions: tuple[SealExtension, ...]
    #: DER of the seal maker's certificate (``cert``)
    maker_certificate: bytes
    #: dotted OID of the maker's signature algorithm
    signature_algorithm: str
    #: the maker's signature value (the BIT STRING's octets)
    signature: bytes
    #: v5: DER of the TimeStampToken over ``signature``; None when absent (and before v5)
    timestamp: bytes | None
    #: the exact bytes of ``eSealInfo`` as the seal carries them (DER, or the maker's BER)
    seal_info_der: bytes
    #: the exact bytes the maker signed: ``seal_info_der`` for v4 and v5; for v1
    #: ``SEQUENCE { esealInfo, cert, signatureAlgorithm }``: a DER SEQUENCE header around the
    #: three fields as the seal carries them
    signed_der: bytes
    #: the whole seal, as read
    der: bytes


# -- BER in, DER out -------------------------------------------------------------------------


def ber_load(spec: type[T], data: bytes) -> T:
    """``data`` read as ``spec``: one complete value of that structure, in any valid BER
    encoding (long-form or indefinite lengths, DEFAULT values written out, ...).

    Raises :class:`ValueError` saying why not: another structure (a wrong tag or type, a
    field missing or one too many), cut short, trailing bytes, or a value no encoder may
    write (see the module docstring).  The value's ``dump()`` is a re-encoding wherever the
    input used indefinite lengths: take the bytes a signature covers from
    :func:`encoded_fields`, never from ``dump()``.
    """
    if not isinstance(data, bytes | bytearray | memoryview):
        raise TypeError(f"BER data is bytes, not {type(data).__name__}")
    data = bytes(data)
    try:
        value = spec.load(data, strict=True)
        _check_values(value, _spec_name(spec))
    except Exception as exc:  # asn1crypto raises ValueError, TypeError, OverflowError...
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ValueError(f"not a {_spec_name(spec)} ({reason})") from exc
    return value


def _check_values(value: core.Asn1Value, where: str) -> None:
    """Parse every field (a bad one raises) and refuse what asn1crypto reads without
    complaint but is not the structure, or not BER."""
    if isinstance(value, core.Any | core.Void):
        return  # read later with the class it turns out to be (certList, a carried seal)
    if isinstance(value, core.Sequence):
        fields = type(value)._fields
        if len(value) > len(fields):
            raise ValueError(f"{where} has more than its {len(fields)} fields")
        for name, *_ in fields:
            _check_values(value[name], f"{where}.{name}")
        return
    if isinstance(value, core.SequenceOf):
        for index, child in enumerate(value):
            _check_values(child, f"{where}[{index}]")
        return
    if isinstance(value, core.Choice):
        _check_values(value.chosen, where)
        return
    value.native  # noqa: B018 - parses the value, so a bad one raises here
    if isinstance(value, core.OctetBitString):
        if value.unused_bits:
            raise ValueError(f"{where} is a BIT STRING of octets with unused bits")
    elif isinstance(value, core.Boolean):
        if len(value.contents) != 1:
            raise ValueError(f"{where} is a BOOLEAN of {len(value.contents)} octets, not 1")
    elif isinstance(value, core.Integer):
        if not value.contents:
            raise ValueError(f"{where} is an INTEGER without octets")
    elif isinstance(value, core.ObjectIdentifier):
        octets = value.contents
        padded = any(b == 0x80 and (i == 0 or octets[i - 1] < 0x80) for i, b in enumerate(octets))
        if not octets or padded or octets[-1] >= 0x80:
            raise ValueError(f"{where} is an OBJECT IDENTIFIER that is not well encoded")


def encoded_fields(encoding: bytes) -> tuple[bytes, ...]:
    """The fields of the SEQUENCE ``encoding``, each exactly as encoded there (header,
    contents and any end-of-contents octets): the bytes a signature over a field covers.

    Raises :class:`ValueError` when ``encoding`` is not one complete SEQUENCE.
    """
    class_, method, tag, _, contents, _ = parser.parse(bytes(encoding), strict=True)
    if (class_, method, tag) != (0, 1, 16):
        raise ValueError("not a SEQUENCE")
    fields: list[bytes] = []
    pointer = 0
    while pointer < len(contents):
        _, _, _, header, inner, trailer = parser.parse(contents[pointer:])
        size = len(header) + len(inner) + len(trailer)
        fields.append(contents[pointer : pointer + size])
        pointer += size
    return tuple(fields)


def der_sequence(*fields: bytes) -> bytes:
    """A SEQUENCE of ``fields`` as given (each a complete encoding), its header in DER."""
    return bytes(parser.emit(0, 1, 16, b"".join(fields)))


def strict_load(spec: type[T], data: bytes) -> T:
    """``data`` read as ``spec``, refusing anything but one complete DER value.

    For what eseal writes and checks as DER (a certificate handed to :func:`make_seseal`, a
    timestamp token before it is embedded; tests asserting our output is DER), not for
    reading what others wrote (:func:`ber_load`).  Raises :class:`ValueError` saying why.
    """
    value = ber_load(spec, data)
    if spec.load(bytes(data)).dump(force=True) != bytes(data):
        raise ValueError(f"not DER: the {_spec_name(spec)} is BER or not in canonical form")
    return value


def _spec_name(spec: type[core.Asn1Value]) -> str:
    return spec.__name__


def _header(seal_info: bytes) -> tuple[str, int, str]:
    """``(ID, version, Vid)`` of an ``eSealInfo`` before its version is known."""
    parts = encoded_fields(seal_info)
    if len(parts) == 0:
        raise ValueError("eSealInfo is empty")
    header = ber_load(SesHeader, parts[0])
    return (
        str(header["id"].native),
        int(header["version"].native),
        str(header["vid"].native),
    )


def seal_header(der: bytes) -> tuple[str, int, str]:
    """``(ID, version, Vid)`` of a seal's header, read before the version is known.

    Raises :class:`InvalidSealData` when ``der`` is not a SEQUENCE whose first field is a
    SEQUENCE starting with an ``SES_Header``.
    """
    if not isinstance(der, bytes | bytearray | memoryview):
        raise TypeError(f"seal data is bytes, not {type(der).__name__}")
    try:
        outer = encoded_fields(bytes(der))
        if len(outer) == 0:
            raise ValueError("the seal is an empty SEQUENCE")
        return _header(outer[0])
    except ValueError as exc:
        raise InvalidSealData(f"not a seal (SESeal): {exc}") from exc


# -- reading -------------------------------------------------------------------------------


def parse_seseal(der: bytes) -> ParsedSeal:
    """Read a national seal (``SESeal``) of version 1, 4 or 5; see the module docstring.

    Raises :class:`InvalidSealData` (``invalid_seal_data``) or
    :class:`UnsupportedSealVersion` (``unsupported_seal_version``).  Nothing is checked
    beyond the structure: :func:`check_maker_signature` checks the maker's signature.
    """
    ident, version, _vid = seal_header(der)
    if ident != HEADER_ID:
        raise InvalidSealData(f'the seal header\'s ID is {ident!r}, not "{HEADER_ID}"')
    if version not in READ_VERSIONS:
        known = ", ".join(map(str, READ_VERSIONS))
        raise UnsupportedSealVersion(
            f"seal data version {version} is not supported (eseal reads versions {known})",
            version=version,
        )
    try:
        if version == 1:
            return _parse_v1(der)
        return _parse_v4_v5(der, version)
    except ValueError as exc:
        raise InvalidSealData(f"not a version {version} seal: {exc}") from exc


def _time(value: core.Asn1Value, what: str) -> datetime:
    native = value.native
    if not isinstance(native, datetime) or native.tzinfo is None:
        raise ValueError(f"{what} is not a time with a zone (Z or an offset)")
    return native.astimezone(UTC)


def _non_negative(value: core.Integer, what: str) -> int:
    number = int(value.native)
    if number < 0:
        raise ValueError(f"{what} is negative")
    return number


def _extensions(info: core.Sequence) -> tuple[SealExtension, ...]:
    ext = info["ext_datas"]
    if ext.native is None:
        return ()
    return tuple(
        SealExtension(e["extn_id"].dotted, bool(e["critical"].native), bytes(e["extn_value"]))
        for e in ext
    )


def _common(info: core.Sequence, info_encoding: bytes) -> dict[str, Any]:
    """The fields every version shares: header, esID, picture, extDatas, name and type;
    ``info_encoding`` is ``eSealInfo`` as carried."""
    header = info["header"]
    picture = info["picture"]
    prop = info["property"]
    return {
        "version": int(header["version"].native),
        "vid": str(header["vid"].native),
        "es_id": str(info["es_id"].native),
        "seal_type": int(prop["type"].native),
        "name": str(prop["name"].native),
        "created": _time(prop["create_date"], "createDate"),
        "valid_start": _time(prop["valid_start"], "validStart"),
        "valid_end": _time(prop["valid_end"], "validEnd"),
        "picture_type": str(picture["type"].native),
        "picture_data": bytes(picture["data"]),
        "width_mm": _non_negative(picture["width"], "the picture's width"),
        "height_mm": _non_negative(picture["height"], "the picture's height"),
        "extensions": _extensions(info),
        "seal_info_der": info_encoding,
    }


def _parse_v4_v5(der: bytes, version: int) -> ParsedSeal:
    seal: SESealV4 | SESealV5
    if version == 4:
        seal = ber_load(SESealV4Read, der)
        algorithm, value, timestamp = seal["sign_alg_id"], seal["signed_value"], None
    else:
        seal = ber_load(SESealV5Read, der)
        algorithm, value = seal["signature_alg_id"], seal["signature_value"]
        token = seal["time_stamp"]
        timestamp = bytes(token) if token.native is not None else None
    info = seal["e_seal_info"]
    info_encoding = encoded_fields(der)[0]
    prop = info["property"]
    # certList (an Any) as carried: the fourth field of the property, the third of eSealInfo
    cert_list = encoded_fields(encoded_fields(info_encoding)[2])[3]
    list_type = int(prop["cert_list_type"].native)
    certificates: tuple[bytes, ...] = ()
    digests: tuple[CertDigest, ...] = ()
    if list_type == CertListType.CERTIFICATES:
        certificates = tuple(bytes(c) for c in ber_load(CertInfoList, cert_list))
    elif list_type == CertListType.DIGESTS:
        digests = tuple(
            CertDigest(str(d["type"].native), bytes(d["value"]))
            for d in ber_load(CertDigestList, cert_list)
        )
    else:
        raise ValueError(f"certListType is {list_type}, not 1 (certificates) or 2 (digests)")
    return ParsedSeal(
        **_common(info, info_encoding),
        cert_list_type=list_type,
        certificates=certificates,
        cert_digests=digests,
        maker_certificate=bytes(seal["cert"]),
        signature_algorithm=algorithm.dotted,
        signature=bytes(value),
        timestamp=timestamp,
        signed_der=info_encoding,
        der=bytes(der),
    )


def _parse_v1(der: bytes) -> ParsedSeal:
    seal = ber_load(SESealV1Read, der)
    info = seal["eseal_info"]
    sign_info = seal["sign_info"]
    info_encoding, sign_info_encoding = encoded_fields(der)
    cert, algorithm, _sign_data = encoded_fields(sign_info_encoding)
    return ParsedSeal(
        **_common(info, info_encoding),
        cert_list_type=CertListType.CERTIFICATES,
        certificates=tuple(bytes(c) for c in info["property"]["cert_list"]),
        cert_digests=(),
        maker_certificate=bytes(sign_info["cert"]),
        signature_algorithm=sign_info["signature_algorithm"].dotted,
        signature=bytes(sign_info["sign_data"]),
        timestamp=None,
        signed_der=der_sequence(info_encoding, cert, algorithm),
        der=bytes(der),
    )


# -- checking ------------------------------------------------------------------------------


def certificate_sm2_key(der: bytes) -> sm2.Sm2PublicKey:
    """The SM2 key of a DER certificate; :class:`ValueError` if it is not one."""
    try:
        cert = strict_load(asn1_x509.Certificate, der)
        return sm2.Sm2PublicKey.from_spki(cert.public_key)
    except sm2.Sm2Error as exc:
        raise ValueError(exc.detail) from exc


def check_maker_signature(parsed: ParsedSeal) -> bool:
    """Whether the maker's signature verifies: SM2 with SM3 and the default user id, over
    :attr:`ParsedSeal.signed_der`, with the key of the maker certificate's SPKI.

    False for another signature algorithm, a maker certificate that is not a DER certificate
    with an SM2 key, or a signature that is not DER ``(r, s)`` or does not verify.  Whether
    the maker is trusted is not asked here.
    """
    if parsed.signature_algorithm not in SIGNATURE_ALGORITHMS:
        return False
    try:
        key = certificate_sm2_key(parsed.maker_certificate)
        key.verify(parsed.signature, parsed.signed_der)
    except (ValueError, sm2.Sm2Error):
        return False
    return True


#: ``CertDigestObj.type`` spellings read as each hash (upper-cased, without "-" or "_")
_DIGEST_TYPES = {
    "SM3": "sm3",
    sm2.OID_SM3: "sm3",
    "SHA256": "sha256",
    "2.16.840.1.101.3.4.2.1": "sha256",
}


def lists_signer(parsed: ParsedSeal, certificate: bytes) -> bool:
    """Whether the seal's ``certList`` names the DER ``certificate``: byte for byte among the
    certificates (certListType 1), or by a hash of it (certListType 2, ``CertDigestObj.type``
    "SM3" or "SHA256", any case, "-" or "_" ignored, or the hash's dotted OID)."""
    if parsed.cert_list_type == CertListType.CERTIFICATES:
        return certificate in parsed.certificates
    for entry in parsed.cert_digests:
        name = _DIGEST_TYPES.get(entry.type.upper().replace("-", "").replace("_", ""))
        if name == "sm3" and entry.value == sm2.sm3(certificate):
            return True
        if name == "sha256" and entry.value == hashlib.sha256(certificate).digest():
            return True
    return False


# -- making --------------------------------------------------------------------------------


def _utc_seconds(value: datetime, what: str) -> datetime:
    if not isinstance(value, datetime) or value.tzinfo is None:
        raise ValueError(f"{what} must be an aware datetime")
    return value.astimezone(UTC).replace(microsecond=0)


def _ia5(value: str, what: str) -> str:
    if not isinstance(value, str) or not value or not value.isascii():
        raise ValueError(f"{what} must be a non-empty ASCII string (IA5String)")
    return value


def _certificate(der: bytes, what: str) -> asn1_x509.Certificate:
    try:
        return strict_load(asn1_x509.Certificate, der)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"{what} is not a DER X.509 certificate: {exc}") from exc


def check_timestamp_token(token: bytes) -> None:
    """:class:`ValueError` unless ``token`` is a DER CMS ``ContentInfo`` of SignedData whose
    content is a ``TSTInfo`` (what an RFC 3161 ``TimeStampToken`` is)."""
    info = strict_load(asn1_cms.ContentInfo, token)
    if info["content_type"].native != "signed_data":
        raise ValueError("a timestamp token is a SignedData ContentInfo")
    if info["content"]["encap_content_info"]["content_type"].native != "tst_info":
        raise ValueError("a timestamp token's SignedData holds a TSTInfo")


def make_seseal(
    *,
    es_id: str,
    seal_type: int,
    name: str,
    certificates: Sequence[bytes],
    created: datetime,
    valid_start: datetime,
    valid_end: datetime,
    image_png: bytes,
    width_mm: int,
    height_mm: int,
    maker_certificate: bytes,
    maker_sign: Callable[[bytes], bytes],
    version: int = 4,
    vid: str = "eseal",
    timestamp: Callable[[bytes], bytes] | None = None,
) -> bytes:
    """The DER of a version 4 or 5 ``SESeal`` (see the module docstring for what is written).

    ``certificates``: the DER of each certificate that may sign with this seal (certListType
    1).  ``maker_sign(DER(eSealInfo))`` returns the maker's SM2-with-SM3 signature, DER
    ``(r, s)`` with the default user id (what :meth:`keystore.sm2.Sm2Signer.sign` does); it is
    checked against ``maker_certificate`` before the seal is returned.  ``timestamp`` (version
    5 only) is called with the signature value and returns the DER ``TimeStampToken`` over it
    (``messageImprint`` = SM3 or SHA-256 of those bytes); without it a v5 seal has no
    ``timeStamp``.  Times are written in whole seconds, UTC.

    Raises :class:`ValueError` for an argument that cannot make a seal (and
    :class:`TypeError` for bytes that are not bytes).
    """
    if version not in MADE_VERSIONS:
        raise ValueError(f"eseal makes seals of version 4 or 5, not {version}")
    if timestamp is not None and version != 5:
        raise ValueError("only a version 5 seal carries a timestamp")
    _ia5(es_id, "es_id")
    _ia5(vid, "vid")
    if not isinstance(name, str) or not name:
        raise ValueError("the seal's name must be a non-empty string")
    if isinstance(seal_type, bool) or not isinstance(seal_type, int) or seal_type < 0:
        raise ValueError("seal_type must be a non-negative integer")
    for number, what in ((width_mm, "width_mm"), (height_mm, "height_mm")):
        if isinstance(number, bool) or not isinstance(number, int) or number <= 0:
            raise ValueError(f"{what} must be a positive integer (millimetres)")
    if not isinstance(image_png, bytes) or not image_png.startswith(_PNG_MAGIC):
        raise ValueError("image_png must be a PNG image")
    if isinstance(certificates, bytes | str) or not certificates:
        raise ValueError("certificates must list at least one DER certificate")
    certs = [_certificate(c, "a signer certificate") for c in certificates]
    try:
        maker_key = certificate_sm2_key(maker_certificate)
    except ValueError as exc:
        raise ValueError(f"the maker certificate is not an SM2 certificate: {exc}") from exc
    start = _utc_seconds(valid_start, "valid_start")
    end = _utc_seconds(valid_end, "valid_end")
    if end <= start:
        raise ValueError("valid_end must be after valid_start")

    info = SesSealInfoV4(
        {
            "header": {"id": HEADER_ID, "version": version, "vid": vid},
            "es_id": es_id,
            "property": {
                "type": seal_type,
                "name": name,
                "cert_list_type": int(CertListType.CERTIFICATES),
                "cert_list": core.Any.load(CertInfoList([c.dump() for c in certs]).dump()),
                "create_date": _utc_seconds(created, "created"),
                "valid_start": start,
                "valid_end": end,
            },
            "picture": {
                "type": PICTURE_TYPE_PNG,
                "data": image_png,
                "width": width_mm,
                "height": height_mm,
            },
        }
    )
    info_der = bytes(info.dump())
    signature = bytes(maker_sign(info_der))
    try:
        maker_key.verify(signature, info_der)
    except sm2.Sm2Error as exc:
        raise ValueError(
            f"the maker's signature does not verify with the maker certificate ({exc.code})"
        ) from exc

    seal: SESealV4 | SESealV5
    if version == 4:
        seal = SESealV4(
            {
                "e_seal_info": SesSealInfoV4.load(info_der),
                "cert": maker_certificate,
                "sign_alg_id": sm2.OID_SM2_WITH_SM3,
                "signed_value": signature,
            }
        )
    else:
        fields: dict[str, object] = {
            "e_seal_info": SesSealInfoV4.load(info_der),
            "cert": maker_certificate,
            "signature_alg_id": sm2.OID_SM2_WITH_SM3,
            "signature_value": signature,
        }
        if timestamp is not None:
            token = bytes(timestamp(signature))
            check_timestamp_token(token)
            fields["time_stamp"] = token
        seal = SESealV5(fields)
    der = bytes(seal.dump())
    parse_seseal(der)  # what we write, we read back
    return der
