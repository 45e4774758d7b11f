"""A real ``eseal serve --workers N`` in a subprocess, and which worker holds a connection.

Shared by the tests of the balancing accept (``test_worker_spread.py``) and of the seal cache
across worker processes (``test_seal_cache.py``).  Linux only: a connection's worker is found
through ``/proc`` (the server side of the TCP connection, by the client's port, and the
worker process that holds its socket).
"""

from __future__ import annotations

import http.client
import os
import shutil
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from helpers import READY_TIMEOUT_S, ROOT, TEST_PUBLIC_URL, wait_until

SERVE = (sys.executable, "-m", "api.cli", "serve")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Served:
    port: int
    process: subprocess.Popen[bytes]
    log: Path

    def text(self) -> str:
        return self.log.read_text(errors="replace")

    def workers(self) -> list[int]:
        """The worker processes (children of the server process)."""
        out: list[int] = []
        for task in Path(f"/proc/{self.process.pid}/task").glob("*"):
            try:
                out += [int(x) for x in (task / "children").read_text().split()]
            except OSError:
                continue
        return sorted(out)

    def ready_workers(self) -> int:
        """How many workers said they are ready (the server's log)."""
        return self.text().count("is ready")

    def connect(self) -> http.client.HTTPConnection:
        """A keep-alive connection, already used once (so the server has handed it over)."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=READY_TIMEOUT_S)
        conn.request("GET", "/healthz")
        response = conn.getresponse()
        response.read()
        assert response.status == 200
        return conn

    def holder(self, conn: http.client.HTTPConnection) -> int | None:
        """The worker process that serves ``conn``."""
        assert conn.sock is not None
        inode = _server_side_inode(self.port, conn.sock.getsockname()[1])
        if inode is None:
            return None
        for pid in self.workers():
            try:
                fds = os.listdir(f"/proc/{pid}/fd")
            except OSError:
                continue
            for fd in fds:
                try:
                    if os.readlink(f"/proc/{pid}/fd/{fd}") == f"socket:[{inode}]":
                        return pid
                except OSError:
                    continue
        return None


def _server_side_inode(server_port: int, client_port: int) -> int | None:
    """The socket inode of the server's end of the loopback connection from ``client_port``."""
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        parts = line.split()
        local, remote, inode = parts[1], parts[2], int(parts[9])
        if (
            int(local.split(":")[1], 16) == server_port
            and int(remote.split(":")[1], 16) == client_port
            and inode
        ):
            return inode
    return None


@contextmanager
def serve(template: Path, tmp: Path, *, workers: int = 2) -> Iterator[Served]:
    """``eseal serve --workers N`` on a copy of the data dir ``template``, every worker ready."""
    data = tmp / "data"
    shutil.copytree(template, data)
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("ESEAL_")}
    env.update(ESEAL_DATA_DIR=str(data), ESEAL_PUBLIC_URL=TEST_PUBLIC_URL, ESEAL_LOG_LEVEL="INFO")
    log = tmp / "server.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [*SERVE, "--port", str(port), "--workers", str(workers)],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    served = Served(port, process, log)
    try:
        wait_until(
            lambda: served.ready_workers() >= workers,
            f"{workers} workers of eseal serve ready",
            alive=lambda: process.poll() is None,
            explain=lambda: served.text()[-3000:],
        )
        yield served
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=READY_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
