"""Verification of sealed PDFs: pyHanko's validation plus the license registry.

For every signature the report says whether it is intact and covers the document, whether
what came after it changes what a reader sees (pyHanko's difference analysis), whether its
certificate chains to a trust anchor, when it was made (the timestamp, or only the claimed
time), whether the seal was revoked at that time, and whether it belongs to the registered
enterprise whose license was active then.  The shape is DESIGN.md section 3.

Times.  A timestamp proves the signature existed at ``genTime`` within the token's accuracy;
eseal's TSA truncates to whole seconds and says ±1 s, and a claimed CMS ``signingTime`` has
whole seconds too.  The instant used for "at signing" is therefore the *latest* one the time
allows (``genTime + accuracy``, or the end of the named second): a revocation or license
change inside that window counts as before the signature, which is the safe side for
revocation and cancellation, and keeps a seal used within a second of its registration valid.

Problem codes (stable; the HTTP API, the CLI and the HTML report show them).  Per signature:

``byte_range_invalid``
    ``/ByteRange`` missing, not four non-negative integers starting at 0, beyond the end of the
    file, or its gap is not exactly this signature's own ``/Contents`` string (signature
    wrapping, universal signature forgery).
``signature_contents_invalid``
    ``/Contents`` missing, empty, all zeros or not a CMS SignedData with a signer.
``malformed_signature``
    the signature cannot be read for another reason.
``digest_mismatch`` · ``signature_invalid``
    the signed bytes were changed · the signature value does not verify.
``partial_coverage``
    the signed bytes do not end with a complete revision of the file.
``modified_after_signing``
    a later update can change what a reader sees: content, pages, resources, the catalog,
    form field values or annotations (incremental saving and shadow attacks), or objects
    written after signing that no cross-reference section lists.  Later signatures with
    their appearances, validation data and document timestamps are not.
``docmdp_violation``
    the document is certified and a later change exceeds what the certification allows.
``untrusted_certificate``
    an intact signature whose certificate does not chain to a trust anchor.
``timestamp_invalid``
    the signature timestamp does not validate (the claimed time is used instead).
``certificate_revoked``
    the seal was revoked or suspended at or before the time its timestamp proves.
``revoked_without_trusted_time``
    the seal is revoked or suspended and only a claimed signing time exists.
``no_uscc`` · ``enterprise_not_registered`` · ``registry_mismatch``
    no valid USCC in the certificate · not in the registry · name or USCC differ from it.
``license_not_active_at_signing``
    the license was not active at the signing time.

For the whole report: ``no_signatures``, ``no_seals`` (only document timestamps),
``expected_enterprise_missing`` (no valid seal of ``expect_uscc``; the message says whether
the document carries a seal of that enterprise at all), ``signature_not_valid`` (one per
signature that is not valid).

Beside the problems the report carries ``notices`` (:mod:`seals.verdict`): what changed about
a license or a seal after it signed.  They never change ``valid``.  ``expect_uscc`` is
normalised (whitespace removed, capitals) and must be a valid USCC, else the verification
is refused with the error invalid_uscc.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import re
import threading
import weakref
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from asn1crypto import cms
from asn1crypto import crl as asn1_crl
from asn1crypto import ocsp as asn1_ocsp
from asn1crypto import x509 as asn1_x509
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.diff_analysis import ModificationLevel
from pyhanko.sign.fields import enumerate_sig_fields
from pyhanko.sign.validation import (
    DocumentSecurityStore,
    EmbeddedPdfSignature,
    async_validate_pdf_signature,
    async_validate_pdf_timestamp,
)
from pyhanko.sign.validation.generic_cms import extract_tst_data_iter
from pyhanko.sign.validation.status import SignatureCoverageLevel
from pyhanko_certvalidator import ValidationContext

from keystore.asn1_shared import fully_parsed
from keystore.errors import EsealError
from seals.identity import CertificateIdentity, identity_of
from seals.license import LicenseStatus, status_at
from seals.model import Seal, SealStatus
from seals.service import SealService
from seals.verdict import Notice, expected_uscc, license_notice, merge_notices, seal_notices

from .core import InvalidPdf, _open, _short
from .revocation import InternalRevocation
from .sm2_cms import SIGNATURE_VALIDATOR, key_algorithm

__all__ = ["Verifier"]

log = logging.getLogger(__name__)

#: at most this many of a document's certificates get a fresh OCSP response (see
#: :meth:`Verifier._fresh`)
_FRESH_MAX = 64

#: a claimed signing time or a genTime without a fraction names a whole second
_ONE_SECOND = timedelta(seconds=1)


@dataclass
class _Problems:
    items: list[dict[str, str]]

    def add(self, code: str, message: str) -> None:
        self.items.append({"code": code, "message": message})


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


@dataclass(frozen=True)
class _Validation:
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


class Verifier:
    """Verifies documents; built once, reused for every request."""

    def __init__(
        self,
        seals: SealService,
        root: asn1_x509.Certificate,
        issuing: asn1_x509.Certificate,
        *,
        extra_roots: Sequence[asn1_x509.Certificate] = (),
        allow_fetching: bool = False,
        revocation: InternalRevocation | None = None,
        sm2_issuing: asn1_x509.Certificate | None = None,
    ) -> None:
        """``revocation``: our in-process responder, authoritative at the present for the
        certificates of our seal CA that a document's DSS has no data for (see
        :meth:`_fresh`).  ``sm2_issuing``: our SM2 seal CA, whose certificates are looked up
        among the seals' SM2 certificates (status, identity and notices as for ECDSA)."""
        self._seals = seals
        self._responder = revocation
        self._fresh_lock = threading.Lock()
        self._fresh_cache: weakref.WeakKeyDictionary[PdfFileReader, tuple[list[Any], list[Any]]] = (
            weakref.WeakKeyDictionary()
        )
        # shared by every verification thread: parsed completely before the first one starts
        self._roots = [fully_parsed(c) for c in (root, *extra_roots)]
        self._issuing = fully_parsed(issuing)
        self._sm2_issuing = fully_parsed(sm2_issuing) if sm2_issuing is not None else None
        self._fetch = allow_fetching

    def _context(self, reader: PdfFileReader, moment: datetime | None = None) -> ValidationContext:
        """At the present: soft-fail.  At ``moment`` (a time a later timestamp proves, see
        :func:`_proofs`): offline and hard-fail on the embedded validation data, which may be
        newer than the moment (made at extension or renewal)."""
        kwargs: dict[str, Any] = {
            "trust_roots": self._roots,
            "other_certs": [self._issuing],
            "allow_fetching": self._fetch,
            "revocation_mode": "soft-fail",
            # pyHanko's signature checks plus SM2 (signer/sm2_cms.py)
            "signature_validator": SIGNATURE_VALIDATOR,
        }
        if moment is not None:
            kwargs.update(
                moment=moment,
                best_signature_time=moment,
                retroactive_revinfo=True,
                allow_fetching=False,
                revocation_mode="hard-fail",
            )
        if "/DSS" in reader.root:
            if moment is None:
                ocsps, crls = self._fresh(reader)
                kwargs.update(ocsps=ocsps, crls=crls)
            try:
                return DocumentSecurityStore.read_dss(reader).as_validation_context(kwargs)
            except Exception:  # a broken DSS is reported through the level, not fatal here
                log.info("unreadable DSS ignored")
                kwargs.pop("ocsps", None)
                kwargs.pop("crls", None)
        return ValidationContext(**kwargs)

    def _fresh(self, reader: PdfFileReader) -> tuple[list[Any], list[Any]]:
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
        dss = _read_dss(reader)
        ocsps: list[Any] = []
        crls: list[Any] = []
        seen: set[tuple[bytes, int]] = set()
        for cert in _document_certs(reader):
            key = (cert.issuer.dump(), cert.serial_number)
            if cert.issuer != self._issuing.subject or key in seen or dss.covers(cert):
                continue
            seen.add(key)
            if len(seen) > _FRESH_MAX:  # a hostile file with thousands of certificates
                break
            try:
                ocsps.append(self._responder.ocsp_for(cert))
            except Exception:  # our responder has no answer: the DSS alone decides
                log.info("no fresh OCSP response for certificate %x", cert.serial_number)
        if ocsps and not dss.covers(self._issuing):
            crls.append(self._responder.root_crl())
        result = (ocsps, crls)
        with self._fresh_lock:
            self._fresh_cache[reader] = result
        return result

    async def verify(self, pdf: bytes, expect_uscc: str | None = None) -> dict[str, Any]:
        """The verification report.

        Raises :class:`InvalidPdf` if the file cannot be read and
        :class:`seals.errors.InvalidUSCC` if ``expect_uscc`` is not a USCC; never anything
        that is not an :class:`EsealError`, whatever the bytes.
        """
        expect_uscc = expected_uscc(expect_uscc)
        try:
            # _open catches pyHanko's usual read errors; a corrupt stream can still raise
            # zlib.error, AttributeError and the like, from _open or from what follows
            writer = _open(pdf)
            return await self._verify(pdf, writer.prev, expect_uscc)
        except EsealError:
            raise
        except Exception as exc:  # the PDF's structure broke pyHanko outside one signature
            log.info("verification failed on a malformed PDF", exc_info=True)
            raise InvalidPdf(f"the PDF cannot be verified: {_short(exc)}") from None

    async def _verify(
        self, pdf: bytes, reader: PdfFileReader, expect_uscc: str | None
    ) -> dict[str, Any]:
        try:
            pages = int(reader.root["/Pages"]["/Count"])
        except Exception:
            pages = 0
        report_problems = _Problems([])
        entries: list[dict[str, Any]] = []
        sigs, broken_fields = self._collect(reader, pdf)
        for name, code, error in broken_fields:
            entries.append(_broken_entry(name, code, error))
        doc_ts_revisions = [s.signed_revision for s in sigs if s.sig_object_type == "/DocTimeStamp"]
        dss = _read_dss(reader)
        certified = any(s.docmdp_level is not None for s in sigs)
        unlisted = _unlisted_objects(reader, pdf) if sigs else []
        notices: list[Notice] = []
        proofs = await self._proofs(reader, sigs)
        for sig in sigs:
            entries.append(
                await self._verify_one(
                    reader, sig, doc_ts_revisions, dss, certified, unlisted, notices, proofs
                )
            )
        entries.sort(key=lambda e: e.pop("_order", 1 << 30))
        if not entries:
            report_problems.add("no_signatures", "the document carries no signature")
        seals = [e for e in entries if e["type"] == "signature"]
        valid = bool(entries) and all(e["valid"] for e in entries) and bool(seals)
        if entries and not seals:
            report_problems.add("no_seals", "the document carries only timestamps, no seal")
        if expect_uscc is not None and not any(
            e["valid"] and (e.get("enterprise") or {}).get("uscc") == expect_uscc for e in seals
        ):
            valid = False
            carried = any((e.get("enterprise") or {}).get("uscc") == expect_uscc for e in seals)
            report_problems.add(
                "expected_enterprise_missing",
                f"the seals of the enterprise {expect_uscc} in the document are not valid"
                if carried
                else f"the document carries no seal of the enterprise {expect_uscc}",
            )
        for e in entries:
            if not e["valid"]:
                report_problems.add("signature_not_valid", f"signature {e['field']!r} is not valid")
        return {
            "valid": valid,
            "expect_uscc": expect_uscc,
            "file": {"sha256": hashlib.sha256(pdf).hexdigest(), "size": len(pdf), "pages": pages},
            "signatures": entries,
            "problems": report_problems.items,
            "notices": merge_notices(notices),
        }

    def _collect(
        self, reader: PdfFileReader, pdf: bytes
    ) -> tuple[list[EmbeddedPdfSignature], list[tuple[str, str, str]]]:
        sigs: list[EmbeddedPdfSignature] = []
        broken: list[tuple[str, str, str]] = []
        for name, _value, field_ref in enumerate_sig_fields(reader, filled_status=True):
            try:
                field = field_ref.get_object()
                found = _check_signature_dict(field["/V"], pdf)
                if found is not None:
                    broken.append((name, *found))
                    continue
                sig = EmbeddedPdfSignature(reader, field, name)
                sig.signed_revision  # noqa: B018 - resolves the signature's revision
                sigs.append(sig)
            except Exception as exc:
                broken.append(
                    (
                        name,
                        "malformed_signature",
                        f"the signature cannot be read: {type(exc).__name__}: {exc}"[:300],
                    )
                )
        sigs.sort(key=lambda s: s.signed_revision)
        return sigs, broken

    async def _verify_one(
        self,
        reader: PdfFileReader,
        sig: EmbeddedPdfSignature,
        doc_ts_revisions: list[int],
        dss: _Validation,
        certified: bool,
        unlisted: list[int],
        notices: list[Notice],
        proofs: _Proofs,
    ) -> dict[str, Any]:
        problems = _Problems([])
        is_ts = sig.sig_object_type == "/DocTimeStamp"
        entry: dict[str, Any] = {
            "_order": sig.signed_revision,
            "field": sig.field_name,
            "type": "document_timestamp" if is_ts else "signature",
        }
        validated_at: datetime | None = None
        try:
            if is_ts and sig.signed_revision in proofs.stamps:
                status, validated_at = proofs.stamps[sig.signed_revision]
                status_now = status
            elif is_ts:
                status = status_now = await async_validate_pdf_timestamp(sig, self._context(reader))
            else:
                status, status_now, validated_at = await self._validate_seal(
                    reader, sig, proofs.after(sig.signed_revision)
                )
        except Exception as exc:
            return {
                **_broken_entry(
                    sig.field_name,
                    "malformed_signature",
                    f"the signature cannot be validated: {type(exc).__name__}: {exc}"[:300],
                ),
                "_order": sig.signed_revision,
            }

        intact = bool(status.intact and status.valid)
        coverage = status.coverage
        integrity = "ok"
        if not status.intact:
            integrity = "broken"
            problems.add("digest_mismatch", "the signed bytes do not match the signature")
        elif not status.valid:
            integrity = "broken"
            problems.add("signature_invalid", "the signature value does not verify")
        if coverage not in (
            SignatureCoverageLevel.ENTIRE_FILE,
            SignatureCoverageLevel.ENTIRE_REVISION,
        ):
            integrity = "broken"
            problems.add(
                "partial_coverage", "the signature does not cover a whole revision of the file"
            )
        modifications = "none"
        if coverage is SignatureCoverageLevel.ENTIRE_REVISION and integrity == "ok":
            modifications, why = _modifications(reader, status, sig.signed_revision)
            if why is not None:
                integrity = "suspicious"
                problems.add(
                    "modified_after_signing",
                    f"the document was changed after signing ({modifications}) in a "
                    f"way that can alter what a reader sees: {why}",
                )
        signed_end = int(sig.byte_range[2]) + int(sig.byte_range[3])
        if integrity == "ok" and any(offset >= signed_end for offset in unlisted):
            integrity, modifications = "suspicious", "other"
            problems.add(
                "modified_after_signing",
                "objects were written after signing that no cross-reference section lists: "
                "a reader that rebuilds the cross-reference table would show them",
            )
        if certified and getattr(status, "docmdp_ok", None) is False:
            integrity = "suspicious" if integrity == "ok" else integrity
            problems.add(
                "docmdp_violation", "changes after a certification signature that it does not allow"
            )
        trusted = bool(status.trusted)
        if not trusted and intact:
            problems.add(
                "untrusted_certificate", "the certificate does not chain to a trusted anchor"
            )
        entry.update(
            {
                "integrity": integrity,
                "intact": intact,
                "trusted": trusted,
                "coverage": {
                    SignatureCoverageLevel.ENTIRE_FILE: "entire_file",
                    SignatureCoverageLevel.ENTIRE_REVISION: "earlier_revision",
                }.get(coverage, "partial"),
                "modifications": modifications,
            }
        )
        cert = status.signing_cert
        entry["certificate"] = {
            "subject": cert.subject.human_friendly,
            "issuer": cert.issuer.human_friendly,
            "serial": format(cert.serial_number, "x"),
        }
        entry["algorithm"] = key_algorithm(cert.public_key)
        # the time the chain was validated at: null for the present, else the time a later
        # timestamp proves (EN 319 102-1 past validation)
        entry["validated_at"] = _iso(validated_at)
        if is_ts:
            entry["timestamp"] = {
                "time": _iso(status.timestamp),
                "valid": intact and trusted,
                "tsa": cert.subject.human_friendly,
            }
            entry["valid"] = integrity == "ok" and trusted
            entry["problems"] = problems.items
            return entry

        ts = status.timestamp_validity
        ts_ok = bool(ts and ts.intact and ts.valid and ts.trusted)
        if ts is not None and not ts_ok:
            problems.add("timestamp_invalid", "the signature timestamp does not validate")
        entry["signing_time"] = _iso(status.signer_reported_dt)
        entry["timestamp"] = (
            {
                "time": _iso(ts.timestamp),
                "valid": ts_ok,
                "tsa": ts.signing_cert.subject.human_friendly,
            }
            if ts
            else None
        )
        level = "B-B"
        if ts is not None:
            level = "B-T"
            if dss.covers(cert):
                level = "B-LT"
                if any(r > sig.signed_revision for r in doc_ts_revisions):
                    level = "B-LTA"
        entry["level"] = level
        when: datetime | None
        if ts_ok and ts is not None:
            when, time_source = _latest(ts.timestamp, _token_accuracy(sig)), "timestamp"
        else:
            claimed = status.signer_reported_dt
            when, time_source = (_latest(claimed, None) if claimed else None), "claimed"
        entry["time_source"] = time_source

        identity = identity_of(cert)
        seal = self._our_seal(cert)
        entry["seal"] = {
            "kind": (seal.kind.value if seal else (identity.kind.value if identity.kind else None)),
            "label": (seal.label if seal else identity.title),
            "image_sha256": seal.image_sha256 if seal else None,
            "version": seal.version if seal else None,
        }
        revoked_at_signing = self._revocation(status_now, seal, when, time_source, problems, entry)
        license_ok = self._enterprise(identity, seal, when, time_source, problems, entry, notices)
        if seal is not None:
            notices += self._seal_notices(seal, entry, revoked_at_signing)
        entry["valid"] = integrity == "ok" and trusted and not revoked_at_signing and license_ok
        entry["problems"] = problems.items
        return entry

    async def _proofs(self, reader: PdfFileReader, sigs: Sequence[EmbeddedPdfSignature]) -> _Proofs:
        """The chain of document timestamps, newest first (EN 319 102-1 past validation).

        The newest is validated at the present.  Each older one that does not validate at
        the present (its TSA certificate expired, say) is validated at the time the next
        valid one proves it existed, on the embedded validation data, hard-fail.  A timestamp
        that validates neither way breaks the chain: older ones prove nothing.
        """
        proofs = _Proofs({}, [])
        proven: datetime | None = None
        stamps = [s for s in sigs if s.sig_object_type == "/DocTimeStamp"]
        for sig in sorted(stamps, key=lambda s: s.signed_revision, reverse=True):
            try:
                status: Any = await async_validate_pdf_timestamp(sig, self._context(reader))
                at: datetime | None = None
                if _usable(status) and not status.trusted and proven is not None:
                    past = await async_validate_pdf_timestamp(sig, self._context(reader, proven))
                    if past.trusted:
                        status, at = past, proven
            except Exception:  # _verify_one validates it again and reports the failure
                log.info("document timestamp not validated", exc_info=True)
                proven = None
                continue
            proofs.stamps[sig.signed_revision] = (status, at)
            if _usable(status) and status.trusted and status.timestamp is not None:
                proven = status.timestamp
                proofs.chain.append((sig.signed_revision, proven))
            else:
                proven = None
        return proofs

    async def _validate_seal(
        self, reader: PdfFileReader, sig: EmbeddedPdfSignature, proof: datetime | None
    ) -> tuple[Any, Any, datetime | None]:
        """(status, status at the present, the time the chain was validated at or None).

        A seal that is not trusted at the present (expired, or revoked since) is validated
        at its best signature time: its signature timestamp's genTime, the timestamp itself
        validated at ``proof`` (the time the first later document timestamp proves), or
        ``proof`` itself without a signature timestamp.  Revoked after that time is fine;
        the revocation is still shown from the status at the present.
        """
        context = self._context(reader)
        now = await async_validate_pdf_signature(sig, context, context)
        if not _usable(now) or now.trusted:
            return now, now, None
        signed_at = _token_time(sig)
        moment = signed_at or proof
        if moment is None:
            return now, now, None
        ts_context = self._context(reader, proof) if proof is not None else context
        past = await async_validate_pdf_signature(sig, self._context(reader, moment), ts_context)
        ts = past.timestamp_validity
        if signed_at is not None and not (ts and ts.intact and ts.valid and ts.trusted):
            return now, now, None  # the timestamp proves nothing: the present decides
        if not past.trusted:
            return now, now, None
        return past, now, moment

    def _seal_notices(
        self, seal: Seal, entry: dict[str, Any], revoked_at_signing: bool
    ) -> list[Notice]:
        """Notices about our seal that signed: revoked or suspended since, re-issued since."""
        try:
            newest: Seal | None = self._seals.seal(seal.uscc, seal.kind)
        except EsealError:  # the seal or its enterprise is not in the registry
            newest = None
        revoked = entry.get("revoked") or {}
        at = revoked.get("at")
        return seal_notices(
            seal,
            newest,
            revoked_at=datetime.fromisoformat(at) if isinstance(at, str) else None,
            reason=revoked.get("reason"),
            revoked_at_signing=revoked_at_signing,
            enterprise_name=(entry.get("enterprise") or {}).get("name") or seal.uscc,
            field_name=entry["field"],
        )

    def _our_seal(self, cert: asn1_x509.Certificate) -> Seal | None:
        if self._sm2_issuing is not None and cert.issuer == self._sm2_issuing.subject:
            # a seal's SM2 certificate: it shares the seal's status (DESIGN.md 6)
            sm2_seal = self._seals.seal_by_sm2_serial(cert.serial_number)
            if (
                sm2_seal is None
                or sm2_seal.sm2_certificate_pem is None
                or cert.dump() != _pem_to_der(sm2_seal.sm2_certificate_pem)
            ):
                return None
            return sm2_seal
        if cert.issuer != self._issuing.subject:
            return None
        seal = self._seals.seal_by_serial(cert.serial_number)
        if seal is None:
            return None
        if seal.certificate_pem.strip() and cert.dump() != _pem_to_der(seal.certificate_pem):
            return None  # same serial, different certificate: not ours
        return seal

    def _revocation(
        self,
        status: Any,
        seal: Seal | None,
        when: datetime | None,
        time_source: str,
        problems: _Problems,
        entry: dict[str, Any],
    ) -> bool:
        revoked_at: datetime | None = None
        reason = None
        if seal is not None:
            if seal.status in (SealStatus.REVOKED, SealStatus.SUSPENDED):
                # a key compromise counts from its time; the reason is the published code
                revoked_at = seal.revoked_since
                reason = seal.published_reason.value if seal.published_reason else None
        elif status.revoked and status.revocation_details is not None:
            revoked_at = status.revocation_details.revocation_date
            reason = str(status.revocation_details.revocation_reason.native)
        at_signing = False
        if revoked_at is not None:
            if time_source != "timestamp" or when is None:
                at_signing = True
                problems.add(
                    "revoked_without_trusted_time",
                    "the seal is revoked and the signature has no trusted timestamp, "
                    "so it cannot be shown to predate the revocation",
                )
            elif revoked_at <= when:
                at_signing = True
                problems.add(
                    "certificate_revoked", f"the seal was revoked ({reason}) before it signed"
                )
        entry["revoked"] = {
            "revoked": revoked_at is not None,
            "at": _iso(revoked_at),
            "reason": reason,
            "at_signing": at_signing,
        }
        return at_signing

    def _enterprise(
        self,
        identity: CertificateIdentity,
        seal: Seal | None,
        when: datetime | None,
        time_source: str,
        problems: _Problems,
        entry: dict[str, Any],
        notices: list[Notice],
    ) -> bool:
        uscc = identity.uscc
        info: dict[str, Any] = {
            "uscc": uscc,
            "uscc_source": identity.uscc_source,
            "name": identity.organisation,
            "certificate_name": identity.organisation,
            "license_status_now": None,
            "license_status_at_signing": None,
            "matches_registry": False,
        }
        entry["enterprise"] = info
        if uscc is None:
            problems.add("no_uscc", "the certificate names no valid unified social credit code")
            return False
        enterprise = self._seals.find_enterprise(uscc)
        if enterprise is None:
            problems.add(
                "enterprise_not_registered", f"no enterprise with USCC {uscc} is in the registry"
            )
            return False
        info["name"] = enterprise.license.name
        info["license_status_now"] = enterprise.status.value
        at = status_at(list(enterprise.history), when) if when else None
        info["license_status_at_signing"] = at.value if at else None
        notice = license_notice(enterprise, at, entry["field"])
        if notice is not None:
            notices.append(notice)
        if seal is not None:
            # our own certificate, byte for byte: it carries the name registered when it was
            # issued, so a renamed enterprise's older seals still match
            matches = seal.uscc == uscc
        else:
            matches = identity.organisation == enterprise.license.name
        info["matches_registry"] = matches
        if not matches:
            problems.add(
                "registry_mismatch", "the certificate's name or USCC does not match the registry"
            )
        if at is not LicenseStatus.ACTIVE:
            problems.add(
                "license_not_active_at_signing",
                f"the license was {at.value if at else 'not registered'} when the "
                f"seal signed (time from the {time_source} signing time)",
            )
            return False
        return matches


