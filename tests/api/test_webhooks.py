"""Signed webhooks over HTTP, delivered by the server's worker to a real local receiver.

On SQLite and PostgreSQL: events reach a receiver that was down once it is up, in the order of
their changes, none lost; the signature covers the exact body (a changed byte fails the
README's check), and both secrets sign during a rotation's overlap.  Also: who may see which
subscription, the refused destinations (https only, public addresses only, after DNS), the
address check at delivery time, giving up after the retry window, and redelivery.
"""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, exc
from sqlalchemy.engine import make_url
from webhook_receiver_fixture import Receiver, example_receiver

from api import answers
from api.app import create_app
from api.container import build
from api.settings import Settings
from helpers import OTHER_USCC, USCC, Api, license_data, unavailable, wait_until
from pdfs import simple_pdf
from seals.license import parse_license
from storage.webhooks import new_subscription_id

PG_ADMIN_URL = os.environ.get(
    "ESEAL_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
#: a receiver on this machine, over http, retried quickly
LOCAL = {
    "webhook_allow_http": True,
    "webhook_allow_private": True,
    "webhook_backoff_seconds": 0.2,
    "webhook_backoff_max_seconds": 0.5,
    "webhook_poll_seconds": 0.2,
}
E = f"/v1/enterprises/{USCC}"
rx_module = example_receiver()


@pytest.fixture(scope="module")
def pg_database() -> Iterator[str]:
    admin = create_engine(
        PG_ADMIN_URL, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 5}
    )
    name = f"eseal_wh_{secrets.token_hex(6)}"
    try:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    except exc.OperationalError as err:
        admin.dispose()
        unavailable(f"PostgreSQL not reachable (set ESEAL_TEST_PG_URL): {err.orig}")
    try:
        yield make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


def _pg_schema(base: str) -> str:
    schema = f"t_{secrets.token_hex(6)}"
    engine = create_engine(base)
    try:
        with engine.begin() as conn:
            conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    finally:
        engine.dispose()
    return f"{base}?options={quote(f'-csearch_path={schema}')}"


def _on_postgres(settings: Settings, base: str) -> tuple[Settings, dict[str, str]]:
    """``settings`` on a new PostgreSQL schema with the enterprise and its keys in it."""
    s = settings.model_copy(update={"database_url": _pg_schema(base)})
    c = build(s)
    try:
        c.seals.register(parse_license(license_data()))
        tokens = {
            "admin": c.api_keys.create(role="admin", uscc=None, name="a", actor="t")[1],
            "own": c.api_keys.create(role="enterprise", uscc=USCC, name="o", actor="t")[1],
        }
    finally:
        c.close()
    return s, tokens


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def hooked(
    request: pytest.FixtureRequest, settings: Settings, _registered_template: Any
) -> Iterator[Api]:
    """The app with its delivery worker, set up for a local receiver, on either database."""
    s = settings.model_copy(update=LOCAL)
    tokens = dict(_registered_template.tokens)
    if request.param == "postgres":
        s, tokens = _on_postgres(s, request.getfixturevalue("pg_database"))
    app = create_app(s)
    with TestClient(app) as client:
        yield Api(client, app.state.container, tokens)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    rx = Receiver()
    yield rx
    rx.down()


def _subscribe(api: Api, who: str, url: str, events: list[str], **more: Any) -> dict[str, Any]:
    r = api.client.post(
        "/v1/webhooks", headers=api.headers(who), json={"url": url, "events": events, **more}
    )
    assert r.status_code == 201, r.text
    body: dict[str, Any] = r.json()
    return body


def _post(api: Api, who: str, path: str, **kwargs: Any) -> Any:
    r = api.client.post(path, headers=api.headers(who), **kwargs)
    assert r.status_code in (200, 201), r.text
    return r


def _sign(api: Api) -> str:
    r = _post(
        api,
        "own",
        "/v1/sign",
        files={"file": ("c.pdf", simple_pdf(), "application/pdf")},
        data={"options": json.dumps({"reference": "HT-7", "document_type": "contract"})},
    )
    archive_id: str = r.headers["x-eseal-archive-id"]
    return archive_id


def _deliveries(api: Api, who: str, sub: dict[str, Any]) -> list[dict[str, Any]]:
    r = api.client.get(f"/v1/webhooks/{sub['id']}/deliveries", headers=api.headers(who))
    assert r.status_code == 200, r.text
    items: list[dict[str, Any]] = r.json()["items"]
    return items


