"""The license and revocation policy of a verdict (seals/policy.py), without a PDF.

What a relying party reads in the report for each combination of the seal's status, the
license's history and the kind of signing time: revoked at signing or not, the license status
then, the problems that make the seal not valid and the notices that leave it valid.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from helpers import USCC, license_data
from seals.codes import NoticeCode, ProblemCode
from seals.identity import CertificateIdentity
from seals.kinds import SealKind
from seals.license import LicenseStatus, StatusChange, parse_license
from seals.model import Enterprise, ImageSource, RevocationReason, Seal, SealStatus
from seals.policy import Revocation, SealVerdict, SigningTime, judge
from seals.vocab import CrlReason, TimeSource

LICENSE = parse_license(license_data())
REGISTERED = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
SIGNED = datetime(2026, 3, 1, 10, 0, 1, tzinfo=UTC)  # the latest instant the time allows
STAMPED = SigningTime(SIGNED, TimeSource.TIMESTAMP)
CLAIMED = SigningTime(SIGNED, TimeSource.CLAIMED)
BEFORE, AFTER = SIGNED - timedelta(days=3), SIGNED + timedelta(days=3)


def seal(version: int = 1, **changes: object) -> Seal:
    base = Seal(
        uscc=USCC,
        kind=SealKind.CONTRACT,
        version=version,
        status=SealStatus.ACTIVE,
        key_ref="k",
        key_algorithm="ec-p256",
        serial=0x1F2E,
        certificate_pem="",
        chain_pem="",
        not_before=REGISTERED,
        not_after=REGISTERED + timedelta(days=3650),
        image_png=b"",
        image_sha256="0" * 64,
        image_source=ImageSource.RENDERED,
        created_at=REGISTERED + timedelta(days=version - 1),
    )
    return base.with_status(**changes) if changes else base  # type: ignore[arg-type]


def enterprise(*changes: tuple[LicenseStatus, datetime]) -> Enterprise:
    history = (
        StatusChange(LicenseStatus.ACTIVE, REGISTERED),
        *(StatusChange(status, at) for status, at in changes),
    )
    return Enterprise(LICENSE, history[-1].status, history, REGISTERED)


def identity(
    uscc: str | None = USCC, organisation: str | None = LICENSE.name
) -> CertificateIdentity:
    return CertificateIdentity(
        uscc=uscc,
        uscc_source="extension" if uscc else None,
        organisation=organisation,
        common_name=None,
        title="合同专用章",
        kind=SealKind.CONTRACT,
        person=None,
    )


def verdict(
    our_seal: Seal | None = None,
    *,
    registry: Enterprise | None = None,
    newest: Seal | None = None,
    reported: Revocation | None = None,
    signed: SigningTime = STAMPED,
    who: CertificateIdentity | None = None,
) -> SealVerdict:
    return judge(
        who or identity(),
        our_seal,
        enterprise=registry if registry is not None else enterprise(),
        newest=newest,
        reported=reported,
        signed=signed,
        field_name="Seal1",
    )


def codes(v: SealVerdict) -> list[ProblemCode]:
    return [p.code for p in v.problems]


def test_an_active_seal_of_an_active_license_is_valid() -> None:
    v = verdict(seal())
    assert v.ok and v.problems == [] and v.notices == []
    assert v.revoked.model_dump() == {
        "revoked": False,
        "at": None,
        "reason": None,
        "at_signing": False,
    }
    assert v.enterprise.license_status_at_signing is LicenseStatus.ACTIVE
    assert v.enterprise.matches_registry is True


@pytest.mark.parametrize(
    ("status", "code", "reason"),
    [
        (SealStatus.REVOKED, RevocationReason.SUPERSEDED, CrlReason.SUPERSEDED),
        (SealStatus.REVOKED, None, CrlReason.UNSPECIFIED),
        (SealStatus.SUSPENDED, None, CrlReason.CERTIFICATE_HOLD),
    ],
)
def test_revoked_after_the_timestamp_is_a_notice(
    status: SealStatus, code: RevocationReason | None, reason: CrlReason
) -> None:
    v = verdict(seal(status=status, at=AFTER, reason=None, code=code))
    assert v.ok and v.problems == []
    assert (v.revoked.revoked, v.revoked.at, v.revoked.reason) == (True, AFTER, reason)
    assert v.revoked.at_signing is False
    (notice,) = v.notices
    assert (notice.code, notice.since, notice.reason) == (
        NoticeCode.SEAL_REVOKED_SINCE_SIGNING,
        AFTER,
        reason,
    )
    verb = "suspended" if status is SealStatus.SUSPENDED else "revoked"
    assert f"was {verb} on 2026-03-04" in notice.message


@pytest.mark.parametrize("at", [BEFORE, SIGNED], ids=["before", "at the same instant"])
def test_revoked_at_or_before_the_timestamp_is_not_valid(at: datetime) -> None:
    v = verdict(seal(status=SealStatus.REVOKED, at=at, reason=None))
    assert not v.ok and v.revoked.at_signing is True
    assert codes(v) == [ProblemCode.CERTIFICATE_REVOKED]
    assert v.notices == []


def test_a_key_compromise_counts_from_the_compromise() -> None:
    revoked = seal(
        status=SealStatus.REVOKED,
        at=AFTER,
        reason=None,
        code=RevocationReason.KEY_COMPROMISE,
        compromised_at=BEFORE,
    )
    v = verdict(revoked)
    assert codes(v) == [ProblemCode.CERTIFICATE_REVOKED]
    assert v.revoked.at == BEFORE and v.revoked.reason is CrlReason.KEY_COMPROMISE
    assert "(key_compromise)" in v.problems[0].message


@pytest.mark.parametrize("when", [AFTER, None], ids=["claimed", "no time"])
def test_revoked_without_a_trusted_time_is_not_valid(when: datetime | None) -> None:
    v = verdict(
        seal(status=SealStatus.REVOKED, at=AFTER, reason=None),
        signed=SigningTime(when, TimeSource.CLAIMED),
    )
    assert codes(v)[0] is ProblemCode.REVOKED_WITHOUT_TRUSTED_TIME
    assert v.revoked.at_signing is True and not v.ok


def test_another_cas_revocation_is_the_one_validation_found() -> None:
    found = Revocation(BEFORE, CrlReason.CA_COMPROMISE)
    assert codes(verdict(None, reported=found)) == [ProblemCode.CERTIFICATE_REVOKED]
    later = verdict(None, reported=Revocation(AFTER, CrlReason.CA_COMPROMISE))
    assert later.ok and later.revoked.reason is CrlReason.CA_COMPROMISE
    assert later.notices == []  # seal notices are for our own seals
    # for our own seal the registry decides, whatever validation found
    assert verdict(seal(), reported=found).ok


@pytest.mark.parametrize(
    ("status", "notice"),
    [
        (LicenseStatus.SUSPENDED, NoticeCode.LICENSE_SUSPENDED_NOW),
        (LicenseStatus.CANCELLED, NoticeCode.LICENSE_CANCELLED_SINCE_SIGNING),
        (LicenseStatus.REVOKED, NoticeCode.LICENSE_REVOKED_SINCE_SIGNING),
    ],
)
def test_a_license_that_left_active_after_signing_is_a_notice(
    status: LicenseStatus, notice: NoticeCode
) -> None:
    v = verdict(seal(), registry=enterprise((status, AFTER)))
    assert v.ok and v.problems == []
    assert v.enterprise.license_status_now is status
    assert v.enterprise.license_status_at_signing is LicenseStatus.ACTIVE
    assert [(n.code, n.since, n.fields) for n in v.notices] == [(notice, AFTER, ["Seal1"])]


@pytest.mark.parametrize("signed", [STAMPED, CLAIMED], ids=lambda s: s.source.value)
def test_a_license_not_active_at_signing_is_not_valid(signed: SigningTime) -> None:
    v = verdict(seal(), registry=enterprise((LicenseStatus.CANCELLED, BEFORE)), signed=signed)
    assert not v.ok and codes(v) == [ProblemCode.LICENSE_NOT_ACTIVE_AT_SIGNING]
    assert f"from the {signed.source.value} signing time" in v.problems[0].message
    assert v.enterprise.license_status_at_signing is LicenseStatus.CANCELLED
    assert v.notices == []  # the problem says it; no notice repeats it


def test_signed_before_registration() -> None:
    early = SigningTime(REGISTERED - timedelta(seconds=2), TimeSource.TIMESTAMP)
    v = verdict(seal(), signed=early)
    assert codes(v) == [ProblemCode.LICENSE_NOT_ACTIVE_AT_SIGNING]
    assert "the license was not registered when" in v.problems[0].message
    assert v.enterprise.license_status_at_signing is None


def test_the_certificate_must_name_a_registered_enterprise() -> None:
    v = verdict(None, who=identity(uscc=None))
    assert codes(v) == [ProblemCode.NO_USCC] and not v.ok
    assert v.enterprise.uscc is None and v.enterprise.uscc_source is None
    v = judge(
        identity(),
        None,
        enterprise=None,
        newest=None,
        reported=None,
        signed=STAMPED,
        field_name="Seal1",
    )
    assert codes(v) == [ProblemCode.ENTERPRISE_NOT_REGISTERED]
    assert v.enterprise.name == LICENSE.name  # the certificate's name, nothing registered


def test_another_cas_certificate_matches_by_name() -> None:
    assert verdict(None).ok
    v = verdict(None, who=identity(organisation="某某伪造有限公司"))
    assert codes(v) == [ProblemCode.REGISTRY_MISMATCH] and not v.ok
    assert v.enterprise.name == LICENSE.name
    assert v.enterprise.certificate_name == "某某伪造有限公司"


def test_a_re_issued_seal_is_a_notice() -> None:
    v = verdict(seal(1), newest=seal(2))
    assert v.ok
    (notice,) = v.notices
    assert notice.code is NoticeCode.SEAL_SUPERSEDED and notice.current_version == 2
    assert notice.seal is not None and notice.seal.version == 1
    assert verdict(seal(2), newest=seal(2)).notices == []
