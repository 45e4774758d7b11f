"""Webhook subscriptions, their deliveries and the delivery log, in the metadata database.

Secrets are stored as the API layer hands them over (wrapped under the master key): this
module never sees one in the clear.  The delivery worker asks :meth:`WebhookStore.due` for the
head of each subscription's queue, takes a lease on one (:meth:`WebhookStore.claim`), sends
it, and records the attempt (:meth:`WebhookStore.finish`).  A lease is a time, not a process:
if the process holding it dies, the delivery is sent again once the lease ends (at least
once; receivers deduplicate on the event id).  Only the head of a queue can be claimed, so a
subscription's events go out one after another, in order, whichever process sends them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, delete, func, or_, select, update
from sqlalchemy.orm import Session, aliased, sessionmaker
from ulid import ULID

from seals.audit import AuditEvent
from seals.errors import ErrorKind, EsealError

from .audit import append_events
from .db import WRITE, translate_errors
from .tables import (
    WebhookAttemptRow,
    WebhookDeliveryRow,
    WebhookEventRow,
    WebhookSubscriptionRow,
)

__all__ = [
    "Attempt",
    "Claimed",
    "Delivery",
    "DeliveryNotFound",
    "Subscription",
    "WebhookNotFound",
    "WebhookStore",
    "new_subscription_id",
]


class WebhookNotFound(EsealError):
    code = "webhook_not_found"
    kind = ErrorKind.NOT_FOUND
    title = "No such webhook subscription"


class DeliveryNotFound(EsealError):
    code = "webhook_delivery_not_found"
    kind = ErrorKind.NOT_FOUND
    title = "No such webhook delivery"


def new_subscription_id(at: datetime | None = None) -> str:
    """A subscription id (a ULID), made before the row so that its secret can be bound to it."""
    return str(ULID.from_datetime(at or datetime.now(UTC)))


def _iso(value: datetime | None) -> str | None:
    return value.astimezone(UTC).isoformat() if value is not None else None


@dataclass(frozen=True)
class Subscription:
    id: str
    #: the enterprise whose events it receives; None: every enterprise's (an admin's)
    uscc: str | None
    url: str
    events: tuple[str, ...]
    description: str | None
    created_at: datetime
    created_by: str
    secret_rotated_at: datetime | None
    #: until when the secret before the last rotation still signs
    previous_expires_at: datetime | None

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "uscc": self.uscc,
            "url": self.url,
            "events": list(self.events),
            "description": self.description,
            "created_at": _iso(self.created_at),
            "secret_rotated_at": _iso(self.secret_rotated_at),
            "previous_secret_expires_at": _iso(self.previous_expires_at),
        }


@dataclass(frozen=True)
class Attempt:
    """One HTTP attempt: when, how long, the receiver's status code or what failed."""

    at: datetime
    duration_ms: int
    status_code: int | None
    error: str | None

    def to_json(self) -> dict[str, Any]:
        return {
            "at": _iso(self.at),
            "duration_ms": self.duration_ms,
            "status_code": self.status_code,
            "error": self.error,
        }


@dataclass(frozen=True)
class Delivery:
    id: int
    subscription_id: str
    seq: int
    event_id: str
    event_type: str
    status: str
    attempts: int
    created_at: datetime
    next_attempt_at: datetime | None
    delivered_at: datetime | None
    last_status_code: int | None
    last_error: str | None
    redelivery_of: int | None
    #: the attempts, oldest first (filled in for a single delivery)
    log: tuple[Attempt, ...] = field(default=())

    def to_json(self, *, with_log: bool = False) -> dict[str, Any]:
        """The delivery; ``with_log``: and its attempts, oldest first."""
        body: dict[str, Any] = {
            "id": self.id,
            "seq": self.seq,
            "event_id": self.event_id,
            "event_type": self.event_type,
            "status": self.status,
            "attempts": self.attempts,
            "created_at": _iso(self.created_at),
            "next_attempt_at": _iso(self.next_attempt_at),
            "delivered_at": _iso(self.delivered_at),
            "last_status_code": self.last_status_code,
            "last_error": self.last_error,
            "redelivery_of": self.redelivery_of,
        }
        if with_log:
            body["log"] = [a.to_json() for a in self.log]
        return body


