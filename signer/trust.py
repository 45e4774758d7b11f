"""What the verifier trusts and which revocation data it validates with.

:class:`Contexts` builds pyHanko's validation contexts for one verifier: the trust anchors,
the document's DSS, and, at the present, fresh answers of our own responder for our seal
certificates the DSS says nothing about.  :func:`read_dss` tells which certificates the DSS
has revocation data for (for the PAdES level and for those fresh answers).
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import threading
import weakref
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from asn1crypto import crl as asn1_crl
from asn1crypto import ocsp as asn1_ocsp
from asn1crypto import x509 as asn1_x509
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.validation import DocumentSecurityStore
from pyhanko.sign.validation.generic_cms import extract_tst_data_iter
from pyhanko_certvalidator import ValidationContext

from keystore.asn1_shared import fully_parsed

from . import asn1_names, verify_cache
from .cms_quirks import QUIRKS_POLICY, QUIRKS_VALIDATOR
from .revocation import InternalRevocation
from .verify_cache import PathCache

__all__ = ["Contexts", "DssCoverage", "read_dss"]

log = logging.getLogger(__name__)

verify_cache.install()
asn1_names.install()

#: at most this many of a document's certificates get a fresh OCSP response (see
#: :meth:`Contexts.fresh`)
_FRESH_MAX = 64


@dataclass(frozen=True)
class DssCoverage:
    """What the DSS holds, read once per document (for the level)."""

    #: (hash algorithm, issuer name hash, serial) of every OCSP response
    ocsp_ids: frozenset[tuple[str, bytes, int]]
    #: issuer names (DER) of every CRL
    crl_issuers: frozenset[bytes]

    def covers(self, cert: asn1_x509.Certificate) -> bool:
        """Whether there is revocation data for ``cert``."""
        if cert.issuer.dump() in self.crl_issuers:
            return True
        for algorithm, name_hash, serial in self.ocsp_ids:
            if serial != cert.serial_number:
                continue
            try:
                if hashlib.new(algorithm, cert.issuer.dump()).digest() == name_hash:
                    return True
            except ValueError:  # a hash hashlib does not know
                continue
        return False


class Contexts:
    """pyHanko validation contexts for one verifier; shared by every verification thread."""

    def __init__(
        self,
        roots: Sequence[asn1_x509.Certificate],
        issuing: asn1_x509.Certificate,
        *,
        allow_fetching: bool,
        responder: InternalRevocation | None,
    ) -> None:
        # parsed completely before the first verification thread starts
        self.roots = [fully_parsed(c) for c in roots]
        #: our seal CA
        self.issuing = fully_parsed(issuing)
        self._fetch = allow_fetching
        self._responder = responder
        self._fresh_lock = threading.Lock()
        self._fresh_cache: weakref.WeakKeyDictionary[PdfFileReader, tuple[list[Any], list[Any]]] = (
            weakref.WeakKeyDictionary()
        )
        #: path validation outcomes of the contexts made for documents begun with a revision
        self.paths = PathCache()
        self._revisions: weakref.WeakKeyDictionary[PdfFileReader, int] = weakref.WeakKeyDictionary()

    def begin(self, reader: PdfFileReader, revision: int) -> None:
        """The registry's revision the document ``reader`` is verified against: the contexts
        made for it from now on may answer path validations from :attr:`paths`
        (:mod:`signer.verify_cache`)."""
        with self._fresh_lock:
            self._revisions[reader] = revision

    def context(self, reader: PdfFileReader, moment: datetime | None = None) -> ValidationContext:
        """At the present: soft-fail.  At ``moment`` (a time a later timestamp proves, see
        :func:`signer.times.prove`): offline and hard-fail on the embedded validation data,
        which may be newer than the moment (made at extension or renewal)."""
        kwargs: dict[str, Any] = {
            "trust_roots": self.roots,
            "other_certs": [self.issuing],
            "allow_fetching": self._fetch,
            "revocation_mode": "soft-fail",
            # pyHanko's signature checks plus SM2 (signer/sm2_cms.py) and the named
            # leniencies for other signers' quirks (signer/cms_quirks.py)
            "signature_validator": QUIRKS_VALIDATOR,
            "algorithm_usage_policy": QUIRKS_POLICY,
        }
        if moment is not None:
            kwargs.update(
                moment=moment,
                best_signature_time=moment,
                retroactive_revinfo=True,
                allow_fetching=False,
                revocation_mode="hard-fail",
            )
        context = self._make(reader, moment, kwargs)
        with self._fresh_lock:
            revision = self._revisions.get(reader)
        if revision is not None:
            self.paths.tag(context, revision=revision, present=moment is None)
        return context

    def _make(
        self, reader: PdfFileReader, moment: datetime | None, kwargs: dict[str, Any]
    ) -> ValidationContext:
        if "/DSS" in reader.root:
            if moment is None:
                ocsps, crls = self.fresh(reader)
                kwargs.update(ocsps=ocsps, crls=crls)
            try:
                return DocumentSecurityStore.read_dss(reader).as_validation_context(kwargs)
            except Exception:  # a broken DSS is reported through the level, not fatal here
                log.info("unreadable DSS ignored")
                kwargs.pop("ocsps", None)
                kwargs.pop("crls", None)
        return ValidationContext(**kwargs)

    def fresh(self, reader: PdfFileReader) -> tuple[list[Any], list[Any]]:
        """(OCSP responses, CRLs) of our own responder for the certificates of our seal CA in
        the document's signatures and timestamps that the DSS holds no data for.

        A DSS written for some signatures only (another writer's, or an older eseal's) would
        otherwise make pyHanko find the other signatures' certificates untrusted ("OCSP
        response certificate serial number does not match") even at the present, soft-fail,
        where nothing is fetched.  For our certificates our responder is authoritative; they
        are merged with the DSS's, not put in its place.  Made once per document."""
        if self._responder is None:
            return [], []
        with self._fresh_lock:
            cached = self._fresh_cache.get(reader)
        if cached is not None:
            return cached
        dss = read_dss(reader)
        ocsps: list[Any] = []
        crls: list[Any] = []
        seen: set[tuple[bytes, int]] = set()
        for cert in _document_certs(reader):
            key = (cert.issuer.dump(), cert.serial_number)
            if cert.issuer != self.issuing.subject or key in seen or dss.covers(cert):
                continue
            seen.add(key)
            if len(seen) > _FRESH_MAX:  # a hostile file with thousands of certificates
                break
            try:
                ocsps.append(self._responder.ocsp_for(cert))
            except Exception:  # our responder has no answer: the DSS alone decides
                log.info("no fresh OCSP response for certificate %x", cert.serial_number)
        if ocsps and not dss.covers(self.issuing):
            crls.append(self._responder.root_crl())
        result = (ocsps, crls)
        with self._fresh_lock:
            self._fresh_cache[reader] = result
        return result


