"""``eseal serve --workers N``: one process accepts, and each connection goes to the worker
process with the fewest open connections (a balancing accept).

Why not uvicorn's own supervisor: there every worker accepts on one shared listening socket,
and asyncio accepts every pending connection in one go.  A client that opens its persistent
(keep-alive) connections at once lands all of them on the worker that woke first, which then
does all the work on one core while the other worker idles (issue 16 measured 20.3 s of CPU in
one worker and 0.07 s in the other at concurrency 4), and a keep-alive connection stays where
it landed.  So here the parent process accepts, and hands each connection, its file
descriptor (``SCM_RIGHTS`` over a Unix socket pair), to the ready worker with the fewest open
connections: N persistent connections end up N / workers on each worker, and new connections
go where the fewest are open.  A connection stays with its worker for its life (HTTP/1.1 asks
one request at a time of a connection, so that costs no parallelism).

Each worker is ``eseal serve --balanced-worker FD``, a process of its own that serves the
connections it is handed with uvicorn, unchanged: uvicorn and asyncio take the worker's end of
the socket pair for a listening socket, whose ``accept()`` receives the next descriptor.

On each worker's socket pair (a byte stream):

* parent → worker: the byte ``c`` with one descriptor attached, per connection;
* worker → parent: ``r`` once its app has started (only ready workers are handed
  connections), and ``x`` for each connection closed;
* end of file: the other side is gone.  A worker whose parent is gone shuts down gracefully;
  the parent replaces a worker that ended (a worker that ends before it was ever ready stops
  the server, as uvicorn does: the app cannot start).

SIGTERM or SIGINT to the parent: it stops accepting, passes SIGTERM to the workers (uvicorn's
graceful shutdown: requests in flight are answered) and waits for them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import selectors
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Balancer", "balanced_supported", "run_worker"]

log = logging.getLogger("eseal.serve")

#: a connection handed to a worker (with its descriptor)
_CONNECTION = b"c"
#: worker → parent: the app has started
_READY = b"r"
#: worker → parent: one of its connections was closed
_CLOSED = b"x"

#: a worker that ended before it was ready: the app cannot start (uvicorn's STARTUP_FAILURE)
EXIT_STARTUP_FAILURE = 3
#: how long the parent waits for the workers' graceful shutdown before it kills them
SHUTDOWN_GRACE_S = 60.0


def balanced_supported() -> bool:
    """Descriptors can be passed between processes here (POSIX)."""
    return hasattr(socket, "send_fds") and hasattr(socket, "AF_UNIX")


# -- the worker ---------------------------------------------------------------------------------


class _HandedConnection(socket.socket):
    """A connection handed over by the parent; tells it when it is closed (asyncio's transport
    closes its socket with :meth:`close` when the connection ends)."""

    def __init__(self, fileno: int, on_close: Callable[[], None]) -> None:
        super().__init__(fileno=fileno)
        self._on_close: Callable[[], None] | None = on_close

    def close(self) -> None:
        on_close, self._on_close = self._on_close, None
        try:
            super().close()
        finally:
            if on_close is not None:
                on_close()


class _Handover(socket.socket):
    """The worker's end of its socket pair, which uvicorn serves as its listening socket:
    :meth:`accept` returns the next connection the parent handed over."""

    def __init__(self, fileno: int) -> None:
        super().__init__(fileno=fileno)
        self.parent_gone: Callable[[], None] = lambda: None
        self._unsent = b""

    def listen(self, backlog: int = 0, /) -> None:
        """asyncio calls it on what it serves; the parent listens, so nothing to do."""

    def accept(self) -> tuple[socket.socket, Any]:
        message, fds, _flags, _address = socket.recv_fds(self, 1, 1)
        if not message:  # the parent is gone: stop taking connections, and shut down
            with contextlib.suppress(RuntimeError, ValueError, OSError):
                asyncio.get_running_loop().remove_reader(self.fileno())
            self.parent_gone()
            raise ConnectionAbortedError("the balancing parent process is gone")
        for extra in fds[1:]:  # never sent; closed rather than leaked
            os.close(extra)
        if not fds:  # the descriptor was lost on the way (out of descriptors): not open here
            self.tell(_CLOSED)
            raise ConnectionAbortedError("a connection was handed over without its descriptor")
        connection = _HandedConnection(fds[0], lambda: self.tell(_CLOSED))
        try:
            peer = connection.getpeername()
        except OSError:  # the client left already
            connection.close()
            raise ConnectionAbortedError("the client closed the connection") from None
        return connection, peer

    def tell(self, what: bytes) -> None:
        """Send ``what`` to the parent (kept and sent later if its buffer is full)."""
        self._unsent += what
        try:
            sent = self.send(self._unsent)
        except BlockingIOError:
            return
        except OSError:  # the parent is gone
            self._unsent = b""
            return
        self._unsent = self._unsent[sent:]


def run_worker(channel_fd: int, *, app: str, log_level: str) -> int:
    """A worker: serve the connections handed over on ``channel_fd`` with uvicorn (``app``: an
    import string of an app factory)."""
    import uvicorn

    channel = _Handover(channel_fd)

    class Server(uvicorn.Server):
        async def startup(self, sockets: list[socket.socket] | None = None) -> None:
            await super().startup(sockets=sockets)
            if self.started:  # the app is up: the parent may hand over connections
                channel.tell(_READY)

    config = uvicorn.Config(
        app,
        factory=True,
        loop="asyncio",  # the handed-over connections are accepted by asyncio's own loop
        log_level=log_level,
        access_log=False,
    )
    server = Server(config)

    def parent_gone() -> None:
        log.warning("the balancing parent process is gone; shutting down")
        server.should_exit = True

    channel.parent_gone = parent_gone
    server.run(sockets=[channel])
    return 0


# -- the parent -------------------------------------------------------------------------------


@dataclass(eq=False)
class _Worker:
    """One worker process as the parent sees it."""

    slot: int
    process: subprocess.Popen[bytes]
    channel: socket.socket
    ready: bool = False
    #: connections handed over and not yet reported closed
    open: int = 0
    #: every connection handed over (for the logs)
    handed: int = 0
    started: float = field(default_factory=time.monotonic)


def _listener(host: str, port: int, backlog: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    listener = socket.create_server((host, port), family=family, backlog=backlog)
    listener.setblocking(False)
    return listener


class Balancer:
    """The parent process: binds ``host:port``, starts ``workers`` worker processes and hands
    each accepted connection to the ready worker with the fewest open connections."""

    def __init__(
        self,
        host: str,
        port: int,
        workers: int,
        worker_command: Callable[[int], Sequence[str]],
        *,
        backlog: int = 2048,
    ) -> None:
        """``worker_command(fd)``: the command line of a worker serving the socket pair end
        ``fd`` (inherited)."""
        if workers < 1:
            raise ValueError("at least one worker is needed")
        self.host = host
        self.port = port
        self.workers_wanted = workers
        self._worker_command = worker_command
        self._backlog = backlog
        self._workers: dict[int, _Worker] = {}
        #: workers that ended or are ending, not yet reaped
        self._leaving: list[_Worker] = []
        self._selector = selectors.DefaultSelector()
        self._listener: socket.socket | None = None
        self._accepting = False
        self._stopping = False
        self._failed = False
        self._wake_r, self._wake_w = socket.socketpair()

    # -- workers ---------------------------------------------------------------------------

    def _start_worker(self, slot: int) -> None:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            process = subprocess.Popen(
                list(self._worker_command(theirs.fileno())),
                pass_fds=[theirs.fileno()],
                stdin=subprocess.DEVNULL,
            )
        finally:
            theirs.close()
        ours.setblocking(False)
        worker = _Worker(slot, process, ours)
        self._workers[slot] = worker
        self._selector.register(ours, selectors.EVENT_READ, ("worker", worker))
        log.info("started worker process %d (slot %d)", process.pid, slot)

    def _forget_worker(self, worker: _Worker) -> None:
        """Stop listening to the worker; it is reaped by :meth:`_reap` (never waited for
        here: the parent keeps accepting while a worker finishes its last requests)."""
        with contextlib.suppress(KeyError, ValueError):
            self._selector.unregister(worker.channel)
        worker.channel.close()
        worker.ready = False
        if self._workers.get(worker.slot) is worker:
            del self._workers[worker.slot]
        self._leaving.append(worker)

    def _worker_gone(self, worker: _Worker) -> None:
        """The worker's end of the pair closed (it ended, or is shutting down): replace it."""
        was_ready = worker.ready
        self._forget_worker(worker)
        self._update_accepting()
        if self._stopping:
            return
        if not was_ready:
            log.error(
                "worker process %d ended before it was ready: stopping the server",
                worker.process.pid,
            )
            self._failed = True
            self._stopping = True
            return
        log.warning(
            "worker process %d is gone after %d connections; starting another",
            worker.process.pid,
            worker.handed,
        )
        self._start_worker(worker.slot)

    def _reap(self) -> None:
        """Reap the workers that ended; notice one that ended before its channel said so."""
        for worker in list(self._leaving):
            code = worker.process.poll()
            if code is not None:
                self._leaving.remove(worker)
                log.info("worker process %d exited (%s)", worker.process.pid, code)
        for worker in list(self._workers.values()):
            if worker.process.poll() is not None:
                self._worker_gone(worker)

    def _heard(self, worker: _Worker) -> None:
        try:
            data = worker.channel.recv(4096)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            self._worker_gone(worker)
            return
        if _READY in data and not worker.ready:
            worker.ready = True
            log.info("worker process %d is ready", worker.process.pid)
            self._update_accepting()
        worker.open = max(0, worker.open - data.count(_CLOSED))

    # -- connections -----------------------------------------------------------------------

    def _update_accepting(self) -> None:
        """Accept only while a worker is ready (until then connections wait in the backlog)."""
        assert self._listener is not None
        want = not self._stopping and any(w.ready for w in self._workers.values())
        if want and not self._accepting:
            self._selector.register(self._listener, selectors.EVENT_READ, ("listener", None))
        elif not want and self._accepting:
            self._selector.unregister(self._listener)
        self._accepting = want

    def _accept_all(self) -> None:
        assert self._listener is not None
        while self._accepting:
            try:
                connection, _ = self._listener.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:  # e.g. out of descriptors: try again on the next round
                log.warning("accept failed: %s", exc)
                return
            try:
                self._hand_over(connection)
            finally:
                connection.close()  # the worker has its own descriptor now

    def _hand_over(self, connection: socket.socket) -> None:
        ready = sorted(
            (w for w in self._workers.values() if w.ready), key=lambda w: (w.open, w.handed)
        )
        for worker in ready:
            try:
                socket.send_fds(worker.channel, [_CONNECTION], [connection.fileno()])
            except BlockingIOError:  # its queue is full: the next one
                continue
            except OSError:  # it is going away (its end of file comes next)
                continue
            worker.open += 1
            worker.handed += 1
            return
        log.warning("no worker could take a connection; it is closed")

    # -- the loop --------------------------------------------------------------------------

    def _on_signal(self, signum: int, _frame: Any) -> None:
        if not self._stopping:
            log.info("received signal %d: stopping", signum)
        self._stopping = True

    def run(self) -> int:
        """Serve until SIGTERM or SIGINT; the exit status."""
        self._listener = _listener(self.host, self.port, self._backlog)
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        self._selector.register(self._wake_r, selectors.EVENT_READ, ("wake", None))
        previous = {
            sig: signal.signal(sig, self._on_signal) for sig in (signal.SIGINT, signal.SIGTERM)
        }
        previous_wakeup = signal.set_wakeup_fd(self._wake_w.fileno(), warn_on_full_buffer=False)
        log.info(
            "eseal serving on http://%s:%d with %d worker processes (connections balanced)",
            self.host,
            self._listener.getsockname()[1],
            self.workers_wanted,
        )
        try:
            for slot in range(self.workers_wanted):
                self._start_worker(slot)
            while not self._stopping:
                for key, _ in self._selector.select(timeout=1.0):
                    kind, worker = key.data
                    if kind == "listener":
                        self._accept_all()
                    elif kind == "worker":
                        self._heard(worker)
                    else:
                        with contextlib.suppress(OSError):
                            self._wake_r.recv(4096)
                    if self._stopping:
                        break
                self._reap()
        finally:
            self._shutdown()
            signal.set_wakeup_fd(previous_wakeup)
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        return EXIT_STARTUP_FAILURE if self._failed else 0

    def _shutdown(self) -> None:
        self._stopping = True
        if self._listener is not None:
            with contextlib.suppress(KeyError, ValueError):
                self._selector.unregister(self._listener)
            self._listener.close()
            self._accepting = False
        for worker in list(self._workers.values()):
            self._forget_worker(worker)
        for worker in self._leaving:
            if worker.process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    worker.process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + SHUTDOWN_GRACE_S
        for worker in self._leaving:
            try:
                worker.process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                log.error("worker process %d did not stop: killed", worker.process.pid)
                worker.process.kill()
                worker.process.wait()
        self._leaving.clear()
        self._selector.close()
        self._wake_r.close()
        self._wake_w.close()