# -- the signature dictionary itself --------------------------------------------------------

_HEX = re.compile(rb"<([0-9A-Fa-f]*)>")


def _check_signature_dict(sig_object: Any, pdf: bytes) -> tuple[str, str] | None:
    """(code, message) if the dictionary's /ByteRange or /Contents is unusable.

    Checked before pyHanko reads the signature, so that each universal-signature-forgery and
    wrapping variant gets its own code instead of one generic read error.
    """
    if not isinstance(sig_object, generic.DictionaryObject):
        return "malformed_signature", "the signature value is not a dictionary"
    try:
        byte_range = sig_object.raw_get("/ByteRange")
    except KeyError:
        return "byte_range_invalid", "the signature has no /ByteRange"
    if isinstance(byte_range, generic.IndirectObject):
        byte_range = byte_range.get_object()
    numbers = list(byte_range) if isinstance(byte_range, generic.ArrayObject) else []
    if len(numbers) != 4 or not all(
        isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in numbers
    ):
        return "byte_range_invalid", "/ByteRange is not four non-negative integers"
    start1, len1, start2, len2 = (int(v) for v in numbers)
    if start1 != 0 or start2 < len1 or start2 + len2 > len(pdf):
        return (
            "byte_range_invalid",
            "/ByteRange does not start at the beginning of the file or runs past its end",
        )
    try:
        contents = sig_object.raw_get("/Contents", decrypt=generic.EncryptedObjAccess.RAW)
    except KeyError:
        return "signature_contents_invalid", "the signature has no /Contents"
    if not isinstance(contents, generic.TextStringObject | generic.ByteStringObject):
        return "signature_contents_invalid", "/Contents is not a string"
    raw = contents.original_bytes
    if not raw.strip(b"\x00"):
        return "signature_contents_invalid", "/Contents is empty or all zeros"
    try:
        info = cms.ContentInfo.load(raw)
        if info["content_type"].native not in ("signed_data",):
            raise ValueError(f"content type {info['content_type'].native}")
        if len(info["content"]["signer_infos"]) < 1:
            raise ValueError("no signer")
    except Exception as exc:
        return "signature_contents_invalid", f"/Contents is not a CMS signature: {_short(exc)}"
    gap = _HEX.fullmatch(pdf[len1:start2])
    if gap is None or bytes.fromhex(gap.group(1).decode()) != raw:
        return (
            "byte_range_invalid",
            "the bytes the /ByteRange leaves out are not this signature's /Contents",
        )
    return None


