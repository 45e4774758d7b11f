"""Status changes go through the seal service, which tells its listeners and raises the
registry's revision (the word to every other process)."""

from __future__ import annotations

import logging

import pytest

from api.container import Container
from helpers import USCC, license_data
from seals.errors import DomainError
from seals.kinds import SealKind
from seals.license import LicenseStatus, parse_license
from seals.model import SealStatus
from seals.ports import StatusChanged
from seals.vocab import SealAction


@pytest.fixture
def c(container: Container) -> Container:
    container.seals.register(parse_license(license_data()))
    return container


def test_every_status_change_is_told_with_its_certificates(c: Container) -> None:
    heard: list[StatusChanged] = []
    c.seals.subscribe(heard.append)
    seals = c.seals
    start = seals.revision()
    contract = seals.seal(USCC, SealKind.CONTRACT)

    seals.change_seal(USCC, SealKind.CONTRACT, SealAction.SUSPEND, "休假")
    seals.change_seal(USCC, SealKind.CONTRACT, SealAction.RESUME)
    new = seals.change_seal(USCC, SealKind.CONTRACT, SealAction.REISSUE, code="superseded")
    seals.change_seal(USCC, SealKind.FINANCE, SealAction.REVOKE, code="key_compromise")
    assert new.version == 2 and new.status is SealStatus.ACTIVE
    assert [(h.uscc, h.serials, h.license_status) for h in heard] == [
        (USCC, (contract.serial,), None),
        (USCC, (contract.serial,), None),
        (USCC, (contract.serial,), None),  # the superseded version
        (USCC, (seals.seal(USCC, SealKind.FINANCE).serial,), None),
    ]
    revisions = [h.revision for h in heard]
    assert revisions == sorted(set(revisions)) and revisions[0] > start

    heard.clear()
    seals.change_status(USCC, LicenseStatus.CANCELLED, "注销")
    (told,) = heard
    assert told.license_status is LicenseStatus.CANCELLED
    # the seals still active are revoked with the license: the revoked finance seal is not
    assert set(told.serials) == {
        s.serial for s in seals.seals(USCC) if s.kind is not SealKind.FINANCE
    }
    assert seals.revision() == told.revision > revisions[-1]


def test_an_image_change_is_no_status_change_but_raises_the_revision(c: Container) -> None:
    heard: list[StatusChanged] = []
    c.seals.subscribe(heard.append)
    before = c.seals.revision()
    png = c.seals.seal(USCC, SealKind.OFFICIAL).image_png
    c.seals.replace_image(USCC, SealKind.OFFICIAL, png)
    assert heard == [] and c.seals.revision() == before + 1


def test_a_failing_listener_neither_undoes_nor_fails_the_change(
    c: Container, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(change: StatusChanged) -> None:
        raise RuntimeError("listener down")

    heard: list[StatusChanged] = []
    c.seals.subscribe(broken)
    c.seals.subscribe(heard.append)
    with caplog.at_level(logging.ERROR, logger="eseal.seals"):
        out = c.seals.change_seal(USCC, SealKind.INVOICE, SealAction.REVOKE)
    assert out.status is SealStatus.REVOKED
    assert c.seals.seal(USCC, SealKind.INVOICE).status is SealStatus.REVOKED
    assert len(heard) == 1 and "a status listener failed" in caplog.text


@pytest.mark.parametrize(
    ("action", "options", "code"),
    [
        (SealAction.SUSPEND, {"compromised_at": "2025-01-01T00:00:00Z"}, "invalid_compromised_at"),
        (SealAction.RESUME, {"compromised_at": "2025-01-01T00:00:00Z"}, "invalid_compromised_at"),
        (SealAction.RESUME, {"code": "unspecified"}, "invalid_reason_code"),
        (SealAction.SUSPEND, {"code": "superseded"}, "invalid_reason_code"),
    ],
)
def test_lifecycle_input_is_checked_by_the_service(
    c: Container, action: SealAction, options: dict[str, str], code: str
) -> None:
    before = c.seals.revision()
    with pytest.raises(DomainError) as caught:
        c.seals.change_seal(USCC, SealKind.CONTRACT, action, **options)  # type: ignore[arg-type]
    assert caught.value.code == code
    assert c.seals.revision() == before