@dataclass(frozen=True)
class Claimed:
    """A delivery the worker holds the lease on, with what it needs to send it."""

    delivery_id: int
    subscription_id: str
    url: str
    #: the wrapped secrets that sign it: the current one, and the previous one during a
    #: rotation's overlap
    secrets: tuple[bytes, ...]
    event_id: str
    event_type: str
    uscc: str | None
    data: dict[str, Any]
    event_created_at: datetime
    #: when the delivery was owed (retries stop a retry window after it)
    created_at: datetime
    #: attempts so far, this one included
    attempts: int

    def payload(self) -> dict[str, Any]:
        """The JSON object POSTed to the receiver."""
        return {
            "id": self.event_id,
            "type": self.event_type,
            "created_at": _iso(self.event_created_at),
            "uscc": self.uscc,
            "data": self.data,
        }


def _subscription(row: WebhookSubscriptionRow) -> Subscription:
    return Subscription(
        row.id,
        row.uscc,
        row.url,
        tuple(row.events),
        row.description,
        row.created_at,
        row.created_by,
        row.secret_rotated_at,
        row.previous_expires_at,
    )


def _delivery(row: WebhookDeliveryRow, event_type: str, log: Sequence[Attempt] = ()) -> Delivery:
    return Delivery(
        row.id,
        row.subscription_id,
        row.seq,
        row.event_id,
        event_type,
        row.status,
        row.attempts,
        row.created_at,
        row.next_attempt_at if row.status == "pending" else None,
        row.delivered_at,
        row.last_status_code,
        row.last_error,
        row.redelivery_of,
        tuple(log),
    )


