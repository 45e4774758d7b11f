"""Revocation data for our own certificates, made in-process (no network call to ourselves).

B-LT embeds OCSP responses and CRLs in the document security store.  For certificates of the
seal-issuing CA they come straight from the PKI's own responder; the seal CA's certificate is
covered by the root's CRL.  Responses are kept for a short while so a burst of documents
sealed with one seal costs one OCSP signature.

The SM2 hierarchy (:mod:`keystore.sm2_pki`) has its own responder, CRLs and root
(:class:`Sm2Revocation`).  :class:`InternalRevocation` holds it beside the ECDSA/RSA one and
answers for a certificate from the hierarchy that issued it; a validation context carries the
data of the hierarchies its certificates belong to and no other, so what an ECDSA-sealed
file embeds is what it embedded before SM2 existed.
"""

from __future__ import annotations

import hashlib
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
from keystore.sm2_ocsp import ocsp_response as sm2_ocsp_response
from keystore.sm2_pki import Sm2Pki

from .sm2_cms import SIGNATURE_VALIDATOR

__all__ = ["InternalRevocation", "Sm2Revocation"]


class _Cache:
    """OCSP responses and a root CRL kept ``max_age`` seconds of a clock (thread-safe)."""

    def __init__(self, max_age: float, clock: Callable[[], datetime]) -> None:
        self._max_age = max_age
        self._clock = clock
        self._lock = threading.Lock()
        self._ocsp: dict[tuple[int, bool], tuple[float, asn1_ocsp.OCSPResponse]] = {}
        self._root_crl: tuple[float, asn1_crl.CertificateList] | None = None

    def _fresh(self, made: float, now: float) -> bool:
        return 0 <= now - made < self._max_age

    def ocsp(
        self, key: tuple[int, bool], make: Callable[[], asn1_ocsp.OCSPResponse]
    ) -> asn1_ocsp.OCSPResponse:
        now = self._clock().timestamp()
        with self._lock:
            cached = self._ocsp.get(key)
            if cached and self._fresh(cached[0], now):
                return cached[1]
        response = make()
        with self._lock:
            self._ocsp[key] = (now, response)
        return response

    def root_crl(self, make: Callable[[], asn1_crl.CertificateList]) -> asn1_crl.CertificateList:
        now = self._clock().timestamp()
        with self._lock:
            if self._root_crl and self._fresh(self._root_crl[0], now):
                return self._root_crl[1]
        crl = make()
        with self._lock:
            self._root_crl = (now, crl)
        return crl

    def forget(self, serial: int) -> None:
        with self._lock:
            self._ocsp.pop((serial, False), None)
            self._ocsp.pop((serial, True), None)

    def forget_all(self) -> None:
        with self._lock:
            self._ocsp.clear()


