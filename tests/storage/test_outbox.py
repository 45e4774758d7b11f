"""The webhooks' outbox and delivery queue, on SQLite and PostgreSQL.

An event exists exactly when the change that reports it committed; each subscription gets
its own numbered queue; a worker may take only the head of a queue, and only one worker at a
time (a lease), so a subscription's events go out one by one, in order.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from helpers import wait_until
from seals.audit import AuditEvent
from storage.audit import append_events
from storage.outbox import emit, emit_audited, matches, valid_pattern
from storage.tables import EnterpriseRow, WebhookDeliveryRow, WebhookEventRow
from storage.webhooks import Attempt, WebhookNotFound, WebhookStore, new_subscription_id

USCC_A = "91110000600037341L"
USCC_B = "914403001922038216"


def _enterprise(engine: Engine, uscc: str) -> None:
    with Session(engine) as session, session.begin():
        session.add(
            EnterpriseRow(
                uscc=uscc,
                name="n",
                type="t",
                legal_representative="l",
                face={},
                status="active",
                registered_at=datetime.now(UTC),
            )
        )


def _subscribe(store: WebhookStore, uscc: str | None, events: list[str]) -> str:
    sub_id = new_subscription_id()
    store.create(
        sub_id,
        uscc=uscc,
        url="https://receiver.example/hook",
        events=events,
        description=None,
        secret=b"wrapped:" + sub_id.encode(),
        actor="test",
    )
    return sub_id


@pytest.fixture
def store(migrated: Engine) -> WebhookStore:
    _enterprise(migrated, USCC_A)
    _enterprise(migrated, USCC_B)
    return WebhookStore(migrated)


def _queue(engine: Engine, sub_id: str) -> list[tuple[int, str, str]]:
    """(seq, event type, status) of a subscription's deliveries, in queue order."""
    with Session(engine) as session:
        rows = session.execute(
            select(WebhookDeliveryRow.seq, WebhookEventRow.type, WebhookDeliveryRow.status)
            .join(WebhookEventRow, WebhookEventRow.id == WebhookDeliveryRow.event_id)
            .where(WebhookDeliveryRow.subscription_id == sub_id)
            .order_by(WebhookDeliveryRow.seq)
        ).all()
    return [tuple(r) for r in rows]  # type: ignore[misc]


def _events(engine: Engine) -> int:
    with Session(engine) as session:
        return int(session.scalar(select(func.count()).select_from(WebhookEventRow)) or 0)


def test_an_event_nobody_wants_writes_nothing(migrated: Engine, store: WebhookStore) -> None:
    _subscribe(store, USCC_B, ["*"])
    with Session(migrated) as session, session.begin():
        assert emit(session, "document.sealed", USCC_A, {"archive_id": "x"}) is None
    assert _events(migrated) == 0


def test_events_exist_only_if_their_transaction_commits(
    migrated: Engine, store: WebhookStore
) -> None:
    own = _subscribe(store, USCC_A, ["document.sealed"])
    everyone = _subscribe(store, None, ["*"])
    other = _subscribe(store, USCC_B, ["*"])
    seals_only = _subscribe(store, USCC_A, ["seal.*"])

    with pytest.raises(RuntimeError), Session(migrated) as session, session.begin():
        emit(session, "document.sealed", USCC_A, {"archive_id": "lost"})
        raise RuntimeError("the change fails after its event was written")
    assert _events(migrated) == 0 and _queue(migrated, own) == []

    with Session(migrated) as session, session.begin():
        event_id = emit(session, "document.sealed", USCC_A, {"archive_id": "kept"})
    assert event_id is not None
    assert _queue(migrated, own) == [(1, "document.sealed", "pending")]
    assert _queue(migrated, everyone) == [(1, "document.sealed", "pending")]
    assert _queue(migrated, other) == [] and _queue(migrated, seals_only) == []

    # an event about no enterprise in particular goes to admin-wide subscriptions only
    with Session(migrated) as session, session.begin():
        emit(session, "batch.completed", None, {"batch": 1})
    assert _queue(migrated, everyone)[-1] == (2, "batch.completed", "pending")
    assert _queue(migrated, other) == []


