"""The server's revocation source, kept in step with the seal registry of every process.

:class:`signer.revocation.InternalRevocation` keeps each OCSP response of our responder for a
minute, so that a burst of documents sealed or verified with one seal costs one OCSP
signature.  A status change must not wait for that minute: a seal revoked by the CLI (another
process) would still be "good" in the documents this server extends and in the fresh
revocation data its verifier uses.

:class:`RegistryRevocation` therefore checks the registry's revision (one primary-key read,
:meth:`seals.service.SealService.revision`) before it answers: if any process changed a status
since the revision it last saw, every cached response is dropped.  It reads the revision again
after answering, and drops that answer if a change was committed meanwhile (it may have been
made from the registry as it was before).  Changes made in this process are also heard at
once through the service's listeners.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import datetime

from asn1crypto import ocsp as asn1_ocsp
from asn1crypto import x509 as asn1_x509

from keystore.pki import InternalPki
from seals.ports import StatusChanged
from seals.service import SealService
from signer.revocation import InternalRevocation, Sm2Revocation

__all__ = ["RegistryRevocation"]


class RegistryRevocation(InternalRevocation):
    """Our OCSP responses and CRLs for the signer and the verifier, never staler than the
    registry's last committed status change."""

    def __init__(
        self,
        pki: InternalPki,
        seals: SealService,
        *,
        clock: Callable[[], datetime] | None = None,
        max_age: float = 60.0,
        sm2: Sm2Revocation | None = None,
    ) -> None:
        """``sm2``: the SM2 hierarchy's revocation data; its cache is dropped with the rest
        (a status change acts on both certificates of a seal)."""
        super().__init__(
            pki,
            seals.certificate_status,
            clock=clock,
            revoked=seals.revoked_certificates,
            max_age=max_age,
            sm2=sm2,
        )
        self._seals = seals
        self._seen_lock = threading.Lock()
        self._seen = seals.revision()
        seals.subscribe(self._changed)

    def _changed(self, change: StatusChanged) -> None:
        """A change made in this process: its certificates' responses go at once (and the
        SM2 responder's, see :meth:`InternalRevocation.forget`)."""
        for serial in change.serials:
            self.forget(serial)

    def _sync(self) -> int:
        """Drop every cached response if the registry changed since last seen; the revision."""
        revision = self._seals.revision()
        with self._seen_lock:
            if revision != self._seen:
                self.forget_all()
                self._seen = revision
        return revision

    def ocsp_for(
        self, certificate: asn1_x509.Certificate, *, by_ca: bool = False
    ) -> asn1_ocsp.OCSPResponse:
        before = self._sync()
        response = super().ocsp_for(certificate, by_ca=by_ca)
        if self._seals.revision() != before:
            # a change was committed while this answer was made: do not keep it
            self.forget(certificate.serial_number)
        return response
