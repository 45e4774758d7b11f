"""An event committed by a server that is then killed (SIGKILL) is delivered after a restart.

``eseal serve`` runs in a process of its own, on a copy of the registered data dir, with a
real receiver on this machine.  First the worker is off, so the process dies with the event
committed and not sent; then it dies while the receiver holds the request unanswered.  Either
way the restarted server sends it (at least once: the receiver may see it twice, with one
event id), and the delivery log says delivered.  Also: a change made with the CLI, another
process, is delivered by the running server.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from webhook_receiver_fixture import Receiver, example_receiver, free_port

from api.settings import Settings
from helpers import READY_TIMEOUT_S, ROOT, TEST_PUBLIC_URL, USCC, wait_until

pytestmark = pytest.mark.slow

E = f"/v1/enterprises/{USCC}"
rx_module = example_receiver()


class Server:
    """``eseal serve`` on a port of its own; killed (SIGKILL) or stopped by the test."""

    def __init__(self, data_dir: Path, log: Path) -> None:
        self.port = free_port()
        self.log = log
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("ESEAL_")}
        self.env.update(
            ESEAL_DATA_DIR=str(data_dir),
            ESEAL_PUBLIC_URL=TEST_PUBLIC_URL,
            ESEAL_WEBHOOK_ALLOW_HTTP="true",
            ESEAL_WEBHOOK_ALLOW_PRIVATE="true",
            ESEAL_WEBHOOK_BACKOFF_SECONDS="0.2",
            ESEAL_WEBHOOK_BACKOFF_MAX_SECONDS="0.5",
            ESEAL_WEBHOOK_POLL_SECONDS="0.2",
            ESEAL_WEBHOOK_TIMEOUT_SECONDS="2",
        )
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, *, worker: bool = True) -> None:
        env = {**self.env, "ESEAL_WEBHOOK_WORKER": "true" if worker else "false"}
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "api.cli", "serve", "--port", str(self.port)],
                cwd=ROOT,
                env=env,
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
            "eseal serve answers",
            alive=lambda: process.poll() is None,
            explain=lambda: self.log.read_text(errors="replace")[-3000:],
        )

    def kill(self) -> None:
        process, self.process = self.process, None
        if process is not None:
            process.kill()
            process.wait(timeout=READY_TIMEOUT_S)

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is not None:
            process.terminate()
            process.wait(timeout=READY_TIMEOUT_S)


@pytest.fixture
def server(settings: Settings, _registered_template: Any, tmp_path: Path) -> Iterator[Server]:
    s = Server(settings.data_dir, tmp_path / "server.log")
    yield s
    s.kill()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    rx = Receiver()
    rx.up()
    yield rx
    rx.down()


def _call(server: Server, token: str, method: str, path: str, **kwargs: Any) -> Any:
    r = httpx.request(
        method,
        server.url + path,
        headers={"Authorization": f"Bearer {token}"},
        trust_env=False,
        timeout=READY_TIMEOUT_S,
        **kwargs,
    )
    assert r.status_code < 300, r.text
    return r.json() if r.content else None


def test_events_committed_before_a_crash_are_delivered_after_the_restart(
    server: Server, receiver: Receiver, _registered_template: Any
) -> None:
    admin, own = _registered_template.tokens["admin"], _registered_template.tokens["own"]
    server.start(worker=False)
    sub = _call(
        server, own, "POST", "/v1/webhooks", json={"url": receiver.url, "events": ["seal.*"]}
    )
    _call(server, admin, "POST", f"{E}/seals/contract/suspend", json={})
    server.kill()  # committed, never sent
    assert receiver.received == []

    server.start()
    wait_until(lambda: len(receiver.acked) == 1, "the event, after the restart")
    event = rx_module.verify(receiver.acked[0].body, receiver.acked[0].signature, [sub["secret"]])
    assert event["type"] == "seal.suspended" and event["data"]["status"] == "suspended"

    # killed while the receiver holds the request, unanswered
    receiver.hold()
    _call(server, admin, "POST", f"{E}/seals/contract/resume", json={})
    wait_until(lambda: len(receiver.received) == 2, "the request in the receiver's hands")
    server.kill()
    receiver.release()
    resumed = receiver.received[1].event
    assert resumed["type"] == "seal.resumed"

    server.start()  # sends it again once the dead process's lease runs out
    deliveries = f"/v1/webhooks/{sub['id']}/deliveries"
    wait_until(
        lambda: all(
            d["status"] == "delivered" for d in _call(server, own, "GET", deliveries)["items"]
        ),
        "delivered after the restart",
    )
    assert receiver.acked_events()[-1]["id"] == resumed["id"]
    assert [e["type"] for e in receiver.received_events()].count("seal.resumed") >= 2
    acted = []  # the README's receiver acts once per event id
    seen = rx_module.SeenEvents()
    for e in receiver.received_events():
        if e["id"] not in seen:
            acted.append(e["type"])
            seen.add(e["id"])
    assert acted == ["seal.suspended", "seal.resumed"]

    # a change made with the CLI (another process) is delivered by the running server
    env = {**server.env, "ESEAL_WEBHOOK_WORKER": "false"}
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "api.cli",
            "seal",
            "revoke",
            USCC,
            "finance",
            "--reason-code",
            "key_compromise",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=READY_TIMEOUT_S,
    )
    assert done.returncode == 0, done.stderr
    wait_until(
        lambda: any(e["type"] == "seal.revoked" for e in receiver.acked_events()),
        "the CLI's revocation, delivered by the server",
    )
    revoked = receiver.acked_events()[-1]
    assert (
        revoked["data"]["kind"] == "finance" and revoked["data"]["reason_code"] == "key_compromise"
    )
    server.stop()
