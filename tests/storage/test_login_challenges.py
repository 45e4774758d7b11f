"""Login challenges in the metadata store (storage/challenges.py), on SQLite and PostgreSQL:
nonces unique per relying party, a challenge confirmed once and its assertion verified once,
even by requests that race; rows removed a day after they stop counting."""

from __future__ import annotations

import threading
from dataclasses import replace
from datetime import timedelta

import pytest
from archive_helpers import T0, USCC_A, add_enterprise
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from seals.assertions import ChallengeState, NonceReused
from seals.audit import AuditEvent
from storage.access_tables import AuditRow
from storage.challenges import RETENTION, Challenge, ChallengeStore

RP = "a1b2c3d4e5f60718"


def _challenge(id: str = "ch-1", nonce: str = "n" * 22, rp: str = RP) -> Challenge:
    return Challenge(
        id=id,
        relying_party=rp,
        nonce=nonce,
        purpose="对公开户 登录",
        algorithm=None,
        expect_uscc=None,
        created_at=T0,
        expires_at=T0 + timedelta(minutes=5),
    )


def _confirm(store: ChallengeStore, id: str = "ch-1", at: timedelta = timedelta(minutes=1)) -> bool:
    return store.confirm(
        id,
        uscc=USCC_A,
        key_id="ent-key",
        assertion=f"header.payload.{id}",
        assertion_expires_at=T0 + at + timedelta(minutes=5),
        now=T0 + at,
        events=[AuditEvent("login.assert", "ent-key", uscc=USCC_A, detail={"challenge": id})],
    )


def _audit_count(engine: Engine) -> int:
    with Session(engine) as session:
        return int(session.scalar(select(func.count()).select_from(AuditRow)) or 0)


def test_a_challenge_is_stored_read_and_told_by_its_time(migrated: Engine) -> None:
    store = ChallengeStore(migrated)
    store.create(_challenge())
    got = store.get("ch-1")
    assert got == _challenge()
    assert got.created_at.utcoffset() == timedelta(0)
    assert got.state(T0) is ChallengeState.PENDING
    assert got.state(T0 + timedelta(minutes=5)) is ChallengeState.EXPIRED
    assert store.get("nope") is None


def test_a_nonce_is_used_once_per_relying_party(migrated: Engine) -> None:
    store = ChallengeStore(migrated)
    store.create(_challenge())
    with pytest.raises(NonceReused) as caught:
        store.create(_challenge(id="ch-2"))
    assert caught.value.code == "nonce_reused"
    assert store.get("ch-2") is None
    store.create(_challenge(id="ch-3", rp="another-rp"))  # another relying party's own


def test_a_challenge_is_confirmed_once_with_its_audit_entry(migrated: Engine) -> None:
    add_enterprise(migrated)
    store = ChallengeStore(migrated)
    store.create(_challenge())
    before = _audit_count(migrated)
    assert _confirm(store) is True
    assert _confirm(store) is False
    assert _audit_count(migrated) == before + 1  # the refused one wrote nothing
    got = store.get("ch-1")
    assert got is not None and got.uscc == USCC_A and got.assertion == "header.payload.ch-1"
    assert got.state(T0 + timedelta(minutes=2)) is ChallengeState.CONFIRMED


def test_an_expired_challenge_is_not_confirmed(migrated: Engine) -> None:
    add_enterprise(migrated)
    store = ChallengeStore(migrated)
    store.create(_challenge())
    assert _confirm(store, at=timedelta(minutes=5)) is False
    got = store.get("ch-1")
    assert got is not None and got.assertion is None


def test_an_assertion_is_verified_once_by_its_relying_party(migrated: Engine) -> None:
    add_enterprise(migrated)
    store = ChallengeStore(migrated)
    store.create(_challenge())
    assert store.mark_verified("ch-1", RP, T0) is False  # nothing to verify yet
    _confirm(store)
    assert store.mark_verified("ch-1", "another-rp", T0) is False
    assert store.mark_verified("ch-1", RP, T0 + timedelta(minutes=2)) is True
    assert store.mark_verified("ch-1", RP, T0 + timedelta(minutes=3)) is False
    got = store.get("ch-1")
    assert got is not None and got.state(T0 + timedelta(minutes=3)) is ChallengeState.USED


def _race(work: list[threading.Thread]) -> None:
    for thread in work:
        thread.start()
    for thread in work:
        thread.join()


def test_racing_confirmations_and_verifications_succeed_once(migrated: Engine) -> None:
    add_enterprise(migrated)
    store = ChallengeStore(migrated)
    store.create(_challenge())
    barrier = threading.Barrier(4)
    confirmed: list[bool] = []
    verified: list[bool] = []

    def confirm() -> None:
        barrier.wait()
        confirmed.append(_confirm(store))

    _race([threading.Thread(target=confirm) for _ in range(4)])
    assert sorted(confirmed) == [False, False, False, True]

    def verify() -> None:
        barrier.wait()
        verified.append(store.mark_verified("ch-1", RP, T0 + timedelta(minutes=2)))

    _race([threading.Thread(target=verify) for _ in range(4)])
    assert sorted(verified) == [False, False, False, True]


def test_rows_go_a_day_after_they_stop_counting(migrated: Engine) -> None:
    add_enterprise(migrated)
    store = ChallengeStore(migrated)
    store.create(_challenge())
    store.create(_challenge(id="ch-2", nonce="m" * 22))
    _confirm(store, "ch-2")  # its assertion counts until T0 + 6 min
    assert store.purge(T0 + timedelta(minutes=5, seconds=30)) == 1
    assert store.get("ch-1") is None and store.get("ch-2") is not None
    # a new challenge a day later clears the stale rows, and a gone row's nonce may come back
    start = T0 + timedelta(minutes=7) + RETENTION
    store.create(
        replace(_challenge(id="ch-3"), created_at=start, expires_at=start + timedelta(minutes=5))
    )
    assert store.get("ch-2") is None and store.get("ch-3") is not None