@dataclass
class _Proofs:
    """What the document timestamps prove (see :meth:`Verifier._proofs`)."""

    #: revision of a document timestamp -> (its status, the time it was validated at or None)
    stamps: dict[int, tuple[Any, datetime | None]]
    #: (revision, genTime) of the valid chain, newest first
    chain: list[tuple[int, datetime]]

    def after(self, revision: int) -> datetime | None:
        """The earliest time a valid document timestamp after ``revision`` proves."""
        times = [t for r, t in self.chain if r > revision]
        return min(times) if times else None


def _usable(status: Any) -> bool:
    """Intact, the signature value verifies and the whole revision is covered."""
    return bool(
        status.intact
        and status.valid
        and status.coverage
        in (SignatureCoverageLevel.ENTIRE_FILE, SignatureCoverageLevel.ENTIRE_REVISION)
    )


def _token_time(sig: EmbeddedPdfSignature) -> datetime | None:
    """genTime of the signature's timestamp token, if it has one."""
    try:
        for attr in sig.signer_info["unsigned_attrs"]:
            if attr["type"].native == "signature_time_stamp_token":
                tst = attr["values"][0]["content"]["encap_content_info"]["content"].parsed
                gen_time: datetime = tst["gen_time"].native
                return gen_time
    except Exception:  # no unsigned attributes or an odd token
        return None
    return None


