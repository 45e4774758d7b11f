"""Fixtures of the batch tests: the HTTP app on SQLite and on PostgreSQL, and batch helpers.

A plain module, not a ``conftest``: a test module loads its fixtures with
``pytest_plugins = ["batch_fixtures"]`` (never imports it: its helpers are in
``batch_helpers``).

PostgreSQL: a schema of its own per test in the database of ``ESEAL_TEST_PG_URL`` (default
``postgres`` on 127.0.0.1:5432, database ``test``), dropped afterwards; the two enterprises
of the HTTP tests are registered in it.  Unreachable: skipped (failed with ``CI`` set).
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, exc
from sqlalchemy.engine import make_url

from api.app import create_app
from api.container import build
from api.settings import Settings
from helpers import OTHER_USCC, USCC, Api, license_data, settings_on_copy, unavailable
from seals.license import parse_license

PG_ADMIN_URL = os.environ.get(
    "ESEAL_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
#: who gets a key in a database of their own: the caller names of ``Api.headers``
CALLERS = (
    ("admin", "admin", None),
    ("own", "enterprise", USCC),
    ("other", "enterprise", OTHER_USCC),
    ("verifier", "verifier", None),
)


@contextmanager
def pg_schema() -> Iterator[str]:
    """A URL whose connections live in a new, empty schema (dropped at the end)."""
    admin = create_engine(PG_ADMIN_URL, connect_args={"connect_timeout": 5})
    schema = f"b_{secrets.token_hex(6)}"
    try:
        with admin.begin() as conn:
            conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    except exc.OperationalError as err:
        admin.dispose()
        where = make_url(PG_ADMIN_URL).render_as_string(hide_password=True)
        unavailable(f"PostgreSQL not reachable at {where} (set ESEAL_TEST_PG_URL): {err.orig}")
    options = quote(f"-csearch_path={schema}")
    base = make_url(PG_ADMIN_URL).render_as_string(hide_password=False)
    try:
        yield f"{base}?options={options}"
    finally:
        with admin.begin() as conn:
            conn.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        admin.dispose()


def register_callers(settings: Settings) -> dict[str, str]:
    """The two enterprises and a key per caller in the settings' (empty) database."""
    c = build(settings)
    try:
        c.seals.register(parse_license(license_data()))
        c.seals.register(
            parse_license(
                license_data(uscc=OTHER_USCC, name="示例贸易有限公司", legal_representative="李娜")
            )
        )
        tokens = {}
        for who, role, uscc in CALLERS:
            _, tokens[who] = c.api_keys.create(role=role, uscc=uscc, name=who, actor="test")
        return tokens
    finally:
        c.close()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_settings(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    _initialised_template: Path,
    _registered_template: Any,
) -> Iterator[tuple[Settings, dict[str, str]]]:
    """Settings of a data dir with both enterprises registered, and the callers' tokens: on
    SQLite (a copy of the session's registered dir) or in a PostgreSQL schema of its own."""
    if request.param == "sqlite":
        settings = settings_on_copy(_registered_template.data_dir, tmp_path)
        yield settings, dict(_registered_template.tokens)
        return
    with pg_schema() as url:
        settings = settings_on_copy(_initialised_template, tmp_path).model_copy(
            update={"database_url": url}
        )
        yield settings, register_callers(settings)


@pytest.fixture
def batch_api(db_settings: tuple[Settings, dict[str, str]]) -> Iterator[Api]:
    """The HTTP app with its batch workers running, on SQLite and on PostgreSQL."""
    settings, tokens = db_settings
    app = create_app(settings.model_copy(update={"max_upload_mb": 2, "batch_poll_seconds": 0.2}))
    with TestClient(app) as client:
        yield Api(client, app.state.container, tokens)
