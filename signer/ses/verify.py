"""Verifying the national signature data (``SES_Signature`` v1, v4 and v5) in GM/T 0031's order.

:func:`verify_ses_signature` reads the signature (:mod:`.read`) and then checks, in this order
(DESIGN.md section 6), each step a :class:`SesCheck` of :class:`SesVerification`:

1. ``format``: an SES_Signature of version 1 carrying a v1 seal, or of version 4 or 5
   carrying a v4 or v5 seal, read as :mod:`.read` says (bytes that are not raise
   :class:`~seals.errors.InvalidSesSignature`, :class:`~seals.errors.InvalidSealData` is
   turned into it, and an unknown version raises
   :class:`~seals.errors.UnsupportedSealVersion`: these are the only errors); its message
   says when a v1 ``timeInfo`` without a zone was read as China Standard Time;
2. ``seal_maker_signature``: the maker's SM2 signature over ``eSealInfo`` as the seal carries
   it (v1: over ``SEQUENCE {esealInfo, cert, signatureAlgorithm}``);
   ``seal_timestamp`` next, for a v5 seal that carries one (a timestamp over that signature);
3. ``seal_created_in_maker_validity``: the seal's ``createDate`` within the maker
   certificate's validity;
4. ``seal_validity``: the signing time (``timeInfo``, or ``at`` when given) within the seal's
   ``validStart``..``validEnd``;
5. ``signer_in_cert_list``: the signer's certificate in the seal's ``certList`` (by DER, or by
   hash for certListType 2);
6. ``data_hash``: SM3 of ``data`` (or the given ``data_hash``) equals ``dataHash``; left out
   when neither is given;
7. ``signature``: the signer's SM2 signature (SM3, default user id) over ``toSign`` exactly
   as the signature carries it (DER, or the signer's BER), never a re-encoding;
8. ``timestamp``, when the signature carries one (v4, v5): an RFC 3161 token over the
   signature value (:mod:`signer.ses.tokens`), whose ``genTime`` is within ``max_time_skew``
   of ``timeInfo`` (a token cannot predate what it stamps, and a ``timeInfo`` long before the
   token is a back-dated claim).

Every step runs whatever the earlier ones found, so a report lists all that is wrong.  Trust
in the maker's, the signer's and the TSA's certificates (chains, revocation) and the seal
record's and license's policy are not asked here: the caller maps this result into its report.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from asn1crypto import x509 as asn1_x509

from keystore import sm2
from seals.codes import ProblemCode
from seals.esl import (
    SIGNATURE_ALGORITHMS,
    ParsedSeal,
    check_maker_signature,
    lists_signer,
    strict_load,
)

from .read import read_ses_signature
from .tokens import TokenCheck, check_token

__all__ = [
    "DEFAULT_MAX_TIME_SKEW",
    "SesCheck",
    "SesStep",
    "SesVerification",
    "verify_ses_signature",
]

#: how far a signature timestamp's genTime may be from the signature's timeInfo
DEFAULT_MAX_TIME_SKEW = timedelta(minutes=10)


class SesStep(enum.StrEnum):
    """The name of a step of the verification, in GM/T 0031's order."""

    FORMAT = "format"
    SEAL_MAKER_SIGNATURE = "seal_maker_signature"
    SEAL_TIMESTAMP = "seal_timestamp"
    SEAL_CREATED_IN_MAKER_VALIDITY = "seal_created_in_maker_validity"
    SEAL_VALIDITY = "seal_validity"
    SIGNER_IN_CERT_LIST = "signer_in_cert_list"
    DATA_HASH = "data_hash"
    SIGNATURE = "signature"
    TIMESTAMP = "timestamp"


@dataclass(frozen=True)
class SesCheck:
    """One step of the verification."""

    name: SesStep
    ok: bool
    #: the report's problem code when not ``ok``
    problem: ProblemCode | None
    #: what was found, for a person (never quotes the protected data)
    message: str