def _token_accuracy(sig: EmbeddedPdfSignature) -> timedelta | None:
    """The accuracy stated in the signature's timestamp token, if any."""
    try:
        attrs = sig.signer_info["unsigned_attrs"]
        for attr in attrs:
            if attr["type"].native != "signature_time_stamp_token":
                continue
            token = attr["values"][0]
            tst = token["content"]["encap_content_info"]["content"].parsed
            acc = tst["accuracy"]
            if not acc:
                return None
            return timedelta(
                seconds=acc["seconds"].native or 0,
                milliseconds=acc["millis"].native or 0,
                microseconds=acc["micros"].native or 0,
            )
    except Exception:  # no token or an odd one: the bare genTime is used
        return None
    return None


def _latest(time: datetime, accuracy: timedelta | None) -> datetime:
    """The latest instant ``time`` allows: + accuracy, at least to the end of a whole second."""
    slack = accuracy or timedelta(0)
    if time.microsecond == 0:
        slack = max(slack, _ONE_SECOND)
    return time + slack


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


def _read_dss(reader: PdfFileReader) -> _Validation:
    """Which certificates the document's DSS has revocation data for."""
    ocsp_ids: set[tuple[str, bytes, int]] = set()
    issuers: set[bytes] = set()
    try:
        dss = reader.root["/DSS"]
    except Exception:
        return _Validation(frozenset(), frozenset())
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
    return _Validation(frozenset(ocsp_ids), frozenset(issuers))