def test_events_wait_for_a_receiver_that_is_down_and_arrive_in_order(
    hooked: Api, receiver: Receiver
) -> None:
    api = hooked
    sub = _subscribe(api, "own", receiver.url, ["*"], description="合同系统")
    everything = _subscribe(api, "admin", receiver.url, ["license.*"])  # admin-wide
    assert sub["uscc"] == USCC and everything["uscc"] is None

    # the receiver is down while the changes are made
    archive_id = _sign(api)
    _post(api, "own", f"/v1/archives/{archive_id}/renew")
    _post(api, "admin", f"{E}/seals/contract/suspend", json={})
    _post(api, "admin", f"{E}/seals/contract/resume", json={})
    _post(api, "admin", f"{E}/seals/finance/reissue", json={"reason_code": "superseded"})
    _post(api, "admin", f"{E}/status", json={"status": "suspended", "reason": "抽查"})
    wait_until(
        lambda: any(d["attempts"] >= 2 for d in _deliveries(api, "own", sub)),
        "the head of the queue retried while the receiver is down",
    )
    assert all(d["status"] == "pending" for d in _deliveries(api, "own", sub))
    head = _deliveries(api, "own", sub)[-1]
    log = api.client.get(
        f"/v1/webhooks/{sub['id']}/deliveries/{head['id']}", headers=api.headers("own")
    ).json()
    assert log["log"][0]["status_code"] is None and log["log"][0]["error"]

    receiver.up()
    wait_until(lambda: len(receiver.acked) >= 7, "every event delivered once the receiver is up")
    by_sub: dict[str, list[dict[str, Any]]] = {}
    for request in receiver.acked:
        assert request.headers["eseal-event-id"] == request.event["id"]
        for candidate in (sub, everything):  # whose secret signed it
            try:
                event = rx_module.verify(request.body, request.signature, [candidate["secret"]])
            except rx_module.Rejected:
                continue
            by_sub.setdefault(candidate["id"], []).append(event)
    assert [e["type"] for e in by_sub[sub["id"]]] == [
        "document.sealed",
        "document.extended",
        "seal.suspended",
        "seal.resumed",
        "seal.reissued",
        "license.status_changed",
    ]
    assert [e["type"] for e in by_sub[everything["id"]]] == ["license.status_changed"]
    sealed, extended, _, _, reissued, license_event = by_sub[sub["id"]]
    assert sealed["data"]["archive_id"] == archive_id == extended["data"]["archive_id"]
    assert sealed["data"]["reference"] == "HT-7" and extended["data"]["level"] == "B-LTA"
    assert sealed["data"]["seals"][0]["kind"] == "contract"
    assert reissued["data"]["version"] == 2 and reissued["data"]["previous"]["version"] == 1
    assert license_event["data"] == {"uscc": USCC, "from": "active", "to": "suspended"}
    assert license_event == by_sub[everything["id"]][0]  # one event, two subscribers
    wait_until(
        lambda: all(d["status"] == "delivered" for d in _deliveries(api, "own", sub)),
        "the log says delivered",
    )
    assert len({r.event["id"] for r in receiver.acked}) == 6


def test_the_signature_covers_the_body_and_both_secrets_sign_during_a_rotation(
    hooked: Api, receiver: Receiver
) -> None:
    api = hooked
    receiver.up()
    sub = _subscribe(api, "own", receiver.url, ["seal.*"])
    first = sub["secret"]
    assert first.startswith("whsec_")
    got = api.client.get(f"/v1/webhooks/{sub['id']}", headers=api.headers("own")).json()
    assert "secret" not in got and first not in json.dumps(got)  # shown once

    _post(api, "admin", f"{E}/seals/contract/suspend", json={})
    wait_until(lambda: len(receiver.acked) == 1, "the first event")
    request = receiver.acked[0]
    event = rx_module.verify(request.body, request.signature, [first])
    assert event["type"] == "seal.suspended" and event["data"]["kind"] == "contract"
    assert request.headers["eseal-event-id"] == event["id"]
    tampered = request.body.replace(b'"contract"', b'"finance"')
    assert tampered != request.body
    for body, keys in ((tampered, [first]), (request.body, ["whsec_wrong"])):
        with pytest.raises(rx_module.Rejected):
            rx_module.verify(body, request.signature, keys)
    t = int(request.signature.split(",")[0][2:])
    with pytest.raises(rx_module.Rejected, match="too old"):  # the same request, replayed late
        rx_module.verify(request.body, request.signature, [first], now=t + 301)
    seen = rx_module.SeenEvents()
    assert event["id"] not in seen
    seen.add(event["id"])
    assert event["id"] in seen  # the same event again (a retry or a replay): not acted on

    rotated = _post(api, "own", f"/v1/webhooks/{sub['id']}/rotate-secret", json={}).json()
    second = rotated["secret"]
    assert second != first and rotated["previous_secret_expires_at"] is not None
    _post(api, "admin", f"{E}/seals/contract/resume", json={})
    wait_until(lambda: len(receiver.acked) == 2, "the event after the rotation")
    request = receiver.acked[1]
    assert request.signature.count("v1=") == 2
    for key in (first, second):  # receivers switch at their own pace
        assert rx_module.verify(request.body, request.signature, [key])["type"] == "seal.resumed"

    third = _post(
        api, "own", f"/v1/webhooks/{sub['id']}/rotate-secret", json={"overlap_hours": 0}
    ).json()["secret"]
    _post(api, "admin", f"{E}/seals/contract/suspend", json={})
    wait_until(lambda: len(receiver.acked) == 3, "the event after the overlap ended")
    request = receiver.acked[2]
    assert request.signature.count("v1=") == 1
    rx_module.verify(request.body, request.signature, [third])
    with pytest.raises(rx_module.Rejected):
        rx_module.verify(request.body, request.signature, [first, second])


