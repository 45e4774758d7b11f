"""Verifying the seals of an OFD document (GB/T 33190-2016 §18), as ofdrw's ``OFDValidator``
does and a bit more: every signature of the list in order, each with

1. its **references**: the SM3 of every file it protects against its ``CheckValue``
   (``ok``, ``changed``, ``missing``; ``unchecked`` under a digest other than SM3);
2. the package's files it does **not** protect, each with the reason it may be left out:
   ``own`` (its own ``Signature.xml``, ``SignedValue.dat`` and ``Seal.esl``: they are bound by
   the signature value itself), ``signature_list`` (``Signatures.xml``: it grows with each
   seal in continue mode), ``other_signature`` (the ``Signature.xml``, ``SignedValue.dat``
   and ``Seal.esl`` that another entry of the list names: later seals, or earlier ones this
   signature chose not to cover, each verified on its own), ``entry`` (``OFD.xml``: some
   producers, e.g. invoice platforms, leave it out; what a reader shows starts at
   ``DocRoot``, whose document must then be protected or it shows up as unexplained) — or
   ``unexplained``: a file that came after the signature, which breaks its integrity;
3. its **seal appearances** (``StampAnnot``): page number and boxes;
4. the **seal**: ``Seal.esl`` must be byte for byte the ``eseal`` inside the
   ``SES_Signature`` of ``SignedValue.dat`` (ofdrw's check; GB/T 38540 v4 and GM/T 0031 v1
   both put it second in ``TBS_Sign``); a ``Type="Sign"`` entry (a plain digital signature,
   whose value is no SES_Signature) has no seal to compare;
5. the **signature value**: ``verify_ses(signed_value_der, signature_xml_bytes)``, by
   default :func:`signer.ses.verify_ses_signature` over ``Signature.xml``'s exact bytes (GM/T
   0031's steps: the maker's signature, the seal's validity, the signer in its certList, the
   data hash, the signature, the timestamp).  Its result is kept as it is; the failed steps
   of a :class:`~signer.ses.SesVerification` become the signature's problems.  A verifier
   that raises (:class:`~keystore.errors.EsealError` or ``ValueError``: bytes it cannot read)
   gives ``malformed_signature``.  A ``Type="Sign"`` entry (a plain digital signature) is
   checked by :func:`signer.ofd.digital.verify_digital_signature` instead (GB/T 35275
   SignedData over ``Signature.xml``; a bare SM2 value without a certificate is
   ``ofd_signer_unknown``), unless its value is an SES_Signature after all.

Problems use the codes of :class:`seals.codes.ProblemCode`.  A signature is ``valid`` without
any problem; its ``integrity`` is ``broken`` when a problem of :data:`INTEGRITY_PROBLEMS`
says that what it protects changed or cannot be read, else ``ok``.  Trust, revocation and the
license are the caller's business (:mod:`signer.national_trust`, :mod:`seals.policy`).

Leniencies, each named: a missing ``CheckMethod`` is read as SM3 (the one digest of national
practice; ofdrw would fail on it); ``SignatureDateTime`` is read as ``YYYYMMDDHHMMSSZ``, ISO
8601, or ofdrw's zone-less ``YYYY-MM-DD HH:MM:SS``, which is taken as Beijing time.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from typing import Any, Literal

from keystore.errors import EsealError
from keystore.sm2 import sm3
from seals.codes import ProblemCode
from seals.esl_asn1 import AnySequence
from seals.vocab import Integrity, ReferenceStatus

from ..errors import InvalidOfd
from ..ses import SesVerification, verify_ses_signature
from .digital import verify_digital_signature
from .document import Box, OfdDocument
from .package import OfdPackage, read_package
from .signatures import (
    OID_SM3,
    Provider,
    SignatureEntry,
    SignatureFile,
    read_signature,
    read_signature_list,
)

__all__ = [
    "INTEGRITY_PROBLEMS",
    "FileCheck",
    "OfdProblem",
    "OfdSignature",
    "OfdVerification",
    "StampView",
    "UncoveredFile",
    "seal_of_ses",
    "verify_ofd",
]

UncoveredReason = Literal["own", "signature_list", "other_signature", "entry", "unexplained"]

_BEIJING = timezone(timedelta(hours=8))

#: The problems that break a signature's integrity: what it protects no longer matches
#: (a file, the seal, Signature.xml under the signature value) or cannot be read.  The
#: others (the seal's validity period, a signer the seal does not list, timestamps) make the
#: signature not valid without saying that the document changed.
INTEGRITY_PROBLEMS = frozenset(
    {
        ProblemCode.OFD_FILE_CHANGED,
        ProblemCode.OFD_FILE_MISSING,
        ProblemCode.OFD_FILE_NOT_COVERED,
        ProblemCode.OFD_SEAL_MISMATCH,
        ProblemCode.OFD_CHECK_METHOD_UNSUPPORTED,
        ProblemCode.OFD_STAMP_PAGE_MISSING,
        ProblemCode.MALFORMED_SIGNATURE,
        ProblemCode.DIGEST_MISMATCH,
        ProblemCode.SIGNATURE_INVALID,
        ProblemCode.SEAL_MAKER_SIGNATURE_INVALID,
    }
)


@dataclass(frozen=True)
class OfdProblem:
    code: ProblemCode
    message: str

    def to_json(self) -> dict[str, str]:
        return {"code": self.code.value, "message": self.message}


@dataclass(frozen=True)
class FileCheck:
    """One protected file: its package name, its path as the signature writes it, status."""

    path: str
    file_ref: str
    status: ReferenceStatus


@dataclass(frozen=True)
class UncoveredFile:
    """A file of the package that the signature does not protect, and why that is (or is
    not) acceptable."""

    path: str
    reason: UncoveredReason


@dataclass(frozen=True)
class StampView:
    """One seal appearance: page number (``None`` when the page is not in the document)."""

    id: str
    page: int | None
    page_ref: str
    boundary: Box
    clip: Box | None


@dataclass(frozen=True)
class OfdSignature:
    """One signature of the document, as checked."""

    #: position in the signature list, from 1
    index: int
    id: str
    #: ``Seal`` or ``Sign``
    type: str
    #: package name of its ``Signature.xml``
    path: str
    provider: Provider | None = None
    signature_method: str | None = None
    #: ``SignatureDateTime`` as written, and read as a time (``None`` if unreadable)
    signature_date_time: str | None = None
    signing_time: datetime | None = None
    references: tuple[FileCheck, ...] = ()
    uncovered: tuple[UncoveredFile, ...] = ()
    stamps: tuple[StampView, ...] = ()
    #: the seal: ``Seal.esl``'s bytes, or the one inside the signature value when the
    #: signature names no ``Seal.esl``
    seal_esl: bytes | None = None
    #: whether ``Seal.esl`` is the seal inside the signature value (``None``: nothing to compare)
    seal_matches: bool | None = None
    signature_xml: bytes | None = None
    signed_value: bytes | None = None
    #: what ``verify_ses`` returned (``None`` if it raised or was not called); for a
    #: ``Type="Sign"`` entry the :class:`~signer.ofd.digital.DigitalSignatureCheck` of its value
    ses: Any = None
    #: what ``verify_ses`` raised, if it did
    ses_error: Exception | None = None
    problems: tuple[OfdProblem, ...] = ()

    @property
    def integrity(self) -> Integrity:
        """``broken`` when a problem touches what the signature protects (a file, the seal,
        the signature value, its structure), else ``ok``."""
        broken = any(p.code in INTEGRITY_PROBLEMS for p in self.problems)
        return Integrity.BROKEN if broken else Integrity.OK

    @property
    def intact(self) -> bool:
        """The integrity is ``ok`` (the seal's validity, trust and times aside)."""
        return self.integrity is Integrity.OK

    @property
    def valid(self) -> bool:
        """No problem at all: intact, and the SES verifier found nothing either."""
        return not self.problems


@dataclass(frozen=True)
class OfdVerification:
    """Every signature of the document, in the order of its signature list."""

    pages: int
    signatures: tuple[OfdSignature, ...]
    #: problems of the document as a whole (no signature, an unreadable signature list)
    problems: tuple[OfdProblem, ...] = field(default=())

    @property
    def intact(self) -> bool:
        """Signed, and every signature's integrity is ``ok``."""
        return (
            bool(self.signatures) and not self.problems and all(s.intact for s in self.signatures)
        )

    @property
    def valid(self) -> bool:
        """Signed, and no signature has any problem."""
        return bool(self.signatures) and not self.problems and all(s.valid for s in self.signatures)


def seal_of_ses(signed_value: bytes) -> bytes:
    """The DER of the ``eseal`` inside an SES_Signature (v4 or v1: ``toSign``'s second
    field).

    :raises ValueError: the bytes are not shaped like an SES_Signature.
    """
    try:
        outer = AnySequence.load(signed_value, strict=True)
        to_sign = AnySequence.load(outer[0].dump(), strict=True)
        return bytes(to_sign[1].dump())
    except (ValueError, TypeError, IndexError, KeyError) as ex:
        raise ValueError("the signature value is not an SES_Signature") from ex


def _signing_time(text: str | None) -> datetime | None:
    if not text:
        return None
    for pattern, zone in (("%Y%m%d%H%M%SZ", UTC), ("%Y-%m-%d %H:%M:%S", _BEIJING)):
        try:
            return datetime.strptime(text, pattern).replace(tzinfo=zone)
        except ValueError:
            pass
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=_BEIJING)