# -- what changed after a signature ---------------------------------------------------------

#: an object header ``12 0 obj`` at the start of a line
_OBJ_HEADER = re.compile(
    rb"(?:\A|(?<=[\r\n]))[ \t\f\x00]*(\d{1,10})[ \t\f\r\n\x00]+(\d{1,5})[ \t\f\r\n\x00]+obj"
    rb"(?![A-Za-z0-9])"
)


def _unlisted_objects(reader: PdfFileReader, pdf: bytes) -> list[int]:
    """Offsets of object headers that no cross-reference section of the file points at.

    pyHanko reads a revision through its cross-reference section; a viewer that finds that
    section broken rebuilds it by scanning for ``N G obj`` and shows what it finds.  Objects
    after a signature that only such a scan sees are changes pyHanko's difference analysis
    cannot judge.
    """
    listed: set[int] = set()
    xrefs = reader.xrefs
    try:
        for revision in range(xrefs.total_revisions):
            data = xrefs.get_xref_data(revision)
            sections = [data]
            hybrid = data.hybrid
            if hybrid is not None:
                sections.append(hybrid.xref_data)
            for section in sections:
                listed |= {int(offset) for _gen, offset in section.standard_xrefs.values()}
    except Exception:  # unreadable bookkeeping: nothing to compare with
        return []
    out = []
    for match in _OBJ_HEADER.finditer(pdf):
        start = match.start(1)
        if not ({start, match.start(0), match.start(0) - 1} & listed):
            out.append(start)
    return out


