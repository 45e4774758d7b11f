"""ASN.1 of the national seal data (电子印章数据): GB/T 38540-2020, GM/T 0031-2014 and -2025.

asn1crypto classes only; making, reading and checking seals is :mod:`seals.esl`.  One class per
structure and version, as the standards number them (the header's ``version``):

* **v4** (GB/T 38540-2020)::

    SESeal ::= SEQUENCE {
        eSealInfo   SES_SealInfo,
        cert        OCTET STRING,        -- the seal maker's certificate (DER)
        signAlgID   OBJECT IDENTIFIER,
        signedValue BIT STRING }         -- the maker's signature over DER(eSealInfo)
    SES_SealInfo ::= SEQUENCE {
        header SES_Header, esID IA5String, property SES_ESPropertyInfo,
        picture SES_ESPictrueInfo, extDatas ExtensionDatas OPTIONAL }
    SES_Header ::= SEQUENCE { ID IA5String ("ES"), version INTEGER, Vid IA5String }
    SES_ESPropertyInfo ::= SEQUENCE {
        type INTEGER, name UTF8String, certListType INTEGER, certList SES_CertList,
        createDate GeneralizedTime, validStart GeneralizedTime, validEnd GeneralizedTime }
    SES_CertList ::= CHOICE { certs CertInfoList, certDigestList CertDigestList }
    CertInfoList ::= SEQUENCE OF OCTET STRING                  -- certListType 1
    CertDigestList ::= SEQUENCE OF CertDigestObj               -- certListType 2
    CertDigestObj ::= SEQUENCE { type PrintableString, value OCTET STRING }
    SES_ESPictrueInfo ::= SEQUENCE {
        type IA5String, data OCTET STRING, width INTEGER, height INTEGER }  -- millimetres
    ExtensionDatas ::= SEQUENCE OF ExtData
    ExtData ::= SEQUENCE {
        extnID OBJECT IDENTIFIER, critical BOOLEAN DEFAULT FALSE, extnValue OCTET STRING }

  The two alternatives of ``SES_CertList`` are both untagged SEQUENCE OF, so the CHOICE
  cannot be told by its tag: ``certListType`` says which it is, and :mod:`seals.esl` reads
  ``certList`` (an ``Any`` here) with the class it names.

* **v5** (GM/T 0031-2025): the same ``SES_SealInfo``; ``SESeal`` renames the last two fields
  ``signatureAlgID`` and ``signatureValue`` and adds ``timeStamp [0] EXPLICIT BIT STRING
  OPTIONAL``, whose octets are the DER of an RFC 3161 ``TimeStampToken`` over the
  signature value (ofdrw's ``ses.v5`` reads it so).

* **v1** (GM/T 0031-2014), read only::

    SESeal ::= SEQUENCE { esealInfo SES_SealInfo, signInfo SES_SignInfo }
    SES_ESPropertyInfo ::= SEQUENCE {
        type INTEGER, name UTF8String, certList SEQUENCE OF OCTET STRING,
        createDate UTCTime, validStart UTCTime, validEnd UTCTime }
    SES_SignInfo ::= SEQUENCE {
        cert OCTET STRING, signatureAlgorithm OBJECT IDENTIFIER, signData BIT STRING }

  where ``signData`` is the maker's signature over DER(SEQUENCE { esealInfo, cert,
  signatureAlgorithm }).

BIT STRINGs that carry octets (signatures, timestamps, hashes) are
:class:`asn1crypto.core.OctetBitString`: the reader in :mod:`seals.esl` refuses one whose
unused-bit count is not zero.
"""

from __future__ import annotations

from typing import ClassVar

from asn1crypto import core

__all__ = [
    "AnySequence",
    "CertDigestList",
    "CertDigestObj",
    "CertInfoList",
    "ExtData",
    "ExtensionDatas",
    "SESealV1",
    "SESealV1Read",
    "SESealV4",
    "SESealV4Read",
    "SESealV5",
    "SESealV5Read",
    "SealTime",
    "SesEsPictureInfo",
    "SesEsPropertyInfoV1",
    "SesEsPropertyInfoV4",
    "SesHeader",
    "SesSealInfoV1",
    "SesSealInfoV4",
    "SesSignInfoV1",
]


class AnySequence(core.SequenceOf):
    """A SEQUENCE of anything: how a reader looks at the header before it knows the version."""

    _child_spec = core.Any


class ExtData(core.Sequence):
    _fields: ClassVar[list[tuple[object, ...]]] = [
        ("extn_id", core.ObjectIdentifier),
        ("critical", core.Boolean, {"default": False}),
        ("extn_value", core.OctetString),
    ]


class ExtensionDatas(core.SequenceOf):
    _child_spec = ExtData


class SesHeader(core.Sequence):
    _fields: ClassVar[list[tuple[object, ...]]] = [
        ("id", core.IA5String),
        ("version", core.Integer),
        ("vid", core.IA5String),
    ]


class CertInfoList(core.SequenceOf):
    """certListType 1: the signers' certificates, each the DER of an X.509 certificate."""

    _child_spec = core.OctetString


class CertDigestObj(core.Sequence):
    _fields: ClassVar[list[tuple[object, ...]]] = [
        ("type", core.PrintableString),
        ("value", core.OctetString),
    ]


