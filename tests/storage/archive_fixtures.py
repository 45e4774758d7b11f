"""Fixtures of the archive tests; a module loads them with ``pytest_plugins``."""

from __future__ import annotations

import secrets
import shutil
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
from archive_helpers import USCC_A, USCC_B, add_enterprise
from sqlalchemy import Engine, create_engine, delete

from storage.db import make_engine, migrate
from storage.tables import ArchiveRow, ArchiveSealRow, EnterpriseRow


@pytest.fixture(scope="session")
def _sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One migrated SQLite database with two enterprises, copied for each test (fast)."""
    path = tmp_path_factory.mktemp("archive-db") / "template.db"
    engine = make_engine(f"sqlite:///{path}")
    try:
        migrate(engine)
        add_enterprise(engine, USCC_A)
        add_enterprise(engine, USCC_B)
        with engine.connect() as conn:
            conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        engine.dispose()
    return path


@pytest.fixture
def sqlite_engine(_sqlite_template: Path, tmp_path: Path) -> Iterator[Engine]:
    """A migrated SQLite database of the test's own, holding enterprises A and B."""
    path = tmp_path / "eseal.db"
    shutil.copyfile(_sqlite_template, path)
    engine = make_engine(f"sqlite:///{path}")
    try:
        yield engine
    finally:
        engine.dispose()


@pytest.fixture(
    scope="module",
    params=[pytest.param("sqlite"), pytest.param("postgres", marks=pytest.mark.postgres)],
)
def _module_db(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Engine]:
    """One migrated database per test module and backend (as ``db_url``, but migrated once)."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('archive-db') / 'eseal.db'}"
    else:
        base = request.getfixturevalue("pg_database")  # tests/storage/conftest.py
        schema = f"a_{secrets.token_hex(6)}"
        admin = create_engine(base)
        try:
            with admin.begin() as conn:
                conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
        finally:
            admin.dispose()
        url = f"{base}?options={quote(f'-csearch_path={schema}')}"
    engine = make_engine(url)
    try:
        migrate(engine)
        yield engine
    finally:
        engine.dispose()


@pytest.fixture
def db(_module_db: Engine) -> Engine:
    """The module's database, emptied, with enterprises A and B: SQLite, then PostgreSQL."""
    with _module_db.begin() as conn:
        for table in (ArchiveSealRow, ArchiveRow, EnterpriseRow):
            conn.execute(delete(table))
    add_enterprise(_module_db, USCC_A)
    add_enterprise(_module_db, USCC_B)
    return _module_db