def _own_files(signature: SignatureFile) -> set[str]:
    own = {signature.path, signature.signed_value_path}
    if signature.seal_path is not None:
        own.add(signature.seal_path)
    return own


_SM3_NAMES = re.compile(r"^\s*(sm3|1\.2\.156\.10197\.1\.401)\s*$", re.IGNORECASE)


class _Checker:
    """Checks one signature, collecting its problems."""

    def __init__(
        self,
        package: OfdPackage,
        document: OfdDocument,
        entry: SignatureEntry,
        signature: SignatureFile,
    ) -> None:
        self.package = package
        self.document = document
        self.entry = entry
        self.signature = signature
        self.problems: list[OfdProblem] = []

    def problem(self, code: ProblemCode, message: str) -> None:
        self.problems.append(OfdProblem(code, message))

    def references(self) -> tuple[FileCheck, ...]:
        sid = self.entry.id
        method = self.signature.check_method
        digestible = method is None or _SM3_NAMES.match(method) is not None
        if not digestible:
            self.problem(
                ProblemCode.OFD_CHECK_METHOD_UNSUPPORTED,
                f"signature {sid} digests its files with {method!r}, not SM3 ({OID_SM3})",
            )
        checks = []
        for ref in self.signature.references:
            status = ReferenceStatus.OK if digestible else ReferenceStatus.UNCHECKED
            if ref.path not in self.package:
                status = ReferenceStatus.MISSING
                self.problem(
                    ProblemCode.OFD_FILE_MISSING,
                    f"{ref.path}, which signature {sid} protects, is not in the package",
                )
            elif digestible and sm3(self.package.read(ref.path)) != ref.check_value:
                status = ReferenceStatus.CHANGED
                self.problem(
                    ProblemCode.OFD_FILE_CHANGED,
                    f"{ref.path} was changed after signature {sid} protected it",
                )
            checks.append(FileCheck(ref.path, ref.file_ref, status))
        return tuple(checks)

    def uncovered(self, list_path: str, others: set[str]) -> tuple[UncoveredFile, ...]:
        covered = {ref.path for ref in self.signature.references}
        own = _own_files(self.signature)
        found = []
        for name in self.package.names:
            if name in covered:
                continue
            reason: UncoveredReason = "unexplained"
            if name in own:
                reason = "own"
            elif name == list_path:
                reason = "signature_list"
            elif name in others:
                reason = "other_signature"
            elif name == "OFD.xml":
                reason = "entry"
            else:
                self.problem(
                    ProblemCode.OFD_FILE_NOT_COVERED,
                    f"{name} is not protected by signature {self.entry.id} and belongs to no "
                    "other signature",
                )
            found.append(UncoveredFile(name, reason))
        return tuple(found)

    def stamps(self) -> tuple[StampView, ...]:
        views = []
        for stamp in self.signature.stamps:
            page = self.document.page_ids.get(stamp.page_ref)
            if page is None:
                self.problem(
                    ProblemCode.OFD_STAMP_PAGE_MISSING,
                    f"a seal appearance of signature {self.entry.id} is on page ID "
                    f"{stamp.page_ref!r}, which the document does not have",
                )
            number = None if page is None else page.number
            views.append(StampView(stamp.id, number, stamp.page_ref, stamp.boundary, stamp.clip))
        return tuple(views)

    def optional(self, path: str | None) -> bytes | None:
        return self.package.read(path) if path is not None and path in self.package else None

    def seal(self, signed_value: bytes | None) -> tuple[bytes | None, bool | None]:
        """The seal and whether ``Seal.esl`` is the one in the signature value."""
        sid, seal_path = self.entry.id, self.signature.seal_path
        seal_file = self.optional(seal_path)
        if seal_path is not None and seal_file is None:
            self.problem(
                ProblemCode.OFD_FILE_MISSING,
                f"the seal file of signature {sid} ({seal_path}) is missing",
            )
        if signed_value is None or self.entry.type == "Sign":
            return seal_file, None  # a plain digital signature carries no seal
        try:
            embedded = seal_of_ses(signed_value)
        except ValueError:
            self.problem(
                ProblemCode.MALFORMED_SIGNATURE,
                f"the signature value of signature {sid} is not an SES_Signature",
            )
            return seal_file, None
        if seal_file is None:
            return embedded, None
        if embedded != seal_file:
            self.problem(
                ProblemCode.OFD_SEAL_MISMATCH,
                f"Seal.esl of signature {sid} is not the seal it signed with",
            )
        return seal_file, embedded == seal_file

    def value(
        self,
        signed_value: bytes | None,
        signature_xml: bytes,
        verify_ses: Callable[[bytes, bytes], Any],
    ) -> tuple[Any, Exception | None]:
        """What ``verify_ses`` returns, or what it raised."""
        sid = self.entry.id
        if signed_value is None:
            self.problem(
                ProblemCode.MALFORMED_SIGNATURE,
                f"the signature value of signature {sid} "
                f"({self.signature.signed_value_path}) is missing",
            )
            return None, None
        if self.entry.type == "Sign":
            digital = verify_digital_signature(signed_value, signature_xml)
            if digital.problem is not ProblemCode.MALFORMED_SIGNATURE:
                if digital.problem is not None:
                    self.problem(digital.problem, f"signature {sid}: {digital.message}")
                return digital, None
            # not a plain signature's value: an SES_Signature under Type="Sign" is read as one
        try:
            result = verify_ses(signed_value, signature_xml)
        except (EsealError, ValueError) as ex:
            detail = ex.detail if isinstance(ex, EsealError) else str(ex)
            self.problem(
                ProblemCode.MALFORMED_SIGNATURE,
                f"the signature value of signature {sid} cannot be verified: {detail}",
            )
            return None, ex
        if isinstance(result, SesVerification):
            for check in result.checks:
                if not check.ok and check.problem is not None:
                    self.problem(check.problem, f"signature {sid}: {check.message}")
        return result, None


