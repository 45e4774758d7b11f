"""What the two-tier tests deploy: a centre, two front systems and a proxy (issue 19).

The deployment is made once per module and backend; its tests run in file order and each
leaves it working for the next (they are the steps of one operator's story).
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, exc
from sqlalchemy.engine import make_url
from tiers import FeedProxy, Server

from api.container import build
from api.front import initialise_front
from api.settings import Settings
from helpers import OTHER_USCC, ROOT, TEST_PUBLIC_URL, USCC, license_data, unavailable
from seals.license import parse_license
from storage.apikeys import ApiKeyStore
from storage.db import make_engine

PG_ADMIN_URL = os.environ.get(
    "ESEAL_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
ACCESS_FORM: dict[str, Any] = json.loads(
    (ROOT / "examples" / "access-form.json").read_text(encoding="utf-8")
)
#: how often the fronts pull, and when their replica counts as stale (seconds)
FEED_INTERVAL = "0.3"
MAX_AGE = "4"


@dataclass
class Tiers:
    centre: Server
    front: Server
    second: Server
    proxy: FeedProxy
    tokens: dict[str, str]
    front_admin: str
    second_admin: str
    centre_settings: Settings
    #: a PDF sealed at the centre with two seals of the example enterprise
    sealed: bytes
    extra: dict[str, Any] = field(default_factory=dict)


class Databases:
    """Fresh PostgreSQL databases, dropped at the end."""

    def __init__(self) -> None:
        self.admin = create_engine(
            PG_ADMIN_URL, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 5}
        )
        self.names: list[str] = []

    def new(self) -> str:
        name = f"eseal_front_{secrets.token_hex(6)}"
        try:
            with self.admin.connect() as conn:
                conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
        except exc.OperationalError as err:
            unavailable(f"PostgreSQL not reachable (set ESEAL_TEST_PG_URL): {err.orig}")
        self.names.append(name)
        return make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)

    def drop(self) -> None:
        with self.admin.connect() as conn:
            for name in self.names:
                conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        self.admin.dispose()


def front_form(name: str) -> dict[str, Any]:
    return {**ACCESS_FORM, "application_system": name, "front_system": True}


def make_centre(
    tmp: Path, template: Path, db: str | None
) -> tuple[dict[str, str], dict[str, str], Settings]:
    data = tmp / "centre"
    shutil.copytree(template, data)
    settings = Settings(data_dir=data, public_url=TEST_PUBLIC_URL, database_url=db)
    c = build(settings)
    try:
        c.seals.register(parse_license(license_data()))
        tokens = {}
        for who, role, uscc, form in (
            ("admin", "admin", None, None),
            ("own", "enterprise", USCC, None),
            ("bank", "verifier", None, {**ACCESS_FORM, "application_system": "对公开户"}),
            ("front", "verifier", None, front_form("省级前置系统")),
            ("second", "verifier", None, front_form("市级前置系统")),
        ):
            _, tokens[who] = c.api_keys.create(
                role=role, uscc=uscc, name=who, actor="test", access_form=form
            )
    finally:
        c.close()
    env = {"ESEAL_DATA_DIR": str(data), "ESEAL_PUBLIC_URL": TEST_PUBLIC_URL}
    if db:
        env["ESEAL_DATABASE_URL"] = db
    return env, tokens, settings


def make_front(
    tmp: Path, name: str, db: str | None, upstream: str, token: str
) -> tuple[Server, str]:
    data = tmp / name
    settings = Settings(data_dir=data, database_url=db, mode="front")
    initialise_front(settings)
    engine = make_engine(settings.db_url)
    try:
        _, admin = ApiKeyStore(engine).create(role="admin", uscc=None, name="front", actor="t")
    finally:
        engine.dispose()
    env = {
        "ESEAL_DATA_DIR": str(data),
        "ESEAL_UPSTREAM_TOKEN": token,
        "ESEAL_FEED_INTERVAL_SECONDS": FEED_INTERVAL,
        "ESEAL_REGISTRY_MAX_AGE": MAX_AGE,
    }
    if db:
        env["ESEAL_DATABASE_URL"] = db
    server = Server(env, tmp / f"{name}.log", args=("--mode", "front", "--upstream", upstream))
    return server, admin


def permit(number: str) -> dict[str, Any]:
    return {
        "type": "permit",
        "name": "食品经营许可证",
        "number": number,
        "issuing_authority": "北京市海淀区市场监督管理局",
        "valid_from": "2024-01-01",
        "valid_to": "2029-12-31",
    }


def change_offline(t: Tiers, count: int) -> list[str]:
    """Changes written to the centre's database while its server is down (as the CLI
    does): ``count`` permits of the example enterprise, and a second enterprise registered
    and suspended.  The permits' numbers."""
    from seals.license import LicenseStatus
    from seals.permits import PermitInput

    c = build(t.centre_settings)
    try:
        numbers = [f"OFF-{i}" for i in range(count)]
        for number in numbers:
            c.permits.add(USCC, PermitInput.model_validate(permit(number)), actor="test")
        c.seals.register(
            parse_license(
                license_data(uscc=OTHER_USCC, name="示例贸易有限公司", legal_representative="李娜")
            )
        )
        c.seals.change_status(OTHER_USCC, LicenseStatus.SUSPENDED, "停业整顿", actor="test")
    finally:
        c.close()
    return numbers
