"""The license and revocation policy of a verdict: what "valid for this license" means.

Given what the registry knows (the enterprise and its license history, the seal record that
signed and its newest version) and when the signature was made, :func:`judge` decides whether
the seal was revoked at signing, whether the license was active then, and which problems and
notices the report shows.  It is pure: the verifier (:mod:`signer.verify`) reads the registry
and the PDF, this module decides.

Revocation.  For a seal of our own CA the registry's record is authoritative: a revoked or
suspended seal counts from :attr:`seals.model.Seal.revoked_since` (a key compromise from the
compromise time) with its published reason.  For another CA's certificate the revocation that
pyHanko's validation found is used.  A revocation counts against a signature when only a
claimed signing time exists (``revoked_without_trusted_time``: nothing shows the signature came
first) or when it is at or before the time the signature's timestamp proves
(``certificate_revoked``); after that time it is a notice, ``seal_revoked_since_signing``.

License.  The certificate's USCC must name a registered enterprise whose license was active at
the signing time (a claimed time counts here, unlike for revocation, and the problem message
says which time it was); the certificate must match the registry: our own certificate by its
USCC (it carries the name registered when it was issued, so a renamed enterprise's older seals
still match), another CA's by the organisation name.  A license that was active at signing and
is not now is a notice.

Times.  ``SigningTime.at`` is already the latest instant the time allows (see
:mod:`signer.times`): a change inside the timestamp's accuracy counts as before the signature,
the safe side.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from .codes import ProblemCode
from .identity import CertificateIdentity
from .license import LicenseStatus, status_at
from .model import Enterprise, Seal, SealStatus
from .verdict import (
    EnterpriseInfo,
    NoticeItem,
    ProblemItem,
    RevocationInfo,
    license_notice,
    seal_notices,
)
from .vocab import CrlReason, TimeSource, UsccSource

__all__ = ["Revocation", "SealVerdict", "SigningTime", "judge", "judge_license", "judge_revocation"]


@dataclass(frozen=True)
class SigningTime:
    """When a signature was made, as far as the verifier can tell."""

    #: the latest instant the time allows; None when the signature names no time at all
    at: datetime | None
    #: a validated signature timestamp, or only the time the signer claims
    source: TimeSource


@dataclass(frozen=True)
class Revocation:
    """A revocation (or suspension) of the certificate that signed."""

    at: datetime
    reason: CrlReason | None


@dataclass
class SealVerdict:
    """What the policy decided for one seal's signature."""

    revoked: RevocationInfo
    enterprise: EnterpriseInfo
    #: revocation problems first, then the license's: the order the report lists them in
    problems: list[ProblemItem] = field(default_factory=list)
    notices: list[NoticeItem] = field(default_factory=list)
    #: the certificate names a registered enterprise, matches it, and its license was active
    licensed: bool = False

    @property
    def ok(self) -> bool:
        """Not revoked at signing and licensed: the policy's part of ``valid``."""
        return self.licensed and not self.revoked.at_signing


def registry_revocation(seal: Seal) -> Revocation | None:
    """The revocation the registry records for our seal, None while it is active."""
    if seal.status not in (SealStatus.REVOKED, SealStatus.SUSPENDED):
        return None
    at = seal.revoked_since
    if at is None:  # not reached: a seal that is not active has a time
        return None
    reason = seal.published_reason
    return Revocation(at, CrlReason(reason.value) if reason else None)


def judge_revocation(
    revocation: Revocation | None, signed: SigningTime
) -> tuple[RevocationInfo, list[ProblemItem]]:
    """The report's ``revoked`` and its problem, if the revocation counts at signing."""
    problems: list[ProblemItem] = []
    at_signing = False
    if revocation is not None:
        if signed.source is not TimeSource.TIMESTAMP or signed.at is None:
            at_signing = True
            problems.append(
                ProblemItem(
                    code=ProblemCode.REVOKED_WITHOUT_TRUSTED_TIME,
                    message="the seal is revoked and the signature has no trusted timestamp, "
                    "so it cannot be shown to predate the revocation",
                )
            )
        elif revocation.at <= signed.at:
            at_signing = True
            reason = revocation.reason.value if revocation.reason else None
            problems.append(
                ProblemItem(
                    code=ProblemCode.CERTIFICATE_REVOKED,
                    message=f"the seal was revoked ({reason}) before it signed",
                )
            )
    info = RevocationInfo(
        revoked=revocation is not None,
        at=revocation.at if revocation else None,
        reason=revocation.reason if revocation else None,
        at_signing=at_signing,
    )
    return info, problems