class Sm2Revocation:
    """Revocation data of the SM2 hierarchy, made in-process: the SM2 OCSP responder's answers
    (:mod:`keystore.sm2_ocsp`, signed SM2-with-SM3) and the SM2 CAs' CRLs."""

    def __init__(
        self,
        pki: Sm2Pki,
        lookup: StatusLookup,
        *,
        max_age: float = 60.0,
        clock: Callable[[], datetime] | None = None,
        revoked: Callable[[], Iterable[RevokedCert]] = list,
    ) -> None:
        """``lookup`` gives the status of a seal's SM2 certificate by its serial
        (:meth:`seals.service.SealService.sm2_certificate_status`); ``revoked`` lists the
        SM2 seal CA's revoked certificates (``sm2_revoked_certificates``)."""
        self._pki = pki
        self._lookup = lookup
        self._revoked = revoked
        self._clock = clock or (lambda: datetime.now(UTC))
        self._cache = _Cache(max_age, self._clock)
        self._root = fully_parsed(pki.certificate("root"))
        self._issuing = fully_parsed(pki.certificate("issuing"))

    @property
    def root(self) -> asn1_x509.Certificate:
        return self._root

    @property
    def issuing(self) -> asn1_x509.Certificate:
        return self._issuing

    def issued(self, certificate: asn1_x509.Certificate) -> bool:
        """Whether ``certificate`` belongs to the SM2 hierarchy (its root, its seal CA, or a
        certificate either of them issued)."""
        return certificate.issuer in (self._issuing.subject, self._root.subject)

    def ocsp_for(self, certificate: asn1_x509.Certificate) -> asn1_ocsp.OCSPResponse:
        """The SM2 responder's answer about a certificate of the SM2 seal CA, signed by the
        SM2 seal CA itself (RFC 6960 4.2.2.2).

        Always by the CA: pyHanko checks a delegated responder's certificate (ocsp-nocheck)
        in a validation context of its own making, without the SM2 signature validator
        (pyhanko-certvalidator 0.33, ``_validate_delegated_ocsp_provenance``), so it cannot
        accept an answer of the SM2 responder certificate; and a CA-signed answer survives a
        responder rotation (see signer/extension.py, the reason the ECDSA ones embedded at
        extension are CA-signed too)."""

        def make() -> asn1_ocsp.OCSPResponse:
            issuer_key = bytes(
                self._issuing["tbs_certificate"]["subject_public_key_info"]["public_key"]
            )
            request = asn1_ocsp.OCSPRequest(
                {
                    "tbs_request": {
                        "request_list": [
                            {
                                "req_cert": {
                                    "hash_algorithm": {"algorithm": "sha256"},
                                    "issuer_name_hash": hashlib.sha256(
                                        self._issuing.subject.dump()
                                    ).digest(),
                                    "issuer_key_hash": hashlib.sha256(issuer_key).digest(),
                                    "serial_number": certificate.serial_number,
                                }
                            }
                        ]
                    }
                }
            )
            der = sm2_ocsp_response(self._pki, request.dump(), self._lookup, by_ca=True)
            return fully_parsed(asn1_ocsp.OCSPResponse.load(der))

        return self._cache.ocsp((certificate.serial_number, True), make)

    def issuing_crl(self) -> asn1_crl.CertificateList:
        """The SM2 seal CA's complete CRL as of now (not cached, as for ECDSA)."""
        der = self._pki.crl(self._revoked())
        return fully_parsed(asn1_crl.CertificateList.load(der))

    def root_crl(self) -> asn1_crl.CertificateList:
        return self._cache.root_crl(
            lambda: fully_parsed(asn1_crl.CertificateList.load(self._pki.crl([], ca="root")))
        )

    def forget_all(self) -> None:
        self._cache.forget_all()


