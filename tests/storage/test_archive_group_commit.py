"""Group commit of archive rows (ArchiveIndex.grouped / commit_group), SQLite and PostgreSQL:
rows kept while grouped are not visible until committed, commit together in order with what
their ``also`` writes, and a group with one bad row stores the others one by one."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from archive_helpers import USCC_A, USCC_B, count_rows
from sqlalchemy import Engine, insert
from sqlalchemy.orm import Session
from test_archive_index import record

from storage.archive import ArchiveExists, ArchiveRecord
from storage.archive.index import ArchiveIndex
from storage.db import StorageUnavailable
from storage.tables import ArchiveRow

pytest_plugins = ["archive_fixtures"]


@pytest.fixture
def index(db: Engine) -> ArchiveIndex:
    return ArchiveIndex(db)


def test_grouped_rows_wait_for_the_commit_then_all_land_with_their_writes(
    index: ArchiveIndex, db: Engine
) -> None:
    records = [record(i) for i in range(5)]
    calls: list[str] = []

    def also(session: Session, archive_id: str) -> None:
        # the row is in the transaction already (the audit entries refer to it)
        assert session.get(ArchiveRow, archive_id) is not None
        calls.append(archive_id)

    with index.grouped() as group:
        for r in records:
            index.insert(r, also)
        assert count_rows(db) == (0, 0)  # nothing stored yet
        assert calls == []
    assert len(group.rows) == 5
    assert index.commit_group(group) == [True] * 5
    assert calls == [r.id for r in records]  # in order, once each
    assert {index.get(r.id).id for r in records} == {r.id for r in records}  # type: ignore[union-attr]
    # seal rows came with each archive row
    assert count_rows(db) == (5, sum(len(r.seals) for r in records))


def test_a_group_with_a_bad_row_stores_the_others(index: ArchiveIndex, db: Engine) -> None:
    taken = record(1)
    with db.begin() as conn:  # a row with the id of the group's second record exists already
        conn.execute(
            insert(ArchiveRow).values(
                id=taken.id,
                uscc=USCC_A,
                level="B-T",
                document_type="contract",
                sha256="0" * 64,
                size=1,
                created_at=taken.created_at,
                object_key="x",
                status="ok",
                format="pdf",
            )
        )
    first, last = record(0), record(2, uscc=USCC_B)
    written: list[str] = []
    with index.grouped() as group:
        for r in (first, taken, last):
            index.insert(r, lambda s, archive_id: written.append(archive_id))
    assert index.commit_group(group) == [True, False, True]
    assert index.get(first.id) is not None
    assert index.get(last.id) is not None
    assert index.get(taken.id).sha256 == "0" * 64  # type: ignore[union-attr]  # untouched
    # the group's try (rolled back at the taken id's row, before its own writes), then
    # each row on its own
    assert written == [first.id, first.id, last.id]


def test_grouping_is_per_thread(index: ArchiveIndex, db: Engine) -> None:
    other, mine = record(7), record(3)
    with index.grouped() as group:
        index.insert(mine)
        worker = threading.Thread(target=index.insert, args=(other,))
        worker.start()
        worker.join()
        # the other thread was not grouped: its row is stored at once
        assert index.get(other.id) is not None
        assert index.get(mine.id) is None
    assert index.commit_group(group) == [True]
    assert index.commit_group(type(group)()) == []


def test_concurrent_inserts_commit_together_and_each_caller_gets_its_own_outcome(
    index: ArchiveIndex, db: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Sixteen threads insert at once (group commit on): every good row is stored once, the
    one whose id is taken raises ``archive_exists`` in its own thread only, and the rows'
    ``also`` writes ran in the transaction that stored them."""
    index.group_commit = True
    records = [record(i) for i in range(16)]
    index.insert(records[9])  # taken before the others come
    # the first commit of the run waits (up to a while) until every other thread queued
    # behind it, so that the next one is a group whatever the scheduling
    real = index._commit_rows
    sizes: list[int] = []

    def commit_rows(rows: list[Any]) -> None:
        if not sizes:
            deadline = time.monotonic() + 30
            while len(index._waiting) + len(rows) < len(records) and time.monotonic() < deadline:
                time.sleep(0.001)
        sizes.append(len(rows))
        real(rows)

    monkeypatch.setattr(index, "_commit_rows", commit_rows)
    start = threading.Barrier(len(records))
    outcome: dict[str, str] = {}
    written: list[str] = []

    def insert(r: ArchiveRecord) -> None:
        start.wait()
        try:
            index.insert(r, lambda session, archive_id: written.append(archive_id))
            outcome[r.id] = "stored"
        except ArchiveExists:
            outcome[r.id] = "exists"

    threads = [threading.Thread(target=insert, args=(r,)) for r in records]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert outcome == {r.id: ("exists" if r is records[9] else "stored") for r in records}
    # every row in at most two commits, the second (or only) one a group
    assert sum(sizes) == len(records) and len(sizes) <= 2 and sizes[-1] >= 2
    assert count_rows(db)[0] == 16
    assert all(index.get(r.id) is not None for r in records)
    # each stored row's writes ran (once in a committed transaction; a rolled-back group's
    # try may have run them before)
    assert {r.id for r in records if r is not records[9]} <= set(written)


def test_an_outage_fails_the_group_without_trying_each_row_again(
    index: ArchiveIndex, db: Engine
) -> None:
    """The database went away during a group's transaction: every row of it fails with the
    outage at once (one by one would only wait for it again), nothing is stored."""
    rows = [record(i) for i in range(3)]
    tries: list[str] = []

    def down(session: Session, archive_id: str) -> None:
        tries.append(archive_id)
        raise StorageUnavailable("the database does not answer")

    with index.grouped() as group:
        for r in rows:
            index.insert(r, down)
    assert index.commit_group(group) == [False, False, False]
    assert tries == [rows[0].id]  # the group's transaction only
    assert count_rows(db) == (0, 0)


def test_concurrent_requests_in_an_outage_each_get_the_outage(
    index: ArchiveIndex, db: Engine
) -> None:
    index.group_commit = True
    rows = [record(i) for i in range(6)]
    start = threading.Barrier(len(rows))
    got: dict[str, str] = {}

    def down(session: Session, archive_id: str) -> None:
        raise StorageUnavailable("the database does not answer")

    def insert(r: ArchiveRecord) -> None:
        start.wait()
        try:
            index.insert(r, down)
            got[r.id] = "stored"
        except StorageUnavailable as exc:
            got[r.id] = exc.code

    threads = [threading.Thread(target=insert, args=(r,)) for r in rows]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert got == {r.id: "database_unavailable" for r in rows}
    assert count_rows(db) == (0, 0)
    assert not index._waiting and not index._leading  # nobody left waiting