@dataclass(frozen=True)
class SesVerification:
    """What :func:`verify_ses_signature` found."""

    #: ``TBS_Sign.version``: 1 (GM/T 0031-2014), 4 or 5
    version: int
    #: the steps in the order they were checked
    checks: tuple[SesCheck, ...]
    #: every check ok
    valid: bool
    #: the seal the signature carries
    seal: ParsedSeal
    #: the signer's certificate (``cert``); None when it is not a DER certificate
    signer_certificate: asn1_x509.Certificate | None
    #: the DER of ``cert`` as carried (v1: ``toSign.cert``)
    signer_certificate_der: bytes
    #: ``timeInfo``: the signing time the signer claims (aware, UTC)
    signing_time: datetime
    #: ``genTime`` of the signature timestamp when it validated, else None
    timestamp_time: datetime | None
    #: ``dataHash``
    data_hash: bytes
    #: whether ``dataHash`` matched ``data``; None when no data was given
    data_hash_ok: bool | None
    property_info: str
    #: dotted OID of ``signatureAlgID`` (v1: ``toSign.signatureAlgorithm``)
    signature_algorithm: str
    signature: bytes
    #: the DER TimeStampToken of ``timeStamp``, or None (always None for v1)
    timestamp: bytes | None
    #: the TSA certificate of a readable signature timestamp
    tsa_certificate: asn1_x509.Certificate | None
    #: ``toSign`` exactly as the signature carries it: what the signer signed
    to_sign_der: bytes

    @property
    def problems(self) -> tuple[ProblemCode, ...]:
        """The problem codes of the failed steps, in order (no repeats)."""
        return tuple(dict.fromkeys(c.problem for c in self.checks if not c.ok and c.problem).keys())


def _aware(value: datetime, what: str) -> datetime:
    if not isinstance(value, datetime) or value.tzinfo is None:
        raise ValueError(f"{what} must be an aware datetime")
    return value.astimezone(UTC)


def _certificate(der: bytes) -> asn1_x509.Certificate | None:
    try:
        return strict_load(asn1_x509.Certificate, der)
    except (ValueError, TypeError):
        return None


def _within(when: datetime, start: datetime, end: datetime) -> bool:
    return start <= when <= end


