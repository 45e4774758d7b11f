"""The batch queue on SQLite and PostgreSQL: claims, leases, retries, completion.

Workers here are threads with names of their own, on the real databases: what the queue
promises (no file taken twice while its lease holds, a dead worker's file taken again, a late
finisher not counted, the batch finished exactly once) is asserted, never timed.  The clock
of the leases is the store's, moved by hand.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from seals.vocab import DocumentFormat
from storage.batches import Batch, BatchStatus, BatchStore, ItemStatus, NewItem
from storage.idempotency import IdempotencyConflict
from storage.tables import EnterpriseRow

USCC = "91110108551385082Q"
LEASE = timedelta(seconds=60)


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def finished() -> list[Batch]:
    return []


@pytest.fixture
def store(migrated: Engine, clock: Clock, finished: list[Batch]) -> BatchStore:
    with Session(migrated) as session, session.begin():
        session.add(
            EnterpriseRow(
                uscc=USCC,
                name="北京示例科技有限公司",
                type="有限责任公司",
                legal_representative="张三",
                face={"uscc": USCC},
                status="active",
                registered_at=clock(),
            )
        )
    return BatchStore(migrated, clock=clock, on_complete=lambda s, b: finished.append(b))


def _batch(store: BatchStore, n: int, key: str | None = None) -> Batch:
    items = [NewItem.of(f"{i}.pdf", b"%%PDF-%d" % i, {"level": "B-B"}) for i in range(n)]
    batch, _ = store.create(
        uscc=USCC, principal="key1", options={}, items=items, idempotency_key=key
    )
    return batch


def test_concurrent_workers_take_each_file_once_and_finish_the_batch_once(
    store: BatchStore, finished: list[Batch]
) -> None:
    batch = _batch(store, 40)
    taken: list[tuple[str, int]] = []
    lock = threading.Lock()

    def work(n: int) -> None:
        worker = f"w{n}"
        while claimed := store.claim(worker, lease=LEASE, max_attempts=3, limit=n % 3 + 1):
            for item in claimed:
                with lock:
                    taken.append(item.key)
                assert item.data == b"%%PDF-%d" % item.position and item.uscc == USCC
                if item.position % 7 == 0:
                    assert store.fail(item, worker, code="invalid_pdf", detail="not a PDF")
                else:
                    assert store.finish(
                        item,
                        worker,
                        archive_id=f"A{item.position:025d}",
                        sha256="0" * 64,
                        size=1,
                        format=DocumentFormat.PDF,
                    )

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(taken) == [(batch.id, i) for i in range(40)]  # each once
    done = store.get(batch.id)
    assert (done.status, done.done, done.failed, done.queued, done.running) == (
        BatchStatus.DONE,
        34,
        6,
        0,
        0,
    )
    assert [b.id for b in finished] == [batch.id]  # completed exactly once
    items = list(store.items(batch.id))
    assert [i.status for i in items if i.position % 7 == 0] == [ItemStatus.FAILED] * 6
    assert all(i.attempts == 1 for i in items)


def test_a_dead_workers_file_is_taken_again_and_the_late_finisher_is_not_counted(
    store: BatchStore, clock: Clock
) -> None:
    batch = _batch(store, 1)
    [first] = store.claim("a", lease=LEASE, max_attempts=3)
    assert store.claim("b", lease=LEASE, max_attempts=3) == []  # held
    clock.now += LEASE / 2
    assert store.renew("a", [first.key], LEASE) == 1  # a heartbeat keeps it
    clock.now += LEASE * 0.9
    assert store.claim("b", lease=LEASE, max_attempts=3) == []
    clock.now += LEASE  # a stopped renewing: its process died
    [again] = store.claim("b", lease=LEASE, max_attempts=3)
    assert again.key == first.key and again.attempts == 2
    assert store.renew("a", [first.key], LEASE) == 0
    kwargs = {"archive_id": "A" * 26, "sha256": "0" * 64, "size": 1, "format": DocumentFormat.PDF}
    assert store.finish(first, "a", **kwargs) is False  # a's result is not counted
    assert store.finish(again, "b", **kwargs) is True
    assert store.get(batch.id).done == 1


def test_a_file_its_workers_keep_dying_on_is_given_up(
    store: BatchStore, clock: Clock, finished: list[Batch]
) -> None:
    batch = _batch(store, 1)
    for attempt in (1, 2):
        [item] = store.claim("w", lease=LEASE, max_attempts=2)
        assert item.attempts == attempt
        clock.now += LEASE * 2
    assert store.claim("w", lease=LEASE, max_attempts=2) == []
    [item] = list(store.items(batch.id))
    assert (item.status, item.code) == (ItemStatus.FAILED, "processing_abandoned")
    assert [b.status for b in finished] == [BatchStatus.DONE]


def test_an_outage_holds_the_file_back_until_its_retry(store: BatchStore, clock: Clock) -> None:
    batch = _batch(store, 1)
    [item] = store.claim("w", lease=LEASE, max_attempts=3)
    at = clock.now + timedelta(seconds=8)
    assert store.retry_later(item, "w", at, code="archive_unavailable", detail="down")
    assert store.claim("w", lease=LEASE, max_attempts=3) == []
    shown = next(store.items(batch.id)).to_json()
    assert (shown["status"], shown["code"]) == ("queued", None)  # not a failure
    clock.now = at
    [again] = store.claim("w", lease=LEASE, max_attempts=3)
    assert again.attempts == 2


def test_a_stopping_worker_puts_its_files_back_uncounted(store: BatchStore) -> None:
    batch = _batch(store, 2)
    held = store.claim("w", lease=LEASE, max_attempts=3, limit=2)
    assert store.get(batch.id).running == 2
    assert store.release("w", [i.key for i in held]) == 2
    assert [(i.status, i.attempts) for i in store.items(batch.id)] == [
        (ItemStatus.QUEUED, 0),
        (ItemStatus.QUEUED, 0),
    ]


def test_a_retried_request_gets_the_batch_it_made(store: BatchStore) -> None:
    first = _batch(store, 2, key="k1")
    again, replayed = store.create(
        uscc=USCC,
        principal="key1",
        options={},
        items=[NewItem.of(f"{i}.pdf", b"%%PDF-%d" % i, {"level": "B-B"}) for i in range(2)],
        idempotency_key="k1",
    )
    assert replayed and again.id == first.id
    with pytest.raises(IdempotencyConflict):
        _batch(store, 3, key="k1")
    other, replayed = store.create(
        uscc=USCC,
        principal="key2",  # keys are per API key
        options={},
        items=[NewItem.of("0.pdf", b"%PDF-0", {})],
        idempotency_key="k1",
    )
    assert not replayed and other.id != first.id
