"""用印审批 end to end on PostgreSQL: the HTTP flow, and approvals racing to the quorum seal
the document once.

The database is a fresh schema in ``ESEAL_TEST_PG_URL``'s database (default: ``postgres`` on
127.0.0.1:5432, database ``test``), dropped afterwards; without a server the tests are skipped
(failed under ``CI``), as the storage tests are.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import threading
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, exc, text
from sqlalchemy.engine import make_url
from test_approvals import OPTIONS, add_approvers, archived, ask, audit_actions, decide, set_policy

from api.app import create_app
from helpers import USCC, Api, license_data, settings_on_copy, unavailable
from pdfs import simple_pdf
from seals.license import parse_license

pytestmark = pytest.mark.postgres

PG_ADMIN_URL = os.environ.get(
    "ESEAL_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


@pytest.fixture(scope="module")
def pg_url() -> Iterator[str]:
    """A schema of its own in the test database; every connection lives in it."""
    schema = f"approvals_{secrets.token_hex(5)}"
    admin = create_engine(PG_ADMIN_URL, connect_args={"connect_timeout": 5})
    try:
        with admin.begin() as conn:
            conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    except exc.OperationalError as err:
        admin.dispose()
        where = make_url(PG_ADMIN_URL).render_as_string(hide_password=True)
        unavailable(f"PostgreSQL not reachable at {where} (set ESEAL_TEST_PG_URL): {err.orig}")
    try:
        yield f"{PG_ADMIN_URL}?options={quote(f'-csearch_path={schema}')}"
    finally:
        with admin.begin() as conn:
            conn.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        admin.dispose()


@pytest.fixture(scope="module")
def pg_api(
    pg_url: str, _initialised_template: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Api]:
    """The app on PostgreSQL with one enterprise, its key and an admin key."""
    settings = settings_on_copy(_initialised_template, tmp_path_factory.mktemp("pg-approvals"))
    app = create_app(settings.model_copy(update={"database_url": pg_url}))
    with TestClient(app) as client:
        c = app.state.container
        assert c.engine.dialect.name == "postgresql"
        c.seals.register(parse_license(license_data()))
        tokens = {}
        for who, role, uscc in (("admin", "admin", None), ("own", "enterprise", USCC)):
            _, tokens[who] = c.api_keys.create(role=role, uscc=uscc, name=who, actor="test")
        yield Api(client, c, tokens)


def test_a_request_is_approved_and_sealed_on_postgresql(pg_api: Api) -> None:
    api = pg_api
    add_approvers(api, 2, prefix="pg")
    set_policy(api, quorum=2)
    pdf = simple_pdf(1, text="PG contract")
    before = archived(api)
    r = ask(api, pdf, amount="1000")
    assert r.status_code == 202, r.text
    approval = r.json()
    png = api.client.get(f"/v1/approvals/{approval['id']}/preview", headers=api.headers("pg1"))
    assert png.status_code == 200 and png.content.startswith(b"\x89PNG")
    assert decide(api, "pg1", approval["id"]).json()["status"] == "pending"
    assert decide(api, "own", approval["id"]).status_code == 403
    done = decide(api, "pg2", approval["id"])
    assert done.status_code == 200 and done.json()["status"] == "sealed", done.text
    sealed = api.client.get(f"/v1/approvals/{approval['id']}/document", headers=api.headers("own"))
    assert sealed.content.startswith(pdf)
    assert done.json()["result_sha256"] == hashlib.sha256(sealed.content).hexdigest()
    assert archived(api) == before + 1
    rejected = ask(api, simple_pdf(2))
    r = decide(api, "pg1", rejected.json()["id"], "reject", "no")
    assert r.json()["status"] == "rejected"
    assert api.client.get("/v1/audit/verify", headers=api.headers("admin")).json()["ok"]


def test_racing_approvals_seal_once_on_postgresql(pg_api: Api) -> None:
    api = pg_api
    racers = 4
    add_approvers(api, racers + 1, prefix="race")
    set_policy(api, quorum=2)
    seal_uses = audit_actions(api).count("seal.use")
    before = archived(api)
    for round_ in range(3):  # a race is a matter of luck: run it a few times
        approval = ask(api, simple_pdf(1, text=f"race {round_}"), OPTIONS).json()
        assert decide(api, "race1", approval["id"]).json()["status"] == "pending"
        start = threading.Barrier(racers)
        answers: list[httpx.Response] = []

        def approve(
            who: str,
            approval_id: str = approval["id"],
            start: threading.Barrier = start,
            answers: list[httpx.Response] = answers,
        ) -> None:
            start.wait()
            answers.append(decide(api, who, approval_id))

        threads = [
            threading.Thread(target=approve, args=(f"race{i}",)) for i in range(2, racers + 2)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert sorted(r.status_code for r in answers) == [200] + [409] * (racers - 1), [
            r.text for r in answers
        ]
        winner = next(r for r in answers if r.status_code == 200).json()
        assert winner["status"] == "sealed"
        assert {r.json()["code"] for r in answers if r.status_code == 409} == {"approval_closed"}
        assert len(winner["decisions"]) == 2  # the losers' decisions were not recorded
    assert archived(api) == before + 3
    assert audit_actions(api).count("seal.use") == seal_uses + 3
    with api.container.engine.connect() as conn:
        sealed = conn.execute(
            text(
                "SELECT count(*), count(DISTINCT archive_id) FROM approvals WHERE status = 'sealed'"
            )
        ).one()
    assert sealed[0] == sealed[1]
