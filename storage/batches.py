"""The batch queue: many documents of one request, sealed in the background by any worker.

A batch (``POST /v1/batches``) is written in one transaction: its row and one row per file,
each with the file's bytes and its options.  The queue is the ``batch_items`` table itself,
so it survives a restart and every worker process, of any host, takes files from it:

* :meth:`BatchStore.claim` takes the next queued files in batch order, a group at a time in
  one transaction, under a lease (``worker``, ``lease_until``).  On PostgreSQL the
  candidates are read ``FOR UPDATE SKIP LOCKED``, so concurrent workers never wait for or
  take the same file; on SQLite the claim is a writing transaction (``BEGIN IMMEDIATE``),
  which admits one claimer at a time; either way the update takes only files still
  claimable.  The uploads are read after the claim commits.
* The worker renews the lease of each file it holds (:meth:`BatchStore.renew`) while it
  works.  A file whose lease ran out (its process died) is claimed again by anyone; after
  ``max_attempts`` claims it is given up (``processing_abandoned``), so that a document
  that kills its worker cannot kill every worker in turn.
* :meth:`BatchStore.finish` and :meth:`BatchStore.fail` record the result only if the lease
  is still the worker's, count it on the batch row (whose row lock orders concurrent
  finishers) and, for the last file, mark the batch ``done`` in the same transaction, where
  :attr:`BatchStore.on_complete` may write more (an outbox event).  The worker records a
  sealed file in the transaction of its archive row (``finish(..., session=...)``).

Sealing a file twice is prevented above this module: the worker seals through the sign
flow with an ``Idempotency-Key`` of the file (:func:`item_key`), whose record commits with
the archive row, so a file claimed again after its archive row committed gets that document
back instead of a second one.

:func:`result_zip` streams the sealed files of a batch and ``results.json`` as one ZIP in
constant memory, with the archive export's writer (:mod:`storage.archive.export`); the
archive records of its files are read a page at a time.
"""

from __future__ import annotations

import enum
import hashlib
import itertools
import json
import tempfile
import zipfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Engine, and_, func, insert, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker
from ulid import ULID

from seals.errors import ErrorKind, EsealError
from seals.vocab import DocumentFormat

from .archive import Archive
from .archive.export import FLUSH_AT, ZipSink, zip_entry
from .archive.model import EXTENSIONS, ArchiveRecord, ArchiveStatus
from .archive.store import CHUNK_SIZE
from .db import WRITE, translate_errors
from .idempotency import IdempotencyConflict
from .tables import BatchItemRow, BatchRow

__all__ = [
    "RESULT_FORMAT",
    "Batch",
    "BatchItem",
    "BatchNotFound",
    "BatchStatus",
    "BatchStore",
    "ClaimedItem",
    "ItemStatus",
    "NewItem",
    "OnComplete",
    "item_key",
    "result_zip",
]

#: ``format`` of a result ZIP's results.json
RESULT_FORMAT = "eseal-batch-result/1"
#: the sealed files go into the result ZIP stored, not deflated: a sealed PDF's streams are
#: compressed already (deflate gained about a fifth on a one-page contract, nearly all of it
#: the hexadecimal signature, and cost more CPU than the sealing's archive step), and an OFD
#: is a ZIP itself; ``results.json`` is deflated
STORED = 0
#: the code of a file given up after its workers died on it ``max_attempts`` times
ABANDONED = "processing_abandoned"
#: items read per query when a batch is listed or zipped
_PAGE = 500
#: files of a new batch are inserted in groups of about this many bytes
_INSERT_BYTES = 8 * 1024 * 1024


class BatchStatus(enum.Enum):
    #: no file taken yet
    QUEUED = "queued"
    #: files are being sealed
    RUNNING = "running"
    #: every file is sealed or failed
    DONE = "done"


class ItemStatus(enum.Enum):
    QUEUED = "queued"
    RUNNING = "running"
    #: sealed and archived
    DONE = "done"
    #: refused or failed: ``code`` and ``detail`` say why
    FAILED = "failed"


class BatchNotFound(EsealError):
    code = "batch_not_found"
    kind = ErrorKind.NOT_FOUND
    title = "Batch not found"


