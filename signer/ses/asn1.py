"""ASN.1 of the national signature data (电子签章数据, ``SES_Signature``), versions 4 and 5.

GB/T 38540-2020 (v4) and GM/T 0031-2025 (v5) share one layout; v5 only renames
``signature`` to ``signatureValue`` (ofdrw's ``ses.v4`` and ``ses.v5``)::

    SES_Signature ::= SEQUENCE {
        toSign         TBS_Sign,
        cert           OCTET STRING,            -- the signer's certificate (DER)
        signatureAlgID OBJECT IDENTIFIER,
        signature      BIT STRING,              -- over DER(toSign)
        timeStamp  [0] EXPLICIT BIT STRING OPTIONAL }   -- DER TimeStampToken over signature
    TBS_Sign ::= SEQUENCE {
        version      INTEGER,                   -- the signature data's version
        eseal        SESeal,
        timeInfo     GeneralizedTime,           -- the signing time
        dataHash     BIT STRING,                -- SM3 of the protected bytes
        propertyInfo IA5String,                 -- what was signed (OFD: the Signature.xml path)
        extDatas [0] EXPLICIT ExtensionDatas OPTIONAL }

``eseal`` is typed as the v5 ``SESeal``, the superset of v4 and v5 seals (v4 is v5 without the
optional timestamp): the structure is checked here, and the seal is then read from its own
header by :func:`seals.esl.parse_seseal`.  GM/T 0031-2014 (v1) signatures, whose ``TBS_Sign``
carries the certificate and a BIT STRING time, are not read.
"""

from __future__ import annotations

from typing import ClassVar

from asn1crypto import core

from seals.esl_asn1 import ExtensionDatas, SESealV5

__all__ = ["SesSignature", "TbsSign"]


class TbsSign(core.Sequence):
    _fields: ClassVar[list[tuple[object, ...]]] = [
        ("version", core.Integer),
        ("eseal", SESealV5),
        ("time_info", core.GeneralizedTime),
        ("data_hash", core.OctetBitString),
        ("property_info", core.IA5String),
        ("ext_datas", ExtensionDatas, {"explicit": 0, "optional": True}),
    ]


class SesSignature(core.Sequence):
    _fields: ClassVar[list[tuple[object, ...]]] = [
        ("to_sign", TbsSign),
        ("cert", core.OctetString),
        ("signature_alg_id", core.ObjectIdentifier),
        ("signature", core.OctetBitString),
        ("time_stamp", core.OctetBitString, {"explicit": 0, "optional": True}),
    ]
