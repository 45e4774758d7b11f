"""The SQL metadata store, on SQLite and on PostgreSQL (see conftest.py)."""

from __future__ import annotations

import dataclasses
import hashlib
import secrets
import threading
from datetime import UTC, datetime, timedelta, timezone

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine, func, inspect, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError

from seals.errors import EnterpriseExists, EnterpriseNotFound
from seals.kinds import SealKind
from seals.license import License, LicenseStatus, StatusChange
from seals.model import Enterprise, ImageSource, Seal, SealStatus
from seals.ports import EnterpriseRepository
from storage.db import StorageUnavailable, make_engine, migrate
from storage.repository import SqlEnterpriseRepository
from storage.tables import Base, EnterpriseRow, SealRow, StatusChangeRow

USCC_A = "91110000600037341L"
USCC_B = "914403001922038216"
CST = timezone(timedelta(hours=8))
T0 = datetime(2024, 3, 1, 9, 30, 15, 123456, tzinfo=CST)
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256))  # not a real image; the store does not care


# -- factories ---------------------------------------------------------------------------


def make_license(uscc: str = USCC_A, name: str = "北京示例科技有限公司") -> License:
    return License(
        uscc=uscc,
        name=name,
        type="有限责任公司",
        legal_representative="张三丰",
        registered_capital="1000万元人民币",
        established="2010-05-20",
        business_term="2010-05-20至长期",
        address="北京市海淀区中关村大街1号",
        business_scope="技术开发、技术咨询；软件开发。",
        registration_authority="北京市海淀区市场监督管理局",
        approved="2024-02-29",
    )


def make_enterprise(uscc: str = USCC_A, at: datetime = T0, **kw: str) -> Enterprise:
    return Enterprise(
        license=make_license(uscc, **kw),
        status=LicenseStatus.ACTIVE,
        history=(StatusChange(LicenseStatus.ACTIVE, at, "registered"),),
        registered_at=at,
    )


def new_serial() -> int:
    return secrets.randbits(159) | (1 << 158)  # full 159 bits, as a CA would issue


def make_seal(
    kind: SealKind, uscc: str = USCC_A, version: int = 1, serial: int | None = None
) -> Seal:
    image = PNG + kind.value.encode() + bytes([version])
    created = T0 + timedelta(days=version - 1)
    return Seal(
        uscc=uscc,
        kind=kind,
        version=version,
        status=SealStatus.ACTIVE,
        key_ref=f"file:{uscc}/{kind.value}/v{version}",
        key_algorithm="ecdsa-p256",
        serial=new_serial() if serial is None else serial,
        certificate_pem=f"-----BEGIN CERTIFICATE-----\n{kind.value}\n-----END CERTIFICATE-----\n",
        chain_pem="-----BEGIN CERTIFICATE-----\nCA\n-----END CERTIFICATE-----\n",
        not_before=created,
        not_after=created + timedelta(days=3 * 365),
        image_png=image,
        image_sha256=hashlib.sha256(image).hexdigest(),
        image_source=ImageSource.RENDERED,
        created_at=created,
    )


def five_seals(uscc: str = USCC_A) -> list[Seal]:
    return [make_seal(kind, uscc) for kind in SealKind]


def count(engine: Engine, table: type[Base]) -> int:
    with engine.connect() as conn:
        return conn.scalar(select(func.count()).select_from(table)) or 0


def assert_utc(*values: datetime | None) -> None:
    for value in values:
        assert value is not None
        assert value.utcoffset() == timedelta(0), value


# -- schema --------------------------------------------------------------------------------


def test_migrate_creates_schema_and_is_idempotent(engine: Engine) -> None:
    assert "enterprises" not in inspect(engine).get_table_names()
    migrate(engine)
    migrate(engine)  # a second run changes nothing and does not fail
    tables = set(inspect(engine).get_table_names())
    assert {"alembic_version", "enterprises", "license_status_history", "seals"} <= tables
    with engine.connect() as conn:
        from alembic.script import ScriptDirectory

        from storage.db import alembic_config

        head = ScriptDirectory.from_config(alembic_config()).get_current_head()
        assert conn.scalar(text("SELECT version_num FROM alembic_version")) == head
        # the migrations build exactly what storage/tables.py declares
        ctx = MigrationContext.configure(conn, opts={"compare_type": True})
        assert compare_metadata(ctx, Base.metadata) == []