def _iso(value: datetime | None) -> str | None:
    return value.astimezone(UTC).isoformat() if value is not None else None


def item_key(batch_id: str, position: int) -> str:
    """The ``Idempotency-Key`` the worker seals a file under (per API key, like any key):
    a file claimed again gets the archived document of an earlier attempt back."""
    return f"eseal-batch:{batch_id}:{position}"


@dataclass(frozen=True)
class NewItem:
    """A file of a new batch: its name (unique in the batch), its options (the JSON of the
    sign options, as the worker will read them), and its bytes, read when the batch is
    written (``read``), so that a large batch is never in memory at once."""

    name: str
    options: dict[str, Any]
    sha256: str
    size: int
    read: Callable[[], bytes]

    @classmethod
    def of(cls, name: str, data: bytes, options: dict[str, Any]) -> NewItem:
        return cls(name, options, hashlib.sha256(data).hexdigest(), len(data), lambda: data)


@dataclass(frozen=True)
class Batch:
    """A batch and its counts (``queued`` and ``running`` are counted when it is read)."""

    id: str
    uscc: str
    principal: str
    status: BatchStatus
    total: int
    done: int
    failed: int
    options: dict[str, Any]
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    running: int = 0

    @property
    def queued(self) -> int:
        return self.total - self.done - self.failed - self.running

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "uscc": self.uscc,
            "status": self.status.value,
            "total": self.total,
            "counts": {
                "queued": self.queued,
                "running": self.running,
                "done": self.done,
                "failed": self.failed,
            },
            "created_at": _iso(self.created_at),
            "started_at": _iso(self.started_at),
            "finished_at": _iso(self.finished_at),
            "options": self.options,
        }


@dataclass(frozen=True)
class BatchItem:
    """One file of a batch as the API shows it (without its bytes)."""

    position: int
    name: str
    status: ItemStatus
    input_sha256: str
    input_size: int
    attempts: int
    archive_id: str | None
    sha256: str | None
    size: int | None
    format: DocumentFormat | None
    code: str | None
    detail: str | None
    notices: list[dict[str, str]]
    finished_at: datetime | None

    def to_json(self) -> dict[str, Any]:
        finished = self.status in (ItemStatus.DONE, ItemStatus.FAILED)
        return {
            "position": self.position,
            "name": self.name,
            "status": self.status.value,
            "input_sha256": self.input_sha256,
            "input_size": self.input_size,
            "attempts": self.attempts,
            "archive_id": self.archive_id,
            "sha256": self.sha256,
            "size": self.size,
            "format": self.format.value if self.format else None,
            # a queued file may carry the outage its last attempt met; only a failure says
            "code": self.code if finished else None,
            "detail": self.detail if finished else None,
            "notices": self.notices,
            "finished_at": _iso(self.finished_at),
        }


@dataclass(frozen=True)
class ClaimedItem:
    """A file a worker holds: what it needs to seal it as its batch's API key would."""

    batch_id: str
    position: int
    uscc: str
    principal: str
    name: str
    options: dict[str, Any]
    data: bytes
    #: claims so far, this one included
    attempts: int

    @property
    def key(self) -> tuple[str, int]:
        return (self.batch_id, self.position)

    @property
    def idempotency_key(self) -> str:
        return item_key(self.batch_id, self.position)


#: ``on_complete(session, batch)``: called in the transaction that finishes a batch's last
#: file (the place for an outbox event such as ``batch.completed``)
OnComplete = Callable[[Session, Batch], None]


def _item_row(batch_id: str, position: int, item: NewItem, data: bytes) -> dict[str, Any]:
    return {
        "batch_id": batch_id,
        "position": position,
        "name": item.name,
        "options": item.options,
        "input": data,
        "input_sha256": item.sha256,
        "input_size": item.size,
        "status": ItemStatus.QUEUED.value,
        "attempts": 0,
    }


def _request_sha(options: dict[str, Any], items: Sequence[NewItem]) -> str:
    """SHA-256 of a batch request: the common options and every file's name, bytes and
    options (a retry with the same ``Idempotency-Key`` must be the same request)."""
    h = hashlib.sha256(json.dumps(options, sort_keys=True).encode())
    for item in items:
        h.update(b"\0" + item.name.encode() + b"\0" + item.sha256.encode())
        h.update(b"\0" + json.dumps(item.options, sort_keys=True).encode())
    return h.hexdigest()


