"""What our OCSP responders and CRLs publish of the seals: the status of each certificate our
seal CAs issued, and the list of revoked (and held) ones.

The SM2 certificate of a seal version shares its status: a suspension puts both on hold, a
revocation or re-issue revokes both with the same reason code and time.  A certificate from
another CA (:mod:`seals.licensed_ca`) is left out: its CA publishes its status.
"""

from __future__ import annotations

from cryptography import x509

from keystore.pki import CertStatus, RevokedCert

from .certificates import SealCas
from .model import RevocationReason, Seal
from .ports import EnterpriseRepository

__all__ = ["RevocationData"]

_RFC5280 = {
    RevocationReason.UNSPECIFIED: x509.ReasonFlags.unspecified,
    RevocationReason.KEY_COMPROMISE: x509.ReasonFlags.key_compromise,
    RevocationReason.AFFILIATION_CHANGED: x509.ReasonFlags.affiliation_changed,
    RevocationReason.SUPERSEDED: x509.ReasonFlags.superseded,
    RevocationReason.CESSATION_OF_OPERATION: x509.ReasonFlags.cessation_of_operation,
    RevocationReason.CERTIFICATE_HOLD: x509.ReasonFlags.certificate_hold,
}


class RevocationData:
    """The seals' certificate statuses, read from the registry for the PKI."""

    def __init__(self, repository: EnterpriseRepository, cas: SealCas) -> None:
        self._repo = repository
        self._cas = cas

    def certificate_status(self, serial: int) -> CertStatus | None:
        """Status of a seal certificate for OCSP: None if the CA never issued it."""
        seal = self._repo.seal_by_serial(serial)
        if seal is None or not self._cas.issued_here(seal.certificate_pem):
            return None
        return _cert_status(seal)

    def revoked_certificates(self) -> list[RevokedCert]:
        """What the seal CA's CRL lists: the serials of revoked and held seals."""
        out = []
        for seal in self._repo.revoked_seals():
            if not self._cas.issued_here(seal.certificate_pem):
                continue  # an imported certificate: its CA publishes its status
            status = _cert_status(seal)
            assert status.revoked_at is not None
            out.append(
                RevokedCert(
                    seal.serial,
                    status.revoked_at,
                    status.reason,
                    invalidity_date=seal.compromised_at,
                )
            )
        return out

    def sm2_certificate_status(self, serial: int) -> CertStatus | None:
        """Status of a seal's SM2 certificate for the SM2 OCSP responder: None if unknown."""
        seal = self._repo.seal_by_sm2_serial(serial)
        if seal is None or not self._cas.issued_here(seal.sm2_certificate_pem, sm2=True):
            return None
        return _cert_status(seal)

    def sm2_revoked_certificates(self) -> list[RevokedCert]:
        """What the SM2 seal CA's CRL lists: the SM2 serials of revoked and held seals."""
        out = []
        for seal in self._repo.revoked_seals():
            if seal.sm2_serial is None or not self._cas.issued_here(
                seal.sm2_certificate_pem, sm2=True
            ):
                continue
            status = _cert_status(seal)
            assert status.revoked_at is not None
            out.append(
                RevokedCert(
                    seal.sm2_serial,
                    status.revoked_at,
                    status.reason,
                    invalidity_date=seal.compromised_at,
                )
            )
        return out


def _cert_status(seal: Seal) -> CertStatus:
    since, reason = seal.revoked_since, seal.published_reason
    if since is None or reason is None:
        return CertStatus()
    return CertStatus(since, _RFC5280[reason])
