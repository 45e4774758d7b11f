"""A hard time limit for document work (parsing, sealing, verifying) in worker threads.

A pathological PDF can keep pyHanko's pure-Python reader busy for minutes.  Such work runs
in a worker thread, which Python cannot kill; what it can do is raise an exception in that
thread at its next bytecode (``PyThreadState_SetAsyncExc``).  A single watchdog thread checks
each job's own CPU time (``pthread_getcpuclockid``: the time the job's thread really ran, so
a busy server does not cut a normal document) and its wall time, and raises
:class:`_Cut` in a job that passes either limit.  The job's thread unwinds through every
``finally`` and ``with`` on the way, like ``KeyboardInterrupt``, and the caller gets
:class:`DocumentTooComplex` (422, CPU limit) or :class:`ProcessingTimeout` (503, wall limit).

What it cannot stop: one long call into C (zlib inflating one huge stream, one RSA
operation), which ends on its own and is bounded by the upload limit.  Cut only the
document work, never a database transaction or an archive write: :meth:`Deadline.run` is
used around the signer and the verifier alone.
"""

from __future__ import annotations

import ctypes
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

from keystore.errors import ErrorKind, EsealError

__all__ = ["Deadline", "DocumentTooComplex", "ProcessingTimeout"]

log = logging.getLogger("eseal.deadline")

T = TypeVar("T")

# no argtypes on purpose: ``None`` must pass as a NULL pointer (which clears a pending
# exception), not as Python's None object
_set_async_exc = ctypes.pythonapi.PyThreadState_SetAsyncExc
_set_async_exc.restype = ctypes.c_int


class DocumentTooComplex(EsealError):
    code = "processing_time_exceeded"
    kind = ErrorKind.INVALID
    title = "Document takes too long to process"


class ProcessingTimeout(EsealError):
    code = "processing_timeout"
    kind = ErrorKind.UNAVAILABLE
    title = "Processing took too long"


class _Cut(BaseException):
    """Raised asynchronously into a job's thread; a BaseException so that the ``except
    Exception`` blocks of the libraries on the way do not swallow it."""


def _raise_in(thread_id: int, exc: type[BaseException] | None) -> None:
    _set_async_exc(ctypes.c_ulong(thread_id), ctypes.py_object(exc) if exc else None)


def _thread_cpu(clock: int | None) -> float:
    if clock is None:
        return 0.0
    try:
        return time.clock_gettime(clock)
    except OSError:  # the thread is gone
        return 0.0


@dataclass(eq=False)
class _Job:
    thread_id: int
    clock: int | None
    cpu_start: float
    wall_start: float
    lock: threading.Lock = field(default_factory=threading.Lock)
    done: bool = False
    #: "cpu" or "wall" once the watchdog has cut the job
    cut: str | None = None

    def finish(self) -> str | None:
        """Mark the job done; drop an exception that was raised but not yet delivered."""
        with self.lock:
            if not self.done:
                self.done = True
                if self.cut is not None:
                    _raise_in(self.thread_id, None)
            return self.cut


class Deadline:
    """Runs document work under a CPU-time and a wall-time limit (seconds)."""

    def __init__(self, cpu_seconds: float, wall_seconds: float, *, tick: float = 0.05) -> None:
        self.cpu_seconds = cpu_seconds
        self.wall_seconds = wall_seconds
        self._tick = tick
        self._jobs: set[_Job] = set()
        self._lock = threading.Lock()
        self._watchdog: threading.Thread | None = None
        #: jobs cut so far (for metrics and tests)
        self.cuts = 0

    def run(self, fn: Callable[[], T]) -> T:
        """Call ``fn()`` in this thread under the limits; raise our error if it is cut."""
        ident = threading.get_ident()
        try:
            clock: int | None = time.pthread_getcpuclockid(ident)
        except (AttributeError, OSError):  # no per-thread clock: wall time only
            clock = None
        job = _Job(ident, clock, _thread_cpu(clock), time.monotonic())
        self._add(job)
        try:
            try:
                result = fn()
            finally:
                cut = job.finish()
        except _Cut:
            cut = job.finish() or "cpu"
        finally:
            with self._lock:
                self._jobs.discard(job)
        if cut is not None:
            with self._lock:
                self.cuts += 1
            raise self._error(cut)
        return result

    def _error(self, cut: str) -> EsealError:
        if cut == "wall":
            return ProcessingTimeout(
                f"the document was not processed within {self.wall_seconds:g} s; "
                "try again later")
        return DocumentTooComplex(
            f"processing the document needed more than {self.cpu_seconds:g} s of CPU time; "
            "it was stopped (is the PDF damaged or built to be slow?)")

    def _add(self, job: _Job) -> None:
        with self._lock:
            self._jobs.add(job)
            if self._watchdog is None or not self._watchdog.is_alive():
                self._watchdog = threading.Thread(target=self._watch, name="eseal-deadline",
                                                  daemon=True)
                self._watchdog.start()

    def _watch(self) -> None:
        while True:
            time.sleep(self._tick)
            with self._lock:
                jobs = list(self._jobs)
            now = time.monotonic()
            for job in jobs:
                reason = None
                if now - job.wall_start > self.wall_seconds:
                    reason = "wall"
                elif _thread_cpu(job.clock) - job.cpu_start > self.cpu_seconds:
                    reason = "cpu"
                if reason is None:
                    continue
                with job.lock:
                    if job.done or job.cut is not None:
                        continue
                    job.cut = reason
                    _raise_in(job.thread_id, _Cut)
                log.warning("document work cut after the %s limit", reason)
