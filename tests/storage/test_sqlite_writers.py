"""SQLite writers take turns: threads of one process, then processes, before SQLite's lock.

Nothing here sleeps or measures time: another process holds the writers' turn until the test
tells it to let go (:class:`Holder`), and a thread of this process holds its turn until the
test sets an event.  A read that waited for either would wait for something that does not
happen until after the read, and end in ``database is locked`` instead of passing.
"""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from helpers import READY_TIMEOUT_S, wait_until
from storage.db import WRITE, StorageUnavailable, make_engine, translate_errors
from storage.sqlite_writers import SqliteWriters

HOLD = """
import fcntl, sqlite3, sys
db, lock = sys.argv[1], sys.argv[2]
f = open(lock, "a+")
fcntl.flock(f, fcntl.LOCK_EX)  # the writers' turn, as another eseal process takes it
conn = sqlite3.connect(db, isolation_level=None) if db else None
print("held", flush=True)
for line in sys.stdin:  # SQL to run while holding the turn, until "exit"
    if line.strip() == "exit":
        break
    conn.execute(line)
    print("ok", flush=True)
"""


class Holder:
    """Another process that holds the writers' turn until :meth:`release`; :meth:`sql` runs
    statements in it (on ``db``) meanwhile.  No sleeping: the test decides when."""

    def __init__(self, lock: Path, db: Path | None = None) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-c", HOLD, str(db or ""), str(lock)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self._line() == "held"

    def _line(self) -> str:
        assert self.proc.stdout is not None
        return self.proc.stdout.readline().strip()

    def _send(self, line: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()

    def sql(self, statement: str) -> None:
        self._send(statement)
        assert self._line() == "ok", statement

    def release(self) -> None:
        """End the process: its turn is free, an open transaction of it rolled back."""
        self._send("exit")
        assert self.proc.wait(timeout=READY_TIMEOUT_S) == 0

    def __enter__(self) -> Holder:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        for stream in (self.proc.stdin, self.proc.stdout):
            if stream is not None:
                stream.close()


def _engine(tmp_path: Path) -> Engine:
    engine = make_engine(f"sqlite:///{tmp_path / 'w.db'}")
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE t (n INTEGER)")
    return engine


def _rows(engine: Engine) -> list[int]:
    """A plain read (DEFERRED: it asks for no writer's turn)."""
    with engine.connect() as conn:
        return [int(n) for n in conn.scalars(text("SELECT n FROM t ORDER BY rowid"))]


def _asking_for_its_turn(thread: threading.Thread) -> bool:
    """Whether ``thread`` is inside :meth:`SqliteWriters.acquire` right now."""
    frame = sys._current_frames().get(thread.ident or -1)
    while frame is not None:
        if frame.f_code is SqliteWriters.acquire.__code__:
            return True
        frame = frame.f_back
    return False


def test_many_threads_write_and_every_write_lands(tmp_path: Path) -> None:
    engine = _engine(tmp_path).execution_options(**WRITE)
    errors: list[BaseException] = []

    def writer(k: int) -> None:
        try:
            for i in range(25):
                with engine.begin() as conn:
                    conn.execute(text("INSERT INTO t VALUES (:n)"), {"n": k * 100 + i})
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(k,)) for k in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    with engine.connect() as conn:
        assert conn.scalar(text("SELECT count(DISTINCT n) FROM t")) == 300
    assert (tmp_path / "w.db.writers").exists()


@pytest.mark.slow
def test_a_writer_of_another_process_is_waited_for(tmp_path: Path) -> None:
    engine = _engine(tmp_path)
    writes = engine.execution_options(**WRITE)
    errors: list[BaseException] = []

    def write() -> None:
        try:
            with writes.begin() as conn:
                conn.execute(text("INSERT INTO t VALUES (1)"))
        except BaseException as exc:
            errors.append(exc)

    with Holder(tmp_path / "w.db.writers", tmp_path / "w.db") as other:
        writer = threading.Thread(target=write)
        writer.start()
        try:
            wait_until(
                lambda: _asking_for_its_turn(writer) or not writer.is_alive(),
                "the writer asking for its turn",
            )
            # while it queues, SQLite's own lock is free: the other process writes and commits
            other.sql("INSERT INTO t VALUES (99)")
            assert writer.is_alive() and _rows(engine) == [99], errors
        finally:
            other.release()
            writer.join()
    assert errors == []
    assert _rows(engine) == [99, 1]  # this process's row came after the other's turn ended


@pytest.mark.slow
def test_reads_never_wait_for_a_writer_of_another_process(tmp_path: Path) -> None:
    engine = _engine(tmp_path)
    with engine.execution_options(**WRITE).begin() as conn:
        conn.execute(text("INSERT INTO t VALUES (1)"))
    with Holder(tmp_path / "w.db.writers", tmp_path / "w.db") as other:
        # the other process holds the writers' turn and SQLite's write lock, with a row of
        # its own written and not committed; it lets go only when told, after the read
        other.sql("BEGIN IMMEDIATE")
        other.sql("INSERT INTO t VALUES (99)")
        assert _rows(engine) == [1]  # the read is answered now, from the last commit
        other.sql("COMMIT")
        assert _rows(engine) == [1, 99]
        other.release()


def test_reads_never_wait_for_a_writer_of_this_process(tmp_path: Path) -> None:
    engine = _engine(tmp_path)
    writes = engine.execution_options(**WRITE)
    with writes.begin() as conn:
        conn.execute(text("INSERT INTO t VALUES (1)"))
    inside, leave = threading.Event(), threading.Event()
    errors: list[BaseException] = []

    def write() -> None:
        try:
            with writes.begin() as conn:
                conn.execute(text("INSERT INTO t VALUES (2)"))
                inside.set()
                leave.wait()  # holds its turn and SQLite's write lock until the test lets go
        except BaseException as exc:
            errors.append(exc)
            inside.set()

    writer = threading.Thread(target=write)
    writer.start()
    try:
        assert inside.wait(READY_TIMEOUT_S) and errors == []
        assert _rows(engine) == [1]  # answered while the writer is inside its transaction
        assert writer.is_alive()
    finally:
        leave.set()
        writer.join()
    assert errors == []
    assert _rows(engine) == [1, 2]


def test_a_turn_that_never_comes_is_database_unavailable_and_frees_the_thread_lock(
    tmp_path: Path,
) -> None:
    writers = SqliteWriters(tmp_path / "x.writers", timeout_s=0.3)
    with Holder(tmp_path / "x.writers") as other:
        with pytest.raises(sqlite3.OperationalError, match="database is locked"):
            writers.acquire()
        other.release()
    writers.acquire()  # the thread lock was given back: the next writer gets its turn
    writers.release()


def test_the_timeout_reaches_callers_as_storage_unavailable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import storage.db as db

    monkeypatch.setattr(db, "SQLITE_BUSY_TIMEOUT_MS", 300)
    engine = _engine(tmp_path).execution_options(**WRITE)
    with Holder(tmp_path / "w.db.writers") as other:
        with pytest.raises(StorageUnavailable), translate_errors(), engine.begin() as conn:
            conn.execute(text("INSERT INTO t VALUES (1)"))
        other.release()
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO t VALUES (2)"))
    assert _rows(engine) == [2]  # the refused write left nothing behind
