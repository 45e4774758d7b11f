"""Two tiers on one machine (issue 19): a centre and front systems as ``eseal serve``
processes, and a proxy between a front and the centre that can change a byte of a feed
batch or answer with an old one (an attacker on the path)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx

from helpers import READY_TIMEOUT_S, ROOT, wait_until

__all__ = ["FeedProxy", "Server", "free_port"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class Server:
    """``eseal serve`` (centre or front) on a port of its own, its output in ``log``."""

    def __init__(self, env: dict[str, str], log: Path, *, args: tuple[str, ...] = ()) -> None:
        self.port = free_port()
        self.log = log
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("ESEAL_")}
        self.env.update(env)
        self.args = args
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "api.cli", "serve", "--port", str(self.port), *self.args],
                cwd=ROOT,
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        process = self.process

        def healthy() -> bool:
            try:
                return httpx.get(self.url + "/healthz", trust_env=False).status_code == 200
            except httpx.TransportError:
                return False

        wait_until(
            healthy,
            f"eseal serve on {self.port}",
            alive=lambda: process.poll() is None,
            explain=lambda: self.log.read_text(errors="replace")[-4000:],
        )

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is not None:
            process.terminate()
            process.wait(timeout=READY_TIMEOUT_S)

    def call(self, token: str | None, method: str, path: str, **kwargs: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.request(
            method, self.url + path, headers=headers, trust_env=False, timeout=120, **kwargs
        )

    def verify(self, token: str, pdf: bytes, **fields: str) -> dict[str, Any]:
        answer = self.call(
            token,
            "POST",
            "/v1/verify",
            files={"file": ("d.pdf", pdf, "application/pdf")},
            data=fields,
        )
        assert answer.status_code == 200, answer.text
        report: dict[str, Any] = answer.json()
        return report


class FeedProxy:
    """An HTTP proxy to ``upstream``; ``tamper`` decides what a feed answer becomes.

    ``mode``: ``pass`` (as is), ``flip`` (one byte of the body changed), ``replay`` (the
    first feed answer seen, again, whatever was asked).  Everything else passes as is.
    """

    def __init__(self, upstream: Callable[[], str]) -> None:
        self.upstream = upstream
        self.mode = "pass"
        self.recorded: tuple[int, bytes, dict[str, str]] | None = None
        self.tampered = 0
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _forward(self, method: str) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length) if length else None
                headers = {
                    k: v
                    for k, v in self.headers.items()
                    if k.lower() not in ("host", "content-length", "connection")
                }
                try:
                    answer = httpx.request(
                        method,
                        proxy.upstream() + self.path,
                        headers=headers,
                        content=body,
                        trust_env=False,
                        timeout=60,
                    )
                except httpx.TransportError:
                    self.send_response(502)
                    self.send_header("content-length", "0")
                    self.end_headers()
                    return
                status, content = answer.status_code, answer.content
                kept = {
                    k: v
                    for k, v in answer.headers.items()
                    if k.lower() not in ("content-length", "transfer-encoding", "connection")
                    and k.lower() != "content-encoding"
                }
                if self.path.startswith("/v1/registry/feed?") and status == 200:
                    status, content, kept = proxy._tamper(status, content, kept)
                self.send_response(status)
                for k, v in kept.items():
                    self.send_header(k, v)
                self.send_header("content-length", str(len(content)))
                self.end_headers()
                self.wfile.write(content)

            def do_GET(self) -> None:
                self._forward("GET")

            def do_POST(self) -> None:
                self._forward("POST")

        self._server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def _tamper(
        self, status: int, content: bytes, headers: dict[str, str]
    ) -> tuple[int, bytes, dict[str, str]]:
        if self.recorded is None:
            self.recorded = (status, content, dict(headers))
        if self.mode == "flip":
            batch = json.loads(content)
            self.tampered += 1
            # a changed byte that keeps the JSON well-formed: the signature alone catches it
            text = content.decode()
            stamp = batch["issued_at"]
            changed = stamp[:-1] + ("1" if stamp[-1] != "1" else "2")
            return status, text.replace(stamp, changed, 1).encode(), headers
        if self.mode == "replay":
            self.tampered += 1
            return self.recorded
        return status, content, headers

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