def _check(
    package: OfdPackage,
    document: OfdDocument,
    index: int,
    entry: SignatureEntry,
    signature: SignatureFile,
    list_path: str,
    others: set[str],
    verify_ses: Callable[[bytes, bytes], Any],
) -> OfdSignature:
    checker = _Checker(package, document, entry, signature)
    references = checker.references()
    uncovered = checker.uncovered(list_path, others)
    stamps = checker.stamps()
    signature_xml = package.read(signature.path)
    signed_value = checker.optional(signature.signed_value_path)
    seal_esl, seal_matches = checker.seal(signed_value)
    ses, ses_error = checker.value(signed_value, signature_xml, verify_ses)
    return OfdSignature(
        index=index,
        id=entry.id,
        type=entry.type,
        path=signature.path,
        provider=signature.provider,
        signature_method=signature.signature_method,
        signature_date_time=signature.signature_date_time,
        signing_time=_signing_time(signature.signature_date_time),
        references=references,
        uncovered=uncovered,
        stamps=stamps,
        seal_esl=seal_esl,
        seal_matches=seal_matches,
        signature_xml=signature_xml,
        signed_value=signed_value,
        ses=ses,
        ses_error=ses_error,
        problems=tuple(checker.problems),
    )


def _verify_ses(signed_value: bytes, signature_xml: bytes) -> SesVerification:
    return verify_ses_signature(signed_value, data=signature_xml)


