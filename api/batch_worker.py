"""The batch workers of one server process: threads that seal the queued files of batches.

Every server process runs ``ESEAL_BATCH_WORKERS`` of them (started and stopped by the app's
lifespan); the queue is in the database (:mod:`storage.batches`), so the processes of every
host share it and a batch outlives the process that accepted it.

Each thread claims one file at a time under a lease and seals it through the sign flow
exactly as ``POST /v1/sign`` would for the API key that queued it: the same checks, the same
time limits, the archive row and its audit entries committed together.  The file's own
``Idempotency-Key`` (:func:`storage.batches.item_key`) makes a second attempt after a crash
answer with the document the first one archived, never a second one.  A heartbeat renews the
leases of the files in hand; when the process dies they run out and another worker takes the
files.

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
from collections.abc import Callable
from datetime import timedelta
from typing import TYPE_CHECKING

from pydantic import ValidationError
from sqlalchemy.orm import Session

from keystore.errors import ErrorKind, EsealError
from storage.apikeys import ApiKeyStore
from storage.batches import Batch, BatchStore, ClaimedItem
from storage.outbox import emit

from .auth import Principal, Role
from .errors import InvalidRequest, Unauthorized
from .flows import SealedDocument, SignFlow
from .models import SignOptions

if TYPE_CHECKING:
    from .container import Container

__all__ = ["BatchWorker", "batch_store", "start_batch_worker"]

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
        poll_seconds: float = 1.0,
        max_attempts: int = 5,
        on_sealed: Callable[[SealedDocument], None] | None = None,
    ) -> None:
        self.store = store
        self._flow = flow
        self._api_keys = api_keys
        self._threads = threads
        self._lease = timedelta(seconds=lease_seconds)
        self._poll = poll_seconds
        self._max_attempts = max_attempts
        self._on_sealed = on_sealed
        #: this worker's name in the queue's ``worker`` column
        self.id = f"{socket.gethostname()[:40]}:{os.getpid()}:{secrets.token_hex(3)}"
        self._inflight: dict[tuple[str, int], ClaimedItem] = {}
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._wakeup = threading.Condition()
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
        quiet = False  # an outage is logged once, not at every poll
        while not self._stopping.is_set():
            try:
                busy = self.run_once()
                quiet = False
            except EsealError as exc:
                if not quiet:
                    log.warning("batch worker cannot claim files: %s", exc.code)
                quiet, busy = True, False
            except Exception:
                log.exception("batch worker: claiming failed")
                busy = False
            if not busy:
                with self._wakeup:
                    if not self._stopping.is_set():
                        self._wakeup.wait(self._poll)

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
        """Claim one file and seal it; False if none was waiting."""
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

    def _process(self, item: ClaimedItem) -> None:
        try:
            done = self._seal(item)
        except EsealError as exc:
            self._failed(item, exc)
            return
        except Exception:
            log.exception("batch file %s/%s failed", item.batch_id, item.position)
            self.store.fail(
                item,
                self.id,
                code="internal_error",
                detail="the server failed on this file; its logs say why",
            )
            return
        try:
            assert done.archive_id is not None  # the flow archives before it returns
            recorded = self.store.finish(
                item,
                self.id,
                archive_id=done.archive_id,
                sha256=done.sha256,
                size=done.size,
                format=done.format,
                notices=done.notices,
            )
        except EsealError as exc:  # archived; the next attempt finds it by its key
            self._failed(item, exc)
            return
        finally:
            done.close()
        if recorded and not done.replayed and self._on_sealed is not None:
            self._on_sealed(done)

    def _seal(self, item: ClaimedItem) -> SealedDocument:
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
        return self._flow.sign(principal, item.data, options, item.idempotency_key, item.name)

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
    )
    worker.start()
    return worker