def judge_license(
    identity: CertificateIdentity,
    seal: Seal | None,
    enterprise: Enterprise | None,
    signed: SigningTime,
    field_name: str,
) -> tuple[EnterpriseInfo, list[ProblemItem], NoticeItem | None, bool]:
    """(the report's ``enterprise``, its problems, the license notice, licensed).

    ``enterprise`` is the registry's record of the certificate's USCC (None when it has none
    or it is not registered)."""
    uscc = identity.uscc
    info = EnterpriseInfo(
        uscc=uscc,
        uscc_source=UsccSource(identity.uscc_source) if identity.uscc_source else None,
        name=identity.organisation,
        certificate_name=identity.organisation,
        license_status_now=None,
        license_status_at_signing=None,
        matches_registry=False,
    )
    if uscc is None:
        problem = ProblemItem(
            code=ProblemCode.NO_USCC,
            message="the certificate names no valid unified social credit code",
        )
        return info, [problem], None, False
    if enterprise is None:
        problem = ProblemItem(
            code=ProblemCode.ENTERPRISE_NOT_REGISTERED,
            message=f"no enterprise with USCC {uscc} is in the registry",
        )
        return info, [problem], None, False
    at = status_at(list(enterprise.history), signed.at) if signed.at else None
    notice = license_notice(enterprise, at, field_name)
    # our own certificate, byte for byte: it carries the name registered when it was issued
    matches = (
        seal.uscc == uscc
        if seal is not None
        else (identity.organisation == enterprise.license.name)
    )
    info.name = enterprise.license.name
    info.license_status_now = enterprise.status
    info.license_status_at_signing = at
    info.matches_registry = matches
    problems: list[ProblemItem] = []
    if not matches:
        problems.append(
            ProblemItem(
                code=ProblemCode.REGISTRY_MISMATCH,
                message="the certificate's name or USCC does not match the registry",
            )
        )
    if at is not LicenseStatus.ACTIVE:
        problems.append(
            ProblemItem(
                code=ProblemCode.LICENSE_NOT_ACTIVE_AT_SIGNING,
                message=f"the license was {at.value if at else 'not registered'} when the "
                f"seal signed (time from the {signed.source.value} signing time)",
            )
        )
        return info, problems, notice, False
    return info, problems, notice, matches


def judge(
    identity: CertificateIdentity,
    seal: Seal | None,
    *,
    enterprise: Enterprise | None,
    newest: Seal | None,
    reported: Revocation | None,
    signed: SigningTime,
    field_name: str,
    serial: int | None = None,
) -> SealVerdict:
    """The policy's verdict on one seal's signature.

    ``seal``: our record of the certificate that signed (None for another CA's);
    ``enterprise``: the registry's record of the certificate's USCC; ``newest``: the current
    version of ``seal``'s kind; ``reported``: the revocation pyHanko's validation found, used
    for another CA's certificate only; ``serial``: the certificate that signed, as notices
    name it."""
    revocation = registry_revocation(seal) if seal is not None else reported
    revoked, problems = judge_revocation(revocation, signed)
    info, license_problems, notice, licensed = judge_license(
        identity, seal, enterprise, signed, field_name
    )
    verdict = SealVerdict(revoked, info, problems + license_problems, licensed=licensed)
    if notice is not None:
        verdict.notices.append(notice)
    if seal is not None:
        verdict.notices += seal_notices(
            seal,
            newest,
            revoked_at=revoked.at,
            reason=revoked.reason,
            revoked_at_signing=revoked.at_signing,
            enterprise_name=info.name or seal.uscc,
            field_name=field_name,
            serial=serial,
        )
    return verdict
