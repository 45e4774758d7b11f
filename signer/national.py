"""Verification reports of national signatures: a GB/T 38540 ``SES_Signature`` on its own
(``format: "ses"``) and the signatures of an OFD document (``format: "ofd"``), in the shape of
the PDF report (:mod:`signer.report`), so a relying party reads one kind of report.

Per signature, in GM/T 0031's order: the checks of :func:`signer.ses.verify_ses_signature`
(format, the seal maker's signature, createDate within the maker certificate's validity, the
seal's validity period, the signer in certList, the data hash, the SM2 signature, the
timestamp), then trust in the signer's and the seal maker's certificates with our OCSP
responder's answer (:mod:`signer.national_trust`), then the registry: the seal that signed,
whether it was revoked at the signing time and whether the license was active then
(:meth:`signer.verify.Verifier.judge`, the policy the PDF report applies).  For an OFD the
checks of :func:`signer.ofd.verify.verify_ofd` come first: every protected file against its
SM3 check value, files the signature does not explain, the stamps, ``Seal.esl`` against the
seal inside the signature value.

``intact`` means the signed data (for an OFD every protected file), the signature value and
the seal data verify; ``trusted`` that the signer's and the seal maker's certificates chain to
a trust anchor.  The signing time is the signature timestamp's ``genTime`` when it validated
(``time_source: timestamp``), else the signer's ``timeInfo`` (``claimed``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from asn1crypto import x509 as asn1_x509

from keystore.errors import EsealError
from seals.codes import ProblemCode
from seals.policy import SigningTime
from seals.verdict import NoticeItem, expected_uscc, merge_notices
from seals.vocab import DocumentFormat, Integrity, SignatureType, TimeSource

from .invoice.model import SignatureCheck
from .invoice.ofd_invoice import OfdSignatureRef
from .national_trust import NationalTrust
from .ofd.digital import DigitalSignatureCheck
from .ofd.package import OfdPackage
from .ofd.verify import OfdSignature, verify_ofd
from .report import (
    CertificateInfo,
    FileInfo,
    NationalSealInfo,
    ProblemItem,
    ReferenceCheck,
    SignatureReport,
    TimestampInfo,
    VerificationReport,
)
from .ses import SesVerification, verify_ses_signature
from .sm2_cms import key_algorithm
from .verify import Verifier, document_verdict

__all__ = ["NationalVerifier", "invoice_signature_checker"]

#: the steps of SES verification whose failure means the signed data or the signature value
#: do not hold (the others are about validity periods and times)
_INTEGRITY_STEPS = {
    "format",
    "seal_maker_signature",
    "signer_in_cert_list",
    "data_hash",
    "signature",
}


@dataclass
class _Parts:
    """What one national signature's entry is made of, before the registry's verdict."""

    field: str
    ses: SesVerification | None
    problems: list[ProblemItem]
    intact: bool
    page: int | None = None
    references: list[ReferenceCheck] | None = None
    #: the check of a plain digital signature's value (OFD ``Type="Sign"``), instead of ``ses``
    digital: DigitalSignatureCheck | None = None
    #: the time the signature claims (OFD ``SignatureDateTime``)
    claimed_time: datetime | None = None


class NationalVerifier:
    """Verifies SES signatures and OFD documents; built once, reused for every request."""

    def __init__(self, verifier: Verifier, trust: NationalTrust) -> None:
        """``verifier``: the PDF verifier, whose registry policy (:meth:`Verifier.judge`) the
        national reports share; ``trust``: the SM2 trust anchors and our responder."""
        self._verifier = verifier
        self._trust = trust

    async def report_ses(
        self,
        der: bytes,
        *,
        data: bytes | None = None,
        data_hash: bytes | None = None,
        expect_uscc: str | None = None,
    ) -> VerificationReport:
        """The report of one ``SES_Signature`` (``format: "ses"``), over ``data`` or its SM3
        ``data_hash`` when given.  Raises the coded errors of bytes that are not an
        SES_Signature of a supported version (``invalid_ses_signature``,
        ``unsupported_seal_version``)."""
        expect = expected_uscc(expect_uscc)
        result = verify_ses_signature(der, data=data, data_hash=data_hash)
        problems = _ses_problems(result)
        notices: list[NoticeItem] = []
        entry = await self._entry(
            _Parts(
                "SES_Signature", result, problems, _ses_intact(result), page=None, references=None
            ),
            notices,
        )
        valid, doc_problems = document_verdict([entry], expect)
        return VerificationReport(
            format=DocumentFormat.SES,
            valid=valid,
            expect_uscc=expect,
            file=FileInfo(sha256=hashlib.sha256(der).hexdigest(), size=len(der), pages=0),
            signatures=[entry],
            problems=doc_problems,
            notices=merge_notices(notices),
        )

    async def report_ofd(self, data: bytes, expect_uscc: str | None = None) -> VerificationReport:
        """The report of an OFD document's signatures (``format: "ofd"``).  Raises
        ``invalid_ofd`` for a file that is not a readable OFD package."""
        expect = expected_uscc(expect_uscc)
        checked = verify_ofd(data)
        notices: list[NoticeItem] = []
        entries = [await self._entry(_ofd_parts(sig), notices) for sig in checked.signatures]
        valid, doc_problems = document_verdict(entries, expect)
        # the document's own problems (an unreadable signature list) come first; "no
        # signatures" is the verdict's to say, once
        own = [
            ProblemItem(code=p.code, message=p.message)
            for p in checked.problems
            if p.code is not ProblemCode.NO_SIGNATURES
        ]
        if own:
            valid = False
        return VerificationReport(
            format=DocumentFormat.OFD,
            valid=valid,
            expect_uscc=expect,
            file=FileInfo(
                sha256=hashlib.sha256(data).hexdigest(), size=len(data), pages=checked.pages
            ),
            signatures=entries,
            problems=[*own, *doc_problems],
            notices=merge_notices(notices),
        )

    async def _entry(self, parts: _Parts, notices: list[NoticeItem]) -> SignatureReport:
        if parts.digital is not None and parts.digital.signer_certificate is not None:
            return await self._digital_entry(parts, parts.digital.signer_certificate, notices)
        result = parts.ses
        problems = list(parts.problems)
        if result is None or result.signer_certificate is None:
            return SignatureReport(
                field=parts.field,
                type=SignatureType.SIGNATURE,
                integrity=Integrity.BROKEN,
                intact=False,
                trusted=False,
                page=parts.page,
                references=parts.references,
                valid=False,
                problems=problems
                or [
                    ProblemItem(
                        code=ProblemCode.MALFORMED_SIGNATURE,
                        message="the signature value cannot be read",
                    )
                ],
            )
        cert = result.signer_certificate
        timestamped = result.timestamp_time is not None
        moment = result.timestamp_time
        chain = await self._trust.check(cert, moment)
        maker = _certificate(result.seal.maker_certificate)
        maker_chain = await self._trust.check(maker, moment) if maker is not None else None
        trusted = chain.trusted and maker_chain is not None and maker_chain.trusted
        if parts.intact and not chain.trusted:
            problems.append(
                ProblemItem(
                    code=ProblemCode.UNTRUSTED_CERTIFICATE,
                    message="the signer's certificate does not chain to a trusted anchor: "
                    + chain.message,
                )
            )
        if parts.intact and chain.trusted and not trusted:
            problems.append(
                ProblemItem(
                    code=ProblemCode.UNTRUSTED_CERTIFICATE,
                    message="the seal maker's certificate does not chain to a trusted anchor"
                    + (f": {maker_chain.message}" if maker_chain is not None else ""),
                )
            )
        signed = SigningTime(
            result.timestamp_time if timestamped else result.signing_time,
            TimeSource.TIMESTAMP if timestamped else TimeSource.CLAIMED,
        )
        checks_ok = not problems  # every check before the registry's verdict held
        seal_info, verdict = self._verifier.judge(cert, signed, parts.field, reported=chain.revoked)
        problems += verdict.problems
        notices += verdict.notices
        timestamp = None
        if result.timestamp is not None:
            tsa = result.tsa_certificate
            timestamp = TimestampInfo(
                time=result.timestamp_time,
                valid=timestamped,
                tsa=tsa.subject.human_friendly if tsa is not None else "",
            )
        seal = result.seal
        ok = parts.intact and trusted and checks_ok
        return SignatureReport(
            field=parts.field,
            type=SignatureType.SIGNATURE,
            integrity=Integrity.OK if parts.intact else Integrity.BROKEN,
            intact=parts.intact,
            trusted=trusted,
            **_signer_fields(cert),
            validated_at=moment,
            signing_time=result.signing_time,
            timestamp=timestamp,
            time_source=signed.source,
            seal=seal_info,
            revoked=verdict.revoked,
            enterprise=verdict.enterprise,
            national_seal=NationalSealInfo(
                version=seal.version,
                es_id=seal.es_id,
                seal_type=seal.seal_type,
                name=seal.name,
                maker=maker.subject.human_friendly if maker is not None else "",
                valid_start=seal.valid_start,
                valid_end=seal.valid_end,
                property_info=result.property_info,
            ),
            page=parts.page,
            references=parts.references,
            valid=ok and verdict.ok,
            problems=problems,
        )

    async def _digital_entry(
        self, parts: _Parts, cert: asn1_x509.Certificate, notices: list[NoticeItem]
    ) -> SignatureReport:
        """The entry of a plain digital signature (OFD ``Type="Sign"``): no seal data, so no
        maker and no seal validity; the signer's certificate is trusted, revoked and judged
        against the registry as any signer's, at the claimed signing time (the value has no
        timestamp)."""
        problems = list(parts.problems)
        chain = await self._trust.check(cert, None)
        if parts.intact and not chain.trusted:
            problems.append(
                ProblemItem(
                    code=ProblemCode.UNTRUSTED_CERTIFICATE,
                    message="the signer's certificate does not chain to a trusted anchor: "
                    + chain.message,
                )
            )
        checks_ok = not problems
        signed = SigningTime(parts.claimed_time, TimeSource.CLAIMED)
        seal_info, verdict = self._verifier.judge(cert, signed, parts.field, reported=chain.revoked)
        problems += verdict.problems
        notices += verdict.notices
        return SignatureReport(
            field=parts.field,
            type=SignatureType.SIGNATURE,
            integrity=Integrity.OK if parts.intact else Integrity.BROKEN,
            intact=parts.intact,
            trusted=chain.trusted,
            **_signer_fields(cert),
            validated_at=None,
            signing_time=parts.claimed_time,
            timestamp=None,
            time_source=signed.source,
            seal=seal_info,
            revoked=verdict.revoked,
            enterprise=verdict.enterprise,
            page=parts.page,
            references=parts.references,
            valid=parts.intact and chain.trusted and checks_ok and verdict.ok,
            problems=problems,
        )


def _signer_fields(cert: asn1_x509.Certificate) -> dict[str, Any]:
    """The report's ``certificate`` and ``algorithm`` of a signer."""
    return {
        "certificate": CertificateInfo(
            subject=cert.subject.human_friendly,
            issuer=cert.issuer.human_friendly,
            serial=format(cert.serial_number, "x"),
        ),
        "algorithm": key_algorithm(cert.public_key),
    }