def _document_certs(reader: PdfFileReader) -> Iterator[asn1_x509.Certificate]:
    """Every certificate the document's signatures, document timestamps and signature
    timestamps carry (unreadable ones are passed by)."""
    try:
        sigs = list(reader.embedded_signatures)
    except Exception:
        return
    for sig in sigs:
        try:
            containers = [sig.signed_data]
            for signed in (False, True):
                containers += [t for t in extract_tst_data_iter(sig.signer_info, signed=signed)]
        except Exception:
            continue
        for signed_data in containers:
            with contextlib.suppress(Exception):
                for choice in signed_data["certificates"] or []:
                    if isinstance(choice.chosen, asn1_x509.Certificate):
                        yield choice.chosen


def read_dss(reader: PdfFileReader) -> DssCoverage:
    """Which certificates the document's DSS has revocation data for."""
    ocsp_ids: set[tuple[str, bytes, int]] = set()
    issuers: set[bytes] = set()
    try:
        dss = reader.root["/DSS"]
    except Exception:
        return DssCoverage(frozenset(), frozenset())
    try:
        for ref in dss.get("/OCSPs", []):
            resp = asn1_ocsp.OCSPResponse.load(ref.get_object().data)
            basic = resp["response_bytes"]["response"].parsed
            for single in basic["tbs_response_data"]["responses"]:
                cert_id = single["cert_id"]
                ocsp_ids.add(
                    (
                        cert_id["hash_algorithm"]["algorithm"].native,
                        cert_id["issuer_name_hash"].native,
                        cert_id["serial_number"].native,
                    )
                )
        for ref in dss.get("/CRLs", []):
            issuers.add(asn1_crl.CertificateList.load(ref.get_object().data).issuer.dump())
    except Exception:
        log.info("unreadable DSS entry ignored for the level")
    return DssCoverage(frozenset(ocsp_ids), frozenset(issuers))
