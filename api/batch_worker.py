"""The batch workers of one server process: threads that seal the queued files of batches.

Every server process runs ``ESEAL_BATCH_WORKERS`` of them (started and stopped by the app's
lifespan); the queue is in the database (:mod:`storage.batches`), so the processes of every
host share it and a batch outlives the process that accepted it.

The threads of a process share a small local queue: when it runs low (no more files in it than
threads), one of them claims the next group of files (four per thread) under a lease in one
transaction while the others seal what is left, so that a file costs a
fraction of a claim's round trips and every process works the queue at once.  Each file is
sealed through the sign flow exactly as ``POST /v1/sign`` would for the API key that queued
it: the same checks, the same time limits, the archive row and its audit entries committed
together, and the file's result recorded in that same transaction
(:meth:`storage.batches.BatchStore.finish` with the flow's session).  The file's own
``Idempotency-Key`` (:func:`storage.batches.item_key`) makes a second attempt after a crash
answer with the document the first one archived, never a second one.  A heartbeat renews the
leases of the files in hand (those waiting in the local queue too); when the process dies
they run out and another worker takes the files; a stopping worker puts back those it has
not begun.

What happens to a file that fails: an outage (``ErrorKind.UNAVAILABLE``: database, archive,
time-stamp service) is retried with a growing pause, up to ``ESEAL_BATCH_MAX_ATTEMPTS``
attempts; anything else (not a PDF, a keyword not found, an inactive seal, a revoked API
key) fails that file at once with the code a single request would get, and the batch goes on.
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
import threading
import time
from collections import deque
from collections.abc import Callable
from datetime import timedelta
from typing import TYPE_CHECKING

from pydantic import ValidationError
from sqlalchemy.orm import Session

from keystore.errors import ErrorKind, EsealError
from storage.apikeys import ApiKeyStore
from storage.archive.index import ArchiveIndex
from storage.batches import Batch, BatchStore, ClaimedItem
from storage.outbox import emit

from .auth import Principal, Role
from .errors import InvalidRequest, Unauthorized
from .flows import Archived, SealedDocument, SignFlow
from .models import SignOptions

if TYPE_CHECKING:
    from .container import Container

__all__ = ["BatchWorker", "batch_store", "start_batch_worker"]


class ArchiveRowsNotStored(EsealError):
    """A sealed file's archive row was not committed with its group (retried)."""

    code = "archive_unavailable"
    kind = ErrorKind.UNAVAILABLE


log = logging.getLogger("eseal.batches")

#: the longest pause before an outage is retried
MAX_RETRY_DELAY_S = 60.0


def batch_store(c: Container) -> BatchStore:
    """The batch queue of the container's database; a finished batch's ``batch.completed``
    webhook event is written in the transaction that finishes its last file."""

    def completed(session: Session, batch: Batch) -> None:
        emit(
            session,
            "batch.completed",
            batch.uscc,
            {
                "batch_id": batch.id,
                "total": batch.total,
                "done": batch.done,
                "failed": batch.failed,
                "finished_at": batch.finished_at.isoformat() if batch.finished_at else None,
            },
        )

    return BatchStore(c.engine, clock=c.archive.clock, on_complete=completed)


