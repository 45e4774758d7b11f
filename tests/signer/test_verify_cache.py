"""The verifier's caches (signer/verify_cache.py) never change a report: after a seal is
revoked or suspended, or a license suspended, by this process or another, the next
verification says what a verifier with empty caches says, at once."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from api.container import Container, build
from api.settings import Settings
from helpers import USCC, license_data
from pdfs import simple_pdf
from seals.kinds import SealKind
from seals.license import LicenseStatus, parse_license
from signer.levels import PadesLevel
from signer.service import SealingOptions, SealOrder


@pytest.fixture
def c(container: Container) -> Container:
    container.seals.register(parse_license(license_data()))
    return container


@pytest.fixture
def other(settings: Settings, c: Container) -> Iterator[Container]:
    """Another process's view of the same data: its own registry, PKI and empty caches."""
    second = build(settings)
    yield second
    second.close()


async def seal(c: Container, level: PadesLevel, kinds: tuple[SealKind, ...]) -> bytes:
    out, _ = await c.sealing.seal(
        USCC, simple_pdf(1), SealingOptions(seals=[SealOrder(k) for k in kinds], level=level)
    )
    return out


def codes(report: dict[str, Any]) -> set[str]:
    out = {p["code"] for p in report["problems"]}
    for e in report["signatures"]:
        out |= {p["code"] for p in e["problems"]}
    return out


async def past_the_timestamps(report: dict[str, Any]) -> None:
    """Wait until every timestamp's second and its 1 s accuracy are over."""
    stamped = max(
        datetime.fromisoformat(e["timestamp"]["time"])
        for e in report["signatures"]
        if e.get("timestamp")
    )
    while (left := (stamped + timedelta(seconds=1.05) - datetime.now(UTC)).total_seconds()) > 0:
        await asyncio.sleep(left)


async def warm(c: Container, pdf: bytes) -> dict[str, Any]:
    """Verify until the caches answer (the first verification fills them)."""
    paths = c.verifier._contexts.paths
    hits = paths.hits
    report = await c.verifier.verify(pdf, USCC)
    for _ in range(2):
        assert await c.verifier.verify(pdf, USCC) == report
    assert paths.hits > hits, "the path cache never answered: the test would prove nothing"
    return report


async def test_repeated_verification_is_answered_from_the_caches_unchanged(
    c: Container, other: Container
) -> None:
    pdf = await seal(c, PadesLevel.B_T, (SealKind.CONTRACT, SealKind.LEGAL_REP))
    report = await warm(c, pdf)
    assert report["valid"] is True
    assert report == await other.verifier.verify(pdf, USCC)


async def test_a_revocation_reaches_the_next_verification(c: Container, other: Container) -> None:
    pdf = await seal(c, PadesLevel.B_B, (SealKind.OFFICIAL,))
    assert (await warm(c, pdf))["valid"] is True
    c.seals.revoke_seal(USCC, SealKind.OFFICIAL)
    report = await c.verifier.verify(pdf, USCC)
    assert report["valid"] is False
    assert "revoked_without_trusted_time" in codes(report)
    assert report == await other.verifier.verify(pdf, USCC)


async def test_a_revocation_by_another_process_reaches_the_next_verification(
    c: Container, other: Container
) -> None:
    pdf = await seal(c, PadesLevel.B_B, (SealKind.OFFICIAL,))
    assert (await warm(c, pdf))["valid"] is True
    other.seals.suspend_seal(USCC, SealKind.OFFICIAL)  # c's process hears nothing of it
    report = await c.verifier.verify(pdf, USCC)
    assert report["valid"] is False
    [entry] = [e for e in report["signatures"] if e["type"] == "signature"]
    assert entry["revoked"]["revoked"] is True
    assert report == await other.verifier.verify(pdf, USCC)


async def test_a_license_suspension_reaches_the_next_verification(
    c: Container, other: Container
) -> None:
    pdf = await seal(c, PadesLevel.B_T, (SealKind.CONTRACT, SealKind.LEGAL_REP))
    before = await warm(c, pdf)
    assert before["notices"] == []
    await past_the_timestamps(before)  # so that the suspension is news, not at signing
    c.seals.change_status(USCC, LicenseStatus.SUSPENDED, "inspection")
    report = await c.verifier.verify(pdf, USCC)
    assert report == await other.verifier.verify(pdf, USCC)
    assert "license_suspended_now" in {n["code"] for n in report["notices"]}
    for entry in (e for e in report["signatures"] if e["type"] == "signature"):
        assert entry["enterprise"]["license_status_now"] == "suspended"
    assert report == await other.verifier.verify(pdf, USCC)
    # and back: the reinstatement is seen at once too
    c.seals.change_status(USCC, LicenseStatus.ACTIVE, "inspection over")
    again = await c.verifier.verify(pdf, USCC)
    assert again["notices"] == [] and again == await other.verifier.verify(pdf, USCC)


async def test_a_changed_document_is_not_answered_from_the_cache(c: Container) -> None:
    """The path cache keeps chains, not verdicts: a tampered copy of a document whose chains
    are in the cache is still caught by pyHanko's own checks of its bytes."""
    pdf = await seal(c, PadesLevel.B_T, (SealKind.CONTRACT,))
    assert (await warm(c, pdf))["valid"] is True
    at = pdf.index(b"stream") + 10  # in the first page's content, which the seal covers
    tampered = pdf[:at] + bytes([pdf[at] ^ 1]) + pdf[at + 1 :]
    report = await c.verifier.verify(tampered, USCC)
    assert report["valid"] is False
    assert "digest_mismatch" in codes(report)
