"""A batch outlives the server that accepted it, on SQLite and on PostgreSQL.

Two ways a server stops in the middle of a batch:

* in-process, the exact states a crash leaves, made on purpose: a file claimed by a worker
  that died before sealing it, and a file sealed and archived by a worker that died before it
  recorded the result.  The next server takes both once their leases run out; the second is
  answered from the archive through the file's idempotency key, so it is not sealed twice;
* a real ``eseal serve`` killed with SIGKILL while its workers are blocked on the database
  (the test holds the write lock on SQLite, or an exclusive lock on ``archives`` on
  PostgreSQL, so the kill is certain to land before the batch is done).  The next server
  finishes the batch; every file is archived once and has one audit entry.
"""

from __future__ import annotations

import io
import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from batch_helpers import count, post_batch, wait_done
from fastapi.testclient import TestClient
from sqlalchemy import create_engine

from api.app import create_app
from api.auth import Principal, Role
from api.batch_worker import BatchWorker, batch_store
from api.models import SignOptions
from api.settings import Settings
from helpers import READY_TIMEOUT_S, ROOT, USCC, Api, wait_until
from pdfs import simple_pdf

pytest_plugins = ["batch_fixtures"]

OPTIONS = {"seals": [{"kind": "contract"}], "level": "B-B"}
#: the lease of the worker that "dies": the next server takes its files after it
LEASE = timedelta(seconds=1)


def _files(n: int) -> list[tuple[str, bytes]]:
    return [(f"HT-{i:03d}.pdf", simple_pdf(1, text=f"Contract {i} page")) for i in range(n)]


@contextmanager
def _app(settings: Settings, tokens: dict[str, str], **changes: Any) -> Iterator[Api]:
    app = create_app(settings.model_copy(update={"batch_poll_seconds": 0.2, **changes}))
    with TestClient(app) as client:
        yield Api(client, app.state.container, tokens)


def test_files_a_dead_worker_held_are_sealed_once_by_the_next_server(
    db_settings: tuple[Settings, dict[str, str]],
) -> None:
    settings, tokens = db_settings
    with _app(settings, tokens, batch_workers=0) as api:  # accepts, seals nothing
        r = post_batch(api, _files(4), options=OPTIONS)
        assert r.status_code == 202, r.text
        batch_id = r.json()["id"]
        early = api.client.get(f"/v1/batches/{batch_id}/result.zip", headers=api.headers("own"))
        assert (early.status_code, early.json()["code"]) == (409, "batch_not_finished")

        c = api.container
        store = batch_store(c)
        dying = BatchWorker(store, c.sign_flow, c.api_keys, lease_seconds=LEASE.total_seconds())
        # file 0: sealed and recorded
        assert dying.run_once()
        # file 1: sealed and archived through the sign flow, then the worker dies
        [sealed] = store.claim(dying.id, lease=LEASE, max_attempts=5)
        principal = Principal(sealed.principal, Role.ENTERPRISE, USCC, "own")
        done = c.sign_flow.sign(
            principal,
            sealed.data,
            SignOptions.model_validate(sealed.options),
            sealed.idempotency_key,
            sealed.name,
        )
        done.close()
        # file 2: taken, never sealed
        [held] = store.claim(dying.id, lease=LEASE, max_attempts=5)
        status = api.client.get(f"/v1/batches/{batch_id}", headers=api.headers("own")).json()
        assert status["status"] == "running"
        assert status["counts"] == {"queued": 1, "running": 2, "done": 1, "failed": 0}

    with _app(settings, tokens, batch_workers=2) as api:  # the restarted server
        batch = wait_done(api, batch_id)
        assert batch["counts"]["done"] == 4, batch["files"]
        files = batch["files"]
        # the file archived before the crash is answered from the archive, not sealed again
        assert files[sealed.position]["archive_id"] == done.archive_id
        assert files[sealed.position]["attempts"] == 2
        assert files[held.position]["attempts"] == 2
        assert count(api, "SELECT count(*) FROM archives") == 4
        assert count(api, "SELECT count(*) FROM audit WHERE action = 'seal.use'") == 4
        assert len({f["archive_id"] for f in files}) == 4


def test_an_outage_is_retried_and_a_revoked_key_fails_its_files(
    db_settings: tuple[Settings, dict[str, str]],
) -> None:
    settings, tokens = db_settings
    # the time-stamping authority does not answer: a B-T file waits for a retry
    with _app(settings, tokens, batch_workers=0, tsa_url=f"http://127.0.0.1:{_free_port()}") as api:
        c = api.container
        worker = BatchWorker(batch_store(c), c.sign_flow, c.api_keys, max_attempts=3)
        batch_id = post_batch(api, _files(1), options={**OPTIONS, "level": "B-T"}).json()["id"]
        assert worker.run_once()
        [item] = api.client.get(f"/v1/batches/{batch_id}", headers=api.headers("own")).json()[
            "files"
        ]
        assert (item["status"], item["attempts"], item["code"]) == ("queued", 1, None)
        assert count(api, "SELECT count(*) FROM archives") == 0

    with _app(settings, tokens, batch_workers=0) as api:  # it answers again
        c = api.container
        store = batch_store(c)
        worker = BatchWorker(store, c.sign_flow, c.api_keys, max_attempts=3)
        wait_until(worker.run_once, "the file retried after its pause")
        [item] = wait_done(api, batch_id)["files"]
        assert (item["status"], item["attempts"]) == ("done", 2)

        # a key revoked after it queued a batch: its files are refused as its requests are
        queued = post_batch(api, _files(2), options=OPTIONS).json()["id"]
        key_id = tokens["own"].split("_")[1]
        assert api.client.delete(f"/v1/api-keys/{key_id}", headers=api.headers("admin")).is_success
        while worker.run_once():
            pass
        files = store.items(queued)
        assert [(f.status.value, f.code) for f in files] == [("failed", "unauthorized")] * 2
        assert count(api, "SELECT count(*) FROM archives") == 1