def _certificate(der: bytes) -> asn1_x509.Certificate | None:
    try:
        cert = asn1_x509.Certificate.load(der)
        cert.native  # noqa: B018 - parse it all now: a broken certificate is None
    except (ValueError, TypeError):
        return None
    return cert


def _ses_problems(result: SesVerification) -> list[ProblemItem]:
    return [
        ProblemItem(code=c.problem, message=c.message)
        for c in result.checks
        if not c.ok and c.problem is not None
    ]


def _ses_intact(result: SesVerification) -> bool:
    return all(c.ok for c in result.checks if c.name.value in _INTEGRITY_STEPS)


def _ofd_parts(sig: OfdSignature) -> _Parts:
    problems = [ProblemItem(code=p.code, message=p.message) for p in sig.problems]
    result: SesVerification | None = sig.ses if isinstance(sig.ses, SesVerification) else None
    if result is not None:
        known = {p.code for p in problems}
        problems += [p for p in _ses_problems(result) if p.code not in known]
    elif sig.ses_error is not None and not problems:
        problems.append(
            ProblemItem(
                code=ProblemCode.SIGNATURE_INVALID,
                message=_error_text(sig.ses_error),
            )
        )
    digital = sig.ses if isinstance(sig.ses, DigitalSignatureCheck) else None
    intact = sig.intact and (
        (result is not None and _ses_intact(result)) or (digital is not None and digital.intact)
    )
    pages = [s.page for s in sig.stamps if s.page is not None]
    return _Parts(
        field=sig.path,
        ses=result,
        problems=problems,
        intact=intact,
        page=pages[0] if pages else None,
        references=[ReferenceCheck(file=r.path, status=r.status) for r in sig.references],
        digital=digital,
        claimed_time=sig.signing_time,
    )


