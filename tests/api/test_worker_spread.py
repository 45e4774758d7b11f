"""``eseal serve --workers 2`` spreads a client's persistent connections over both workers.

With uvicorn's own supervisor every worker accepted on one shared socket, and a client that
opened its keep-alive connections at once got them all on one worker: one core did all its
work (issue 16).  The server now accepts in its parent process and hands each connection to
the worker with the fewest open connections (api/balancer.py).  Which worker serves a
connection is read from ``/proc``: the worker process that holds the server's socket of it.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import pytest
from balanced_server import serve

from helpers import READY_TIMEOUT_S, ROOT, wait_until
from pdfs import simple_pdf

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc"),
]


def test_a_clients_keep_alive_connections_are_served_half_by_each_worker(
    _initialised_template: Path, tmp_path: Path
) -> None:
    with serve(_initialised_template, tmp_path) as served:
        workers = served.workers()
        assert len(workers) == 2
        connections = [served.connect() for _ in range(4)]
        try:
            holders = Counter(served.holder(c) for c in connections)
            assert holders == dict.fromkeys(workers, 2)
            # and each keeps answering on its connection
            for conn in connections:
                conn.request("GET", "/healthz")
                response = conn.getresponse()
                assert response.status == 200 and json.loads(response.read()) == {"status": "ok"}
        finally:
            for conn in connections:
                conn.close()


def test_sealing_requests_on_two_connections_use_both_workers(
    _registered_template: Any, tmp_path: Path
) -> None:
    """Two clients' sealing requests, each on a persistent connection: both workers seal."""
    token = _registered_template.tokens["own"]
    with serve(_registered_template.data_dir, tmp_path) as served:
        connections = [served.connect() for _ in range(2)]
        try:
            assert len({served.holder(c) for c in connections}) == 2
            for conn in connections:
                with httpx.Client(base_url=f"http://127.0.0.1:{served.port}") as client:
                    request = client.build_request(
                        "POST",
                        "/v1/sign",
                        headers={"Authorization": f"Bearer {token}"},
                        files={"file": ("c.pdf", simple_pdf(), "application/pdf")},
                        data={"options": json.dumps({"seals": [{"kind": "contract"}]})},
                    )
                    body = request.read()
                conn.request("POST", "/v1/sign", body=body, headers=dict(request.headers))
                response = conn.getresponse()
                sealed = response.read()
                assert response.status == 200, sealed[:500]
                assert sealed.startswith(b"%PDF")
        finally:
            for conn in connections:
                conn.close()


def test_a_killed_worker_is_replaced_and_the_server_keeps_answering(
    _initialised_template: Path, tmp_path: Path
) -> None:
    with serve(_initialised_template, tmp_path) as served:
        first, second = served.workers()
        subprocess.run(["kill", "-KILL", str(first)], check=True)
        replaced = wait_until(
            lambda: (set(served.workers()) - {first, second}) or None,
            "a new worker process",
            alive=lambda: served.process.poll() is None,
            explain=lambda: served.text()[-3000:],
        )
        wait_until(lambda: served.ready_workers() >= 3, "the new worker ready")
        # the other worker was left alone; new connections go to both
        assert set(served.workers()) == {second, *replaced}
        fresh = [served.connect() for _ in range(2)]
        try:
            assert {served.holder(c) for c in fresh} == {second, *replaced}
        finally:
            for conn in fresh:
                conn.close()


def test_sigterm_stops_the_server_and_every_worker(
    _initialised_template: Path, tmp_path: Path
) -> None:
    with serve(_initialised_template, tmp_path) as served:
        workers = served.workers()
        served.process.send_signal(signal.SIGTERM)
        assert served.process.wait(timeout=READY_TIMEOUT_S) == 0
        for pid in workers:  # reaped by the server before it exited
            assert not Path(f"/proc/{pid}").exists()
        with pytest.raises(httpx.TransportError):
            httpx.get(f"http://127.0.0.1:{served.port}/healthz", timeout=5)


def test_a_server_whose_app_cannot_start_exits_instead_of_restarting_workers(
    tmp_path: Path,
) -> None:
    """No master key in the data dir: the workers fail to start, the server exits 3."""
    empty = tmp_path / "empty"
    empty.mkdir()
    done = subprocess.run(
        [sys.executable, "-m", "api.cli", "serve", "--port", "0", "--workers", "2"],
        env={
            **{k: v for k, v in os.environ.items() if not k.startswith("ESEAL_")},
            "ESEAL_DATA_DIR": str(empty),
        },
        capture_output=True,
        text=True,
        timeout=READY_TIMEOUT_S,
        cwd=ROOT,
    )
    assert done.returncode == 3, done.stderr[-3000:]
    assert "no master key" in done.stderr
    assert "before it was ready" in done.stderr