def _batch(row: BatchRow, running: int = 0) -> Batch:
    return Batch(
        id=row.id,
        uscc=row.uscc,
        principal=row.principal,
        status=BatchStatus(row.status),
        total=row.total,
        done=row.done,
        failed=row.failed,
        options=row.options,
        created_at=row.created_at,
        started_at=row.started_at,
        finished_at=row.finished_at,
        running=running,
    )


_ITEM_COLUMNS = (
    BatchItemRow.position,
    BatchItemRow.name,
    BatchItemRow.status,
    BatchItemRow.input_sha256,
    BatchItemRow.input_size,
    BatchItemRow.attempts,
    BatchItemRow.archive_id,
    BatchItemRow.sha256,
    BatchItemRow.size,
    BatchItemRow.format,
    BatchItemRow.code,
    BatchItemRow.detail,
    BatchItemRow.notices,
    BatchItemRow.finished_at,
)


def _keys(keys: Sequence[tuple[str, int]]) -> ColumnElement[bool]:
    """The files ``keys`` (batch id, position): ``position IN (...)`` per batch."""
    positions: dict[str, list[int]] = {}
    for batch_id, position in keys:
        positions.setdefault(batch_id, []).append(position)
    return or_(
        *(
            and_(BatchItemRow.batch_id == b, BatchItemRow.position.in_(p))
            for b, p in positions.items()
        )
    )


def _item(row: Any) -> BatchItem:
    return BatchItem(
        position=row.position,
        name=row.name,
        status=ItemStatus(row.status),
        input_sha256=row.input_sha256,
        input_size=row.input_size,
        attempts=row.attempts,
        archive_id=row.archive_id,
        sha256=row.sha256,
        size=row.size,
        format=DocumentFormat(row.format) if row.format else None,
        code=row.code,
        detail=row.detail,
        notices=list(row.notices or []),
        finished_at=row.finished_at,
    )


