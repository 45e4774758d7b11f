"""Idempotency records (storage/idempotency.py), on SQLite and on PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import sessionmaker

from storage.idempotency import IdempotencyConflict, IdempotencyStore

NOW = datetime(2025, 3, 1, 8, 0, tzinfo=UTC)


def _add(engine: Engine, key: str, principal: str, request: str, archive_id: str) -> None:
    with sessionmaker(engine).begin() as session:
        IdempotencyStore.add(
            session,
            key=key,
            principal=principal,
            request_sha256=request,
            archive_id=archive_id,
            sha256="ab" * 32,
            at=NOW,
        )


def test_a_key_answers_the_same_request_and_refuses_another(migrated: Engine) -> None:
    store = IdempotencyStore(migrated)
    assert store.answered("k-1", "key-a", "r1") is None
    _add(migrated, "k-1", "key-a", "r1", "01ARCHIVE")
    assert store.answered("k-1", "key-a", "r1") == "01ARCHIVE"
    with pytest.raises(IdempotencyConflict) as caught:
        store.answered("k-1", "key-a", "r2")
    assert caught.value.code == "idempotency_conflict"
    # keys are per API key: another caller's k-1 is a new key
    assert store.answered("k-1", "key-b", "r2") is None


def test_a_second_record_under_the_same_key_fails_its_transaction(migrated: Engine) -> None:
    _add(migrated, "k-1", "key-a", "r1", "01FIRST")
    with pytest.raises(IntegrityError):
        _add(migrated, "k-1", "key-a", "r1", "01SECOND")
    assert IdempotencyStore(migrated).answered("k-1", "key-a", "r1") == "01FIRST"


def test_a_record_is_written_only_with_its_transaction(migrated: Engine) -> None:
    with pytest.raises(RuntimeError), sessionmaker(migrated).begin() as session:
        IdempotencyStore.add(
            session,
            key="k-1",
            principal="key-a",
            request_sha256="r1",
            archive_id="01ARCHIVE",
            sha256="ab" * 32,
            at=NOW,
        )
        raise RuntimeError("the archive row failed")
    assert IdempotencyStore(migrated).answered("k-1", "key-a", "r1") is None
