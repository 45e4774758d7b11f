"""Certificates from another CA: PKCS#10 requests for a seal key, and checks of what comes back.

The 2025 rules (国办发〔2025〕33号) want seal certificates from a licensed CA.  eseal keeps the
key and asks: :func:`certification_request` builds the PKCS#10 ``CertificationRequestInfo``
with asn1crypto and has it signed through a callback that the key store provides (the key
never leaves the store).  When the CA answers, :func:`check_certificate_key`,
:func:`check_valid_at` and :func:`check_chain` say whether the certificate may replace the
seal's own; each refusal has its own code (:class:`ImportRefused`).

The chain check is deliberately simple and strict: every link's signature (ECDSA, RSA, or SM2
with SM3 and the default user id), every issuer a CA valid now, and the path ends at one of the
configured trust anchors.  The verifier does the full RFC 5280 / revocation work on every
document later; this check only keeps a wrong file out of the seal record.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime

from asn1crypto import csr as asn1_csr
from asn1crypto import keys as asn1_keys
from asn1crypto import pem as asn1_pem
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization

from . import sm2
from .errors import ErrorKind, KeystoreError
from .sm2_pki import verify_certificate_signature

__all__ = [
    "ImportRefused",
    "certification_request",
    "check_certificate_key",
    "check_chain",
    "check_valid_at",
    "load_certificates",
    "signature_algorithm_for",
]

#: the longest chain followed from a seal certificate to an anchor
_MAX_DEPTH = 6


class ImportRefused(KeystoreError):
    """A certificate offered for a seal is refused; ``code`` says why.

    ``certificate_invalid`` (not a readable PEM/DER certificate), ``certificate_key_mismatch``
    (it does not certify the seal's key), ``certificate_not_valid_now`` (expired or not yet
    valid), ``certificate_untrusted`` (no path to a configured trust anchor).
    """

    code = "certificate_invalid"
    kind = ErrorKind.INVALID
    title = "Certificate refused"


# -- requests ------------------------------------------------------------------------------


def signature_algorithm_for(spki: asn1_keys.PublicKeyInfo) -> str:
    """The asn1crypto name of the signature a request with this key carries:
    SM2-with-SM3 (1.2.156.10197.1.501) for SM2, ECDSA or RSA PKCS#1 v1.5 with SHA-256 else."""
    if sm2.is_sm2_spki(spki):
        return sm2.NAME_SM2_WITH_SM3
    if spki.algorithm == "ec":
        return "sha256_ecdsa"
    if spki.algorithm == "rsa":
        return "sha256_rsa"
    raise KeystoreError(f"no request signature for {spki.algorithm} keys", code="key_unsupported")


def certification_request(
    subject: x509.Name, spki: asn1_keys.PublicKeyInfo, sign: Callable[[bytes], bytes]
) -> bytes:
    """A PEM PKCS#10 request for ``subject`` and ``spki``, signed by ``sign``.

    ``sign`` gets the DER of the ``CertificationRequestInfo`` and returns the signature the
    algorithm of :func:`signature_algorithm_for` names (DER ``(r, s)`` for ECDSA and SM2).
    The subject comes from ``cryptography``'s Name (the CA's profile builds it), re-read by
    asn1crypto, so its UTF8String attributes are kept byte for byte.
    """
    info = asn1_csr.CertificationRequestInfo(
        {
            "version": "v1",
            "subject": asn1_x509.Name.load(subject.public_bytes()),
            "subject_pk_info": spki,
            "attributes": [],
        }
    )
    request = asn1_csr.CertificationRequest(
        {
            "certification_request_info": info,
            "signature_algorithm": {"algorithm": signature_algorithm_for(spki)},
            "signature": sign(info.dump()),
        }
    )
    return bytes(asn1_pem.armor("CERTIFICATE REQUEST", request.dump()))


# -- checks of a returned certificate ------------------------------------------------------


