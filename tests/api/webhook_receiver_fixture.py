"""A real webhook receiver for the tests: an HTTP server in a thread, on a port of its own.

It can be down (nothing listens: connections are refused), answer with a chosen status, or
hold each request without answering until released.  It records every request that reached
it and, apart, those it acknowledged (2xx), in arrival order.  The receivers' side of the
signature check is the README's (``examples/webhook_receiver.py``), loaded from there.
"""

from __future__ import annotations

import importlib.util
import json
import socket
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import ModuleType
from typing import Any

from helpers import ROOT


def example_receiver() -> ModuleType:
    """``examples/webhook_receiver.py``: ``verify``, ``Rejected``, ``SeenEvents``."""
    spec = importlib.util.spec_from_file_location(
        "webhook_receiver_example", ROOT / "examples" / "webhook_receiver.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass(frozen=True)
class Request:
    headers: dict[str, str]
    body: bytes

    @property
    def event(self) -> dict[str, Any]:
        found: dict[str, Any] = json.loads(self.body)
        return found

    @property
    def signature(self) -> str:
        return self.headers["eseal-signature"]


class Receiver:
    def __init__(self) -> None:
        self.port = free_port()
        self.status = 204
        self.received: list[Request] = []
        self.acked: list[Request] = []
        self._lock = threading.Lock()
        self._open = threading.Event()
        self._open.set()
        self._server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks/eseal?from=test"

    def up(self) -> None:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                request = Request({k.lower(): v for k, v in self.headers.items()}, body)
                with receiver._lock:
                    receiver.received.append(request)
                receiver._open.wait()
                status = receiver.status
                try:
                    self.send_response(status)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                except OSError:  # the sender is gone (killed): not acknowledged
                    return
                if 200 <= status < 300:
                    with receiver._lock:
                        receiver.acked.append(request)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def down(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            self._open.set()
            server.shutdown()
            server.server_close()

    def hold(self) -> None:
        """Keep each request waiting, unanswered, until :meth:`release`."""
        self._open.clear()

    def release(self) -> None:
        self._open.set()

    def acked_events(self) -> list[dict[str, Any]]:
        with self._lock:
            return [r.event for r in self.acked]

    def received_events(self) -> list[dict[str, Any]]:
        with self._lock:
            return [r.event for r in self.received]