#: keys that lead from a form field to the page and the rest of the form, not to its value
_UP_LINKS = frozenset({"/P", "/Parent"})
_MAX_WALK = 5_000


def _modifications(reader: PdfFileReader, status: Any, revision: int) -> tuple[str, str | None]:
    """(what changed after signing, why it can change what a reader sees or None)."""
    level = status.modification_level
    diff = status.diff_result
    if level is None or not hasattr(diff, "changed_form_fields"):
        why = str(diff).strip().splitlines()[0][:300] if diff else "unexplained changes"
        return "other", why
    if level in (ModificationLevel.NONE, ModificationLevel.LTA_UPDATES):
        return "none", None
    if level is ModificationLevel.FORM_FILLING:
        if not diff.changed_form_fields:
            return "form_filling", "form changes that name no field"
        fields = _field_refs(reader)
        filled = []
        signed_later = False
        for name in sorted(diff.changed_form_fields):
            ref = fields.get(name)
            if ref is None:
                filled.append(name)
            elif _signed_after(ref, reader, revision):
                signed_later = True
            elif _changed_after(ref, reader, revision):
                filled.append(name)
            # else: pyHanko names the field, but nothing of it was written again
        if filled:
            return "form_filling", "form fields filled: " + ", ".join(filled)[:200]
        return ("later_signatures" if signed_later else "none"), None
    if level is ModificationLevel.ANNOTATIONS:
        return "annotations", "annotations added or changed"
    return "other", "unexplained changes"


