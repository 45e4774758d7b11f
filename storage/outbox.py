"""The webhooks' outbox: events written in the transaction of the change they report.

:func:`emit` is what every change that has an event calls, inside its own transaction (after
its audit entries, so that locks are always taken in one order: the audit chain's, then the
subscriptions' rows).  It writes the event once and one pending delivery for each
subscription that wants it; if the transaction rolls back, neither exists, and once it
commits the event cannot be lost: a worker (``api/webhook_worker.py``) of any server process
sends it, in each subscription's order, whenever the receiver answers.

Each delivery is numbered by raising its subscription's ``last_seq``: that UPDATE holds the
subscription's row lock until commit, so two transactions emitting to one subscription commit
in the order of their numbers, and a worker that sees number N knows every smaller number is
committed (or rolled back and reused).

The changes of the registry (license status, seal suspension, revocation, re-issue) reach
:func:`emit` through :func:`emit_audited`, which the repository calls with the audit entries
of each of its transactions: the domain describes each change once, in its audit entry.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import event, or_, select, update
from sqlalchemy.orm import Session
from ulid import ULID

from seals.audit import AuditEvent

from .tables import WebhookDeliveryRow, WebhookEventRow, WebhookSubscriptionRow

__all__ = [
    "EVENT_TYPES",
    "emit",
    "emit_audited",
    "matches",
    "on_commit",
    "valid_pattern",
]

log = logging.getLogger("eseal.webhooks")

#: every event type a subscription may ask for; ``emit`` refuses any other.  Code that adds
#: an event appends its type here (``permit.*`` later).
EVENT_TYPES: tuple[str, ...] = (
    "document.sealed",
    "document.extended",
    "license.status_changed",
    "seal.suspended",
    "seal.resumed",
    "seal.revoked",
    "seal.reissued",
    "approval.requested",
    "approval.approved",
    "approval.rejected",
    "approval.expired",
    "batch.completed",
)

_WAKE = "eseal_outbox_wake"
_listeners: list[Callable[[], None]] = []


def valid_pattern(pattern: str) -> bool:
    """``*``, a known event type, or ``<group>.*`` of a known group (``seal.*``)."""
    if pattern == "*" or pattern in EVENT_TYPES:
        return True
    group, dot, star = pattern.partition(".")
    return dot == "." and star == "*" and any(t.startswith(group + ".") for t in EVENT_TYPES)


def matches(patterns: Iterable[str], event_type: str) -> bool:
    """Whether a subscription asking for ``patterns`` receives ``event_type``."""
    group = event_type.partition(".")[0]
    return any(p in ("*", event_type, f"{group}.*") for p in patterns)


def on_commit(listener: Callable[[], None]) -> Callable[[], None]:
    """Call ``listener`` (without arguments, in the committing thread) after each commit in
    this process that wrote an event: the delivery worker's wake-up.  Returns the function
    that removes it.  Other processes' events are found by polling."""
    _listeners.append(listener)

    def remove() -> None:
        if listener in _listeners:
            _listeners.remove(listener)

    return remove


def _wake_after_commit(session: Session) -> None:
    if session.info.get(_WAKE):
        return
    session.info[_WAKE] = True

    def committed(done: Session) -> None:
        done.info.pop(_WAKE, None)
        for listener in list(_listeners):
            try:
                listener()
            except Exception:  # the events are committed; the worker polls anyway
                log.exception("an outbox listener failed")

    # a rolled-back session keeps the listener: a later commit of it wakes the worker for
    # nothing, which costs one look at the queue
    event.listen(session, "after_commit", committed, once=True)