def test_only_the_head_of_a_queue_is_handed_out_and_to_one_worker(
    migrated: Engine, store: WebhookStore
) -> None:
    sub = _subscribe(store, USCC_A, ["*"])
    second = _subscribe(store, USCC_B, ["*"])
    with Session(migrated) as session, session.begin():
        for n in range(3):
            emit(session, "document.sealed", USCC_A, {"n": n})
        emit(session, "seal.revoked", USCC_B, {"n": 0})
    due = store.due()
    assert len(due) == 2  # one head per subscription
    lease = timedelta(minutes=5)
    claims = [store.claim(i, lease) for i in due]
    assert all(c is not None for c in claims)
    assert [store.claim(i, lease) for i in due] == [None, None]  # leased: no second worker
    head = next(c for c in claims if c is not None and c.subscription_id == sub)
    assert head.payload()["data"] == {"n": 0} and head.secrets == (b"wrapped:" + sub.encode(),)
    assert store.due() == []  # the heads are leased, the rest wait behind them

    # a failed attempt: the head stays the head until its retry time
    now = store.now()
    store.finish(
        head,
        Attempt(now, 5, 503, "the receiver answered 503"),
        delivered=False,
        retry_at=now - timedelta(seconds=1),
    )
    again = store.claim(head.delivery_id, lease)
    assert again is not None and again.attempts == 2 and again.data == {"n": 0}
    store.finish(again, Attempt(now, 5, 204, None), delivered=True, retry_at=None)
    nxt = [c for c in (store.claim(i, lease) for i in store.due()) if c is not None]
    assert [c.data for c in nxt] == [{"n": 1}]

    log = store.delivery(sub, head.delivery_id)
    assert log.status == "delivered" and [a.status_code for a in log.log] == [503, 204]
    assert [d.status for d in store.deliveries(sub)] == ["pending", "pending", "delivered"]
    assert _queue(migrated, second) == [(1, "seal.revoked", "pending")]


def test_a_lease_that_runs_out_lets_another_worker_send_it_again(
    migrated: Engine, store: WebhookStore
) -> None:
    _subscribe(store, USCC_A, ["*"])
    with Session(migrated) as session, session.begin():
        emit(session, "document.sealed", USCC_A, {"n": 0})
    (head,) = store.due()
    assert store.claim(head, timedelta(seconds=-1)) is not None  # its worker died at once
    again = store.claim(head, timedelta(minutes=5))
    assert again is not None and again.attempts == 2


def test_given_up_deliveries_let_the_queue_move_on_and_can_be_sent_again(
    migrated: Engine, store: WebhookStore
) -> None:
    sub = _subscribe(store, USCC_A, ["*"])
    with Session(migrated) as session, session.begin():
        emit(session, "document.sealed", USCC_A, {"n": 0})
        emit(session, "document.sealed", USCC_A, {"n": 1})
    first = store.claim(store.due()[0], timedelta(minutes=1))
    assert first is not None
    store.finish(first, Attempt(store.now(), 1, None, "refused"), delivered=False, retry_at=None)
    assert _queue(migrated, sub) == [
        (1, "document.sealed", "failed"),
        (2, "document.sealed", "pending"),
    ]
    again = store.redeliver(sub, first.delivery_id, actor="test")
    assert (again.seq, again.status, again.redelivery_of, again.event_id) == (
        3,
        "pending",
        first.delivery_id,
        first.event_id,
    )
    head = store.claim(store.due()[0], timedelta(minutes=1))
    assert head is not None and head.data == {"n": 1}  # the redelivery waits its turn


def test_deleting_a_subscription_takes_its_queue_and_log(
    migrated: Engine, store: WebhookStore
) -> None:
    sub = _subscribe(store, USCC_A, ["*"])
    keep = _subscribe(store, None, ["*"])
    with Session(migrated) as session, session.begin():
        emit(session, "document.sealed", USCC_A, {"n": 0})
    claimed = store.claim(store.due()[0], timedelta(minutes=1))
    assert claimed is not None
    store.finish(claimed, Attempt(store.now(), 1, 500, "x"), delivered=False, retry_at=None)
    store.delete(sub, actor="test")
    with pytest.raises(WebhookNotFound):
        store.get(sub)
    assert _queue(migrated, sub) == [] and len(_queue(migrated, keep)) == 1
    with Session(migrated) as session, session.begin():  # later events skip it
        emit(session, "document.sealed", USCC_A, {"n": 1})
    assert len(_queue(migrated, keep)) == 2


def test_rotation_keeps_the_old_secret_signing_for_the_overlap(
    migrated: Engine, store: WebhookStore
) -> None:
    sub = _subscribe(store, USCC_A, ["*"])
    store.rotate(sub, b"second", overlap=timedelta(hours=1), actor="test")
    with Session(migrated) as session, session.begin():
        emit(session, "document.sealed", USCC_A, {"n": 0})
    claimed = store.claim(store.due()[0], timedelta(minutes=1))
    assert claimed is not None and claimed.secrets == (b"second", b"wrapped:" + sub.encode())
    store.finish(claimed, Attempt(store.now(), 1, 204, None), delivered=True, retry_at=None)
    store.rotate(sub, b"third", overlap=timedelta(0), actor="test")
    with Session(migrated) as session, session.begin():
        emit(session, "document.sealed", USCC_A, {"n": 1})
    claimed = store.claim(store.due()[0], timedelta(minutes=1))
    assert claimed is not None and claimed.secrets == (b"third",)