@dataclass
class BatchStore:
    """The ``batches`` and ``batch_items`` tables.  Thread-safe: sessions are per call."""

    engine: Engine
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    on_complete: OnComplete | None = None

    def __post_init__(self) -> None:
        self._read = sessionmaker(self.engine, expire_on_commit=False)
        self._write = sessionmaker(self.engine.execution_options(**WRITE), expire_on_commit=False)

    # -- the request --------------------------------------------------------------------------

    def create(
        self,
        *,
        uscc: str,
        principal: str,
        options: dict[str, Any],
        items: Sequence[NewItem],
        idempotency_key: str | None = None,
    ) -> tuple[Batch, bool]:
        """Queue a batch; returns it and whether it is the answer to an earlier request with
        the same ``idempotency_key`` (then nothing new is queued).

        Raises :class:`IdempotencyConflict` if that key queued a different request.
        """
        if not items:
            raise ValueError("a batch holds at least one file")
        request_sha = _request_sha(options, items)
        if idempotency_key:
            earlier = self._by_key(principal, idempotency_key, request_sha)
            if earlier is not None:
                return earlier, True
        now = self.clock()
        batch_id = str(ULID.from_datetime(now))
        row = BatchRow(
            id=batch_id,
            uscc=uscc,
            principal=principal,
            status=BatchStatus.QUEUED.value,
            total=len(items),
            done=0,
            failed=0,
            options=options,
            created_at=now,
            started_at=None,
            finished_at=None,
            idempotency_key=idempotency_key,
            request_sha256=request_sha if idempotency_key else None,
        )
        try:
            with translate_errors(), self._write.begin() as session:
                session.add(row)
                session.flush()
                group: list[dict[str, Any]] = []
                held = 0
                for position, item in enumerate(items):
                    data = item.read()
                    if len(data) != item.size or hashlib.sha256(data).hexdigest() != item.sha256:
                        raise ValueError(f"the file {item.name!r} changed while it was queued")
                    group.append(_item_row(batch_id, position, item, data))
                    held += len(data)
                    if held >= _INSERT_BYTES or len(group) >= _PAGE:
                        session.execute(insert(BatchItemRow), group)
                        group, held = [], 0
                if group:
                    session.execute(insert(BatchItemRow), group)
        except IntegrityError:
            # the same key queued concurrently: answer with that batch
            earlier = (
                self._by_key(principal, idempotency_key, request_sha) if idempotency_key else None
            )
            if earlier is None:
                raise
            return earlier, True
        return _batch(row), False

    def _by_key(self, principal: str, key: str, request_sha: str) -> Batch | None:
        with translate_errors(), self._read.begin() as session:
            row = session.scalar(
                select(BatchRow).where(
                    BatchRow.principal == principal, BatchRow.idempotency_key == key
                )
            )
            if row is None:
                return None
            if row.request_sha256 != request_sha:
                raise IdempotencyConflict("this Idempotency-Key was used for a different request")
            return _batch(row, self._running(session, row.id))

    # -- reading ------------------------------------------------------------------------------

    def get(self, batch_id: str) -> Batch:
        with translate_errors(), self._read.begin() as session:
            row = session.get(BatchRow, batch_id) if len(batch_id) <= 26 else None
            if row is None:
                raise BatchNotFound(f"there is no batch {batch_id[:40]!r}")
            return _batch(row, self._running(session, batch_id))

    @staticmethod
    def _running(session: Session, batch_id: str) -> int:
        count = session.scalar(
            select(func.count())
            .select_from(BatchItemRow)
            .where(
                BatchItemRow.batch_id == batch_id,
                BatchItemRow.status == ItemStatus.RUNNING.value,
            )
        )
        return int(count or 0)

    def items(self, batch_id: str, *, status: ItemStatus | None = None) -> Iterator[BatchItem]:
        """The files of a batch in order (read a page at a time)."""
        after = -1
        while True:
            query = (
                select(*_ITEM_COLUMNS)
                .where(BatchItemRow.batch_id == batch_id, BatchItemRow.position > after)
                .order_by(BatchItemRow.position)
                .limit(_PAGE)
            )
            if status is not None:
                query = query.where(BatchItemRow.status == status.value)
            with translate_errors(), self._read.begin() as session:
                page = [_item(r) for r in session.execute(query)]
            yield from page
            if len(page) < _PAGE:
                return
            after = page[-1].position

    # -- the workers --------------------------------------------------------------------------

    @staticmethod
    def _queued(now: datetime) -> ColumnElement[bool]:
        item = BatchItemRow
        return and_(
            item.status == ItemStatus.QUEUED.value,
            or_(item.not_before.is_(None), item.not_before <= now),
        )

    @staticmethod
    def _expired(now: datetime) -> ColumnElement[bool]:
        return and_(BatchItemRow.status == ItemStatus.RUNNING.value, BatchItemRow.lease_until < now)

    def _claimable(self, now: datetime) -> ColumnElement[bool]:
        return or_(self._queued(now), self._expired(now))

    def _candidates(
        self, session: Session, now: datetime, limit: int, *, lock: bool
    ) -> list[tuple[str, int, int]]:
        """The first ``limit`` claimable files in batch order: (batch id, position, attempts).

        Queued files and files whose lease ran out are looked up apart, each along the
        ``(status, batch_id, position)`` index in its order, so that only the rows taken are
        read.  One query on both (an ``OR``) made SQLite read every queued row, and each
        row's upload with it (the lease columns come after it), then sort them: a claim cost
        as much as the whole queue, and a batch of n files n times that.  ``lock``: ``FOR
        UPDATE SKIP LOCKED`` (PostgreSQL; SQLite holds its write lock instead).
        """
        found: list[tuple[str, int, int]] = []
        for condition in (self._queued(now), self._expired(now)):
            query = (
                select(BatchItemRow.batch_id, BatchItemRow.position, BatchItemRow.attempts)
                .where(condition)
                .order_by(BatchItemRow.status, BatchItemRow.batch_id, BatchItemRow.position)
                .limit(limit)
            )
            if lock:
                query = query.with_for_update(skip_locked=True)
            found += [(b, p, a) for b, p, a in session.execute(query)]
        return sorted(found)[:limit]

    def claim(
        self,
        worker: str,
        *,
        lease: timedelta,
        max_attempts: int,
        limit: int = 1,
        look_first: bool = True,
    ) -> list[ClaimedItem]:
        """Up to ``limit`` files for ``worker`` to seal, held until ``now + lease``, taken in
        one transaction (a group of files costs the round trips of one).

        Queued files come first in batch order, with files whose lease ran out among them.
        A file claimed ``max_attempts`` times already is failed as ``processing_abandoned``
        instead.  Empty when there is nothing to do; ``look_first`` finds that out without
        taking the write lock (an idle worker's poll), a busy worker skips the look.

        Each file is taken by one worker only: on PostgreSQL the candidates are read ``FOR
        UPDATE SKIP LOCKED``, so concurrent claimers pass each other's rows by; on SQLite the
        transaction holds the write lock.  Either way the update takes only rows that are
        still claimable, and the files returned are those the update gave this worker.
        """
        now = self.clock()
        if look_first:
            with translate_errors(), self._read.begin() as session:
                if not self._candidates(session, now, 1, lock=False):
                    return []
        until = now + lease
        with translate_errors(), self._write.begin() as session:
            candidates = self._candidates(session, now, limit, lock=True)
            wanted: list[tuple[str, int]] = []
            for batch_id, position, attempts in candidates:
                if attempts < max_attempts:
                    wanted.append((batch_id, position))
                    continue
                self._settle(
                    session,
                    batch_id,
                    position,
                    None,
                    now,
                    failed=True,
                    values={
                        "code": ABANDONED,
                        "detail": f"given up after {attempts} attempts: the workers "
                        "sealing it stopped before they finished",
                    },
                )
            if not wanted:
                return []
            session.execute(
                update(BatchItemRow)
                .where(_keys(wanted), self._claimable(now))
                .values(
                    status=ItemStatus.RUNNING.value,
                    worker=worker,
                    lease_until=until,
                    not_before=None,
                    attempts=BatchItemRow.attempts + 1,
                )
                .execution_options(synchronize_session=False)
            )
            session.execute(
                update(BatchRow)
                .where(BatchRow.id.in_({b for b, _ in wanted}))
                .where(BatchRow.status == BatchStatus.QUEUED.value)
                .values(status=BatchStatus.RUNNING.value, started_at=now)
                .execution_options(synchronize_session=False)
            )
        # the files are this worker's now (its lease): their uploads are read after the
        # write lock is given back, not while every other writer waits for it
        with translate_errors(), self._read.begin() as session:
            found = session.execute(
                select(
                    BatchItemRow.batch_id,
                    BatchItemRow.position,
                    BatchItemRow.attempts,
                    BatchItemRow.name,
                    BatchItemRow.options,
                    BatchItemRow.input,
                    BatchRow.uscc,
                    BatchRow.principal,
                )
                .join(BatchRow, BatchRow.id == BatchItemRow.batch_id)
                .where(
                    _keys(wanted),
                    BatchItemRow.worker == worker,
                    BatchItemRow.status == ItemStatus.RUNNING.value,
                    BatchItemRow.lease_until == until,
                )
                .order_by(BatchItemRow.batch_id, BatchItemRow.position)
            ).all()
        claimed = [
            ClaimedItem(
                batch_id=row.batch_id,
                position=row.position,
                uscc=row.uscc,
                principal=row.principal,
                name=row.name,
                options=row.options,
                data=row.input or b"",
                attempts=row.attempts,
            )
            for row in found
        ]
        return claimed

    @staticmethod
    def _held(worker: str, keys: Sequence[tuple[str, int]]) -> ColumnElement[bool]:
        return and_(
            BatchItemRow.worker == worker,
            BatchItemRow.status == ItemStatus.RUNNING.value,
            _keys(keys),
        )

    def renew(self, worker: str, keys: Sequence[tuple[str, int]], lease: timedelta) -> int:
        """Extend the lease of the files ``worker`` holds among ``keys``; how many it holds."""
        if not keys:
            return 0
        with translate_errors(), self._write.begin() as session:
            result = session.execute(
                update(BatchItemRow)
                .where(self._held(worker, keys))
                .values(lease_until=self.clock() + lease)
            )
            return int(result.rowcount or 0)  # type: ignore[attr-defined]

    def release(self, worker: str, keys: Sequence[tuple[str, int]]) -> int:
        """Put files ``worker`` holds back in the queue, uncounted (a worker that stops)."""
        if not keys:
            return 0
        with translate_errors(), self._write.begin() as session:
            result = session.execute(
                update(BatchItemRow)
                .where(self._held(worker, keys))
                .values(
                    status=ItemStatus.QUEUED.value,
                    worker=None,
                    lease_until=None,
                    attempts=BatchItemRow.attempts - 1,
                )
            )
            return int(result.rowcount or 0)  # type: ignore[attr-defined]

    def retry_later(
        self, item: ClaimedItem, worker: str, at: datetime, *, code: str, detail: str
    ) -> bool:
        """Queue a file again, not before ``at`` (it met an outage); False if the lease
        was lost.  ``code`` and ``detail`` are kept as what its last attempt met."""
        with translate_errors(), self._write.begin() as session:
            result = session.execute(
                update(BatchItemRow)
                .where(self._held(worker, [item.key]))
                .values(
                    status=ItemStatus.QUEUED.value,
                    worker=None,
                    lease_until=None,
                    not_before=at,
                    code=code,
                    detail=detail[:2000],
                )
            )
            return bool(result.rowcount)  # type: ignore[attr-defined]

    def finish(
        self,
        item: ClaimedItem,
        worker: str,
        *,
        archive_id: str,
        sha256: str,
        size: int,
        format: DocumentFormat,
        notices: Sequence[tuple[str, str]] = (),
        session: Session | None = None,
    ) -> bool:
        """Record a sealed file; False if ``worker`` no longer held it (another worker has
        it, and will find the same archived document under the file's idempotency key).

        ``session``: the caller's transaction to record it in (the worker's is the one of
        the file's archive row, so that the two commit together); else one of its own."""
        values = {
            "archive_id": archive_id,
            "sha256": sha256,
            "size": size,
            "format": format.value,
            "notices": [{"code": c, "message": m} for c, m in notices],
            "code": None,
            "detail": None,
        }

        def settle(session: Session) -> bool:
            return self._settle(
                session,
                item.batch_id,
                item.position,
                worker,
                self.clock(),
                failed=False,
                values=values,
            )

        if session is not None:
            return settle(session)
        with translate_errors(), self._write.begin() as own:
            return settle(own)

    def fail(self, item: ClaimedItem, worker: str, *, code: str, detail: str) -> bool:
        """Record a file that was refused or failed; False if the lease was lost."""
        with translate_errors(), self._write.begin() as session:
            return self._settle(
                session,
                item.batch_id,
                item.position,
                worker,
                self.clock(),
                failed=True,
                values={"code": code[:64], "detail": detail[:2000]},
            )

    def _settle(
        self,
        session: Session,
        batch_id: str,
        position: int,
        worker: str | None,
        now: datetime,
        *,
        failed: bool,
        values: dict[str, Any],
    ) -> bool:
        conditions = [
            BatchItemRow.batch_id == batch_id,
            BatchItemRow.position == position,
            BatchItemRow.status.in_([ItemStatus.RUNNING.value, ItemStatus.QUEUED.value]),
        ]
        if worker is not None:
            conditions += [
                BatchItemRow.worker == worker,
                BatchItemRow.status == ItemStatus.RUNNING.value,
            ]
        result = session.execute(
            update(BatchItemRow)
            .where(*conditions)
            .values(
                status=(ItemStatus.FAILED if failed else ItemStatus.DONE).value,
                input=None,  # the upload is not kept once the file is finished
                worker=None,
                lease_until=None,
                not_before=None,
                finished_at=now,
                **values,
            )
            .execution_options(synchronize_session=False)
        )
        if result.rowcount != 1:  # type: ignore[attr-defined]
            return False
        counter = BatchRow.failed if failed else BatchRow.done
        # the row lock of this update orders the batch's finishers: each sees the counts
        # of those before it, so exactly one of them finishes the batch
        counts = session.execute(
            update(BatchRow)
            .where(BatchRow.id == batch_id)
            .values({counter: counter + 1})
            .returning(BatchRow.done, BatchRow.failed, BatchRow.total, BatchRow.status)
            .execution_options(synchronize_session=False)
        ).one()
        if counts.done + counts.failed == counts.total and counts.status != BatchStatus.DONE.value:
            row = session.execute(
                select(BatchRow)
                .where(BatchRow.id == batch_id)
                .execution_options(populate_existing=True)
            ).scalar_one()
            row.status = BatchStatus.DONE.value
            row.finished_at = now
            row.started_at = row.started_at or now
            session.flush()
            if self.on_complete is not None:
                self.on_complete(session, _batch(row))
        return True