def _field_refs(reader: PdfFileReader) -> dict[str, generic.IndirectObject | None]:
    """Every form field by fully qualified name, with its reference (None if direct)."""
    out: dict[str, generic.IndirectObject | None] = {}

    def walk(items: Any, prefix: str, depth: int) -> None:
        if depth > 32 or not isinstance(items, generic.ArrayObject):
            return
        for raw in _raw_items(items):
            obj = raw.get_object()
            if not isinstance(obj, generic.DictionaryObject):
                continue
            part = obj.get("/T")
            name = prefix if part is None else (f"{prefix}.{part}" if prefix else str(part))
            if part is not None:
                out[name] = raw if isinstance(raw, generic.IndirectObject) else None
            walk(obj.get("/Kids"), name, depth + 1)

    with contextlib.suppress(Exception):
        walk(reader.root["/AcroForm"]["/Fields"], "", 0)
    return out


def _raw_items(array: generic.ArrayObject) -> list[Any]:
    return [array.raw_get(i) for i in range(len(array))]


def _signed_after(ref: generic.IndirectObject, reader: PdfFileReader, revision: int) -> bool:
    """Whether the field is a signature field whose value was written after ``revision``."""
    field = ref.get_object()
    if not isinstance(field, generic.DictionaryObject) or field.get("/FT") != "/Sig":
        return False
    try:
        value = field.raw_get("/V")
    except KeyError:
        return False
    if not isinstance(value, generic.IndirectObject):
        return False
    return bool(reader.xrefs.get_last_change(value.reference) > revision)