def verify_ofd(
    data: bytes | OfdPackage,
    *,
    verify_ses: Callable[[bytes, bytes], Any] = _verify_ses,
) -> OfdVerification:
    """Check every signature of an OFD document (see the module's docstring).

    ``verify_ses(signed_value_der, signature_xml_bytes)`` checks one signature value; by
    default :func:`signer.ses.verify_ses_signature` with ``Signature.xml``'s bytes as the
    protected data, the seal's validity judged at the signing time it claims.

    A document that cannot be read at all raises; a broken signature is reported, never
    raised.

    :raises InvalidOfd: the file is not a readable OFD document.
    """
    package = data if isinstance(data, OfdPackage) else read_package(data)
    document = OfdDocument(package)
    pages = len(document.pages)
    try:
        listing = read_signature_list(package)
    except InvalidOfd as ex:
        problem = OfdProblem(ProblemCode.OFD_SIGNATURE_LIST_INVALID, ex.detail)
        return OfdVerification(pages, (), (problem,))
    if listing is None or not listing.entries:
        problem = OfdProblem(ProblemCode.NO_SIGNATURES, "the document carries no signature")
        return OfdVerification(pages, (), (problem,))
    parsed: list[SignatureFile | InvalidOfd] = []
    for entry in listing.entries:
        try:
            parsed.append(read_signature(package, entry.path))
        except InvalidOfd as ex:
            parsed.append(ex)
    named = [
        _own_files(p) if isinstance(p, SignatureFile) else {e.path}
        for p, e in zip(parsed, listing.entries, strict=True)
    ]
    results = []
    for index, (entry, signature) in enumerate(zip(listing.entries, parsed, strict=True), 1):
        if isinstance(signature, InvalidOfd):
            problem = OfdProblem(
                ProblemCode.MALFORMED_SIGNATURE,
                f"signature {entry.id} cannot be read: {signature.detail}",
            )
            results.append(
                OfdSignature(index, entry.id, entry.type, entry.path, problems=(problem,))
            )
            continue
        others = set().union(*(n for i, n in enumerate(named) if i != index - 1))
        results.append(
            _check(package, document, index, entry, signature, listing.path, others, verify_ses)
        )
    return OfdVerification(pages, tuple(results))