def load_certificates(data: bytes | str, what: str) -> list[asn1_x509.Certificate]:
    """Certificates from PEM (one or more) or one DER certificate; ``certificate_invalid``."""
    raw = data.encode() if isinstance(data, str) else data
    try:
        if asn1_pem.detect(raw):
            found = [
                asn1_x509.Certificate.load(der)
                for kind, _, der in asn1_pem.unarmor(raw, multiple=True)
                if kind == "CERTIFICATE"
            ]
        else:
            found = [asn1_x509.Certificate.load(raw)] if raw.strip() else []
        for cert in found:
            cert.native  # noqa: B018 - parse it all now: a broken field fails here, not later
    except (ValueError, TypeError, KeyError) as exc:
        raise ImportRefused(f"the {what} is not a readable certificate") from exc
    return found


def check_certificate_key(cert: asn1_x509.Certificate, key: asn1_keys.PublicKeyInfo) -> None:
    """``certificate_key_mismatch`` unless ``cert`` certifies ``key`` (the seal's key)."""
    certified = cert["tbs_certificate"]["subject_public_key_info"]
    if sm2.is_sm2_spki(key):
        from .sm2_pki import check_certificate_key as check_sm2

        try:
            check_sm2(cert, sm2.Sm2PublicKey.from_spki(key))
        except sm2.Sm2Error:
            raise ImportRefused(
                "the certificate does not certify the seal's SM2 key",
                code="certificate_key_mismatch",
            ) from None
        return
    try:
        same = serialization.load_der_public_key(
            certified.dump()
        ) == serialization.load_der_public_key(key.dump())
    except (ValueError, TypeError):
        same = False
    if not same:
        raise ImportRefused(
            "the certificate does not certify the seal's key", code="certificate_key_mismatch"
        )


def check_valid_at(cert: asn1_x509.Certificate, when: datetime, what: str) -> None:
    """``certificate_not_valid_now`` unless ``when`` lies within the validity of ``cert``."""
    if not cert.not_valid_before <= when <= cert.not_valid_after:
        raise ImportRefused(
            f"the {what} is valid from {cert.not_valid_before.isoformat()} to "
            f"{cert.not_valid_after.isoformat()}, not now",
            code="certificate_not_valid_now",
        )


def _issued_by(child: asn1_x509.Certificate, issuer: asn1_x509.Certificate) -> bool:
    """Whether ``issuer`` (by name and key) signed ``child``."""
    if child.issuer != issuer.subject:
        return False
    if child["signature_algorithm"]["algorithm"].native == sm2.NAME_SM2_WITH_SM3:
        try:
            verify_certificate_signature(child, issuer)
        except KeystoreError:
            return False
        return True
    try:
        x509.load_der_x509_certificate(child.dump()).verify_directly_issued_by(
            x509.load_der_x509_certificate(issuer.dump())
        )
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def _is_ca(cert: asn1_x509.Certificate) -> bool:
    constraints = cert.basic_constraints_value
    return bool(constraints is not None and constraints["ca"].native)


def check_chain(
    cert: asn1_x509.Certificate,
    intermediates: Sequence[asn1_x509.Certificate],
    anchors: Sequence[asn1_x509.Certificate],
    when: datetime,
) -> list[asn1_x509.Certificate]:
    """The path from ``cert`` up to a trust anchor (anchor last), or ``certificate_untrusted``.

    Each issuer on the way must have signed the certificate below it, be a CA
    (basicConstraints cA) and be valid at ``when``; ``intermediates`` may hold the anchor too
    (a CA's chain file often ends with its root), and certificates that are not on the path.
    """
    if not anchors:
        raise ImportRefused(
            "no trust anchor is configured for imported certificates (ESEAL_TRUST_BUNDLE)",
            code="certificate_untrusted",
        )
    anchor_ders = {a.dump() for a in anchors}
    path = [cert]
    current = cert
    for _ in range(_MAX_DEPTH):
        for anchor in anchors:
            if _issued_by(current, anchor) and _is_ca(anchor):
                check_valid_at(anchor, when, "trust anchor")
                return [*path, anchor]
        step = next(
            (
                c
                for c in intermediates
                if c.dump() not in anchor_ders
                and all(c.dump() != p.dump() for p in path)
                and _is_ca(c)
                and _issued_by(current, c)
            ),
            None,
        )
        if step is None:
            break
        check_valid_at(step, when, f"CA certificate {step.subject.human_friendly!r}")
        path.append(step)
        current = step
    raise ImportRefused(
        f"the certificate issued by {cert.issuer.human_friendly!r} does not chain to a "
        "configured trust anchor",
        code="certificate_untrusted",
    )