class CertDigestList(core.SequenceOf):
    """certListType 2: hashes of the signers' certificates, each named by its ``type``."""

    _child_spec = CertDigestObj


class SesEsPictureInfo(core.Sequence):
    _fields: ClassVar[list[tuple[object, ...]]] = [
        ("type", core.IA5String),
        ("data", core.OctetString),
        ("width", core.Integer),
        ("height", core.Integer),
    ]


class SesEsPropertyInfoV4(core.Sequence):
    """Seal properties of v4 and v5."""

    _fields: ClassVar[list[tuple[object, ...]]] = [
        ("type", core.Integer),
        ("name", core.UTF8String),
        ("cert_list_type", core.Integer),
        ("cert_list", core.Any),  # CertInfoList or CertDigestList, as cert_list_type says
        ("create_date", core.GeneralizedTime),
        ("valid_start", core.GeneralizedTime),
        ("valid_end", core.GeneralizedTime),
    ]


class SesSealInfoV4(core.Sequence):
    """``SES_SealInfo`` of v4 and v5: what the seal maker signs."""

    _fields: ClassVar[list[tuple[object, ...]]] = [
        ("header", SesHeader),
        ("es_id", core.IA5String),
        ("property", SesEsPropertyInfoV4),
        ("picture", SesEsPictureInfo),
        ("ext_datas", ExtensionDatas, {"optional": True}),
    ]


class SESealV4(core.Sequence):
    _fields: ClassVar[list[tuple[object, ...]]] = [
        ("e_seal_info", SesSealInfoV4),
        ("cert", core.OctetString),
        ("sign_alg_id", core.ObjectIdentifier),
        ("signed_value", core.OctetBitString),
    ]


class SESealV5(core.Sequence):
    _fields: ClassVar[list[tuple[object, ...]]] = [
        ("e_seal_info", SesSealInfoV4),
        ("cert", core.OctetString),
        ("signature_alg_id", core.ObjectIdentifier),
        ("signature_value", core.OctetBitString),
        ("time_stamp", core.OctetBitString, {"explicit": 0, "optional": True}),
    ]


class SesEsPropertyInfoV1(core.Sequence):
    _fields: ClassVar[list[tuple[object, ...]]] = [
        ("type", core.Integer),
        ("name", core.UTF8String),
        ("cert_list", CertInfoList),
        ("create_date", core.UTCTime),
        ("valid_start", core.UTCTime),
        ("valid_end", core.UTCTime),
    ]


class SesSealInfoV1(core.Sequence):
    _fields: ClassVar[list[tuple[object, ...]]] = [
        ("header", SesHeader),
        ("es_id", core.IA5String),
        ("property", SesEsPropertyInfoV1),
        ("picture", SesEsPictureInfo),
        ("ext_datas", ExtensionDatas, {"optional": True}),
    ]


class SesSignInfoV1(core.Sequence):
    _fields: ClassVar[list[tuple[object, ...]]] = [
        ("cert", core.OctetString),
        ("signature_algorithm", core.ObjectIdentifier),
        ("sign_data", core.OctetBitString),
    ]


class SESealV1(core.Sequence):
    _fields: ClassVar[list[tuple[object, ...]]] = [
        ("eseal_info", SesSealInfoV1),
        ("sign_info", SesSignInfoV1),
    ]


# -- reading what other encoders write ------------------------------------------------------


class SealTime(core.Choice):
    """A seal's date as other encoders write it: GeneralizedTime (v4, v5) or UTCTime (v1).
    Read only: eseal writes each version's own type."""

    _alternatives: ClassVar[list[tuple[object, ...]]] = [
        ("generalized_time", core.GeneralizedTime),
        ("utc_time", core.UTCTime),
    ]


_DATES = frozenset({"create_date", "valid_start", "valid_end"})


def _lenient(cls: type[core.Sequence], swaps: dict[str, object], name: str) -> type[core.Sequence]:
    """``cls`` with the spec of the fields in ``swaps`` replaced (a reading variant)."""
    fields = [
        (field[0], swaps[field[0]], *field[2:]) if field[0] in swaps else field
        for field in cls._fields
    ]
    return type(name, (cls,), {"_fields": fields})


_DATE_SWAPS: dict[str, object] = dict.fromkeys(_DATES, SealTime)
_PropertyV4Read = _lenient(SesEsPropertyInfoV4, _DATE_SWAPS, "SesEsPropertyInfoV4Read")
_PropertyV1Read = _lenient(SesEsPropertyInfoV1, _DATE_SWAPS, "SesEsPropertyInfoV1Read")
_InfoV4Read = _lenient(SesSealInfoV4, {"property": _PropertyV4Read}, "SesSealInfoV4Read")
_InfoV1Read = _lenient(SesSealInfoV1, {"property": _PropertyV1Read}, "SesSealInfoV1Read")
#: SESeal v4, v5 and v1 as read: the seal's dates in either time type (see :class:`SealTime`)
SESealV4Read = _lenient(SESealV4, {"e_seal_info": _InfoV4Read}, "SESealV4Read")
SESealV5Read = _lenient(SESealV5, {"e_seal_info": _InfoV4Read}, "SESealV5Read")
SESealV1Read = _lenient(SESealV1, {"eseal_info": _InfoV1Read}, "SESealV1Read")