# -- the result ZIP ---------------------------------------------------------------------------


def _zip_name(item: BatchItem, taken: set[str]) -> str:
    """The sealed file's name in the result ZIP: the uploaded name with the sealed format's
    extension, made unique (``-<position>`` before the extension) if two files meet."""
    assert item.format is not None
    ext = "." + EXTENSIONS[item.format]
    name = item.name
    lower = name.lower()
    if not lower.endswith(ext):
        name = (name[: -len(".pdf")] if lower.endswith((".pdf", ".ofd")) else name) + ext
    if name.casefold() in taken:
        name = f"{name[: -len(ext)]}-{item.position}{ext}"
    taken.add(name.casefold())
    return name


def _with_records(
    archive: Archive, items: Iterator[BatchItem]
) -> Iterator[tuple[BatchItem, ArchiveRecord | None]]:
    """Each item with the archive record of its sealed file (None if it has none), the
    records read a page of items at a time."""
    page: list[BatchItem] = []
    for item in itertools.chain(items, [None]):
        if item is not None:
            page.append(item)
            if len(page) < _PAGE:
                continue
        ids = [i.archive_id for i in page if i.status is ItemStatus.DONE and i.archive_id]
        records = archive.records(ids)
        for each in page:
            if each.status is not ItemStatus.DONE or each.archive_id is None:
                yield each, None
            else:  # a record gone since (it cannot be): archive_not_found, as one by one
                yield each, records.get(each.archive_id) or archive.record(each.archive_id)
        page = []