class InternalRevocation:
    """Builds validation contexts that know our trust anchors and our revocation data."""

    def __init__(
        self,
        pki: InternalPki,
        lookup: StatusLookup,
        *,
        max_age: float = 60.0,
        clock: Callable[[], datetime] | None = None,
        revoked: Callable[[], Iterable[RevokedCert]] = list,
        sm2: Sm2Revocation | None = None,
    ) -> None:
        """``clock`` gives the time the responses are made at (the PKI's own clock decides what
        they say); the cache keeps a response ``max_age`` seconds of that clock.  ``revoked``
        lists every revoked certificate of the seal-issuing CA (for its CRL).  ``sm2``: the
        SM2 hierarchy's revocation data (None: SM2 certificates get none)."""
        self._pki = pki
        self._lookup = lookup
        self._revoked = revoked
        self._clock = clock or (lambda: datetime.now(UTC))
        self._cache = _Cache(max_age, self._clock)
        self._sm2 = sm2
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

    @property
    def sm2(self) -> Sm2Revocation | None:
        """The SM2 hierarchy's revocation data, if configured."""
        return self._sm2

    def now(self) -> datetime:
        return self._clock()

    def is_sm2(self, certificate: asn1_x509.Certificate) -> bool:
        """Whether ``certificate`` belongs to the SM2 hierarchy."""
        return self._sm2 is not None and self._sm2.issued(certificate)

    def issued_by_us(self, certificate: asn1_x509.Certificate) -> bool:
        """Whether a seal CA of ours (ECDSA/RSA or SM2) issued ``certificate``."""
        if certificate.issuer == self._issuing.subject:
            return True
        return self._sm2 is not None and certificate.issuer == self._sm2.issuing.subject

    def ocsp_for(
        self, certificate: asn1_x509.Certificate, *, by_ca: bool = False
    ) -> asn1_ocsp.OCSPResponse:
        """Our responder's answer about ``certificate``; ``by_ca``: signed by the seal CA
        itself (see :meth:`keystore.pki.InternalPki.ocsp_response`).  A certificate of the
        SM2 seal CA is answered by the SM2 responder, always signed by the SM2 seal CA
        (:meth:`Sm2Revocation.ocsp_for` says why)."""
        if self._sm2 is not None and certificate.issuer == self._sm2.issuing.subject:
            return self._sm2.ocsp_for(certificate)

        def make() -> asn1_ocsp.OCSPResponse:
            cert = x509.load_der_x509_certificate(certificate.dump())
            request = (
                ocsp.OCSPRequestBuilder()
                .add_certificate(cert, self._pki.issuing, hashes.SHA256())
                .build()
                .public_bytes(serialization.Encoding.DER)
            )
            return fully_parsed(
                asn1_ocsp.OCSPResponse.load(
                    self._pki.ocsp_response(request, self._lookup, by_ca=by_ca)
                )
            )

        return self._cache.ocsp((certificate.serial_number, by_ca), make)

    def issuing_crl(self) -> asn1_crl.CertificateList:
        """The seal-issuing CA's complete CRL as of now (not cached: made when a revoked
        seal's signature is extended, which is rare)."""
        der = self._pki.crl(self._revoked())
        return fully_parsed(asn1_crl.CertificateList.load(der))

    def root_crl(self) -> asn1_crl.CertificateList:
        return self._cache.root_crl(
            lambda: fully_parsed(asn1_crl.CertificateList.load(self._pki.crl([], ca="root")))
        )

    def forget(self, serial: int) -> None:
        """Drop a cached response (call after revoking a certificate).  The SM2 responder's
        cache is dropped whole: the caller names the seal's ECDSA serial, and a status change
        acts on both certificates of a seal."""
        self._cache.forget(serial)
        if self._sm2 is not None:
            self._sm2.forget_all()

    def forget_all(self) -> None:
        """Drop every cached response (after a status change touching several seals)."""
        self._cache.forget_all()
        if self._sm2 is not None:
            self._sm2.forget_all()

    def hierarchies(
        self, certificates: Iterable[asn1_x509.Certificate], *, sm2: bool = False
    ) -> tuple[bool, bool]:
        """(ECDSA/RSA, SM2): which hierarchies a set of certificates needs data of.  Any
        certificate that is not SM2 needs the ECDSA/RSA one; no certificate at all needs it
        too (as before SM2) unless ``sm2`` says the SM2 one is meant (an SM2 TSA's first
        document timestamp)."""
        flags = [self.is_sm2(c) for c in certificates]
        ecdsa = not all(flags) if flags else not sm2
        return ecdsa, any(flags) or sm2

    def roots(self) -> list[asn1_x509.Certificate]:
        """Our trust anchors: the root, and the SM2 root if configured."""
        return [self._root] + ([self._sm2.root] if self._sm2 is not None else [])

    def intermediates(self) -> list[asn1_x509.Certificate]:
        """Our seal CAs."""
        return [self._issuing] + ([self._sm2.issuing] if self._sm2 is not None else [])

    def context(
        self,
        certificates: Iterable[asn1_x509.Certificate],
        *,
        extra_roots: Iterable[asn1_x509.Certificate] = (),
    ) -> ValidationContext:
        """A hard-fail, no-fetching validation context holding revocation data for each
        of ``certificates`` that one of our seal CAs issued, and the root CRL of each of our
        hierarchies they belong to (see :meth:`hierarchies`)."""
        certificates = list(certificates)
        ecdsa, sm2 = self.hierarchies(certificates)
        ocsps = [
            self.ocsp_for(c) for c in certificates if self.issued_by_us(c) and c.serial_number != 0
        ]
        crls = [self.root_crl()] if ecdsa else []
        if sm2 and self._sm2 is not None:
            crls.append(self._sm2.root_crl())
        return ValidationContext(
            trust_roots=[*self.roots(), *extra_roots],
            other_certs=self.intermediates(),
            ocsps=ocsps,
            crls=crls,
            allow_fetching=False,
            revocation_mode="hard-fail",
            moment=self._clock(),
            # SM2 signatures of certificates, CRLs, OCSP answers and CMS (signer/sm2_cms.py)
            signature_validator=SIGNATURE_VALIDATOR,
        )
