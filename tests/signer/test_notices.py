"""The report's ``notices``: what changed about a license or a seal after a timestamped
signature (DESIGN.md section 3), and ``expect_uscc`` as the verifier takes it.

Each test seals a 1-page document at B-T with the contract seal and the legal
representative's seal, waits until the timestamp is provably over, changes the registry the
way an administrator does, and reads the report a bank would get.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from api.container import Container
from helpers import USCC, license_data
from pdfs import simple_pdf
from seals.errors import InvalidUSCC
from seals.kinds import SealKind
from seals.license import LicenseStatus, parse_license
from seals.verdict import NOTICE_CODES, expected_uscc
from signer.levels import PadesLevel
from signer.service import SealingOptions, SealOrder

TWO_SEALS = (SealKind.CONTRACT, SealKind.LEGAL_REP)
UNREGISTERED = "91110000600037341L"  # well formed, in no document here


@pytest.fixture
def c(container: Container) -> Container:
    container.seals.register(parse_license(license_data()))
    return container


async def sealed(
    c: Container, level: PadesLevel = PadesLevel.B_T, kinds: tuple[SealKind, ...] = TWO_SEALS
) -> tuple[bytes, dict[str, Any]]:
    """A sealed document and its report, once the timestamp's second and accuracy are over."""
    pdf, _ = await c.sealing.seal(
        USCC, simple_pdf(1), SealingOptions(seals=[SealOrder(k) for k in kinds], level=level)
    )
    report = await c.verifier.verify(pdf, USCC)
    assert report["valid"] is True and report["notices"] == [], report
    times = [
        e["timestamp"]["time"] if e.get("timestamp") else e["signing_time"]
        for e in report["signatures"]
    ]
    latest = max(datetime.fromisoformat(t) for t in times)
    wait = (latest + timedelta(seconds=1.05) - datetime.now(UTC)).total_seconds()
    if wait > 0:
        await asyncio.sleep(wait)
    return pdf, report


def fields(report: dict[str, Any]) -> dict[SealKind, str]:
    return {
        SealKind(e["seal"]["kind"]): e["field"]
        for e in report["signatures"]
        if e["type"] == "signature"
    }


