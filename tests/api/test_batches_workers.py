"""Two server processes' batch workers on one queue, on SQLite and PostgreSQL.

A process's batch worker claims files in groups and shares them among its threads.  Here two
``BatchWorker``s, each with a worker id and threads of its own, stand for the workers of two
server processes on one database.  What a user would notice is asserted, never timed: every
file sealed, archived and audited once, each taken once; and a worker that stops puts back
the files it claimed but never began, for the next one to seal.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from batch_helpers import count, post_batch, wait_done
from fastapi.testclient import TestClient

from api.app import create_app
from api.batch_worker import BatchWorker, batch_store
from api.settings import Settings
from helpers import Api
from pdfs import simple_pdf
from storage.archive.index import RowGroup

pytest_plugins = ["batch_fixtures"]

OPTIONS = {"seals": [{"kind": "contract"}], "level": "B-B"}


def _files(n: int) -> list[tuple[str, bytes]]:
    return [(f"HT-{i:03d}.pdf", simple_pdf(1, text=f"Contract {i} page")) for i in range(n)]


@contextmanager
def _api(settings: Settings, tokens: dict[str, str]) -> Iterator[Api]:
    # the app's own workers off: the test's workers are the only ones
    app = create_app(settings.model_copy(update={"batch_workers": 0}))
    with TestClient(app) as client:
        yield Api(client, app.state.container, tokens)


def _run(api: Api, batch_id: str, workers: list[BatchWorker]) -> dict[str, Any]:
    """The batch once ``workers`` (started here, stopped after) have finished it."""
    for worker in workers:
        worker.start()
    try:
        return wait_done(api, batch_id)
    finally:
        for worker in workers:
            worker.stop()


def _sealed_once(api: Api, batch: dict[str, Any], total: int) -> None:
    files = batch["files"]
    assert batch["counts"] == {"queued": 0, "running": 0, "done": total, "failed": 0}
    assert len({f["archive_id"] for f in files}) == total
    assert count(api, "SELECT count(*) FROM archives") == total
    assert count(api, "SELECT count(*) FROM audit WHERE action = 'seal.use'") == total


def test_the_workers_of_two_processes_share_a_batch_and_seal_each_file_once(
    db_settings: tuple[Settings, dict[str, str]],
) -> None:
    settings, tokens = db_settings
    total = 30
    with _api(settings, tokens) as api:
        batch_id = post_batch(api, _files(total), options=OPTIONS).json()["id"]
        c = api.container
        workers = [
            BatchWorker(batch_store(c), c.sign_flow, c.api_keys, threads=2, group=3)
            for _ in range(2)
        ]
        batch = _run(api, batch_id, workers)
        _sealed_once(api, batch, total)
        assert all(f["attempts"] == 1 for f in batch["files"])  # no file taken twice


def test_a_stopping_worker_puts_back_the_files_it_had_not_begun(
    db_settings: tuple[Settings, dict[str, str]],
) -> None:
    settings, tokens = db_settings
    total = 5
    with _api(settings, tokens) as api:
        batch_id = post_batch(api, _files(total), options=OPTIONS).json()["id"]
        c = api.container
        stopping = BatchWorker(batch_store(c), c.sign_flow, c.api_keys, threads=2, group=4)
        first = stopping._next()  # a thread's claim: a group of 4, the first in its hands
        assert first is not None and first.position == 0
        held = api.client.get(f"/v1/batches/{batch_id}", headers=api.headers("own")).json()
        assert held["counts"] == {"queued": 1, "running": 4, "done": 0, "failed": 0}
        stopping.stop()  # before it began any of them
        back = api.client.get(f"/v1/batches/{batch_id}", headers=api.headers("own")).json()
        assert back["counts"] == {"queued": total, "running": 0, "done": 0, "failed": 0}
        assert [f["attempts"] for f in back["files"]] == [0] * total  # not counted as tries

        batch = _run(api, batch_id, [BatchWorker(batch_store(c), c.sign_flow, c.api_keys)])
        _sealed_once(api, batch, total)
        assert [f["attempts"] for f in batch["files"]] == [1] * total


# -- group commit (the server's own workers: index given) -----------------------------------


def test_group_commit_workers_seal_each_file_once_and_a_bad_file_fails_alone(
    db_settings: tuple[Settings, dict[str, str]],
) -> None:
    settings, tokens = db_settings
    files = _files(13)
    files[5] = ("HT-005.pdf", b"%PDF-1.7 not really a PDF")
    with _api(settings, tokens) as api:
        batch_id = post_batch(api, files, options=OPTIONS).json()["id"]
        c = api.container
        workers = [
            BatchWorker(
                batch_store(c),
                c.sign_flow,
                c.api_keys,
                threads=2,
                group=6,
                index=c.archive.index,
                commit_group=3,
            )
            for _ in range(2)
        ]
        batch = _run(api, batch_id, workers)
        assert batch["counts"] == {"queued": 0, "running": 0, "done": 12, "failed": 1}
        bad = [f for f in batch["files"] if f["status"] == "failed"]
        assert [(f["name"], f["code"]) for f in bad] == [("HT-005.pdf", "invalid_pdf")]
        done = [f for f in batch["files"] if f["status"] == "done"]
        assert len({f["archive_id"] for f in done}) == 12
        assert count(api, "SELECT count(*) FROM archives") == 12
        assert count(api, "SELECT count(*) FROM audit WHERE action = 'seal.use'") == 12
        assert c.audit.verify()["ok"]  # the group's entries chain as one by one
        # each file's sealed document is the one its archive row names
        for f in done:
            record = c.archive.record(f["archive_id"])
            assert record.sha256 == f["sha256"]


def test_a_group_whose_rows_are_not_stored_is_sealed_again_never_twice(
    db_settings: tuple[Settings, dict[str, str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    settings, tokens = db_settings
    total = 4
    with _api(settings, tokens) as api:
        batch_id = post_batch(api, _files(total), options=OPTIONS).json()["id"]
        c = api.container
        index = c.archive.index
        lost: list[int] = []

        real = index.commit_group

        def losing(group: RowGroup) -> list[bool]:
            """The first group's commit fails (the database went away): nothing stored."""
            if not lost:
                lost.append(len(group.rows))
                return [False] * len(group.rows)
            return real(group)

        monkeypatch.setattr(index, "commit_group", losing)
        worker = BatchWorker(
            batch_store(c), c.sign_flow, c.api_keys, threads=1, index=index, commit_group=4
        )
        batch = _run(api, batch_id, [worker])
        assert lost == [total]  # one group of every file, dropped
        assert batch["counts"] == {"queued": 0, "running": 0, "done": total, "failed": 0}
        assert [f["attempts"] for f in batch["files"]] == [2] * total  # sealed again
        assert count(api, "SELECT count(*) FROM archives") == total  # no row twice
        assert count(api, "SELECT count(*) FROM audit WHERE action = 'seal.use'") == total
        assert c.audit.verify()["ok"]