def _changed_after(ref: generic.IndirectObject, reader: PdfFileReader, revision: int) -> bool:
    """Whether the field or anything it holds (value, appearances, kids) was written after
    ``revision``.  Links up to the page and the parent field are not followed."""
    seen: set[Any] = set()
    todo: list[Any] = [ref]
    while todo:
        item = todo.pop()
        if isinstance(item, generic.IndirectObject):
            key = item.reference
            if key in seen:
                continue
            seen.add(key)
            if len(seen) > _MAX_WALK:
                return True
            try:
                if reader.xrefs.get_last_change(key) > revision:
                    return True
            except Exception:
                return True
            item = item.get_object()
        if isinstance(item, generic.DictionaryObject):  # streams too
            todo.extend(item.raw_get(k) for k in item if k not in _UP_LINKS)
        elif isinstance(item, generic.ArrayObject):
            todo.extend(_raw_items(item))
    return False


def _broken_entry(name: str, code: str, message: str) -> dict[str, Any]:
    return {
        "field": name,
        "type": "signature",
        "integrity": "broken",
        "intact": False,
        "trusted": False,
        "valid": False,
        "problems": [{"code": code, "message": message}],
    }


def _pem_to_der(text: str) -> bytes:
    from asn1crypto import pem

    return bytes(pem.unarmor(text.encode())[2])
