"""Engines, schema migrations, and the mapping of database failures to eseal errors.

SQLite (the embedded default) and PostgreSQL (production) are both supported.  For SQLite the
engine turns on foreign keys, WAL and a busy timeout on every new connection, and takes over
``BEGIN`` from the ``sqlite3`` driver so that every transaction, reads included, is a real one.
Writing transactions of the repository start with ``BEGIN IMMEDIATE`` so that two writers queue
on the busy timeout instead of failing when one of them upgrades its read lock.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event, exc, pool
from sqlalchemy.engine import URL, Connection, make_url

from seals.errors import ErrorKind, EsealError

from .sqlite_writers import SqliteWriters

__all__ = [
    "WRITE",
    "StorageUnavailable",
    "alembic_config",
    "make_engine",
    "migrate",
    "translate_errors",
]

#: execution option read by the SQLite ``begin`` hook: ``DEFERRED`` (default) or ``IMMEDIATE``
SQLITE_BEGIN = "eseal_sqlite_begin"
#: execution options for a transaction that writes
WRITE: dict[str, Any] = {SQLITE_BEGIN: "IMMEDIATE"}

#: how long a SQLite connection waits for another writer's lock, in milliseconds
SQLITE_BUSY_TIMEOUT_MS = 10_000
_HOLDS_WRITE_LOCK = "eseal_sqlite_writer"
#: default libpq connect timeout, in seconds, unless the URL sets one
PG_CONNECT_TIMEOUT_S = 10
#: any constant: the key of the PostgreSQL advisory lock held while migrating
_PG_MIGRATION_LOCK = 0x65_5345_414C  # "eSEAL"

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


class StorageUnavailable(EsealError):
    """The metadata database cannot be reached or is not answering; retry later."""

    code = "database_unavailable"
    kind = ErrorKind.UNAVAILABLE
    title = "Database unavailable"


@contextmanager
def translate_errors() -> Iterator[None]:
    """Turn connection-level database failures into :class:`StorageUnavailable`.

    Constraint violations and programming errors pass through unchanged: they are bugs or
    conflicts, not outages.  The original exception stays attached as ``__cause__`` for logs;
    the detail shown to clients names no host, file or driver message.
    """
    try:
        yield
    except (exc.OperationalError, exc.InterfaceError) as err:
        raise StorageUnavailable("the metadata database is not available; try again later") from err
    except exc.TimeoutError as err:  # connection pool exhausted
        raise StorageUnavailable(
            "the metadata database is overloaded (no free connection); try again later"
        ) from err
    except exc.DBAPIError as err:
        if err.connection_invalidated:
            raise StorageUnavailable(
                "the connection to the metadata database was lost; try again later"
            ) from err
        raise


def _is_memory_sqlite(url: URL) -> bool:
    database = url.database or ""
    return (
        database in ("", ":memory:")
        or (database.startswith("file:") and "mode=memory" in database)
        or url.query.get("mode") == "memory"
    )


def _writers_lock_path(url: URL) -> Path:
    """``<database file>.writers``, beside the database (``file:`` URIs included)."""
    database = url.database or ""
    if database.startswith("file:"):
        database = database[len("file:") :].split("?", 1)[0]
    path = Path(database)
    return path.with_name(path.name + ".writers")


def make_engine(url: str | URL, **kwargs: Any) -> Engine:
    """An engine for ``url`` set up as eseal needs it; ``kwargs`` go to ``create_engine``."""
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        connect_args: dict[str, Any] = {"check_same_thread": False}
        connect_args.update(kwargs.pop("connect_args", {}))
        memory = _is_memory_sqlite(parsed)
        if memory:
            # one shared connection, or every thread would see its own empty database
            kwargs.setdefault("poolclass", pool.StaticPool)
        engine = create_engine(parsed, connect_args=connect_args, **kwargs)
        _install_sqlite_hooks(
            engine, wal=not memory, lock_path=None if memory else _writers_lock_path(parsed)
        )
        return engine
    if backend == "postgresql":
        connect_args = dict(kwargs.pop("connect_args", {}))
        if "connect_timeout" not in parsed.query:
            connect_args.setdefault("connect_timeout", PG_CONNECT_TIMEOUT_S)
        kwargs.setdefault("pool_pre_ping", True)
        return create_engine(parsed, connect_args=connect_args, **kwargs)
    kwargs.setdefault("pool_pre_ping", True)
    return create_engine(parsed, **kwargs)


def _install_sqlite_hooks(engine: Engine, *, wal: bool, lock_path: Path | None) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # leave BEGIN to the hook below (the driver's own skips it for SELECT)
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
            if wal:
                cursor.execute("PRAGMA journal_mode=WAL")
                cursor.execute("PRAGMA synchronous=NORMAL")
        finally:
            cursor.close()

    writers = SqliteWriters(lock_path, SQLITE_BUSY_TIMEOUT_MS / 1000)

    def _release(info: dict[str, Any]) -> None:
        if info.pop(_HOLDS_WRITE_LOCK, False):
            writers.release()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        mode = conn.get_execution_options().get(SQLITE_BEGIN, "DEFERRED")
        if mode not in ("DEFERRED", "IMMEDIATE", "EXCLUSIVE"):
            raise ValueError(f"bad SQLite begin mode {mode!r}")
        if mode != "DEFERRED" and not conn.info.get(_HOLDS_WRITE_LOCK):
            try:
                writers.acquire()  # see storage/sqlite_writers.py
            except sqlite3.OperationalError as err:  # as SQLite's own busy timeout would say
                raise exc.OperationalError(f"BEGIN {mode}", None, err) from None
            conn.info[_HOLDS_WRITE_LOCK] = True
        try:
            conn.exec_driver_sql(f"BEGIN {mode}")
        except BaseException:
            _release(conn.info)
            raise

    @event.listens_for(engine, "commit")
    def _on_commit(conn: Connection) -> None:
        _release(conn.info)

    @event.listens_for(engine, "rollback")
    def _on_rollback(conn: Connection) -> None:
        _release(conn.info)

    @event.listens_for(engine, "checkin")
    def _on_checkin(_dbapi_connection: Any, record: Any) -> None:
        _release(record.info)  # a transaction that ended without commit or rollback


def alembic_config(connection: Connection | None = None) -> Config:
    """The Alembic configuration of eseal, built in code (there is no ``alembic.ini``).

    With ``connection``, migrations run on it; ``env.py`` also accepts ``sqlalchemy.url``.
    """
    cfg = Config()
    # ConfigParser interpolation: a literal % must be doubled
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR).replace("%", "%%"))
    cfg.set_main_option("path_separator", "os")
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


def migrate(url_or_engine: str | URL | Engine, revision: str = "head") -> None:
    """Bring the schema up to ``revision`` (``alembic upgrade head``); safe to run again.

    Runs in one transaction.  Concurrent callers (several workers starting at once) are
    serialised: by an advisory lock on PostgreSQL, by ``BEGIN IMMEDIATE`` on SQLite.
    """
    owned = not isinstance(url_or_engine, Engine)
    engine = make_engine(url_or_engine) if not isinstance(url_or_engine, Engine) else url_or_engine
    try:
        with translate_errors(), engine.execution_options(**WRITE).begin() as connection:
            if connection.dialect.name == "postgresql":
                connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_PG_MIGRATION_LOCK})")
            command.upgrade(alembic_config(connection), revision)
    finally:
        if owned:
            engine.dispose()
