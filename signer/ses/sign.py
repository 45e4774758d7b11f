"""Making the national signature data (``SES_Signature``, versions 4 and 5).

"Data to sign → signature value → embed": the caller hashes what it protects (for OFD, the
bytes of ``Signature.xml``) with SM3 and hands the hash; this module builds ``TBS_Sign``
around the seal, has ``sign`` sign DER(``TBS_Sign``) and embeds the value.  The key never comes
here.  What is written:

* ``version``: the seal's version unless told (4 or 5; a v5 signature over a v4 seal is
  allowed, as when a platform signs with GM/T 0031-2025 while old seals are still valid);
* ``eseal``: the seal's bytes, exactly as given (a seal another maker encoded in BER stays
  so: its maker's signature covers those bytes); all the rest is DER;
* ``timeInfo``: the signing time, UTC ``GeneralizedTime`` in whole seconds;
* ``dataHash``: the 32-byte SM3 hash, as the octets of a BIT STRING;
* ``propertyInfo``: ``property_info`` (IA5String, ASCII only);
* ``cert``: the signer's certificate; ``signatureAlgID``: SM2-with-SM3
  ``1.2.156.10197.1.501``; ``signature``: DER ``(r, s)`` over ``TBS_Sign`` as written, with
  the default user id, checked against the certificate before it is returned;
* ``timeStamp`` when ``timestamp`` is given: the DER ``TimeStampToken`` it returns for the
  signature value (the DER ``(r, s)``), its imprint SM3 or SHA-256 of those bytes.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from asn1crypto import core

from keystore import sm2
from seals.esl import (
    MADE_VERSIONS,
    certificate_sm2_key,
    check_timestamp_token,
    der_sequence,
    lists_signer,
    parse_seseal,
)

from .read import read_ses_signature

__all__ = ["make_ses_signature"]


def make_ses_signature(
    *,
    seal_der: bytes,
    data_hash: bytes,
    property_info: str,
    signer_certificate: bytes,
    sign: Callable[[bytes], bytes],
    time: datetime,
    timestamp: Callable[[bytes], bytes] | None,
    version: int | None = None,
) -> bytes:
    """The DER of an ``SES_Signature`` (see the module docstring).

    ``sign(DER(TBS_Sign))`` returns the signer's SM2-with-SM3 signature, DER ``(r, s)`` with
    the default user id (:meth:`keystore.sm2.Sm2Signer.sign`).  The seal must be a v4 or v5
    seal (:func:`seals.esl.parse_seseal`'s errors for bytes that are not one) that lists
    ``signer_certificate``.  Raises :class:`ValueError` for arguments that cannot make a
    signature that verifies.
    """
    seal = parse_seseal(seal_der)
    if seal.version not in MADE_VERSIONS:
        raise ValueError(
            f"a version 4 or 5 signature carries a version 4 or 5 seal, not {seal.version}"
        )
    chosen = seal.version if version is None else version
    if chosen not in MADE_VERSIONS:
        raise ValueError(f"eseal makes signatures of version 4 or 5, not {chosen}")
    if not isinstance(data_hash, bytes) or len(data_hash) != 32:
        raise ValueError("data_hash is the 32-byte SM3 hash of the protected bytes")
    if not isinstance(property_info, str) or not property_info.isascii():
        raise ValueError("property_info must be an ASCII string (IA5String)")
    if not isinstance(time, datetime) or time.tzinfo is None:
        raise ValueError("time must be an aware datetime")
    try:
        key = certificate_sm2_key(signer_certificate)
    except ValueError as exc:
        raise ValueError(f"the signer certificate is not an SM2 certificate: {exc}") from exc
    if not lists_signer(seal, signer_certificate):
        raise ValueError("the seal's certList does not name the signer certificate")

    to_sign_der = der_sequence(
        core.Integer(chosen).dump(),
        bytes(seal_der),
        core.GeneralizedTime(time.astimezone(UTC).replace(microsecond=0)).dump(),
        core.OctetBitString(data_hash).dump(),
        core.IA5String(property_info).dump(),
    )
    signature = bytes(sign(to_sign_der))
    try:
        key.verify(signature, to_sign_der)
    except sm2.Sm2Error as exc:
        raise ValueError(
            f"the signature does not verify with the signer certificate ({exc.code})"
        ) from exc
    fields = [
        to_sign_der,
        core.OctetString(signer_certificate).dump(),
        core.ObjectIdentifier(sm2.OID_SM2_WITH_SM3).dump(),
        core.OctetBitString(signature).dump(),
    ]
    if timestamp is not None:
        token = bytes(timestamp(signature))
        check_timestamp_token(token)
        fields.append(core.OctetBitString(token, explicit=0).dump())
    der = der_sequence(*fields)
    read_ses_signature(der)  # what we write, we read back
    return der