def test_migrate_by_url(db_url: str) -> None:
    migrate(db_url)
    engine = make_engine(db_url)
    try:
        assert "seals" in inspect(engine).get_table_names()
    finally:
        engine.dispose()


def test_repository_satisfies_the_port(repo: SqlEnterpriseRepository) -> None:
    port: EnterpriseRepository = repo
    assert port is repo


# -- register and read ---------------------------------------------------------------------


def test_register_and_get_round_trip(repo: SqlEnterpriseRepository) -> None:
    enterprise = make_enterprise()
    seals = five_seals()
    repo.register(enterprise, seals)

    got = repo.get_enterprise(USCC_A)
    assert got == enterprise
    assert got is not None
    assert got.license.model_dump() == enterprise.license.model_dump()
    assert_utc(got.registered_at, *(c.at for c in got.history))

    current = repo.current_seals(USCC_A)
    assert current == seals  # all fields, in the order of SealKind
    for seal in current:
        assert_utc(seal.not_before, seal.not_after, seal.created_at)
        assert seal.status_changed_at is None
    assert current[0].created_at == T0
    assert current[0].created_at.tzinfo == UTC

    for seal in seals:
        assert repo.seal(USCC_A, seal.kind) == seal


def test_unknown_things_are_none_or_empty(repo: SqlEnterpriseRepository) -> None:
    assert repo.get_enterprise(USCC_A) is None
    assert repo.current_seals(USCC_A) == []
    assert repo.seal(USCC_A, SealKind.OFFICIAL) is None
    assert repo.seal_by_serial(new_serial()) is None
    assert repo.seal_by_serial(0) is None
    assert repo.revoked_seals() == []


def test_duplicate_registration_raises_and_keeps_the_first(
    repo: SqlEnterpriseRepository, migrated: Engine
) -> None:
    first = make_enterprise()
    seals = five_seals()
    repo.register(first, seals)

    with pytest.raises(EnterpriseExists) as info:
        repo.register(make_enterprise(name="另一家公司有限公司"), five_seals())
    assert info.value.code == "enterprise_exists"

    assert repo.get_enterprise(USCC_A) == first
    assert repo.current_seals(USCC_A) == seals
    assert count(migrated, SealRow) == 5
    assert count(migrated, StatusChangeRow) == 1


