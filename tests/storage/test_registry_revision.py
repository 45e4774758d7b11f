"""The registry's revision (migration 0008): every write raises it in its own transaction."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

import pytest
from sqlalchemy.exc import IntegrityError
from test_repository import T0, USCC_A, USCC_B, five_seals, make_enterprise, make_seal

from seals.kinds import SealKind
from seals.license import LicenseStatus, StatusChange
from seals.model import SealStatus
from storage.repository import SqlEnterpriseRepository


def test_each_write_raises_the_revision_and_reads_do_not(repo: SqlEnterpriseRepository) -> None:
    assert repo.revision() == 0  # made by the migration
    repo.register(make_enterprise(), five_seals())
    assert repo.revision() == 1
    seal = repo.seal(USCC_A, SealKind.CONTRACT)
    assert seal is not None
    repo.save_seals([seal.with_status(SealStatus.SUSPENDED, T0 + timedelta(days=1), "hold")])
    assert repo.revision() == 2
    repo.change_status(
        USCC_A, StatusChange(LicenseStatus.SUSPENDED, T0 + timedelta(days=2), "停业"), []
    )
    assert repo.revision() == 3
    repo.current_seals(USCC_A)
    repo.get_enterprise(USCC_A)
    repo.revoked_seals()
    assert repo.revision() == 3


def test_a_failed_write_leaves_the_revision(repo: SqlEnterpriseRepository) -> None:
    repo.register(make_enterprise(), five_seals())
    other = five_seals(USCC_B)
    repo.register(make_enterprise(USCC_B, name="深圳示例股份有限公司"), other)
    before = repo.revision()
    clash = dataclasses.replace(make_seal(SealKind.OFFICIAL, version=2), serial=other[0].serial)
    with pytest.raises(IntegrityError):
        repo.save_seals([clash])
    assert repo.revision() == before
