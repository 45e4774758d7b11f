"""Verification of sealed PDFs: pyHanko's validation plus the license registry.

For every signature the report says whether it is intact and covers the document, whether
what came after it changes what a reader sees (pyHanko's difference analysis), whether its
certificate chains to a trust anchor, when it was made (the timestamp, or only the claimed
time), whether the seal was revoked at that time, and whether it belongs to the registered
enterprise whose license was active then.  The shape is DESIGN.md section 3.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from asn1crypto import x509 as asn1_x509
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.diff_analysis import ModificationLevel
from pyhanko.sign.fields import enumerate_sig_fields
from pyhanko.sign.validation import (
    DocumentSecurityStore,
    EmbeddedPdfSignature,
    async_validate_pdf_signature,
    async_validate_pdf_timestamp,
)
from pyhanko.sign.validation.status import SignatureCoverageLevel
from pyhanko_certvalidator import ValidationContext

from seals.identity import identity_of
from seals.license import LicenseStatus, status_at
from seals.model import Seal, SealStatus
from seals.service import SealService

from .core import _open

__all__ = ["Verifier"]

log = logging.getLogger(__name__)


@dataclass
class _Problems:
    items: list[dict[str, str]]

    def add(self, code: str, message: str) -> None:
        self.items.append({"code": code, "message": message})


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


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
    ) -> None:
        self._seals = seals
        self._roots = [root, *extra_roots]
        self._issuing = issuing
        self._fetch = allow_fetching

    def _context(self, reader: PdfFileReader) -> ValidationContext:
        kwargs: dict[str, Any] = {
            "trust_roots": self._roots,
            "other_certs": [self._issuing],
            "allow_fetching": self._fetch,
            "revocation_mode": "soft-fail",
        }
        if "/DSS" in reader.root:
            try:
                return DocumentSecurityStore.read_dss(reader).as_validation_context(kwargs)
            except Exception:  # a broken DSS is reported through the level, not fatal here
                log.info("unreadable DSS ignored")
        return ValidationContext(**kwargs)

    async def verify(self, pdf: bytes, expect_uscc: str | None = None) -> dict[str, Any]:
        """The verification report. Raises :class:`InvalidPdf` if the file cannot be read."""
        writer = _open(pdf)
        reader = writer.prev
        try:
            pages = int(reader.root["/Pages"]["/Count"])
        except Exception:
            pages = 0
        report_problems = _Problems([])
        entries: list[dict[str, Any]] = []
        sigs, broken_fields = self._collect(reader)
        for name, error in broken_fields:
            entries.append(_broken_entry(name, error))
        doc_ts_revisions = [s.signed_revision for s in sigs if s.sig_object_type == "/DocTimeStamp"]
        later_sig_fields = {s.field_name: s.signed_revision for s in sigs}
        has_dss = "/DSS" in reader.root
        for sig in sigs:
            entries.append(
                await self._verify_one(reader, sig, later_sig_fields, doc_ts_revisions, has_dss)
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
            report_problems.add(
                "expected_enterprise_missing", f"no valid seal of the enterprise {expect_uscc}"
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
        }

    def _collect(
        self, reader: PdfFileReader
    ) -> tuple[list[EmbeddedPdfSignature], list[tuple[str, str]]]:
        sigs: list[EmbeddedPdfSignature] = []
        broken: list[tuple[str, str]] = []
        for name, _value, field_ref in enumerate_sig_fields(reader, filled_status=True):
            try:
                sig = EmbeddedPdfSignature(reader, field_ref.get_object(), name)
                sig.signed_revision  # noqa: B018 - resolves the ByteRange: fails if malformed
                sigs.append(sig)
            except Exception as exc:
                broken.append((name, f"{type(exc).__name__}: {exc}"[:300]))
        sigs.sort(key=lambda s: s.signed_revision)
        return sigs, broken

    async def _verify_one(
        self,
        reader: PdfFileReader,
        sig: EmbeddedPdfSignature,
        later_fields: dict[str, int],
        doc_ts_revisions: list[int],
        has_dss: bool,
    ) -> dict[str, Any]:
        problems = _Problems([])
        is_ts = sig.sig_object_type == "/DocTimeStamp"
        entry: dict[str, Any] = {
            "_order": sig.signed_revision,
            "field": sig.field_name,
            "type": "document_timestamp" if is_ts else "signature",
        }
        context = self._context(reader)
        try:
            if is_ts:
                status: Any = await async_validate_pdf_timestamp(sig, context)
            else:
                status = await async_validate_pdf_signature(sig, context, context)
        except Exception as exc:
            return {
                **_broken_entry(sig.field_name, f"{type(exc).__name__}: {exc}"[:300]),
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
            modifications, suspicious = _modifications(status, sig.signed_revision, later_fields)
            if suspicious:
                integrity = "suspicious"
                problems.add(
                    "modified_after_signing",
                    f"the document was changed after signing ({modifications}) in a "
                    "way that can alter what a reader sees",
                )
        if getattr(status, "docmdp_ok", None) is False:
            integrity = "suspicious" if integrity == "ok" else integrity
            problems.add(
                "docmdp_violation", "changes after a certification signature that it does not allow"
            )
        trusted = bool(status.trusted)
        if not trusted:
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
            if has_dss:
                level = "B-LT"
                if any(r > sig.signed_revision for r in doc_ts_revisions):
                    level = "B-LTA"
        entry["level"] = level
        when, time_source = (
            (ts.timestamp, "timestamp") if ts_ok and ts else (status.signer_reported_dt, "claimed")
        )
        entry["time_source"] = time_source

        identity = identity_of(cert)
        seal = self._our_seal(cert)
        entry["seal"] = {
            "kind": (seal.kind.value if seal else (identity.kind.value if identity.kind else None)),
            "label": (seal.label if seal else identity.title),
            "image_sha256": seal.image_sha256 if seal else None,
            "version": seal.version if seal else None,
        }
        revoked_at_signing = self._revocation(status, seal, when, time_source, problems, entry)
        license_ok = self._enterprise(identity, seal, when, time_source, problems, entry)
        entry["valid"] = integrity == "ok" and trusted and not revoked_at_signing and license_ok
        entry["problems"] = problems.items
        return entry

    def _our_seal(self, cert: asn1_x509.Certificate) -> Seal | None:
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
                revoked_at = seal.status_changed_at or seal.created_at
                reason = (
                    "suspended"
                    if seal.status is SealStatus.SUSPENDED
                    else (seal.status_reason or "revoked")
                )
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
        identity: Any,
        seal: Seal | None,
        when: datetime | None,
        time_source: str,
        problems: _Problems,
        entry: dict[str, Any],
    ) -> bool:
        uscc = identity.uscc
        info: dict[str, Any] = {
            "uscc": uscc,
            "uscc_source": identity.uscc_source,
            "name": identity.organisation,
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
        matches = identity.organisation == enterprise.license.name and (
            seal is None or seal.uscc == uscc
        )
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


def _modifications(status: Any, revision: int, later_fields: dict[str, int]) -> tuple[str, bool]:
    """(what changed after signing, whether it can change what a reader sees)."""
    level = status.modification_level
    diff = status.diff_result
    if level is None or not hasattr(diff, "changed_form_fields"):
        return "other", True
    if level in (ModificationLevel.NONE, ModificationLevel.LTA_UPDATES):
        return "none", False
    if level is ModificationLevel.FORM_FILLING:
        changed = set(diff.changed_form_fields)
        signed_later = {name for name, rev in later_fields.items() if rev > revision}
        if changed <= signed_later:
            return "later_signatures", False
        return "form_filling", True
    if level is ModificationLevel.ANNOTATIONS:
        return "annotations", True
    return "other", True


def _broken_entry(name: str, error: str) -> dict[str, Any]:
    return {
        "field": name,
        "type": "signature",
        "integrity": "broken",
        "intact": False,
        "trusted": False,
        "valid": False,
        "problems": [
            {"code": "malformed_signature", "message": f"the signature cannot be read: {error}"}
        ],
    }


def _pem_to_der(text: str) -> bytes:
    from asn1crypto import pem

    return bytes(pem.unarmor(text.encode())[2])