def _error_text(exc: Exception) -> str:
    if isinstance(exc, EsealError):
        return f"{exc.code}: {exc.detail}"[:300]
    return f"the signature value does not verify: {type(exc).__name__}"


def invoice_signature_checker() -> Callable[[OfdPackage, OfdSignatureRef], SignatureCheck]:
    """The ``verify_signature`` hook of :func:`signer.invoice.check_invoice`: each signature of
    a 数电票 OFD checked as :func:`signer.ofd.verify.verify_ofd` does (every protected file,
    the seal data, the SES signature over ``Signature.xml``).  The tax authority's certificate
    is not one eseal trusts or revokes, so ``valid`` says the signature holds, and the detail
    names who signed."""
    done: dict[int, dict[str, OfdSignature]] = {}

    def check(package: OfdPackage, ref: OfdSignatureRef) -> SignatureCheck:
        by_path = done.get(id(package))
        if by_path is None:
            by_path = {s.path: s for s in verify_ofd(package).signatures}
            done[id(package)] = by_path
        sig = by_path.get(ref.location or "")
        if sig is None:
            return SignatureCheck(valid=False, detail="the signature cannot be read")
        result = sig.ses if isinstance(sig.ses, SesVerification) else None
        problems = [p.code.value for p in sig.problems]
        if result is not None:
            problems += [p.value for p in result.problems if p.value not in problems]
        if sig.ses_error is not None and not problems:
            problems.append(ProblemCode.SIGNATURE_INVALID.value)
        holder = sig.ses if isinstance(sig.ses, SesVerification | DigitalSignatureCheck) else None
        signer = (
            holder.signer_certificate.subject.human_friendly
            if holder is not None and holder.signer_certificate is not None
            else "unknown"
        )
        if problems:
            return SignatureCheck(valid=False, detail=f"{', '.join(problems)}; signer {signer}")
        what = ", the seal data" if result is not None else ""
        return SignatureCheck(
            valid=True,
            detail=f"every protected file{what} and the SM2 signature verify; signer {signer}",
        )

    return check