def by_code(report: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for notice in report["notices"]:
        assert set(notice) >= {"code", "message", "since", "uscc", "enterprise", "fields"}
        assert notice["code"] in NOTICE_CODES
        out.setdefault(notice["code"], []).append(notice)
    return out


async def test_cancelled_license_is_a_notice_not_a_problem(c: Container) -> None:
    pdf, before = await sealed(c)
    enterprise = c.seals.change_status(USCC, LicenseStatus.CANCELLED, "注销")
    cancelled_at = enterprise.history[-1].at
    report = await c.verifier.verify(pdf, USCC)
    assert report["valid"] is True and report["problems"] == []
    notices = by_code(report)
    assert set(notices) == {"license_cancelled_since_signing", "seal_revoked_since_signing"}
    [license] = notices["license_cancelled_since_signing"]  # one for both seals
    assert license["since"] == cancelled_at.isoformat()
    assert license["uscc"] == USCC and license["enterprise"] == license_data()["name"]
    assert sorted(license["fields"]) == sorted(fields(before).values())
    # the date is the Beijing date, as on the HTML report
    beijing = cancelled_at.astimezone(timezone(timedelta(hours=8))).date().isoformat()
    assert beijing in license["message"]
    # cancelling revoked both seals, after they signed: each is a notice with its reason code
    revoked = notices["seal_revoked_since_signing"]
    assert sorted(n["seal"]["kind"] for n in revoked) == ["contract", "legal_rep"]
    for n in revoked:
        assert n["reason"] == "cessation_of_operation"
        assert n["since"] == cancelled_at.isoformat()
        assert n["fields"] == [fields(before)[SealKind(n["seal"]["kind"])]]


async def test_suspended_and_revoked_licenses(c: Container) -> None:
    pdf, _ = await sealed(c)
    suspended = c.seals.change_status(USCC, LicenseStatus.SUSPENDED, "检查").history[-1].at
    report = await c.verifier.verify(pdf)
    assert report["valid"] is True
    # a suspension leaves the seals as they are: the license is the only news
    assert [(n["code"], n["since"]) for n in report["notices"]] == [
        ("license_suspended_now", suspended.isoformat())
    ]
    revoked = c.seals.change_status(USCC, LicenseStatus.REVOKED, "吊销").history[-1].at
    report = await c.verifier.verify(pdf)
    assert report["valid"] is True
    [license] = by_code(report)["license_revoked_since_signing"]
    assert license["since"] == revoked.isoformat()
    assert "license_suspended_now" not in by_code(report)


async def test_reissued_seal_is_superseded(c: Container) -> None:
    pdf, before = await sealed(c)
    new = c.seals.reissue_seal(USCC, SealKind.CONTRACT)
    report = await c.verifier.verify(pdf, USCC)
    assert report["valid"] is True and report["problems"] == []
    notices = by_code(report)
    [superseded] = notices["seal_superseded"]
    assert superseded["current_version"] == new.version == 2
    assert superseded["seal"]["kind"] == "contract" and superseded["seal"]["version"] == 1
    assert superseded["since"] == new.created_at.isoformat()
    assert superseded["fields"] == [fields(before)[SealKind.CONTRACT]]
    [revoked] = notices["seal_revoked_since_signing"]
    assert revoked["reason"] == "superseded"
    # the legal representative's seal did not change: no notice names its signature
    legal_rep = fields(before)[SealKind.LEGAL_REP]
    assert all(legal_rep not in n["fields"] for n in report["notices"])


async def test_suspended_seal_is_on_hold(c: Container) -> None:
    pdf, _ = await sealed(c, kinds=(SealKind.CONTRACT,))
    c.seals.suspend_seal(USCC, SealKind.CONTRACT)
    report = await c.verifier.verify(pdf)
    assert report["valid"] is True
    [notice] = report["notices"]
    assert notice["code"] == "seal_revoked_since_signing"
    assert notice["reason"] == "certificate_hold"


async def test_without_timestamp_the_revocation_is_a_problem(c: Container) -> None:
    """B-B: only a claimed time, so a revoked seal makes the signature not valid, and the
    revocation is reported as a problem, not as a notice."""
    pdf, _ = await sealed(c, PadesLevel.B_B, (SealKind.OFFICIAL,))
    c.seals.revoke_seal(USCC, SealKind.OFFICIAL)
    report = await c.verifier.verify(pdf)
    assert report["valid"] is False
    assert "seal_revoked_since_signing" not in by_code(report)


async def test_expect_uscc_is_normalised_and_validated(c: Container) -> None:
    pdf, _ = await sealed(c, kinds=(SealKind.CONTRACT,))
    spaced = " " + " ".join(USCC[i : i + 4] for i in range(0, 18, 4)).lower() + "\n"
    report = await c.verifier.verify(pdf, spaced)
    assert report["valid"] is True and report["expect_uscc"] == USCC
    assert (await c.verifier.verify(pdf, "  "))["expect_uscc"] is None
    for bad in ("91110000600037341N", "9111000060003IOZSV", "123", USCC + "0"):
        with pytest.raises(InvalidUSCC) as caught:
            await c.verifier.verify(pdf, bad)
        assert caught.value.code == "invalid_uscc"
    # well formed, but no seal of it in the document: the problem says exactly that
    report = await c.verifier.verify(pdf, UNREGISTERED)
    assert report["valid"] is False
    [problem] = report["problems"]
    assert problem["code"] == "expected_enterprise_missing"
    assert "carries no seal of the enterprise 91110000600037341L" in problem["message"]


def test_expected_uscc() -> None:
    assert expected_uscc(None) is None
    assert expected_uscc("") is None
    assert expected_uscc("\t9144 0300 1922 0382 16 ") == "914403001922038216"
    assert expected_uscc("9144030071526726xg") == "9144030071526726XG"
    with pytest.raises(InvalidUSCC):
        expected_uscc(91110000600037341)


def test_notice_dates_are_beijing_dates() -> None:
    from seals.verdict import _day

    # 01:29 in Beijing on 4 December is still 3 December in UTC: the notice says the 4th
    assert _day(datetime(2026, 12, 3, 17, 29, tzinfo=UTC)) == "2026-12-04"
    assert _day(datetime(2026, 12, 3, 15, 59, tzinfo=UTC)) == "2026-12-03"
    assert _day(None) == "an unknown date"
