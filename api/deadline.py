"""A hard time limit for document work (parsing, sealing, verifying) in worker threads.

A pathological PDF can keep pyHanko's pure-Python reader busy for minutes.  Such work runs
in a worker thread, which Python cannot kill; what it can do is raise an exception in that
thread at its next bytecode (``PyThreadState_SetAsyncExc``).  A single watchdog thread checks
each job's own CPU time (``pthread_getcpuclockid``: the time the job's thread really ran, so
a busy server does not cut a normal document) and its wall time, and raises
:class:`_Cut` in a job that passes either limit.  The job's thread unwinds through every
``finally`` and ``with`` on the way, like ``KeyboardInterrupt``, and the caller gets
:class:`DocumentTooComplex` (422, CPU limit) or :class:`ProcessingTimeout` (503, wall limit).

Python may deliver the exception where it is dropped: inside a weakref callback or a
``__del__`` ("Exception ignored in ..."), or in a library's ``except BaseException``.  So
a cut job is not trusted to stop: while it runs on, the watchdog raises the cut again each
time the job's thread has run another tick of CPU time (not sooner, so that the unwinding
of a cut that did land is not itself interrupted), every tick once the wall limit has
passed, and at the latest every :data:`REARM_TICKS` ticks of wall time.

No cut reaches code after :meth:`Deadline.run`: the watchdog raises only under the job's
lock and only while the job is not done; the job marks itself done under that lock with no
Python call between the end of the work and the mark, so at most one raise can still be
pending afterwards, and :meth:`Deadline.run` catches or clears it before it returns.

What it cannot stop: one long call into C (zlib inflating one huge stream, one RSA
operation), which ends on its own and is bounded by the upload limit.  Cut only the
document work, never a database transaction or an archive write: :meth:`Deadline.run` is
used around the signer and the verifier alone.
"""

from __future__ import annotations

import ctypes
import logging
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from keystore.errors import ErrorKind, EsealError

__all__ = ["Deadline", "DocumentTooComplex", "ProcessingTimeout"]

log = logging.getLogger("eseal.deadline")

T = TypeVar("T")

#: a cut job that has not stopped is cut again after at most this many ticks of wall time
REARM_TICKS = 10

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


_previous_hook = sys.unraisablehook


def _quiet_cuts(unraisable: Any) -> None:
    """A cut that Python dropped (in a weakref callback or ``__del__``) is expected: the
    watchdog raises it again.  Log one debug line instead of a traceback on stderr; every
    other unraisable exception goes to the hook that was there before."""
    if isinstance(unraisable.exc_value, _Cut):
        log.debug("a time-limit cut was dropped in %r; it is raised again", unraisable.object)
        return
    _previous_hook(unraisable)


def _install_quiet_cuts() -> None:
    if sys.unraisablehook is not _quiet_cuts:
        global _previous_hook
        _previous_hook = sys.unraisablehook
        sys.unraisablehook = _quiet_cuts


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
    #: the watchdog raises into the job only while holding this lock and ``not done``
    lock: threading.Lock = field(default_factory=threading.Lock)
    done: bool = False
    #: "cpu" or "wall" once the watchdog has cut the job
    cut: str | None = None
    #: the job's CPU time and the wall clock at the last raise
    raised_cpu: float = 0.0
    raised_wall: float = 0.0


class Deadline:
    """Runs document work under a CPU-time and a wall-time limit (seconds)."""

    def __init__(self, cpu_seconds: float, wall_seconds: float, *, tick: float = 0.05) -> None:
        self.cpu_seconds = cpu_seconds
        self.wall_seconds = wall_seconds
        self.tick = tick
        self._jobs: set[_Job] = set()
        self._lock = threading.Lock()
        self._watchdog: threading.Thread | None = None
        #: jobs cut so far (for metrics and tests)
        self.cuts = 0
        #: times a cut was raised again into a job that had not stopped
        self.rearms = 0
        _install_quiet_cuts()

    def run(self, fn: Callable[[], T]) -> T:
        """Call ``fn()`` in this thread under the limits; raise our error if it is cut."""
        ident = threading.get_ident()
        try:
            clock: int | None = time.pthread_getcpuclockid(ident)
        except (AttributeError, OSError):  # no per-thread clock: wall time only
            clock = None
        job = _Job(ident, clock, _thread_cpu(clock), time.monotonic())
        self._add(job)
        failure: BaseException | None = None
        try:
            try:
                try:
                    result = fn()
                finally:
                    # nothing between the end of fn() and here can take a raised cut
                    # (no call, no loop); from the mark on, the watchdog raises no more
                    with job.lock:
                        job.done = True
            except _Cut:
                if not job.done:  # a cut landed before the mark (it cannot in CPython 3.11)
                    try:
                        with job.lock:
                            job.done = True
                    except _Cut:
                        pass
            except BaseException as exc:
                failure = exc  # fn's own error, unless the job was cut (checked below)
            # at most one raise can still be pending: take it here rather than later (not
            # contextlib.suppress: a cut could land in its __enter__, outside its protection)
            try:  # noqa: SIM105
                _raise_in(ident, None)
            except _Cut:
                pass
        finally:
            with self._lock:
                self._jobs.discard(job)
        if job.cut is not None:
            with self._lock:
                self.cuts += 1
            raise self._error(job.cut) from failure
        if failure is not None:
            raise failure
        return result

    def _error(self, cut: str) -> EsealError:
        if cut == "wall":
            return ProcessingTimeout(
                f"the document was not processed within {self.wall_seconds:g} s; try again later"
            )
        return DocumentTooComplex(
            f"processing the document needed more than {self.cpu_seconds:g} s of CPU time; "
            "it was stopped (is the PDF damaged or built to be slow?)"
        )

    def _add(self, job: _Job) -> None:
        with self._lock:
            self._jobs.add(job)
            if self._watchdog is None or not self._watchdog.is_alive():
                self._watchdog = threading.Thread(
                    target=self._watch, name="eseal-deadline", daemon=True
                )
                self._watchdog.start()

    def _watch(self) -> None:
        while True:
            time.sleep(self.tick)
            with self._lock:
                jobs = list(self._jobs)
            for job in jobs:
                self._check(job)

    def _check(self, job: _Job) -> None:
        now = time.monotonic()
        cpu = _thread_cpu(job.clock) - job.cpu_start
        over_wall = now - job.wall_start > self.wall_seconds
        with job.lock:
            if job.done:
                return
            first = job.cut is None
            if first:
                if over_wall:
                    job.cut = "wall"
                elif cpu > self.cpu_seconds:
                    job.cut = "cpu"
                else:
                    return
            else:
                # the cut was dropped, or is still on its way (a long call into C), or the
                # job is unwinding: raise again only once it clearly runs on
                since = now - job.raised_wall
                if not (
                    cpu - job.raised_cpu >= self.tick
                    or since >= REARM_TICKS * self.tick
                    or (over_wall and since >= self.tick)
                ):
                    return
                self.rearms += 1
            job.raised_cpu, job.raised_wall = cpu, now
            _raise_in(job.thread_id, _Cut)
            reason = job.cut
        if first:
            log.warning("document work cut after the %s limit", reason)
        else:
            log.debug("document work cut again: it did not stop after the %s limit", reason)
