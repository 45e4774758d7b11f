"""Revocation data for our own certificates, made in-process (no network call to ourselves).

B-LT embeds OCSP responses and CRLs in the document security store.  For certificates of the
seal-issuing CA they come straight from the PKI's own responder; the seal CA's certificate is
covered by the root's CRL.  Responses are kept for a short while so a burst of documents
sealed with one seal costs one OCSP signature.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from datetime import UTC, datetime

from asn1crypto import crl as asn1_crl
from asn1crypto import ocsp as asn1_ocsp
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509 import ocsp
from pyhanko_certvalidator import ValidationContext

from keystore.asn1_shared import fully_parsed
from keystore.pki import InternalPki, RevokedCert, StatusLookup

__all__ = ["InternalRevocation"]


class InternalRevocation:
    """Builds validation contexts that know our trust anchor and our revocation data."""

    def __init__(
        self,
        pki: InternalPki,
        lookup: StatusLookup,
        *,
        max_age: float = 60.0,
        clock: Callable[[], datetime] | None = None,
        revoked: Callable[[], Iterable[RevokedCert]] = list,
    ) -> None:
        """``clock`` gives the time the responses are made at (the PKI's own clock decides what
        they say); the cache keeps a response ``max_age`` seconds of that clock.  ``revoked``
        lists every revoked certificate of the seal-issuing CA (for its CRL)."""
        self._pki = pki
        self._lookup = lookup
        self._revoked = revoked
        self._max_age = max_age
        self._clock = clock or (lambda: datetime.now(UTC))
        self._lock = threading.Lock()
        self._ocsp: dict[tuple[int, bool], tuple[float, asn1_ocsp.OCSPResponse]] = {}
        self._root_crl: tuple[float, asn1_crl.CertificateList] | None = None
        # the anchors and the cached responses are shared by threads: parsed before publication
        self._root = fully_parsed(
            asn1_x509.Certificate.load(pki.root.public_bytes(serialization.Encoding.DER))
        )
        self._issuing = fully_parsed(
            asn1_x509.Certificate.load(pki.issuing.public_bytes(serialization.Encoding.DER))
        )

    @property
    def root(self) -> asn1_x509.Certificate:
        return self._root

    @property
    def issuing(self) -> asn1_x509.Certificate:
        return self._issuing

    def now(self) -> datetime:
        return self._clock()

    def _fresh(self, made: float, now: float) -> bool:
        return 0 <= now - made < self._max_age

    def ocsp_for(
        self, certificate: asn1_x509.Certificate, *, by_ca: bool = False
    ) -> asn1_ocsp.OCSPResponse:
        """Our responder's answer about ``certificate``; ``by_ca``: signed by the seal CA
        itself (see :meth:`keystore.pki.InternalPki.ocsp_response`)."""
        serial = certificate.serial_number
        now = self._clock().timestamp()
        with self._lock:
            cached = self._ocsp.get((serial, by_ca))
            if cached and self._fresh(cached[0], now):
                return cached[1]
        cert = x509.load_der_x509_certificate(certificate.dump())
        request = (
            ocsp.OCSPRequestBuilder()
            .add_certificate(cert, self._pki.issuing, hashes.SHA256())
            .build()
            .public_bytes(serialization.Encoding.DER)
        )
        response = fully_parsed(
            asn1_ocsp.OCSPResponse.load(self._pki.ocsp_response(request, self._lookup, by_ca=by_ca))
        )
        with self._lock:
            self._ocsp[(serial, by_ca)] = (now, response)
        return response

    def issuing_crl(self) -> asn1_crl.CertificateList:
        """The seal-issuing CA's complete CRL as of now (not cached: made when a revoked
        seal's signature is extended, which is rare)."""
        der = self._pki.crl(self._revoked())
        return fully_parsed(asn1_crl.CertificateList.load(der))

    def root_crl(self) -> asn1_crl.CertificateList:
        now = self._clock().timestamp()
        with self._lock:
            if self._root_crl and self._fresh(self._root_crl[0], now):
                return self._root_crl[1]
        crl = fully_parsed(asn1_crl.CertificateList.load(self._pki.crl([], ca="root")))
        with self._lock:
            self._root_crl = (now, crl)
        return crl

    def forget(self, serial: int) -> None:
        """Drop a cached response (call after revoking a certificate)."""
        with self._lock:
            self._ocsp.pop((serial, False), None)
            self._ocsp.pop((serial, True), None)

    def forget_all(self) -> None:
        """Drop every cached response (after a status change touching several seals)."""
        with self._lock:
            self._ocsp.clear()

    def context(
        self,
        certificates: Iterable[asn1_x509.Certificate],
        *,
        extra_roots: Iterable[asn1_x509.Certificate] = (),
    ) -> ValidationContext:
        """A hard-fail, no-fetching validation context holding revocation data for each
        of ``certificates`` that our seal CA issued."""
        ocsps = [
            self.ocsp_for(c)
            for c in certificates
            if c.issuer == self._issuing.subject and c.serial_number != 0
        ]
        return ValidationContext(
            trust_roots=[self._root, *extra_roots],
            other_certs=[self._issuing],
            ocsps=ocsps,
            crls=[self.root_crl()],
            allow_fetching=False,
            revocation_mode="hard-fail",
            moment=self._clock(),
        )
