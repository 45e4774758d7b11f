"""A seal's certificate: its subject, its PEM form, and whether one of our seal CAs issued it.

Shared by issuance (:mod:`seals.issuance`), certificates from another CA
(:mod:`seals.licensed_ca`), the chain a signature carries (:mod:`seals.seal_signers`) and the
revocation data our OCSP and CRL publish (:mod:`seals.revocation_data`).
"""

from __future__ import annotations

from dataclasses import dataclass

from asn1crypto import pem as asn1_pem
from asn1crypto import x509 as asn1_x509

from keystore.pki import InternalPki, SealSubject
from keystore.sm2_pki import Sm2Pki

from .kinds import SealKind
from .license import License

__all__ = ["SealCas", "armor", "pem_der", "seal_subject"]


def seal_subject(license: License, kind: SealKind) -> SealSubject:
    """The subject of a seal certificate (DESIGN.md 1), for our CA and for a request."""
    if kind is SealKind.LEGAL_REP:
        return SealSubject(
            license.name, license.uscc, "法定代表人", person=license.legal_representative
        )
    return SealSubject(license.name, license.uscc, kind.label)


def pem_der(text: str) -> bytes:
    """The DER inside one PEM block."""
    return bytes(asn1_pem.unarmor(text.encode())[2])


def armor(cert: asn1_x509.Certificate) -> str:
    """A certificate as PEM text."""
    return bytes(asn1_pem.armor("CERTIFICATE", cert.dump())).decode()


@dataclass(frozen=True)
class SealCas:
    """This server's seal CAs: the international one, and the SM2 one if seals get SM2 keys."""

    pki: InternalPki
    sm2_pki: Sm2Pki | None = None

    def issued_here(self, certificate_pem: str | None, *, sm2: bool = False) -> bool:
        """Whether our seal CA (international or SM2) issued this certificate; an imported one
        is its CA's business, our OCSP and CRL do not speak for it."""
        if not certificate_pem:
            return False
        if sm2:
            if self.sm2_pki is None:
                return False
            issuing = self.sm2_pki.certificate("issuing")
        else:
            issuing = self.pki.chain()[0]
        return bool(asn1_x509.Certificate.load(pem_der(certificate_pem)).issuer == issuing.subject)
