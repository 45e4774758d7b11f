"""Reading an ``SES_Signature`` of version 1, 4 or 5 (the ASN.1 is :mod:`.asn1`).

* **The version comes from ``TBS_Sign.version``**, the first field of ``toSign`` in every
  version, never from how many fields the structure has (ofdrw counts them): 1 is GM/T
  0031-2014's layout, 4 and 5 GB/T 38540-2020's and GM/T 0031-2025's; any other is
  :class:`~seals.errors.UnsupportedSealVersion`.  The seal inside is read from its own header
  and must be of the same generation: a v1 seal in a v1 signature, a v4 or v5 seal in a v4 or
  v5 one (else :class:`~seals.errors.UnsupportedSealVersion`, naming the seal's version).
* **BER is read, the structure is not bent**, as for the seal (:func:`seals.esl.ber_load`):
  any valid encoding of the right structure; another structure, bytes cut short or after the
  outer SEQUENCE are :class:`~seals.errors.InvalidSesSignature`, and so is a signing time
  without a zone (v4, v5) or a v1 ``timeInfo`` that is not a time (:mod:`.timeinfo`).
* **What the signer signed is ``toSign`` exactly as carried** (:attr:`ReadSignature.to_sign`,
  cut out of the input), and the seal is read from the bytes the signature carries.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from asn1crypto import core

from seals.errors import InvalidSealData, InvalidSesSignature, UnsupportedSealVersion
from seals.esl import ParsedSeal, ber_load, encoded_fields, parse_seseal

from .asn1 import SesSignatureRead, SesSignatureV1
from .timeinfo import read_time_info

__all__ = ["READ_VERSIONS", "ReadSignature", "read_ses_signature"]

#: ``TBS_Sign.version`` values read: GM/T 0031-2014, GB/T 38540-2020, GM/T 0031-2025
READ_VERSIONS = (1, 4, 5)
#: the seal versions each signature version carries
_SEAL_VERSIONS = {1: (1,), 4: (4, 5), 5: (4, 5)}


@dataclass(frozen=True)
class ReadSignature:
    """The fields of an ``SES_Signature``, whatever its version."""

    #: ``TBS_Sign.version``
    version: int
    seal: ParsedSeal
    #: ``toSign`` exactly as carried: what the signer signed
    to_sign: bytes
    #: the signing time (aware, UTC)
    signing_time: datetime
    #: how the signing time was read when a zone was assumed (v1), else None
    time_note: str | None
    data_hash: bytes
    property_info: str
    #: the signer's certificate as carried (``cert``; v1: ``toSign.cert``)
    certificate: bytes
    #: dotted OID (``signatureAlgID``; v1: ``toSign.signatureAlgorithm``)
    signature_algorithm: str
    signature: bytes
    #: the TimeStampToken of ``timeStamp`` (v4, v5), or None
    timestamp: bytes | None


def _version(der: bytes) -> tuple[bytes, tuple[bytes, ...], int]:
    """``toSign`` as carried, its fields, and its version."""
    try:
        outer = encoded_fields(der)
        fields = encoded_fields(outer[0]) if outer else ()
        if not fields:
            raise ValueError("toSign is missing or empty")
        return outer[0], fields, int(ber_load(core.Integer, fields[0]).native)
    except ValueError as exc:
        raise InvalidSesSignature(f"not an SES_Signature: {exc}") from exc


def read_ses_signature(der: bytes) -> ReadSignature:
    """Read an ``SES_Signature`` (see the module docstring); nothing is verified here.

    Raises :class:`~seals.errors.InvalidSesSignature` or
    :class:`~seals.errors.UnsupportedSealVersion`.
    """
    if not isinstance(der, bytes | bytearray | memoryview):
        raise TypeError(f"an SES_Signature is bytes, not {type(der).__name__}")
    der = bytes(der)
    to_sign_encoding, to_sign_fields, version = _version(der)
    if version not in READ_VERSIONS:
        raise UnsupportedSealVersion(
            f"signature data version {version} is not supported (eseal reads 1, 4 and 5)",
            version=version,
        )
    layout: type[core.Sequence] = SesSignatureV1 if version == 1 else SesSignatureRead
    try:
        value = ber_load(layout, der)
    except ValueError as exc:
        raise InvalidSesSignature(f"not a version {version} SES_Signature: {exc}") from exc
    try:
        seal = parse_seseal(to_sign_fields[1])
    except InvalidSealData as exc:
        raise InvalidSesSignature(f"the signature's seal is not a seal: {exc.detail}") from exc
    if seal.version not in _SEAL_VERSIONS[version]:
        raise UnsupportedSealVersion(
            f"a version {version} signature cannot carry a version {seal.version} seal",
            version=seal.version,
        )
    to_sign = value["to_sign"]
    time_note: str | None = None
    if version == 1:
        try:
            signing_time, time_note = read_time_info(bytes(to_sign["time_info"]))
        except ValueError as exc:
            raise InvalidSesSignature(f"not a version 1 SES_Signature: {exc}") from exc
        certificate, algorithm = to_sign["cert"], to_sign["signature_algorithm"]
        token = None
    else:
        when = to_sign["time_info"].native
        if when.tzinfo is None:
            raise InvalidSesSignature("timeInfo is not a time with a zone (Z or an offset)")
        signing_time = when.astimezone(UTC)
        certificate, algorithm = value["cert"], value["signature_alg_id"]
        stamp = value["time_stamp"]
        token = bytes(stamp) if stamp.native is not None else None
    return ReadSignature(
        version=version,
        seal=seal,
        to_sign=to_sign_encoding,
        signing_time=signing_time,
        time_note=time_note,
        data_hash=bytes(to_sign["data_hash"]),
        property_info=str(to_sign["property_info"].native),
        certificate=bytes(certificate),
        signature_algorithm=algorithm.dotted,
        signature=bytes(value["signature"]),
        timestamp=token,
    )