# -- a real server, killed ------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def _server(
    settings: Settings, log: Path, **extra: str
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    port = _free_port()
    env = {
        **extra,
        **os.environ,
        "ESEAL_DATA_DIR": str(settings.data_dir),
        "ESEAL_PUBLIC_URL": settings.public_url,
        "ESEAL_BATCH_WORKERS": "2",
        "ESEAL_BATCH_LEASE_SECONDS": "2",
        "ESEAL_BATCH_POLL_SECONDS": "0.2",
    }
    env.pop("ESEAL_MASTER_KEY", None)
    if settings.database_url:
        env["ESEAL_DATABASE_URL"] = settings.database_url
    with log.open("ab") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "api.cli", "serve", "--port", str(port)],
            env=env,
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"

    def healthy() -> bool:
        try:
            return httpx.get(f"{url}/healthz", timeout=READY_TIMEOUT_S).status_code == 200
        except httpx.TransportError:
            return False

    try:
        wait_until(
            healthy,
            "eseal serve answering /healthz",
            alive=lambda: proc.poll() is None,
            explain=lambda: log.read_text(errors="replace")[-3000:],
        )
        yield url, proc
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=READY_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


@contextmanager
def _writes_blocked(settings: Settings) -> Iterator[None]:
    """No archive row can be written while this is held (readers go on)."""
    if settings.database_url:  # PostgreSQL
        engine = create_engine(settings.database_url)
        try:
            with engine.begin() as conn:
                conn.exec_driver_sql("LOCK TABLE archives IN EXCLUSIVE MODE")
                yield
        finally:
            engine.dispose()
        return
    db = sqlite3.connect(settings.data_dir / "eseal.db", isolation_level=None, timeout=60)
    try:
        db.execute("BEGIN IMMEDIATE")  # SQLite's one write lock
        yield
        db.execute("ROLLBACK")
    finally:
        db.close()


def _status(url: str, batch_id: str, token: str) -> dict[str, Any]:
    r = httpx.get(
        f"{url}/v1/batches/{batch_id}",
        headers={"Authorization": f"Bearer {token}"},
        timeout=READY_TIMEOUT_S,
    )
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


@pytest.mark.slow
def test_a_server_killed_mid_batch_leaves_the_rest_to_the_next_one(
    db_settings: tuple[Settings, dict[str, str]], tmp_path: Path
) -> None:
    settings, tokens = db_settings
    token = tokens["own"]
    log = tmp_path / "server.log"
    total = 12
    files = _files(total)
    # the second half asks for a time-stamp, which the first server cannot get (its TSA does
    # not answer): however fast it seals, it is killed with the batch unfinished
    later = {n: {"level": "B-T"} for n, _ in files[total // 2 :]}
    dead_tsa = {"ESEAL_TSA_URL": f"http://127.0.0.1:{_free_port()}"}
    with _server(settings, log, **dead_tsa) as (url, proc):
        r = httpx.post(
            f"{url}/v1/batches",
            headers={"Authorization": f"Bearer {token}"},
            files=[("file", (n, d, "application/pdf")) for n, d in files],
            data={"options": json.dumps(OPTIONS), "per_file": json.dumps(later)},
            timeout=READY_TIMEOUT_S,
        )
        assert r.status_code == 202, r.text
        batch_id = r.json()["id"]
        wait_until(lambda: _status(url, batch_id, token)["counts"]["done"] >= 1, "a file done")
        with _writes_blocked(settings):
            before = _status(url, batch_id, token)
            assert before["status"] == "running" and before["counts"]["done"] < total
            proc.send_signal(signal.SIGKILL)
            proc.wait()

    with _server(settings, log) as (url, _):
        after = wait_until(
            lambda: (b := _status(url, batch_id, token))["status"] == "done" and b,
            "the batch finished by the restarted server",
        )
        assert after["counts"] == {"queued": 0, "running": 0, "done": total, "failed": 0}
        assert len({f["archive_id"] for f in after["files"]}) == total
        zipped = httpx.get(
            f"{url}/v1/batches/{batch_id}/result.zip",
            headers={"Authorization": f"Bearer {token}"},
            timeout=READY_TIMEOUT_S,
        )
        names = zipfile.ZipFile(io.BytesIO(zipped.content)).namelist()
        assert sorted(names) == sorted([n for n, _ in files] + ["results.json"])
    engine = create_engine(settings.db_url)
    try:
        with engine.connect() as conn:
            archived = conn.exec_driver_sql("SELECT count(*) FROM archives").scalar_one()
            uses = conn.exec_driver_sql(
                "SELECT count(*) FROM audit WHERE action = 'seal.use'"
            ).scalar_one()
    finally:
        engine.dispose()
    assert (archived, uses) == (total, total)