def result_zip(
    store: BatchStore, archive: Archive, batch_id: str, *, now: datetime | None = None
) -> Iterator[bytes]:
    """The sealed files of a batch (read from the archive, SHA-256 checked as they stream)
    and ``results.json`` (the batch and every file's result), as ZIP byte chunks.

    Blocking I/O: iterate it in a worker thread.  Each file is read in 64 KiB pieces and the
    results are spooled to a temporary file, so memory stays constant whatever the batch.
    The sealed files are stored (:data:`STORED`), ``results.json`` is deflated.
    """
    batch = store.get(batch_id)
    started = (now or datetime.now(UTC)).astimezone(UTC)
    sink = ZipSink()
    taken = {"results.json"}
    with tempfile.SpooledTemporaryFile(max_size=1 << 20) as spool:
        with zipfile.ZipFile(sink, "w", allowZip64=True) as zf:
            first = True
            for item, record in _with_records(archive, store.items(batch_id)):
                entry = item.to_json()
                entry["path"] = None
                if record is not None and record.status is ArchiveStatus.OK:
                    entry["path"] = _zip_name(item, taken)
                    info = zip_entry(entry["path"], record.created_at, record.size, STORED)
                    with archive.open(record) as reader, zf.open(info, "w") as out:
                        for chunk in reader.chunks(CHUNK_SIZE):
                            out.write(chunk)
                            yield from sink.take(FLUSH_AT)
                spool.write(b"" if first else b",\n")
                spool.write(json.dumps(entry, ensure_ascii=False).encode())
                first = False
            head = {"format": RESULT_FORMAT, "created_at": _iso(started), "batch": batch.to_json()}
            opening = (
                json.dumps(head, ensure_ascii=False, indent=2)[:-2].encode() + b',\n  "files": [\n'
            )
            closing = b"\n  ]\n}\n"
            size = len(opening) + spool.tell() + len(closing)
            spool.seek(0)
            with zf.open(zip_entry("results.json", started, size, 6), "w") as out:
                out.write(opening)
                while block := spool.read(CHUNK_SIZE):
                    out.write(block)
                    yield from sink.take(FLUSH_AT)
                out.write(closing)
        yield from sink.take()