def test_duplicate_registration_race_is_caught_at_insert(
    repo: SqlEnterpriseRepository, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A competitor that registered between our check and our insert still gives a 409."""
    repo.register(make_enterprise(), five_seals())
    monkeypatch.setattr(repo, "_precheck_exists", lambda session, uscc: False)
    with pytest.raises(EnterpriseExists):
        repo.register(make_enterprise(), five_seals())


def test_concurrent_registrations_one_wins(repo: SqlEnterpriseRepository) -> None:
    n = 4
    barrier = threading.Barrier(n)
    outcomes: list[str] = []

    def attempt(i: int) -> None:
        barrier.wait()
        try:
            repo.register(make_enterprise(name=f"并发测试公司{i}号"), five_seals())
            outcomes.append("ok")
        except EnterpriseExists:
            outcomes.append("exists")
        except Exception as err:  # pragma: no cover - reported by the assertion below
            outcomes.append(repr(err))

    threads = [threading.Thread(target=attempt, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert sorted(outcomes) == ["exists"] * (n - 1) + ["ok"]
    assert len(repo.current_seals(USCC_A)) == 5


def test_failed_registration_stores_nothing(
    repo: SqlEnterpriseRepository, migrated: Engine
) -> None:
    seals = five_seals()
    seals[3] = dataclasses.replace(seals[3], serial=seals[1].serial)  # duplicate serial
    with pytest.raises(IntegrityError):
        repo.register(make_enterprise(), seals)

    assert repo.get_enterprise(USCC_A) is None
    assert count(migrated, EnterpriseRow) == 0
    assert count(migrated, StatusChangeRow) == 0
    assert count(migrated, SealRow) == 0
    # and the USCC is still free
    repo.register(make_enterprise(), five_seals())
    assert len(repo.current_seals(USCC_A)) == 5


def test_naive_datetimes_are_refused(repo: SqlEnterpriseRepository, migrated: Engine) -> None:
    naive = make_enterprise(at=datetime(2024, 1, 1, 12, 0))
    with pytest.raises(Exception, match="naive datetime"):
        repo.register(naive, [])
    assert count(migrated, EnterpriseRow) == 0


# -- status --------------------------------------------------------------------------------


def test_change_status_appends_history_and_updates_seals(repo: SqlEnterpriseRepository) -> None:
    repo.register(make_enterprise(), five_seals())
    t1, t2 = T0 + timedelta(days=30), T0 + timedelta(days=60)

    suspended = repo.change_status(
        USCC_A, StatusChange(LicenseStatus.SUSPENDED, t1, "停业整顿"), []
    )
    assert suspended.status is LicenseStatus.SUSPENDED
    assert [c.status for c in suspended.history] == [
        LicenseStatus.ACTIVE,
        LicenseStatus.SUSPENDED,
    ]

    revoked = [
        s.with_status(SealStatus.REVOKED, t2, "license revoked") for s in repo.current_seals(USCC_A)
    ]
    result = repo.change_status(
        USCC_A, StatusChange(LicenseStatus.REVOKED, t2, "吊销营业执照"), revoked
    )
    assert result.status is LicenseStatus.REVOKED
    assert result.history == (
        StatusChange(LicenseStatus.ACTIVE, T0, "registered"),
        StatusChange(LicenseStatus.SUSPENDED, t1, "停业整顿"),
        StatusChange(LicenseStatus.REVOKED, t2, "吊销营业执照"),
    )
    assert repo.get_enterprise(USCC_A) == result

    current = repo.current_seals(USCC_A)
    assert current == revoked  # updated in place: still version 1, no new rows
    assert all(s.status is SealStatus.REVOKED and s.status_changed_at == t2 for s in current)
    assert {s.serial for s in repo.revoked_seals()} == {s.serial for s in revoked}


def test_change_status_is_one_transaction(repo: SqlEnterpriseRepository) -> None:
    """If saving the seals fails, the status change is not kept either."""
    mine = five_seals()
    repo.register(make_enterprise(), mine)
    other = five_seals(USCC_B)
    repo.register(make_enterprise(USCC_B, name="深圳示例股份有限公司"), other)

    clash = dataclasses.replace(make_seal(SealKind.OFFICIAL, version=2), serial=other[0].serial)
    change = StatusChange(LicenseStatus.CANCELLED, T0 + timedelta(days=1), "注销")
    with pytest.raises(IntegrityError):
        repo.change_status(USCC_A, change, [clash])

    after = repo.get_enterprise(USCC_A)
    assert after is not None
    assert after.status is LicenseStatus.ACTIVE
    assert len(after.history) == 1
    assert repo.current_seals(USCC_A) == mine


def test_change_status_of_unknown_enterprise(repo: SqlEnterpriseRepository) -> None:
    with pytest.raises(EnterpriseNotFound) as info:
        repo.change_status(USCC_A, StatusChange(LicenseStatus.REVOKED, T0), [])
    assert info.value.code == "enterprise_not_found"


def test_history_is_ordered_by_time(repo: SqlEnterpriseRepository) -> None:
    repo.register(make_enterprise(), [])
    later, earlier = T0 + timedelta(hours=2), T0 + timedelta(hours=1)
    repo.change_status(USCC_A, StatusChange(LicenseStatus.SUSPENDED, later), [])
    got = repo.change_status(USCC_A, StatusChange(LicenseStatus.ACTIVE, earlier), [])
    assert [c.at for c in got.history] == [T0, earlier, later]
    assert got.status is LicenseStatus.ACTIVE  # the latest change set, not the latest time


# -- seal versions ----------------------------------------------------------------------------


def test_current_seals_are_the_newest_versions(repo: SqlEnterpriseRepository) -> None:
    v1 = five_seals()
    repo.register(make_enterprise(), v1)
    old_contract = v1[1]
    assert old_contract.kind is SealKind.CONTRACT
    t = T0 + timedelta(days=1)
    v2 = make_seal(SealKind.CONTRACT, version=2)
    repo.save_seals([old_contract.with_status(SealStatus.REVOKED, t, "reissued"), v2])

    current = repo.current_seals(USCC_A)
    assert [s.kind for s in current] == list(SealKind)
    assert current[1] == v2
    assert [s for s in current if s.kind is not SealKind.CONTRACT] == v1[:1] + v1[2:]
    assert repo.seal(USCC_A, SealKind.CONTRACT) == v2

    # the old version is still there, by serial, and revoked
    old = repo.seal_by_serial(old_contract.serial)
    assert old is not None
    assert old.version == 1
    assert old.status is SealStatus.REVOKED
    assert old.status_reason == "reissued"
    assert repo.revoked_seals() == [old]


def test_save_seals_updates_in_place(repo: SqlEnterpriseRepository, migrated: Engine) -> None:
    seals = five_seals()
    repo.register(make_enterprise(), seals)
    scan = PNG + b"scan"
    replaced = dataclasses.replace(
        seals[0],
        image_png=scan,
        image_sha256=hashlib.sha256(scan).hexdigest(),
        image_source=ImageSource.SCAN,
    )
    repo.save_seals([replaced])
    assert repo.seal(USCC_A, SealKind.OFFICIAL) == replaced
    assert count(migrated, SealRow) == 5


def test_seal_by_serial_large_and_small(repo: SqlEnterpriseRepository) -> None:
    big = (1 << 159) - 1  # the largest serial RFC 5280 allows (20 octets, positive)
    small = 0x0F  # a leading zero nibble must not matter
    seals = [
        make_seal(SealKind.OFFICIAL, serial=big),
        make_seal(SealKind.CONTRACT, serial=small),
    ]
    repo.register(make_enterprise(), seals)
    assert repo.seal_by_serial(big) == seals[0]
    assert repo.seal_by_serial(small) == seals[1]
    assert repo.seal_by_serial(big - 1) is None


def test_revoked_seals_across_enterprises(repo: SqlEnterpriseRepository) -> None:
    a, b = five_seals(USCC_A), five_seals(USCC_B)
    repo.register(make_enterprise(USCC_A), a)
    repo.register(make_enterprise(USCC_B, name="深圳示例股份有限公司"), b)
    t = T0 + timedelta(days=5)
    gone = [
        a[2].with_status(SealStatus.REVOKED, t, "lost"),
        b[4].with_status(SealStatus.REVOKED, t, "lost"),
    ]
    repo.save_seals(gone)
    held = a[0].with_status(SealStatus.SUSPENDED, t, "audit")
    repo.save_seals([held])
    # suspended seals are on hold: the CRL lists them too
    assert sorted(repo.revoked_seals(), key=lambda s: (s.uscc, s.kind.value)) == sorted(
        [*gone, held], key=lambda s: (s.uscc, s.kind.value)
    )


def test_seals_must_belong_to_the_enterprise(repo: SqlEnterpriseRepository) -> None:
    with pytest.raises(ValueError, match="seal of"):
        repo.register(make_enterprise(USCC_A), five_seals(USCC_B))
    assert repo.get_enterprise(USCC_A) is None


# -- outages ----------------------------------------------------------------------------------


def unreachable(db_url: str, tmp_path_factory: pytest.TempPathFactory) -> str:
    if db_url.startswith("sqlite"):
        return f"sqlite:///{tmp_path_factory.mktemp('gone') / 'no' / 'such' / 'dir.db'}"
    # nothing listens on port 1
    return make_url(db_url).set(port=1).render_as_string(hide_password=False)


def test_unreachable_database_raises_storage_unavailable(
    db_url: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    engine = make_engine(unreachable(db_url, tmp_path_factory))
    try:
        repo = SqlEnterpriseRepository(engine)
        with pytest.raises(StorageUnavailable) as info:
            repo.get_enterprise(USCC_A)
        assert info.value.code == "database_unavailable"
        assert info.value.to_problem()["code"] == "database_unavailable"
        assert "127.0.0.1" not in info.value.detail
        with pytest.raises(StorageUnavailable):
            repo.register(make_enterprise(), five_seals())
        with pytest.raises(StorageUnavailable):
            migrate(engine)
    finally:
        engine.dispose()


def test_license_status_alone_follows_changes(repo: SqlEnterpriseRepository) -> None:
    """The light status read the sealing path uses agrees with the full enterprise."""
    assert repo.license_status(USCC_A) is None
    repo.register(make_enterprise(), five_seals())
    assert repo.license_status(USCC_A) is LicenseStatus.ACTIVE
    repo.change_status(
        USCC_A, StatusChange(LicenseStatus.SUSPENDED, T0 + timedelta(days=1), "停业整顿"), []
    )
    assert repo.license_status(USCC_A) is LicenseStatus.SUSPENDED
    enterprise = repo.get_enterprise(USCC_A)
    assert enterprise is not None and enterprise.status is LicenseStatus.SUSPENDED
    assert repo.license_status(USCC_B) is None