def verify_ses_signature(
    der: bytes,
    *,
    data: bytes | None = None,
    data_hash: bytes | None = None,
    at: datetime | None = None,
    max_time_skew: timedelta = DEFAULT_MAX_TIME_SKEW,
) -> SesVerification:
    """Verify an SES_Signature in GM/T 0031's order (see the module docstring).

    ``data``: the protected bytes, hashed with SM3 and compared with ``dataHash``; or
    ``data_hash``, the SM3 hash itself (not both).  ``at``: the time the seal's validity period
    is judged at instead of the signing time (``timeInfo``).  Raises only for bytes that are
    not an SES_Signature of a supported version (and :class:`ValueError` for bad arguments);
    a signature that does not hold is a result whose ``valid`` is False.
    """
    if data is not None and data_hash is not None:
        raise ValueError("give the protected data or its hash, not both")
    judged_at = _aware(at, "at") if at is not None else None
    read = read_ses_signature(der)
    version, seal = read.version, read.seal
    signing_time = read.signing_time
    signed_hash = read.data_hash
    cert_der = read.certificate
    signer_cert = _certificate(cert_der)
    algorithm = read.signature_algorithm
    value = read.signature
    token = read.timestamp
    checks: list[SesCheck] = []

    def check(step: SesStep, ok: bool, problem: ProblemCode, message: str) -> None:
        checks.append(SesCheck(step, ok, None if ok else problem, message))

    # 1. format and version
    check(
        SesStep.FORMAT,
        True,
        ProblemCode.MALFORMED_SIGNATURE,
        f"SES_Signature version {version} carrying an SESeal version {seal.version}"
        + (f"; {read.time_note}" if read.time_note else ""),
    )

    # 2. the seal maker's signature (and a v5 seal's timestamp over it)
    maker_ok = check_maker_signature(seal)
    check(
        SesStep.SEAL_MAKER_SIGNATURE,
        maker_ok,
        ProblemCode.SEAL_MAKER_SIGNATURE_INVALID,
        "the seal maker's SM2 signature over the seal data verifies"
        if maker_ok
        else "the seal maker's signature over the seal data does not verify with the "
        "maker certificate's key (SM2 with SM3, default user id)",
    )
    if seal.timestamp is not None:
        seal_token = check_token(seal.timestamp, seal.signature)
        check(
            SesStep.SEAL_TIMESTAMP,
            seal_token.ok,
            ProblemCode.SEAL_TIMESTAMP_INVALID,
            f"seal data {seal_token.message}" if seal_token.ok else seal_token.message,
        )

    # 3. createDate within the maker certificate's validity
    maker_cert = _certificate(seal.maker_certificate)
    if maker_cert is None:
        check(
            SesStep.SEAL_CREATED_IN_MAKER_VALIDITY,
            False,
            ProblemCode.SEAL_CREATED_OUTSIDE_MAKER_VALIDITY,
            "the seal maker's certificate is not a DER X.509 certificate",
        )
    else:
        validity = maker_cert["tbs_certificate"]["validity"]
        start, end = validity["not_before"].native, validity["not_after"].native
        created_ok = _within(seal.created, start, end)
        check(
            SesStep.SEAL_CREATED_IN_MAKER_VALIDITY,
            created_ok,
            ProblemCode.SEAL_CREATED_OUTSIDE_MAKER_VALIDITY,
            f"the seal was made at {seal.created.isoformat()}, "
            + ("within" if created_ok else "outside")
            + f" the maker certificate's validity {start.isoformat()} .. {end.isoformat()}",
        )

    # 4. the seal's validity period at the signing time
    when = judged_at or signing_time
    period_ok = _within(when, seal.valid_start, seal.valid_end)
    what = "the time asked" if judged_at else "the signing time"
    check(
        SesStep.SEAL_VALIDITY,
        period_ok,
        ProblemCode.SEAL_NOT_VALID_AT_SIGNING,
        f"{what} {when.isoformat()} is "
        + ("within" if period_ok else "outside")
        + f" the seal's validity {seal.valid_start.isoformat()} .. {seal.valid_end.isoformat()}",
    )

    # 5. the signer's certificate in the seal's certList
    listed = lists_signer(seal, cert_der)
    how = "certificates" if seal.cert_list_type == 1 else "certificate hashes"
    check(
        SesStep.SIGNER_IN_CERT_LIST,
        listed,
        ProblemCode.SIGNER_NOT_IN_SEAL,
        f"the signer's certificate is {'' if listed else 'not '}among the seal's {how}",
    )

    # 6. the data hash
    data_hash_ok: bool | None = None
    if data is not None or data_hash is not None:
        expected = sm2.sm3(bytes(data)) if data is not None else bytes(data_hash or b"")
        data_hash_ok = expected == signed_hash
        check(
            SesStep.DATA_HASH,
            data_hash_ok,
            ProblemCode.DIGEST_MISMATCH,
            "the SM3 hash of the protected data equals dataHash"
            if data_hash_ok
            else "the SM3 hash of the protected data differs from dataHash: "
            "the data changed after signing",
        )

    # 7. the signer's signature over toSign as carried
    check(SesStep.SIGNATURE, *_signature(algorithm, signer_cert, value, read.to_sign))

    # 8. the timestamp over the signature value
    token_check: TokenCheck | None = None
    if token is not None:
        token_check = check_token(token, value)
        ok, message = token_check.ok, token_check.message
        gen_time = token_check.gen_time
        if ok and gen_time is not None and abs(gen_time - signing_time) > max_time_skew:
            ok = False
            message = (
                f"the timestamp's genTime {gen_time.isoformat()} is more than "
                f"{max_time_skew} from the signing time {signing_time.isoformat()}"
            )
        token_check = TokenCheck(
            ok, message, gen_time, token_check.tsa_certificate, token_check.imprint_algorithm
        )
        check(SesStep.TIMESTAMP, ok, ProblemCode.TIMESTAMP_INVALID, message)

    return SesVerification(
        version=version,
        checks=tuple(checks),
        valid=all(c.ok for c in checks),
        seal=seal,
        signer_certificate=signer_cert,
        signer_certificate_der=cert_der,
        signing_time=signing_time,
        timestamp_time=token_check.gen_time if token_check and token_check.ok else None,
        data_hash=signed_hash,
        data_hash_ok=data_hash_ok,
        property_info=read.property_info,
        signature_algorithm=algorithm,
        signature=value,
        timestamp=token,
        tsa_certificate=token_check.tsa_certificate if token_check else None,
        to_sign_der=read.to_sign,
    )


def _signature(
    algorithm: str, cert: asn1_x509.Certificate | None, value: bytes, to_sign: bytes
) -> tuple[bool, ProblemCode, str]:
    problem = ProblemCode.SIGNATURE_INVALID
    if algorithm not in SIGNATURE_ALGORITHMS:
        return False, problem, f"the signature algorithm {algorithm} is not SM2 with SM3"
    if cert is None:
        return False, problem, "the signer's certificate is not a DER X.509 certificate"
    try:
        key = sm2.Sm2PublicKey.from_spki(cert.public_key)
    except sm2.Sm2Error:
        return False, problem, "the signer's certificate does not certify an SM2 key"
    try:
        key.verify(value, to_sign)
    except sm2.Sm2Error as exc:
        return False, problem, f"the signer's SM2 signature does not verify ({exc.code})"
    return True, problem, "the signer's SM2 signature over the signed data verifies"
