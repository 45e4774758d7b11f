"""Verification of sealed PDFs: pyHanko's validation plus the license registry.

For every signature the report (:mod:`signer.report`, DESIGN.md section 3) says whether it is
intact and covers the document, whether what came after it changes what a reader sees
(:mod:`signer.changes`), whether its certificate chains to a trust anchor (:mod:`signer.trust`),
when it was made (the timestamp, or only the claimed time: :mod:`signer.times`), whether the
seal was revoked at that time, and whether it belongs to the registered enterprise whose
license was active then (:mod:`seals.policy`).  This module reads the document and the
registry and puts the report together.

Problem codes (:class:`seals.codes.ProblemCode`, stable; the HTTP API, the CLI and the HTML report
show them).  Per signature:

``byte_range_invalid``
    ``/ByteRange`` missing, not four non-negative integers starting at 0, beyond the end of the
    file, or its gap is not exactly this signature's own ``/Contents`` string (signature
    wrapping, universal signature forgery: :mod:`signer.structure`).
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

import hashlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from asn1crypto import pem
from asn1crypto import x509 as asn1_x509
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.validation import EmbeddedPdfSignature, async_validate_pdf_timestamp

from keystore.asn1_shared import fully_parsed
from keystore.errors import EsealError
from seals.authority import AUTHORITY_SEAL_LABEL, AuthoritySeals, authority_verdict
from seals.codes import ProblemCode
from seals.identity import identity_of
from seals.model import Seal
from seals.permits import PermitService
from seals.policy import Revocation, SealVerdict, SigningTime, judge
from seals.registry_reader import RegistryLookup
from seals.verdict import NoticeItem, expected_uscc, merge_notices
from seals.vocab import CrlReason, DocumentFormat, Integrity, PadesLevel, SignatureType

from .changes import assess, unlisted_objects
from .errors import InvalidPdf
from .pdf_io import open_reader, short_text
from .report import (
    CertificateInfo,
    FileInfo,
    ProblemItem,
    SealInfo,
    SignatureReport,
    TimestampInfo,
    VerificationReport,
)
from .revocation import InternalRevocation
from .sm2_cms import key_algorithm
from .structure import broken_entry, collect
from .times import Proofs, prove, signing_time, timestamp_ok, validate_seal
from .trust import Contexts, DssCoverage, read_dss
from .verify_cache import RegistryCache, RegistryView

__all__ = ["Verifier", "document_verdict"]

log = logging.getLogger(__name__)

#: where a signature that cannot be read goes among the others: after them
_LAST = 1 << 30


@dataclass
class _Document:
    """What every signature of one document is judged against."""

    reader: PdfFileReader
    #: signed revisions of the document timestamps
    doc_ts_revisions: list[int]
    dss: DssCoverage
    #: the document carries a certification signature
    certified: bool
    #: offsets of objects no cross-reference section lists
    unlisted: list[int]
    proofs: Proofs
    #: the registry as of the start of this verification
    registry: RegistryView
    #: the notices of every signature, before merging
    notices: list[NoticeItem] = field(default_factory=list)


class Verifier:
    """Verifies documents; built once, reused for every request."""

    def __init__(
        self,
        seals: RegistryLookup,
        root: asn1_x509.Certificate,
        issuing: asn1_x509.Certificate,
        *,
        extra_roots: Sequence[asn1_x509.Certificate] = (),
        allow_fetching: bool = False,
        revocation: InternalRevocation | None = None,
        sm2_issuing: asn1_x509.Certificate | None = None,
        authority: AuthoritySeals | None = None,
        permits: PermitService | None = None,
    ) -> None:
        """``authority``: the registration authority's seal, judged by
        :func:`seals.authority.authority_verdict` (it seals license PDFs and belongs to no
        enterprise); ``permits``: the source of the report's ``enterprise.permits_now`` and
        its ``permit_expiring`` notices.

        ``revocation``: our in-process responder, authoritative at the present for the
        certificates of our seal CA that a document's DSS has no data for (see
        :meth:`signer.trust.Contexts.fresh`).  ``sm2_issuing``: our SM2 seal CA, whose
        certificates are looked up among the seals' SM2 certificates (status, identity and
        notices as for ECDSA)."""
        self._seals = seals
        self._contexts = Contexts(
            (root, *extra_roots), issuing, allow_fetching=allow_fetching, responder=revocation
        )
        self._issuing = self._contexts.issuing
        self._sm2_issuing = fully_parsed(sm2_issuing) if sm2_issuing is not None else None
        self._registry = RegistryCache(seals)
        self._authority = authority
        self._permits = permits

    async def report(self, pdf: bytes, expect_uscc: str | None = None) -> VerificationReport:
        """The verification report.

        Raises :class:`InvalidPdf` if the file cannot be read and
        :class:`seals.errors.InvalidUSCC` if ``expect_uscc`` is not a USCC; never anything
        that is not an :class:`EsealError`, whatever the bytes.
        """
        expect_uscc = expected_uscc(expect_uscc)
        try:
            # open_reader catches pyHanko's usual read errors; a corrupt stream can still
            # raise zlib.error, AttributeError and the like, from it or from what follows
            writer = open_reader(pdf)
            return await self._report(pdf, writer.prev, expect_uscc)
        except EsealError:
            raise
        except Exception as exc:  # the PDF's structure broke pyHanko outside one signature
            log.info("verification failed on a malformed PDF", exc_info=True)
            raise InvalidPdf(f"the PDF cannot be verified: {short_text(exc)}") from None

    async def verify(self, pdf: bytes, expect_uscc: str | None = None) -> dict[str, Any]:
        """The report as JSON (:meth:`VerificationReport.to_json`), for the callers that
        still read it as a dict; new code uses :meth:`report`."""
        return (await self.report(pdf, expect_uscc)).to_json()

    async def _report(
        self, pdf: bytes, reader: PdfFileReader, expect_uscc: str | None
    ) -> VerificationReport:
        try:
            pages = int(reader.root["/Pages"]["/Count"])
        except Exception:
            pages = 0
        sigs, broken_fields = collect(reader, pdf)
        entries = [(_LAST, broken_entry(*broken)) for broken in broken_fields]
        registry = self._registry.view()
        self._contexts.begin(reader, registry.revision)
        doc = _Document(
            reader=reader,
            doc_ts_revisions=[
                s.signed_revision for s in sigs if s.sig_object_type == "/DocTimeStamp"
            ],
            dss=read_dss(reader),
            certified=any(s.docmdp_level is not None for s in sigs),
            unlisted=unlisted_objects(reader, pdf) if sigs else [],
            proofs=await prove(self._contexts, reader, sigs),
            registry=registry,
        )
        for sig in sigs:
            entries.append((sig.signed_revision, await self._signature(doc, sig)))
        entries.sort(key=lambda e: e[0])
        signatures = [entry for _order, entry in entries]

        valid, problems = document_verdict(signatures, expect_uscc)
        return VerificationReport(
            format=DocumentFormat.PDF,
            valid=valid,
            expect_uscc=expect_uscc,
            file=FileInfo(sha256=hashlib.sha256(pdf).hexdigest(), size=len(pdf), pages=pages),
            signatures=signatures,
            problems=problems,
            notices=merge_notices(doc.notices),
        )

    async def _signature(self, doc: _Document, sig: EmbeddedPdfSignature) -> SignatureReport:
        """The report entry of one signature or document timestamp."""
        is_ts = sig.sig_object_type == "/DocTimeStamp"
        validated_at: datetime | None = None
        try:
            if is_ts and sig.signed_revision in doc.proofs.stamps:
                status, validated_at = doc.proofs.stamps[sig.signed_revision]
                status_now = status
            elif is_ts:
                status = status_now = await async_validate_pdf_timestamp(
                    sig, self._contexts.context(doc.reader)
                )
            else:
                status, status_now, validated_at = await validate_seal(
                    self._contexts, doc.reader, sig, doc.proofs.after(sig.signed_revision)
                )
        except Exception as exc:
            return broken_entry(
                sig.field_name,
                ProblemCode.MALFORMED_SIGNATURE,
                f"the signature cannot be validated: {type(exc).__name__}: {exc}"[:300],
            )

        found = assess(doc.reader, sig, status, unlisted=doc.unlisted, certified=doc.certified)
        problems = found.problems
        trusted = bool(status.trusted)
        if not trusted and found.intact:
            problems.append(
                _problem(
                    ProblemCode.UNTRUSTED_CERTIFICATE,
                    "the certificate does not chain to a trusted anchor",
                )
            )
        cert = status.signing_cert
        common: dict[str, Any] = {
            "field": sig.field_name,
            "integrity": found.integrity,
            "intact": found.intact,
            "trusted": trusted,
            "coverage": found.coverage,
            "modifications": found.modifications,
            "certificate": CertificateInfo(
                subject=cert.subject.human_friendly,
                issuer=cert.issuer.human_friendly,
                serial=format(cert.serial_number, "x"),
            ),
            "algorithm": key_algorithm(cert.public_key),
            # the time the chain was validated at: null for the present, else the time a
            # later timestamp proves (EN 319 102-1 past validation)
            "validated_at": validated_at,
        }
        ok = found.integrity is Integrity.OK and trusted
        if is_ts:
            return SignatureReport(
                type=SignatureType.DOCUMENT_TIMESTAMP,
                **common,
                timestamp=TimestampInfo(
                    time=status.timestamp,
                    valid=found.intact and trusted,
                    tsa=cert.subject.human_friendly,
                ),
                valid=ok,
                problems=problems,
            )

        ts = status.timestamp_validity
        if ts is not None and not timestamp_ok(ts):
            problems.append(
                _problem(ProblemCode.TIMESTAMP_INVALID, "the signature timestamp does not validate")
            )
        timestamp = (
            TimestampInfo(
                time=ts.timestamp,
                valid=timestamp_ok(ts),
                tsa=ts.signing_cert.subject.human_friendly,
            )
            if ts
            else None
        )
        level = PadesLevel.B_B
        if ts is not None:
            level = PadesLevel.B_T
            if doc.dss.covers(cert):
                level = PadesLevel.B_LT
                if any(r > sig.signed_revision for r in doc.doc_ts_revisions):
                    level = PadesLevel.B_LTA
        signed = signing_time(status, sig)
        seal_info, verdict = self._judge(cert, status_now, signed, sig.field_name, doc.registry)
        problems += verdict.problems
        doc.notices += verdict.notices
        return SignatureReport(
            type=SignatureType.SIGNATURE,
            **common,
            signing_time=status.signer_reported_dt,
            timestamp=timestamp,
            level=level,
            time_source=signed.source,
            seal=seal_info,
            revoked=verdict.revoked,
            enterprise=verdict.enterprise,
            valid=ok and verdict.ok,
            problems=problems,
        )

    def _judge(
        self,
        cert: asn1_x509.Certificate,
        status_now: Any,
        signed: SigningTime,
        field_name: str,
        registry: RegistryView,
    ) -> tuple[SealInfo, SealVerdict]:
        """The seal that signed, and the policy's verdict on it from the registry's facts."""
        reported: Revocation | None = None
        if status_now.revoked and status_now.revocation_details is not None:
            details = status_now.revocation_details
            reason = CrlReason(str(details.revocation_reason.native))
            reported = Revocation(details.revocation_date, reason)
        return self.judge(cert, signed, field_name, reported=reported, registry=registry)

    def judge(
        self,
        cert: asn1_x509.Certificate,
        signed: SigningTime,
        field_name: str,
        *,
        reported: Revocation | None = None,
        registry: RegistryView | None = None,
    ) -> tuple[SealInfo, SealVerdict]:
        """The seal that signed with ``cert``, and the policy's verdict on it from the
        registry's facts; ``reported``: the revocation another CA's data reports, used only
        for a certificate that is not one of our seals' (also for OFD and SES signatures,
        :mod:`signer.national`).  ``registry``: the registry as the document's verification
        began (None: as of now)."""
        registry = registry or self._registry.view()
        identity = identity_of(cert)
        if self._authority is not None and self._authority.find(cert) is not None:
            label = AUTHORITY_SEAL_LABEL
            return SealInfo(kind=None, label=label, image_sha256=None, version=None), (
                authority_verdict(identity)
            )
        seal = self._our_seal(cert, registry)
        info = SealInfo(
            kind=seal.kind if seal else identity.kind,
            label=seal.label if seal else identity.title,
            image_sha256=seal.image_sha256 if seal else None,
            version=seal.version if seal else None,
        )
        if seal is not None:
            reported = None
        enterprise = registry.enterprise(identity.uscc) if identity.uscc else None
        # None: the seal or its enterprise is not in the registry
        newest = registry.newest(seal.uscc, seal.kind) if seal is not None else None
        verdict = judge(
            identity,
            seal,
            enterprise=enterprise,
            newest=newest,
            reported=reported,
            signed=signed,
            field_name=field_name,
            serial=cert.serial_number,
        )
        if enterprise is not None and self._permits is not None:
            permits, notices = self._permits.for_report(
                enterprise, field_name, revision=registry.revision
            )
            if permits:  # the key only where there is something to say: reports stay as they were
                verdict.enterprise.permits_now = permits
            verdict.notices += notices
        return info, verdict

    def _our_seal(self, cert: asn1_x509.Certificate, registry: RegistryView) -> Seal | None:
        if self._sm2_issuing is not None and cert.issuer == self._sm2_issuing.subject:
            # a seal's SM2 certificate: it shares the seal's status (DESIGN.md 6)
            sm2_seal = registry.seal_by_sm2_serial(cert.serial_number)
            if (
                sm2_seal is None
                or sm2_seal.sm2_certificate_pem is None
                or cert.dump() != _pem_to_der(sm2_seal.sm2_certificate_pem)
            ):
                return None
            return sm2_seal
        if cert.issuer != self._issuing.subject:
            return self._imported_seal(cert, registry)
        seal = registry.seal_by_serial(cert.serial_number)
        if seal is None:
            return None
        if seal.certificate_pem.strip() and cert.dump() != _pem_to_der(seal.certificate_pem):
            return None  # same serial, different certificate: not ours
        return seal

    def _imported_seal(self, cert: asn1_x509.Certificate, registry: RegistryView) -> Seal | None:
        """A seal whose certificate came from another CA (``eseal seal import-cert``): ours
        only if a seal record holds exactly this certificate (the serial alone is that CA's
        numbering, which may meet ours)."""
        der = cert.dump()
        seal = registry.seal_by_serial(cert.serial_number)
        if (
            seal is not None
            and seal.certificate_pem.strip()
            and der == _pem_to_der(seal.certificate_pem)
        ):
            return seal
        sm2_seal = registry.seal_by_sm2_serial(cert.serial_number)
        if (
            sm2_seal is not None
            and sm2_seal.sm2_certificate_pem
            and der == _pem_to_der(sm2_seal.sm2_certificate_pem)
        ):
            return sm2_seal
        return None


def _problem(code: ProblemCode, message: str) -> ProblemItem:
    return ProblemItem(code=code, message=message)


def _uscc_of(entry: SignatureReport) -> str | None:
    return entry.enterprise.uscc if entry.enterprise is not None else None


def _pem_to_der(text: str) -> bytes:
    return bytes(pem.unarmor(text.encode())[2])


def document_verdict(
    signatures: list[SignatureReport], expect_uscc: str | None
) -> tuple[bool, list[ProblemItem]]:
    """The report's ``valid`` and its problems about the whole document, from its signature
    entries (PDF, OFD and SES reports alike)."""
    problems: list[ProblemItem] = []
    if not signatures:
        problems.append(_problem(ProblemCode.NO_SIGNATURES, "the document carries no signature"))
    seals = [e for e in signatures if e.type is SignatureType.SIGNATURE]
    valid = bool(signatures) and all(e.valid for e in signatures) and bool(seals)
    if signatures and not seals:
        problems.append(
            _problem(ProblemCode.NO_SEALS, "the document carries only timestamps, no seal")
        )
    if expect_uscc is not None and not any(e.valid and _uscc_of(e) == expect_uscc for e in seals):
        valid = False
        carried = any(_uscc_of(e) == expect_uscc for e in seals)
        problems.append(
            _problem(
                ProblemCode.EXPECTED_ENTERPRISE_MISSING,
                f"the seals of the enterprise {expect_uscc} in the document are not valid"
                if carried
                else f"the document carries no seal of the enterprise {expect_uscc}",
            )
        )
    for e in signatures:
        if not e.valid:
            problems.append(
                _problem(ProblemCode.SIGNATURE_NOT_VALID, f"signature {e.field!r} is not valid")
            )
    return valid, problems