class WebhookStore:
    """Subscriptions and the delivery queue.  Thread-safe: sessions are per call."""

    def __init__(self, engine: Engine, *, clock: Callable[[], datetime] | None = None) -> None:
        self._read = sessionmaker(engine, expire_on_commit=False)
        self._write = sessionmaker(engine.execution_options(**WRITE), expire_on_commit=False)
        self._clock = clock or (lambda: datetime.now(UTC))

    @contextmanager
    def _reading(self) -> Iterator[Session]:
        with translate_errors(), self._read.begin() as session:
            yield session

    @contextmanager
    def _writing(self) -> Iterator[Session]:
        with translate_errors(), self._write.begin() as session:
            yield session

    def now(self) -> datetime:
        return self._clock().astimezone(UTC)

    # -- subscriptions -------------------------------------------------------------------

    def create(
        self,
        subscription_id: str,
        *,
        uscc: str | None,
        url: str,
        events: Sequence[str],
        description: str | None,
        secret: bytes,
        actor: str,
    ) -> Subscription:
        """Store a subscription (its secret wrapped) and audit it (``webhook.create``)."""
        now = self.now()
        row = WebhookSubscriptionRow(
            id=subscription_id,
            uscc=uscc,
            url=url,
            events=list(events),
            description=description,
            secret=secret,
            previous_secret=None,
            previous_expires_at=None,
            secret_rotated_at=None,
            created_at=now,
            created_by=actor,
            last_seq=0,
        )
        with self._writing() as session:
            session.add(row)
            session.flush()
            append_events(
                session,
                [
                    AuditEvent(
                        "webhook.create",
                        actor,
                        uscc=uscc,
                        detail={"webhook_id": subscription_id, "url": url, "events": list(events)},
                    )
                ],
                now,
            )
            return _subscription(row)

    def get(self, subscription_id: str) -> Subscription:
        with self._reading() as session:
            row = session.get(WebhookSubscriptionRow, subscription_id)
            if row is None:
                raise WebhookNotFound(f"no webhook subscription {subscription_id!r}")
            return _subscription(row)

    def subscriptions(self, uscc: str | None = None) -> list[Subscription]:
        """Every subscription (None), or one enterprise's (not the admin-wide ones)."""
        stmt = select(WebhookSubscriptionRow).order_by(WebhookSubscriptionRow.id)
        if uscc is not None:
            stmt = stmt.where(WebhookSubscriptionRow.uscc == uscc)
        with self._reading() as session:
            return [_subscription(r) for r in session.scalars(stmt)]

    def _audited(
        self, session: Session, subscription_id: str, action: str, actor: str, **detail: Any
    ) -> WebhookSubscriptionRow:
        """The subscription's row, locked, after its audit entry: the audit chain's lock is
        taken first, as every emitting transaction takes it before the subscriptions'."""
        found = session.get(WebhookSubscriptionRow, subscription_id)
        if found is None:
            raise WebhookNotFound(f"no webhook subscription {subscription_id!r}")
        entry = AuditEvent(
            action, actor, uscc=found.uscc, detail={"webhook_id": subscription_id, **detail}
        )
        append_events(session, [entry], self.now())
        row = session.get(
            WebhookSubscriptionRow, subscription_id, with_for_update=True, populate_existing=True
        )
        if row is None:
            raise WebhookNotFound(f"no webhook subscription {subscription_id!r}")
        return row

    def delete(self, subscription_id: str, *, actor: str) -> Subscription:
        """Remove the subscription with its deliveries and their log (the events stay)."""
        with self._writing() as session:
            url = session.scalar(
                select(WebhookSubscriptionRow.url).where(
                    WebhookSubscriptionRow.id == subscription_id
                )
            )
            row = self._audited(session, subscription_id, "webhook.delete", actor, url=url)
            gone = _subscription(row)
            deliveries = select(WebhookDeliveryRow.id).where(
                WebhookDeliveryRow.subscription_id == subscription_id
            )
            session.execute(
                delete(WebhookAttemptRow).where(WebhookAttemptRow.delivery_id.in_(deliveries))
            )
            session.execute(
                delete(WebhookDeliveryRow).where(
                    WebhookDeliveryRow.subscription_id == subscription_id
                )
            )
            session.delete(row)
            return gone

    def rotate(
        self, subscription_id: str, secret: bytes, *, overlap: timedelta, actor: str
    ) -> Subscription:
        """Make ``secret`` (wrapped) the signing secret; the one it replaces keeps signing
        beside it for ``overlap`` (none if zero).  A rotation during another's overlap ends
        that one: the secret before the previous one stops signing at once."""
        if overlap < timedelta(0):
            raise ValueError("the overlap cannot be negative")
        now = self.now()
        until = now + overlap if overlap > timedelta(0) else None
        with self._writing() as session:
            row = self._audited(
                session,
                subscription_id,
                "webhook.rotate_secret",
                actor,
                previous_valid_until=_iso(until),
            )
            row.previous_secret = row.secret if until is not None else None
            row.previous_expires_at = until
            row.secret = secret
            row.secret_rotated_at = now
            session.flush()
            return _subscription(row)

    # -- the delivery log ------------------------------------------------------------------

    def deliveries(
        self,
        subscription_id: str,
        *,
        status: str | None = None,
        before: int | None = None,
        limit: int = 50,
    ) -> list[Delivery]:
        """The subscription's deliveries, newest first; ``before``: a delivery id (paging)."""
        stmt = (
            select(WebhookDeliveryRow, WebhookEventRow.type)
            .join(WebhookEventRow, WebhookEventRow.id == WebhookDeliveryRow.event_id)
            .where(WebhookDeliveryRow.subscription_id == subscription_id)
            .order_by(WebhookDeliveryRow.seq.desc())
            .limit(limit)
        )
        if status is not None:
            stmt = stmt.where(WebhookDeliveryRow.status == status)
        with self._reading() as session:
            if before is not None:
                seq = session.scalar(
                    select(WebhookDeliveryRow.seq).where(WebhookDeliveryRow.id == before)
                )
                if seq is not None:
                    stmt = stmt.where(WebhookDeliveryRow.seq < seq)
            return [_delivery(row, kind) for row, kind in session.execute(stmt)]

    def delivery(self, subscription_id: str, delivery_id: int) -> Delivery:
        """One delivery with every attempt."""
        with self._reading() as session:
            found = session.execute(
                select(WebhookDeliveryRow, WebhookEventRow.type)
                .join(WebhookEventRow, WebhookEventRow.id == WebhookDeliveryRow.event_id)
                .where(
                    WebhookDeliveryRow.id == delivery_id,
                    WebhookDeliveryRow.subscription_id == subscription_id,
                )
            ).first()
            if found is None:
                raise DeliveryNotFound(f"webhook {subscription_id} has no delivery {delivery_id}")
            attempts = session.scalars(
                select(WebhookAttemptRow)
                .where(WebhookAttemptRow.delivery_id == delivery_id)
                .order_by(WebhookAttemptRow.id)
            )
            log = [Attempt(a.at, a.duration_ms, a.status_code, a.error) for a in attempts]
            return _delivery(found[0], found[1], log)

    def redeliver(self, subscription_id: str, delivery_id: int, *, actor: str) -> Delivery:
        """Send a delivery's event again: a new delivery at the end of the queue (the same
        event id, so a receiver that has it already can tell)."""
        now = self.now()
        with self._writing() as session:
            old = session.scalar(
                select(WebhookDeliveryRow).where(
                    WebhookDeliveryRow.id == delivery_id,
                    WebhookDeliveryRow.subscription_id == subscription_id,
                )
            )
            if old is None:
                raise DeliveryNotFound(f"webhook {subscription_id} has no delivery {delivery_id}")
            sub = session.get(WebhookSubscriptionRow, subscription_id)
            append_events(
                session,
                [
                    AuditEvent(
                        "webhook.redeliver",
                        actor,
                        uscc=sub.uscc if sub is not None else None,
                        detail={
                            "webhook_id": subscription_id,
                            "delivery_id": delivery_id,
                            "event_id": old.event_id,
                        },
                    )
                ],
                now,
            )
            seq = session.execute(
                update(WebhookSubscriptionRow)
                .where(WebhookSubscriptionRow.id == subscription_id)
                .values(last_seq=WebhookSubscriptionRow.last_seq + 1)
                .returning(WebhookSubscriptionRow.last_seq)
            ).scalar_one()
            row = WebhookDeliveryRow(
                subscription_id=subscription_id,
                seq=seq,
                event_id=old.event_id,
                status="pending",
                attempts=0,
                created_at=now,
                next_attempt_at=now,
                redelivery_of=delivery_id,
            )
            session.add(row)
            session.flush()
            kind = session.scalar(
                select(WebhookEventRow.type).where(WebhookEventRow.id == old.event_id)
            )
            return _delivery(row, kind or "")

    # -- the worker's side -------------------------------------------------------------------

    def due(self, limit: int = 50) -> list[int]:
        """Delivery ids a worker may try now: the head (lowest ``seq`` still pending) of each
        subscription's queue, if its time has come and no live lease holds it."""
        now = self.now()
        later = aliased(WebhookDeliveryRow)
        head = (
            select(func.min(later.seq))
            .where(
                later.subscription_id == WebhookDeliveryRow.subscription_id,
                later.status == "pending",
            )
            .scalar_subquery()
        )
        stmt = (
            select(WebhookDeliveryRow.id)
            .where(
                WebhookDeliveryRow.status == "pending",
                WebhookDeliveryRow.next_attempt_at <= now,
                or_(
                    WebhookDeliveryRow.locked_until.is_(None),
                    WebhookDeliveryRow.locked_until < now,
                ),
                WebhookDeliveryRow.seq == head,
            )
            .order_by(WebhookDeliveryRow.next_attempt_at)
            .limit(limit)
        )
        with self._reading() as session:
            return list(session.scalars(stmt))

    def next_due(self) -> datetime | None:
        """When the earliest pending delivery is next to be tried (None: nothing pending)."""
        with self._reading() as session:
            found = session.scalar(
                select(func.min(WebhookDeliveryRow.next_attempt_at)).where(
                    WebhookDeliveryRow.status == "pending"
                )
            )
        if found is not None and found.tzinfo is None:  # min() loses the column's type
            found = found.replace(tzinfo=UTC)
        return found

    def claim(self, delivery_id: int, lease: timedelta) -> Claimed | None:
        """Take the lease on a due delivery for one attempt; None if another worker has it,
        it is no longer pending, or it is no longer its queue's head."""
        now = self.now()
        with self._writing() as session:
            row = session.get(WebhookDeliveryRow, delivery_id, with_for_update=True)
            if (
                row is None
                or row.status != "pending"
                or row.next_attempt_at > now
                or (row.locked_until is not None and row.locked_until >= now)
            ):
                return None
            earlier = session.scalar(
                select(func.count()).where(
                    WebhookDeliveryRow.subscription_id == row.subscription_id,
                    WebhookDeliveryRow.status == "pending",
                    WebhookDeliveryRow.seq < row.seq,
                )
            )
            if earlier:
                return None
            sub = session.get(WebhookSubscriptionRow, row.subscription_id)
            ev = session.get(WebhookEventRow, row.event_id)
            if sub is None or ev is None:
                return None
            row.locked_until = now + lease
            row.attempts += 1
            secrets = [sub.secret]
            if (
                sub.previous_secret is not None
                and sub.previous_expires_at is not None
                and sub.previous_expires_at > now
            ):
                secrets.append(sub.previous_secret)
            return Claimed(
                row.id,
                sub.id,
                sub.url,
                tuple(bytes(s) for s in secrets),
                ev.id,
                ev.type,
                ev.uscc,
                dict(ev.data),
                ev.created_at,
                row.created_at,
                row.attempts,
            )

    def finish(
        self,
        claimed: Claimed,
        attempt: Attempt,
        *,
        delivered: bool,
        retry_at: datetime | None,
    ) -> None:
        """Record the attempt and release the lease: delivered; or pending again from
        ``retry_at``; or (neither) failed for good."""
        with self._writing() as session:
            row = session.get(WebhookDeliveryRow, claimed.delivery_id, with_for_update=True)
            if row is None:  # the subscription was deleted meanwhile
                return
            session.add(
                WebhookAttemptRow(
                    delivery_id=row.id,
                    at=attempt.at,
                    duration_ms=attempt.duration_ms,
                    status_code=attempt.status_code,
                    error=attempt.error,
                )
            )
            row.locked_until = None
            row.last_status_code = attempt.status_code
            row.last_error = attempt.error
            if delivered:
                row.status, row.delivered_at = "delivered", attempt.at
            elif retry_at is not None:
                row.next_attempt_at = retry_at
            else:
                row.status = "failed"

    def prune(self, before: datetime) -> int:
        """Forget deliveries that ended (delivered or given up) and were owed before
        ``before``, with their attempts, and the events no delivery refers to any more;
        returns how many deliveries went.  Pending ones are kept, however old."""
        ended = select(WebhookDeliveryRow.id).where(
            WebhookDeliveryRow.status != "pending", WebhookDeliveryRow.created_at < before
        )
        with self._writing() as session:
            session.execute(
                delete(WebhookAttemptRow).where(WebhookAttemptRow.delivery_id.in_(ended))
            )
            gone = session.execute(
                delete(WebhookDeliveryRow).where(
                    WebhookDeliveryRow.status != "pending", WebhookDeliveryRow.created_at < before
                )
            )
            referred = select(WebhookDeliveryRow.event_id)
            session.execute(
                delete(WebhookEventRow).where(
                    WebhookEventRow.created_at < before, WebhookEventRow.id.not_in(referred)
                )
            )
            return int(gone.rowcount or 0)  # type: ignore[attr-defined]

    def pending_count(self) -> int:
        with self._reading() as session:
            return int(
                session.scalar(select(func.count()).where(WebhookDeliveryRow.status == "pending"))
                or 0
            )