def test_who_may_see_and_change_which_subscription(api: Api) -> None:
    url = "https://93.184.215.14/hooks"  # a public address: no DNS needed
    own = _subscribe(api, "own", url, ["document.sealed"])
    other = _subscribe(api, "other", url, ["*"])
    everyone = _subscribe(api, "admin", url, ["*"])
    for_own = _subscribe(api, "admin", url, ["seal.*"], uscc=USCC)
    assert (own["uscc"], other["uscc"], everyone["uscc"], for_own["uscc"]) == (
        USCC,
        OTHER_USCC,
        None,
        USCC,
    )
    get = api.client.get
    listed = {
        who: {s["id"] for s in get("/v1/webhooks", headers=api.headers(who)).json()}
        for who in ("own", "other", "admin")
    }
    assert listed["own"] == {own["id"], for_own["id"]}
    assert listed["other"] == {other["id"]}
    assert listed["admin"] == {own["id"], other["id"], everyone["id"], for_own["id"]}
    r = get(f"/v1/webhooks?uscc={OTHER_USCC}", headers=api.headers("own"))
    assert r.status_code == 403

    for who, sub in (("other", own), ("own", other), ("own", everyone)):
        for method, path in (
            ("GET", ""),
            ("GET", "/deliveries"),
            ("POST", "/rotate-secret"),
            ("DELETE", ""),
        ):
            r = api.client.request(
                method, f"/v1/webhooks/{sub['id']}{path}", headers=api.headers(who)
            )
            assert r.status_code == 403, (who, method, path, r.text)
    r = api.client.post(
        "/v1/webhooks",
        headers=api.headers("own"),
        json={"url": url, "events": ["*"], "uscc": OTHER_USCC},
    )
    assert r.status_code == 403
    assert get(f"/v1/webhooks/{own['id']}", headers=api.headers("verifier")).status_code == 403

    assert (
        api.client.delete(f"/v1/webhooks/{own['id']}", headers=api.headers("own")).status_code
        == 204
    )
    r = get(f"/v1/webhooks/{own['id']}", headers=api.headers("admin"))
    assert r.status_code == 404 and r.json()["code"] == "webhook_not_found"
    actions = [e["action"] for e in get("/v1/audit", headers=api.headers("own")).json()["entries"]]
    assert actions.count("webhook.create") == 2 and "webhook.delete" in actions

    # the models name every key the routes send
    for model, body in (
        (answers.WebhookSecretAnswer, everyone),
        (
            answers.WebhookAnswer,
            get(f"/v1/webhooks/{other['id']}", headers=api.headers("admin")).json(),
        ),
        (
            answers.WebhookDeliveryPage,
            get(f"/v1/webhooks/{other['id']}/deliveries", headers=api.headers("admin")).json(),
        ),
    ):
        assert model.model_validate(body).model_extra == {}
        assert model.model_validate(body).model_dump(mode="json") == body


REFUSED = [
    ("http://93.184.215.14/hooks", "invalid_webhook_url"),
    ("ftp://93.184.215.14/", "invalid_webhook_url"),
    ("https://user:pw@93.184.215.14/", "invalid_webhook_url"),
    ("https://93.184.215.14/#x", "invalid_webhook_url"),
    ("https:///nohost", "invalid_webhook_url"),
    ("https://127.0.0.1:8443/", "webhook_address_not_allowed"),
    ("https://localhost:8443/", "webhook_address_not_allowed"),  # after resolution
    ("https://169.254.169.254/latest/meta-data", "webhook_address_not_allowed"),
    ("https://10.1.2.3/", "webhook_address_not_allowed"),
    ("https://192.168.1.1/", "webhook_address_not_allowed"),
    ("https://100.64.0.1/", "webhook_address_not_allowed"),
    ("https://[::1]/", "webhook_address_not_allowed"),
    ("https://[fe80::1]/", "webhook_address_not_allowed"),
    ("https://[fd00::1]/", "webhook_address_not_allowed"),
    ("https://[::ffff:192.168.0.1]/", "webhook_address_not_allowed"),
    ("https://0.0.0.0/", "webhook_address_not_allowed"),
]