def test_the_registry_changes_become_events_from_their_audit_entries(
    migrated: Engine, store: WebhookStore
) -> None:
    sub = _subscribe(store, USCC_A, ["*"])

    def seal(action: str, version: int, status: str, code: str | None) -> AuditEvent:
        detail = {"version": version, "status": status, "reason": "保管人离职", "reason_code": code}
        return AuditEvent(
            action, "t", uscc=USCC_A, seal_kind="contract", serial="ab", detail=detail
        )

    with Session(migrated) as session, session.begin():
        emit_audited(
            session,
            [
                AuditEvent(
                    "license.status",
                    "t",
                    uscc=USCC_A,
                    detail={"from": "active", "to": "suspended", "reason": "x"},
                ),
                seal("seal.suspend", 1, "suspended", "certificate_hold"),
                seal("seal.use", 1, "active", None),
            ],
        )
        # a re-issue: the old version's revocation is part of seal.reissued, not its own event
        emit_audited(
            session,
            [
                seal("seal.revoke", 1, "revoked", "superseded"),
                seal("seal.issue", 2, "active", None),
            ],
        )
        emit_audited(session, [seal("seal.revoke", 2, "revoked", "key_compromise")])
    assert [t for _, t, _ in _queue(migrated, sub)] == [
        "license.status_changed",
        "seal.suspended",
        "seal.reissued",
        "seal.revoked",
    ]
    with Session(migrated) as session:
        data = list(session.scalars(select(WebhookEventRow.data).order_by(WebhookEventRow.id)))
    assert data[0] == {"uscc": USCC_A, "from": "active", "to": "suspended"}
    assert data[2]["version"] == 2 and data[2]["previous"]["reason_code"] == "superseded"
    assert "保管人离职" not in str(data)  # free text stays in the audit log


def test_event_types_and_patterns() -> None:
    assert matches(["seal.*"], "seal.revoked") and matches(["*"], "batch.completed")
    assert not matches(["document.sealed"], "document.extended")
    assert valid_pattern("approval.*") and valid_pattern("license.status_changed")
    assert not valid_pattern("seal.exploded") and not valid_pattern("nothing.*")


def test_emit_refuses_unknown_types_and_data_that_is_not_json(
    migrated: Engine, store: WebhookStore
) -> None:
    with Session(migrated) as session, session.begin():
        with pytest.raises(ValueError, match="unknown webhook event type"):
            emit(session, "seal.exploded", USCC_A, {})
        with pytest.raises(TypeError):
            emit(session, "document.sealed", USCC_A, {"when": datetime.now(UTC)})


def test_the_log_forgets_ended_deliveries_but_never_pending_ones(
    migrated: Engine, store: WebhookStore
) -> None:
    sub = _subscribe(store, USCC_A, ["*"])
    with Session(migrated) as session, session.begin():
        emit(session, "document.sealed", USCC_A, {"n": 0})
        emit(session, "document.sealed", USCC_A, {"n": 1})
    claimed = store.claim(store.due()[0], timedelta(minutes=1))
    assert claimed is not None
    store.finish(claimed, Attempt(store.now(), 1, 204, None), delivered=True, retry_at=None)
    assert store.prune(store.now() - timedelta(days=1)) == 0  # too recent
    assert store.prune(store.now() + timedelta(seconds=1)) == 1
    assert _queue(migrated, sub) == [(2, "document.sealed", "pending")]
    assert _events(migrated) == 1


def test_rotating_or_deleting_while_a_change_emits_takes_locks_in_the_same_order(
    migrated: Engine, store: WebhookStore
) -> None:
    """A change holds the audit chain's lock when it numbers its deliveries; a rotation or a
    deletion takes that lock before the subscription's row, so neither waits for the other
    in a cycle (PostgreSQL would abort one of them as a deadlock)."""
    if migrated.dialect.name != "postgresql":
        pytest.skip("SQLite runs one writing transaction at a time")
    sub = _subscribe(store, USCC_A, ["*"])
    gone = _subscribe(store, USCC_A, ["*"])
    pool = ThreadPoolExecutor(1)
    for work in (
        lambda: store.rotate(sub, b"new", overlap=timedelta(hours=1), actor="test"),
        lambda: store.delete(gone, actor="test"),
    ):
        with Session(migrated) as session, session.begin():
            append_events(session, [AuditEvent("seal.use", "test", uscc=USCC_A)])
            other = pool.submit(work)
            wait_until(lambda: _waiting_on_a_lock(migrated), "the other writer waits")
            emit(session, "document.sealed", USCC_A, {"n": 0})
        other.result()
    pool.shutdown()
    assert store.get(sub).previous_expires_at is not None
    with pytest.raises(WebhookNotFound):
        store.get(gone)
    assert [t for _, t, _ in _queue(migrated, sub)] == ["document.sealed", "document.sealed"]


def _waiting_on_a_lock(engine: Engine) -> bool:
    with engine.connect() as conn:
        return bool(
            conn.exec_driver_sql(
                "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                "AND datname = current_database()"
            ).scalar()
        )
