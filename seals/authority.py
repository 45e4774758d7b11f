"""The registration authority's seal in a verdict: the platform seal that seals license PDFs.

The seal (``keystore.pki.InternalPki.ensure_authority``) belongs to no enterprise: its
certificate names the authority (``O=<authority>, title=登记机关``) and carries no USCC.  A
signature made with it is judged here instead of against the license registry: it is valid
for the policy when it is one of the authority seal's certificates (a renamed or renewed
authority keeps its earlier ones), which are never revoked.  The report's ``enterprise``
names the authority, with no license status: the authority has no license here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from asn1crypto import x509 as asn1_x509

from .identity import CertificateIdentity
from .policy import SealVerdict
from .verdict import EnterpriseInfo, RevocationInfo

__all__ = ["AUTHORITY_SEAL_LABEL", "AuthoritySeals", "authority_verdict"]

#: the label the report gives the authority's seal
AUTHORITY_SEAL_LABEL = "登记机关电子印章"


@dataclass(frozen=True)
class AuthoritySeals:
    """Every certificate the authority's seal has had (current first)."""

    certificates: Sequence[asn1_x509.Certificate]

    def find(self, cert: asn1_x509.Certificate) -> asn1_x509.Certificate | None:
        """``cert`` if it is one of the authority seal's certificates, byte for byte."""
        der = cert.dump()
        return next((c for c in self.certificates if c.dump() == der), None)


def authority_verdict(identity: CertificateIdentity) -> SealVerdict:
    """The policy's verdict on a signature of the authority's seal: licensed, unrevoked."""
    return SealVerdict(
        revoked=RevocationInfo(revoked=False, at=None, reason=None, at_signing=False),
        enterprise=EnterpriseInfo(
            uscc=None,
            uscc_source=None,
            name=identity.organisation,
            certificate_name=identity.organisation,
            license_status_now=None,
            license_status_at_signing=None,
            matches_registry=True,
        ),
        licensed=True,
    )