def test_only_https_to_public_addresses_by_default(api: Api) -> None:
    for url, code in REFUSED:
        r = api.client.post(
            "/v1/webhooks", headers=api.headers("own"), json={"url": url, "events": ["*"]}
        )
        assert (r.status_code, r.json()["code"]) == (422, code), url
    r = api.client.post(
        "/v1/webhooks",
        headers=api.headers("own"),
        json={"url": "https://93.184.215.14/", "events": ["seal.exploded"]},
    )
    assert (r.status_code, r.json()["code"]) == (422, "invalid_webhook_events")
    assert api.client.get("/v1/webhooks", headers=api.headers("admin")).json() == []
    _subscribe(api, "own", "https://93.184.215.14/hooks", ["*"])


def test_the_address_is_checked_again_at_delivery(
    settings: Settings, _registered_template: Any, receiver: Receiver
) -> None:
    """A name that resolved to a public address when subscribed may point elsewhere later:
    here the subscription is stored as if it had (loopback now), and is never sent to."""
    receiver.up()
    s = settings.model_copy(update={**LOCAL, "webhook_allow_private": False})
    app = create_app(s)
    with TestClient(app) as client:
        api = Api(client, app.state.container, dict(_registered_template.tokens))
        hooks = app.state.webhooks
        sub_id = new_subscription_id()
        hooks.store.create(
            sub_id,
            uscc=USCC,
            url=receiver.url.replace("127.0.0.1", "localhost"),
            events=["*"],
            description=None,
            secret=hooks.box.wrap(sub_id, "whsec_x"),
            actor="test",
        )
        _post(api, "admin", f"{E}/seals/contract/suspend", json={})
        sub = {"id": sub_id}
        wait_until(lambda: any(d["attempts"] for d in _deliveries(api, "own", sub)), "an attempt")
        (delivery,) = _deliveries(api, "own", sub)
        assert delivery["status"] == "pending" and "not a public address" in delivery["last_error"]
    assert receiver.received == []


def test_a_delivery_is_given_up_after_the_retry_window_and_can_be_sent_again(
    settings: Settings, _registered_template: Any, receiver: Receiver
) -> None:
    receiver.status = 500
    receiver.up()
    s = settings.model_copy(update={**LOCAL, "webhook_retry_hours": 1.5 / 3600})
    app = create_app(s)
    with TestClient(app) as client:
        api = Api(client, app.state.container, dict(_registered_template.tokens))
        sub = _subscribe(api, "own", receiver.url, ["seal.*"])
        _post(api, "admin", f"{E}/seals/contract/suspend", json={})
        _post(api, "admin", f"{E}/seals/contract/resume", json={})
        wait_until(
            lambda: (
                all(d["status"] == "failed" for d in _deliveries(api, "own", sub))
                and len(_deliveries(api, "own", sub)) == 2
            ),
            "both given up",
        )
        # the queue moved on only once the first was given up: attempts never interleave
        types = [e["type"] for e in receiver.received_events()]
        first_resumed = types.index("seal.resumed")
        assert set(types[:first_resumed]) == {"seal.suspended"}
        assert set(types[first_resumed:]) == {"seal.resumed"}
        suspended = _deliveries(api, "own", sub)[-1]
        assert suspended["last_status_code"] == 500 and suspended["attempts"] >= 2

        receiver.status = 204
        r = api.client.post(
            f"/v1/webhooks/{sub['id']}/deliveries/{suspended['id']}/redeliver",
            headers=api.headers("own"),
        )
        assert r.status_code == 202, r.text
        again = r.json()
        assert (
            again["redelivery_of"] == suspended["id"] and again["event_id"] == suspended["event_id"]
        )
        wait_until(lambda: len(receiver.acked) > 0, "the redelivery")
        assert [e["id"] for e in receiver.acked_events()] == [suspended["event_id"]]
        path = f"/v1/webhooks/{sub['id']}/deliveries/{again['id']}"
        wait_until(
            lambda: (
                api.client.get(path, headers=api.headers("own")).json()["status"] == "delivered"
            ),
            "logged as delivered",
        )
        detail = api.client.get(path, headers=api.headers("own")).json()
        assert detail["event_type"] == "seal.suspended"
        assert [a["status_code"] for a in detail["log"]] == [204]


def test_the_events_are_in_the_openapi_document(api: Api) -> None:
    spec = api.client.get("/openapi.json").json()
    assert {"document.sealed", "seal.revoked", "license.status_changed"} <= set(spec["webhooks"])
    body = spec["webhooks"]["document.sealed"]["post"]["requestBody"]["content"]
    assert body["application/json"]["example"]["type"] == "document.sealed"
    assert body["application/json"]["schema"]["required"] == [
        "id",
        "type",
        "created_at",
        "uscc",
        "data",
    ]
