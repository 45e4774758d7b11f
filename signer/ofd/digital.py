"""The value of a plain digital signature of an OFD document (``Type="Sign"``, GB/T 33190
§18.2; GM/T 0099-2020 7.2.2 b): no seal, no ``SES_Signature``.

Two forms are in use, both made by ofdrw among others:

* **GB/T 35275 SignedData** (ofdrw's ``GBT35275DSContainer``): ``ContentInfo`` of type
  ``signedData`` (``1.2.156.10197.6.1.4.2.2``; the PKCS#7 OID ``1.2.840.113549.1.7.2`` is read
  too) whose content is the SM3 of ``Signature.xml`` (some producers write it base64, which
  ofdrw accepts and so do we), the signer's certificate, and one SignerInfo with an SM2
  signature (SM2-1 ``1.2.156.10197.1.301.1`` or SM2-with-SM3) over that content, or over the
  DER of its authenticated attributes when it has them (their ``messageDigest`` must then be
  the SM3 of ``Signature.xml``).  It is verified here: the digest, the signature with the
  certificate's SM2 key (default user id), and the certificate is handed back for trust.
* **A bare SM2 signature** (ofdrw's ``GMDigestSignatureContainer``, "digest mode"): the DER
  ``(r, s)`` over ``Signature.xml`` and nothing else.  Without a certificate nobody can say
  whose key made it, so it cannot be checked: ``ofd_signer_unknown``.

Anything else is ``malformed_signature``.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass

from asn1crypto import cms, core
from asn1crypto import x509 as asn1_x509

from keystore import sm2
from seals.codes import ProblemCode

__all__ = ["DigitalSignatureCheck", "verify_digital_signature"]

#: GB/T 35275 signedData and PKCS#7 signedData
_SIGNED_DATA = {"1.2.156.10197.6.1.4.2.2", "1.2.840.113549.1.7.2"}
#: what a SignerInfo of an SM2 signature may name as its algorithm
_SM2_ALGORITHMS = {sm2.OID_SM2_SIGN, sm2.OID_SM2_WITH_SM3}


@dataclass(frozen=True)
class DigitalSignatureCheck:
    """What the value of a ``Type="Sign"`` signature says: ``ok``, or the problem."""

    ok: bool
    message: str
    problem: ProblemCode | None = None
    #: the signer's certificate, when the value carries one
    signer_certificate: asn1_x509.Certificate | None = None

    @property
    def intact(self) -> bool:
        """The value verifies over ``Signature.xml`` (the signer's trust aside)."""
        return self.ok


class _ContentInfo(core.Sequence):
    _fields = [  # noqa: RUF012 - asn1crypto's declaration
        ("content_type", core.ObjectIdentifier),
        ("content", cms.SignedData, {"explicit": 0, "optional": True}),
    ]


def _fail(
    problem: ProblemCode, message: str, cert: asn1_x509.Certificate | None = None
) -> DigitalSignatureCheck:
    return DigitalSignatureCheck(False, message, problem, cert)


def _is_bare_sm2(value: bytes) -> bool:
    try:
        sm2.parse_signature(value)
    except sm2.Sm2Error:
        return False
    return True


def _signer_certificate(
    signed: cms.SignedData, info: cms.SignerInfo
) -> asn1_x509.Certificate | None:
    sid = info["sid"]
    if sid.name != "issuer_and_serial_number":
        return None
    wanted = sid.chosen
    for choice in signed["certificates"] or []:
        if choice.name != "certificate":
            continue
        cert = choice.chosen
        if cert.issuer == wanted["issuer"] and cert.serial_number == wanted["serial_number"].native:
            return cert
    return None


def _content_digest(signed: cms.SignedData) -> bytes | None:
    """The OCTET STRING the SignedData carries as its content (GB/T 35275: the digest)."""
    content = signed["encap_content_info"]["content"]
    if content is None or isinstance(content, core.Void):
        return None
    if isinstance(content, core.ParsableOctetString):
        return bytes(content.native)
    encoded = bytes(content.dump())
    if encoded[:1] == b"\xa0":  # the [0] EXPLICIT wrapper of a content type asn1crypto lacks
        first = encoded[1] if len(encoded) > 1 else 0
        encoded = encoded[2 + (first & 0x7F if first > 0x80 else 0) :]
    return bytes(core.OctetString.load(encoded).native)


def _matches(digest: bytes, carried: bytes) -> bool:
    if carried == digest:
        return True
    try:  # ofdrw's "non-standard format": the digest in base64
        return base64.b64decode(carried, validate=True) == digest
    except (binascii.Error, ValueError):
        return False


def verify_digital_signature(value: bytes, signature_xml: bytes) -> DigitalSignatureCheck:
    """Check a ``Type="Sign"`` signature value over the exact bytes of ``Signature.xml``
    (see the module docstring).  Never raises for bad bytes: they are a failed check."""
    try:
        return _verify(value, signature_xml)
    except (ValueError, TypeError, KeyError, IndexError, AttributeError):
        return _fail(
            ProblemCode.MALFORMED_SIGNATURE, "the SignedData of the signature cannot be read"
        )


def _verify(value: bytes, signature_xml: bytes) -> DigitalSignatureCheck:
    digest = sm2.sm3(signature_xml)
    try:
        outer = _ContentInfo.load(value, strict=True)
        kind = outer["content_type"].dotted
        if kind not in _SIGNED_DATA or outer["content"] is None:
            raise ValueError("not a SignedData")
        signed = outer["content"]
        infos = list(signed["signer_infos"])
        signed.native  # noqa: B018 - parse it all now: a broken structure fails here
    except (ValueError, TypeError, KeyError, IndexError):
        if _is_bare_sm2(value):
            return _fail(
                ProblemCode.OFD_SIGNER_UNKNOWN,
                "the signature value is a bare SM2 signature without a certificate: the "
                "signer cannot be known, so the signature cannot be checked",
            )
        return _fail(
            ProblemCode.MALFORMED_SIGNATURE,
            "the signature value is neither a GB/T 35275 SignedData nor an SES_Signature",
        )
    if len(infos) != 1:
        return _fail(
            ProblemCode.MALFORMED_SIGNATURE,
            f"the SignedData has {len(infos)} signers; a signature of the list has one",
        )
    info = infos[0]
    cert = _signer_certificate(signed, info)
    if cert is None:
        return _fail(
            ProblemCode.OFD_SIGNER_UNKNOWN,
            "the SignedData does not carry the certificate its signer names",
        )
    algorithm = info["signature_algorithm"]["algorithm"].dotted
    if algorithm not in _SM2_ALGORITHMS or info["digest_algorithm"]["algorithm"].dotted != (
        sm2.OID_SM3
    ):
        return _fail(
            ProblemCode.SIGNATURE_INVALID,
            f"the SignedData is signed with {algorithm}, not SM2 with SM3",
            cert,
        )
    attributes = info["signed_attrs"]
    carried = _content_digest(signed)
    if attributes.native is not None and len(attributes):
        signed_bytes = attributes.untag().dump()
        found = [a for a in attributes if a["type"].native == "message_digest"]
        carried = bytes(found[0]["values"][0].native) if found else None
    else:
        signed_bytes = carried or b""
    if carried is None or not _matches(digest, carried):
        return _fail(
            ProblemCode.DIGEST_MISMATCH,
            "the SignedData was made over other data than this Signature.xml",
            cert,
        )
    try:
        sm2.Sm2PublicKey.from_spki(cert.public_key).verify(
            bytes(info["signature"].native), signed_bytes
        )
    except sm2.Sm2Error as ex:
        return _fail(
            ProblemCode.SIGNATURE_INVALID,
            f"the SM2 signature of the SignedData does not verify ({ex.code})",
            cert,
        )
    return DigitalSignatureCheck(
        True,
        "the GB/T 35275 SignedData verifies over Signature.xml (SM3, SM2 with the "
        "certificate's key)",
        None,
        cert,
    )