def emit(
    session: Session,
    event_type: str,
    uscc: str | None,
    data: Mapping[str, Any],
    *,
    at: datetime | None = None,
) -> str | None:
    """Write the event ``event_type`` about the enterprise ``uscc`` (None: about none in
    particular, for admin-wide subscriptions only) in ``session``'s transaction; returns its
    id (``Eseal-Event-Id``), or None if no subscription wants it (then nothing is written).

    ``data`` is the event's JSON object (a ``TypeError`` if it is not JSON).  The enterprise's
    own subscriptions and the admin-wide ones receive it.  Call it after the transaction's
    audit entries (``storage.audit.append_events``), as the sealing flow and the repository
    do, so that every writer takes its locks in the same order.
    """
    if event_type not in EVENT_TYPES:
        raise ValueError(f"unknown webhook event type {event_type!r}; add it to EVENT_TYPES")
    body = json.loads(json.dumps(dict(data), ensure_ascii=False))  # JSON or TypeError, copied
    owners = (
        or_(WebhookSubscriptionRow.uscc == uscc, WebhookSubscriptionRow.uscc.is_(None))
        if uscc is not None
        else WebhookSubscriptionRow.uscc.is_(None)
    )
    found = session.execute(
        select(WebhookSubscriptionRow.id, WebhookSubscriptionRow.events)
        .where(owners)
        .order_by(WebhookSubscriptionRow.id)  # row locks in one order
    ).all()
    targets = [sub_id for sub_id, patterns in found if matches(patterns, event_type)]
    if not targets:
        return None
    now = (at or datetime.now(UTC)).astimezone(UTC)
    event_id = str(ULID.from_datetime(now))
    session.add(WebhookEventRow(id=event_id, type=event_type, uscc=uscc, data=body, created_at=now))
    session.flush()
    for sub_id in targets:
        seq = session.execute(
            update(WebhookSubscriptionRow)
            .where(WebhookSubscriptionRow.id == sub_id)
            .values(last_seq=WebhookSubscriptionRow.last_seq + 1)
            .returning(WebhookSubscriptionRow.last_seq)
        ).scalar()
        if seq is None:  # deleted since it was read
            continue
        session.add(
            WebhookDeliveryRow(
                subscription_id=sub_id,
                seq=seq,
                event_id=event_id,
                status="pending",
                attempts=0,
                created_at=now,
                next_attempt_at=now,
            )
        )
    session.flush()
    _wake_after_commit(session)
    return event_id


# -- the registry's changes, as their audit entries describe them ----------------------------

_SEAL_EVENTS = {
    "seal.suspend": "seal.suspended",
    "seal.resume": "seal.resumed",
    "seal.revoke": "seal.revoked",
}


def _seal_data(entry: AuditEvent) -> dict[str, Any]:
    """What a seal event says: which seal version, its status and RFC 5280 reason code (the
    free-text reason stays in the audit log, as it stays out of the CRL)."""
    detail = entry.detail
    return {
        "uscc": entry.uscc,
        "kind": entry.seal_kind,
        "version": detail.get("version"),
        "serial": entry.serial,
        "status": detail.get("status"),
        "reason_code": detail.get("reason_code"),
        "compromised_at": detail.get("compromised_at"),
    }


def emit_audited(session: Session, entries: Iterable[AuditEvent]) -> None:
    """The events of a registry transaction, from its audit entries: ``license.status`` →
    ``license.status_changed``; ``seal.suspend|resume|revoke`` → ``seal.suspended|resumed|
    revoked``; a ``seal.issue`` of version 2 or later → ``seal.reissued`` (which says which
    version it replaced, so the old version's revocation in the same transaction is not sent
    as a ``seal.revoked`` of its own).  Other entries have no event."""
    entries = list(entries)
    retired = {
        (e.uscc, e.seal_kind): e
        for e in entries
        if e.action == "seal.revoke"
        and any(
            i.action == "seal.issue"
            and (i.uscc, i.seal_kind) == (e.uscc, e.seal_kind)
            and int(i.detail.get("version", 1)) > 1
            for i in entries
        )
    }
    for entry in entries:
        if entry.action == "license.status":
            emit(
                session,
                "license.status_changed",
                entry.uscc,
                {
                    "uscc": entry.uscc,
                    "from": entry.detail.get("from"),
                    "to": entry.detail.get("to"),
                },
            )
        elif entry.action in _SEAL_EVENTS:
            if entry.action == "seal.revoke" and (entry.uscc, entry.seal_kind) in retired:
                continue
            emit(session, _SEAL_EVENTS[entry.action], entry.uscc, _seal_data(entry))
        elif entry.action == "seal.issue" and int(entry.detail.get("version", 1)) > 1:
            old = retired.get((entry.uscc, entry.seal_kind))
            emit(
                session,
                "seal.reissued",
                entry.uscc,
                {**_seal_data(entry), "previous": _seal_data(old) if old else None},
            )
