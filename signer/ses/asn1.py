"""ASN.1 of the national signature data (电子签章数据, ``SES_Signature``), versions 1, 4 and 5.

GB/T 38540-2020 (v4) and GM/T 0031-2025 (v5) share one layout; v5 only renames
``signature`` to ``signatureValue`` (ofdrw's ``ses.v4`` and ``ses.v5``)::

    SES_Signature ::= SEQUENCE {
        toSign         TBS_Sign,
        cert           OCTET STRING,            -- the signer's certificate (DER)
        signatureAlgID OBJECT IDENTIFIER,
        signature      BIT STRING,              -- over toSign as encoded
        timeStamp  [0] EXPLICIT BIT STRING OPTIONAL }   -- DER TimeStampToken over signature
    TBS_Sign ::= SEQUENCE {
        version      INTEGER,                   -- the signature data's version
        eseal        SESeal,
        timeInfo     GeneralizedTime,           -- the signing time
        dataHash     BIT STRING,                -- SM3 of the protected bytes
        propertyInfo IA5String,                 -- what was signed (OFD: the Signature.xml path)
        extDatas [0] EXPLICIT ExtensionDatas OPTIONAL }

GM/T 0031-2014 (v1, ofdrw's ``ses.v1``) carries the signer's certificate and algorithm inside
what is signed, and the time as a BIT STRING whose octets the standard leaves open
(:mod:`.timeinfo`)::

    SES_Signature ::= SEQUENCE { toSign TBS_Sign, signature BIT STRING }  -- over toSign
    TBS_Sign ::= SEQUENCE {
        version INTEGER, eseal SESeal, timeInfo BIT STRING, dataHash BIT STRING,
        propertyInfo IA5String, cert OCTET STRING, signatureAlgorithm OBJECT IDENTIFIER }

In every version ``TBS_Sign`` starts with its ``version``, which says which layout the rest
has (:mod:`.read` looks at it first).  ``eseal`` is an ``Any`` here: the seal is read from its
own header by :func:`seals.esl.parse_seseal` (v1 for a v1 signature, v4 or v5 for the others),
from the bytes the signature carries.
"""

from __future__ import annotations

from typing import ClassVar

from asn1crypto import core

from seals.esl_asn1 import ExtensionDatas, SealTime

__all__ = [
    "SesSignature",
    "SesSignatureRead",
    "SesSignatureV1",
    "TbsSign",
    "TbsSignRead",
    "TbsSignV1",
]


class TbsSign(core.Sequence):
    """``TBS_Sign`` of v4 and v5."""

    _fields: ClassVar[list[tuple[object, ...]]] = [
        ("version", core.Integer),
        ("eseal", core.Any),
        ("time_info", core.GeneralizedTime),
        ("data_hash", core.OctetBitString),
        ("property_info", core.IA5String),
        ("ext_datas", ExtensionDatas, {"explicit": 0, "optional": True}),
    ]


class SesSignature(core.Sequence):
    """``SES_Signature`` of v4 and v5."""

    _fields: ClassVar[list[tuple[object, ...]]] = [
        ("to_sign", TbsSign),
        ("cert", core.OctetString),
        ("signature_alg_id", core.ObjectIdentifier),
        ("signature", core.OctetBitString),
        ("time_stamp", core.OctetBitString, {"explicit": 0, "optional": True}),
    ]


class TbsSignV1(core.Sequence):
    """``TBS_Sign`` of GM/T 0031-2014."""

    _fields: ClassVar[list[tuple[object, ...]]] = [
        ("version", core.Integer),
        ("eseal", core.Any),
        ("time_info", core.OctetBitString),
        ("data_hash", core.OctetBitString),
        ("property_info", core.IA5String),
        ("cert", core.OctetString),
        ("signature_algorithm", core.ObjectIdentifier),
    ]


class SesSignatureV1(core.Sequence):
    """``SES_Signature`` of GM/T 0031-2014."""

    _fields: ClassVar[list[tuple[object, ...]]] = [
        ("to_sign", TbsSignV1),
        ("signature", core.OctetBitString),
    ]


class TbsSignRead(TbsSign):
    """``TBS_Sign`` v4/v5 as read: ``timeInfo`` a GeneralizedTime or, as some encoders write
    it, a UTCTime (a named leniency, as for the seal's dates: :class:`seals.esl_asn1.SealTime`).
    The signature is checked over ``toSign`` as carried, so reading changes nothing signed."""

    _fields: ClassVar[list[tuple[object, ...]]] = [
        (name, SealTime, *rest) if name == "time_info" else (name, spec, *rest)
        for name, spec, *rest in TbsSign._fields
    ]


class SesSignatureRead(SesSignature):
    """``SES_Signature`` v4/v5 as read (see :class:`TbsSignRead`)."""

    _fields: ClassVar[list[tuple[object, ...]]] = [
        (name, TbsSignRead, *rest) if name == "to_sign" else (name, spec, *rest)
        for name, spec, *rest in SesSignature._fields
    ]