class BatchWorker:
    """``threads`` threads that seal batch files, and a heartbeat that keeps their leases."""

    def __init__(
        self,
        store: BatchStore,
        flow: SignFlow,
        api_keys: ApiKeyStore,
        *,
        threads: int = 1,
        lease_seconds: float = 60.0,
        poll_seconds: float = 0.25,
        max_attempts: int = 5,
        on_sealed: Callable[[SealedDocument], None] | None = None,
        group: int | None = None,
        index: ArchiveIndex | None = None,
        commit_group: int = 4,
    ) -> None:
        """``group``: files claimed at once (default: four times ``threads``).  ``index``:
        the archive index the flow writes to; given, a thread seals up to ``commit_group``
        waiting files and commits their rows together (:meth:`process_group`)."""
        self.store = store
        self._flow = flow
        self._api_keys = api_keys
        self._threads = threads
        self._lease = timedelta(seconds=lease_seconds)
        self._poll = poll_seconds
        self._max_attempts = max_attempts
        self._on_sealed = on_sealed
        self._group = max(1, group if group is not None else 4 * threads)
        self._index = index
        self._commit_group = max(1, commit_group)
        #: this worker's name in the queue's ``worker`` column
        self.id = f"{socket.gethostname()[:40]}:{os.getpid()}:{secrets.token_hex(3)}"
        #: the files this worker holds: claimed, waiting in ``_ready`` or being sealed
        self._inflight: dict[tuple[str, int], ClaimedItem] = {}
        #: claimed files no thread has begun, in claim order
        self._ready: deque[ClaimedItem] = deque()
        #: a thread is claiming for the others
        self._claiming = False
        #: the last claim filled its group: the next one skips the look for work
        self._busy = False
        #: the claims meet an outage (logged once, not at every poll)
        self._quiet = False
        #: when an idle worker looks for files again (``time.monotonic()``)
        self._next_look = 0.0
        self._lock = threading.Lock()
        #: guards ``_ready`` and ``_claiming`` (with ``_lock``); idle threads wait on it
        self._wakeup = threading.Condition(self._lock)
        self._stopping = threading.Event()
        self._running: list[threading.Thread] = []

    # -- running ------------------------------------------------------------------------------

    def start(self) -> None:
        for n in range(self._threads):
            t = threading.Thread(target=self._loop, name=f"eseal-batch-{n}", daemon=True)
            t.start()
            self._running.append(t)
        beat = threading.Thread(target=self._heartbeat, name="eseal-batch-lease", daemon=True)
        beat.start()
        self._running.append(beat)

    def wake(self) -> None:
        """Files were queued: idle threads look now instead of at their next poll."""
        with self._wakeup:
            self._next_look = 0.0
            self._wakeup.notify_all()

    def stop(self, timeout: float | None = None) -> None:
        """Take no more files; wait up to ``timeout`` seconds (default: the lease, at most
        10) for the files in hand, then put back in the queue those still unfinished."""
        self._stopping.set()
        self.wake()
        wait = min(self._lease.total_seconds(), 10.0) if timeout is None else timeout
        for t in self._running:
            t.join(wait)
        with self._lock:
            left = list(self._inflight)
        if left:
            try:
                self.store.release(self.id, left)
            except EsealError as exc:  # their leases run out instead
                log.warning("batch files not released (%s); their leases will run out", exc.code)

    def _loop(self) -> None:
        while not self._stopping.is_set():
            item = self._next()
            if item is None:
                continue
            if self._index is None:
                self.process(item)
                continue
            with self._lock:  # up to a group's worth of the files waiting, in claim order
                items = [item]
                while self._ready and len(items) < self._commit_group:
                    items.append(self._ready.popleft())
            self.process_group(items)

    def _next(self) -> ClaimedItem | None:
        """The next file for this thread: from the local queue, or claimed (with the rest of
        its group) for every thread; None after a poll's wait when there is none."""
        with self._wakeup:
            while True:
                if self._stopping.is_set():
                    return None
                wait = self._next_look - time.monotonic()
                # the next group is claimed while the last files of this one are sealed (a
                # busy queue), so that no thread waits for a claim between groups
                low = len(self._ready) <= self._threads and (self._busy or wait <= 0)
                if low and not self._claiming:
                    break
                if self._ready:
                    return self._ready.popleft()
                if not self._claiming and wait <= 0:
                    break
                # another thread is claiming (its group comes), or the last look found nothing
                self._wakeup.wait(self._poll if self._claiming else wait)
            self._claiming = True
            look_first = not self._busy
        claimed: list[ClaimedItem] = []
        try:
            claimed = self.store.claim(
                self.id,
                lease=self._lease,
                max_attempts=self._max_attempts,
                limit=self._group,
                look_first=look_first,
            )
            self._quiet = False
        except EsealError as exc:
            if not self._quiet:
                log.warning("batch worker cannot claim files: %s", exc.code)
            self._quiet = True
        except Exception:
            log.exception("batch worker: claiming failed")
        with self._wakeup:
            self._claiming = False
            self._busy = len(claimed) == self._group
            if not claimed:  # nothing to do (or an outage): look again after a poll
                self._next_look = time.monotonic() + self._poll
            for item in claimed:
                self._inflight[item.key] = item
            self._ready.extend(claimed)
            self._wakeup.notify_all()
            if self._ready and not self._stopping.is_set():  # else stop() puts them back
                return self._ready.popleft()
        return None

    def _heartbeat(self) -> None:
        while not self._stopping.wait(self._lease.total_seconds() / 3):
            with self._lock:
                keys = list(self._inflight)
            if not keys:
                continue
            try:
                self.store.renew(self.id, keys, self._lease)
            except Exception as exc:  # the leases may run out: the files are then redone
                log.warning("batch leases not renewed: %s", getattr(exc, "code", type(exc)))

    def run_once(self) -> bool:
        """Claim one file and seal it; False if none was waiting (the threads' work, one
        file at a time in the caller's thread)."""
        if self._stopping.is_set():
            return False
        claimed = self.store.claim(
            self.id, lease=self._lease, max_attempts=self._max_attempts, limit=1
        )
        for item in claimed:
            self.process(item)
        return bool(claimed)

    # -- one file -----------------------------------------------------------------------------

    def process(self, item: ClaimedItem) -> None:
        """Seal a claimed file and record the outcome (never raises)."""
        with self._lock:
            self._inflight[item.key] = item
        try:
            self._process(item)
        except Exception:  # a failure of the queue itself: the lease runs out, redone later
            log.exception("batch file %s/%s not recorded", item.batch_id, item.position)
        finally:
            with self._lock:
                self._inflight.pop(item.key, None)

    def process_group(self, items: list[ClaimedItem]) -> None:
        """Seal claimed files one after the other, then commit their archive rows (with
        their audit entries, webhook events and results) in one transaction: the group
        commit of :meth:`storage.archive.index.ArchiveIndex.grouped`.  A file counts as
        sealed only once its row is committed; a file whose row could not be stored is
        retried as after an outage (its archived file, if any, is an orphan that ``eseal
        archive check`` reports).  Never raises."""
        assert self._index is not None
        with self._lock:
            for item in items:
                self._inflight[item.key] = item
        try:
            sealed: list[tuple[ClaimedItem, SealedDocument | None, list[bool], int]] = []
            with self._index.grouped() as group:
                for item in items:
                    recorded: list[bool] = []
                    before = len(group.rows)
                    done = self._seal_or_fail(item, recorded)
                    # one row per sealed file, none for a replay or a failure
                    sealed.append((item, done, recorded, len(group.rows) - before))
            stored = self._index.commit_group(group)
            at = 0
            for item, done, recorded, rows in sealed:
                ok = all(stored[at : at + rows])
                at += rows
                if done is None:
                    continue
                if not ok:
                    done.close()
                    self._failed(
                        item,
                        ArchiveRowsNotStored(
                            "the sealed file's archive row was not stored; it is sealed again"
                        ),
                    )
                    continue
                self._after(item, done, recorded[-1:] if rows else [])
        except Exception:  # a failure of the queue itself: the leases run out, redone later
            log.exception("a group of %d batch files not recorded", len(items))
        finally:
            with self._lock:
                for item in items:
                    self._inflight.pop(item.key, None)

    def _seal_or_fail(self, item: ClaimedItem, recorded: list[bool]) -> SealedDocument | None:
        """The sealed document, or None once the file's failure is recorded."""

        def with_row(session: Session, archived: Archived) -> None:
            recorded.append(self._record(item, archived, session))

        try:
            return self._seal(item, with_row)
        except EsealError as exc:
            self._failed(item, exc)
        except Exception:
            log.exception("batch file %s/%s failed", item.batch_id, item.position)
            self.store.fail(
                item,
                self.id,
                code="internal_error",
                detail="the server failed on this file; its logs say why",
            )
        return None

    def _process(self, item: ClaimedItem) -> None:
        #: the result as recorded with the archive row (nothing when the flow replayed)
        recorded: list[bool] = []
        done = self._seal_or_fail(item, recorded)
        if done is not None:
            self._after(item, done, recorded)

    def _after(self, item: ClaimedItem, done: SealedDocument, recorded: list[bool]) -> None:
        """Record a file the flow answered for without a row of its own, count it."""
        try:
            # a replay (the document an earlier or a concurrent attempt archived) made no row
            # of its own, or the row it tried was rolled back: recorded on its own
            if done.replayed or not recorded:
                assert done.archive_id is not None  # the flow archives before it returns
                archived = Archived(done.archive_id, done.sha256, done.size, done.format)
                recorded[:] = [self._record(item, archived, None)]
        except EsealError as exc:  # archived; the next attempt finds it by its key
            self._failed(item, exc)
            return
        finally:
            done.close()
        if recorded[0] and not done.replayed and self._on_sealed is not None:
            self._on_sealed(done)

    def _record(self, item: ClaimedItem, archived: Archived, session: Session | None) -> bool:
        return self.store.finish(
            item,
            self.id,
            archive_id=archived.archive_id,
            sha256=archived.sha256,
            size=archived.size,
            format=archived.format,
            notices=archived.notices,
            session=session,
        )

    def _seal(
        self, item: ClaimedItem, with_row: Callable[[Session, Archived], None]
    ) -> SealedDocument:
        key = self._api_keys.get(item.principal)
        if key is None or key.uscc != item.uscc:
            raise Unauthorized("the API key that queued this batch has been revoked")
        try:
            options = SignOptions.model_validate(item.options)
        except ValidationError:  # checked when queued; a later version may read them otherwise
            raise InvalidRequest(
                "the file's options are no longer valid", code="invalid_options"
            ) from None
        principal = Principal(item.principal, Role.ENTERPRISE, item.uscc, key.name)
        return self._flow.sign(
            principal, item.data, options, item.idempotency_key, item.name, with_row=with_row
        )

    def _failed(self, item: ClaimedItem, exc: EsealError) -> None:
        if exc.kind is ErrorKind.UNAVAILABLE and item.attempts < self._max_attempts:
            delay = min(2.0**item.attempts, MAX_RETRY_DELAY_S)
            at = self.store.clock() + timedelta(seconds=delay)
            log.warning(
                "batch file %s/%s: %s; retried in %.0f s",
                item.batch_id,
                item.position,
                exc.code,
                delay,
            )
            self.store.retry_later(item, self.id, at, code=exc.code, detail=exc.detail)
            return
        self.store.fail(item, self.id, code=exc.code, detail=exc.detail)


def start_batch_worker(c: Container) -> BatchWorker | None:
    """The process's batch worker, started; None when ``ESEAL_BATCH_WORKERS`` is 0."""
    s = c.settings
    if s.batch_workers == 0:
        return None

    def count(done: SealedDocument) -> None:
        for kind in done.kinds:
            c.metrics.seals.labels(kind).inc()

    worker = BatchWorker(
        batch_store(c),
        c.sign_flow,
        c.api_keys,
        threads=s.batch_workers,
        lease_seconds=s.batch_lease_seconds,
        poll_seconds=s.batch_poll_seconds,
        max_attempts=s.batch_max_attempts,
        on_sealed=count,
        index=c.archive.index,
    )
    worker.start()
    return worker
