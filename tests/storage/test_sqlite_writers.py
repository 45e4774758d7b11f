"""SQLite writers take turns: threads of one process, then processes, before SQLite's lock."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import text

from storage.db import WRITE, StorageUnavailable, make_engine, translate_errors
from storage.sqlite_writers import SqliteWriters

HOLD = """
import fcntl, sys, time
f = open(sys.argv[1], "a+")
fcntl.flock(f, fcntl.LOCK_EX)
print("held", flush=True)
time.sleep(float(sys.argv[2]))
"""


def _engine(tmp_path: Path):  # type: ignore[no-untyped-def]
    engine = make_engine(f"sqlite:///{tmp_path / 'w.db'}")
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE t (n INTEGER)")
    return engine


def _hold_lock(path: Path, seconds: float) -> subprocess.Popen[str]:
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(path), str(seconds)],
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
    return proc


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


def test_a_writer_of_another_process_is_waited_for(tmp_path: Path) -> None:
    engine = _engine(tmp_path).execution_options(**WRITE)
    holder = _hold_lock(tmp_path / "w.db.writers", 0.8)
    started = time.monotonic()
    with engine.begin() as conn:  # waits for the other process's turn to end
        conn.execute(text("INSERT INTO t VALUES (1)"))
    waited = time.monotonic() - started
    holder.wait(timeout=10)
    assert waited >= 0.5, waited
    # reads never wait for writers
    holder = _hold_lock(tmp_path / "w.db.writers", 5)
    try:
        with engine.connect() as conn:
            assert conn.scalar(text("SELECT count(*) FROM t")) == 1
    finally:
        holder.kill()
        holder.wait()


def test_a_turn_that_never_comes_is_database_unavailable_and_frees_the_thread_lock(
        tmp_path: Path) -> None:
    writers = SqliteWriters(tmp_path / "x.writers", timeout_s=0.3)
    holder = _hold_lock(tmp_path / "x.writers", 5)
    try:
        import sqlite3

        with pytest.raises(sqlite3.OperationalError, match="database is locked"):
            writers.acquire()
    finally:
        holder.kill()
        holder.wait()
    writers.acquire()  # the thread lock was given back: the next writer gets its turn
    writers.release()


def test_the_timeout_reaches_callers_as_storage_unavailable(tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch
                                                             ) -> None:
    import storage.db as db

    monkeypatch.setattr(db, "SQLITE_BUSY_TIMEOUT_MS", 300)
    engine = _engine(tmp_path).execution_options(**WRITE)
    holder = _hold_lock(tmp_path / "w.db.writers", 5)
    try:
        with pytest.raises(StorageUnavailable), translate_errors(), engine.begin() as conn:
            conn.execute(text("INSERT INTO t VALUES (1)"))
    finally:
        holder.kill()
        holder.wait()
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO t VALUES (2)"))
    with engine.connect() as conn:
        assert conn.scalar(text("SELECT count(*) FROM t")) == 1
