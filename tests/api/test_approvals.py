"""用印审批 over HTTP (SQLite): policies, 202 requests, separated duties, quorum, rejection,
expiry, a seal suspended meanwhile, OFD, racing approvals, and the audit chain."""

from __future__ import annotations

import hashlib
import io
import json
import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from PIL import Image
from sqlalchemy import text

from api.approval_flow import ApprovalFlow
from helpers import OTHER_USCC, USCC, Api
from ofds import simple_ofd
from pdfs import simple_pdf
from storage.approvals import ApprovalStore

E = f"/v1/enterprises/{USCC}/seal-policies"
CONTRACT_AT = {"kind": "contract", "page": 1, "x": 300, "y": 300}
OPTIONS = {"seals": [CONTRACT_AT], "document_type": "contract", "reference": "HT-7"}


def add_approvers(api: Api, count: int, uscc: str = USCC, prefix: str = "approver") -> list[str]:
    """``count`` approver keys of ``uscc`` (tokens in ``api.tokens`` as prefix1, prefix2 ...);
    their ids."""
    ids = []
    for i in range(1, count + 1):
        key, api.tokens[f"{prefix}{i}"] = api.container.api_keys.create(
            role="approver", uscc=uscc, name=f"{prefix} {i}", actor="test"
        )
        ids.append(key.id)
    return ids


def set_policy(api: Api, **policy: Any) -> httpx.Response:
    body = {"policies": [{"kind": "contract", "approval": "required", **policy}]}
    r = api.client.put(E, headers=api.headers("admin"), json=body)
    assert r.status_code == 200, r.text
    return r


def ask(
    api: Api,
    pdf: bytes,
    options: dict[str, Any] | None = None,
    who: str = "own",
    **data: str,
) -> httpx.Response:
    headers = api.headers(who)
    if "key" in data:
        headers["Idempotency-Key"] = data.pop("key")
    return api.client.post(
        "/v1/sign",
        headers=headers,
        files={"file": ("contract.pdf", pdf, "application/pdf")},
        data={"options": json.dumps(OPTIONS if options is None else options), **data},
    )


def decide(api: Api, who: str, approval_id: str, verb: str = "approve", comment: str = "ok"):  # type: ignore[no-untyped-def]
    return api.client.post(
        f"/v1/approvals/{approval_id}/{verb}", headers=api.headers(who), json={"comment": comment}
    )


def subscribe_to_approvals(api: Api) -> None:
    """A webhook subscription of the enterprise to ``approval.*`` (events are written only
    for subscribers; delivery itself: tests/api/test_webhooks.py)."""
    from storage.webhooks import WebhookStore, new_subscription_id

    WebhookStore(api.container.engine).create(
        new_subscription_id(),
        uscc=USCC,
        url="https://receiver.example.cn/eseal",
        events=["approval.*"],
        description=None,
        secret=b"\0" * 32,
        actor="test",
    )


def audit_actions(api: Api) -> list[str]:
    entries = api.client.get("/v1/audit?limit=1000", headers=api.headers("admin")).json()
    return [e["action"] for e in entries["entries"]]


def archived(api: Api) -> int:
    with api.container.engine.connect() as conn:
        return int(conn.execute(text("SELECT count(*) FROM archives")).scalar_one())


def test_policies_are_set_by_admins_and_read_by_the_enterprise(api: Api) -> None:
    ids = add_approvers(api, 2)
    r = api.client.put(
        E,
        headers=api.headers("admin"),
        json={
            "policies": [
                {
                    "kind": "contract",
                    "approval": "required",
                    "quorum": 2,
                    "condition": {"document_types": ["contract"], "min_amount": "100000"},
                },
                {"kind": "finance", "approval": "required", "approvers": [ids[0]]},
            ]
        },
    )
    assert r.status_code == 200, r.text
    for who in ("own", "approver1", "admin"):
        body = api.client.get(E, headers=api.headers(who)).json()
        assert sorted(body["approver_keys"]) == sorted(ids)
        by_kind = {p["kind"]: p for p in body["policies"]}
        assert list(by_kind) == ["official", "contract", "finance", "invoice", "legal_rep"]
        assert by_kind["contract"]["quorum"] == 2
        assert by_kind["contract"]["condition"] == {
            "document_types": ["contract"],
            "min_amount": "100000.00",
        }
        assert by_kind["finance"]["approvers"] == [ids[0]]
        assert by_kind["official"]["approval"] == "none"
    # the enterprise cannot turn its own approval off, an approver cannot either
    for who in ("own", "approver1"):
        assert api.client.put(E, headers=api.headers(who), json={"policies": []}).status_code == 403
    assert api.client.get(E, headers=api.headers("other")).status_code == 403
    # a quorum that no one can reach, an approver that is not one
    for policy in (
        {"kind": "contract", "approval": "required", "quorum": 3},
        {"kind": "contract", "approval": "required", "approvers": ["nosuchkey"]},
    ):
        r = api.client.put(E, headers=api.headers("admin"), json={"policies": [policy]})
        assert r.status_code == 422 and r.json()["code"] == "invalid_seal_policy", r.text
    assert "seal.policy" in audit_actions(api)


def test_a_request_waits_for_its_quorum_and_is_sealed_as_asked(api: Api) -> None:
    add_approvers(api, 3)
    set_policy(api, quorum=2)
    pdf = simple_pdf(2)
    r = ask(api, pdf, amount="250000.00")
    assert r.status_code == 202, r.text
    approval = r.json()
    assert r.headers["location"] == f"/v1/approvals/{approval['id']}"
    assert approval["status"] == "pending" and approval["amount"] == "250000.00"
    assert approval["document"]["sha256"] == hashlib.sha256(pdf).hexdigest()
    assert (
        approval["placements"][0]["page"] == 1 and approval["placements"][0]["kind"] == "contract"
    )
    assert archived(api) == 0  # nothing sealed yet
    url = f"/v1/approvals/{approval['id']}"

    # approvers read the request, the document as uploaded and a picture of the seal
    listed = api.client.get("/v1/approvals?status=pending", headers=api.headers("approver1"))
    assert [a["id"] for a in listed.json()["items"]] == [approval["id"]]
    original = api.client.get(f"{url}/original", headers=api.headers("approver1"))
    assert original.content == pdf
    png = api.client.get(f"{url}/preview", headers=api.headers("approver1"))
    assert png.headers["content-type"] == "image/png"
    image = Image.open(io.BytesIO(png.content)).convert("RGB")
    x0, y0, x1, y1 = approval["placements"][0]["rect"]
    sx, sy = image.width / 595, image.height / 842
    pixel = image.getpixel((int((x0 + x1) / 2 * sx), int((842 - (y0 + y1) / 2) * sy)))
    assert isinstance(pixel, tuple)
    red, green, _ = pixel
    assert red > green + 30, (red, green)  # the box, tinted red
    assert image.getpixel((int((x1 + 20) * sx), int((842 - y0 + 20) * sy))) == (255, 255, 255)

    # separation of duties: not the requester, not the admin, not another enterprise's key
    for who, status in (("own", 403), ("admin", 403), ("other", 403), ("verifier", 403)):
        assert decide(api, who, approval["id"]).status_code == status
    assert ask(api, pdf, who="approver1").status_code == 403  # an approver seals nothing

    first = decide(api, "approver1", approval["id"], comment="条款已审")
    assert first.status_code == 200 and first.json()["status"] == "pending"
    assert first.json()["requirements"][0]["approvals"] == 1
    again = decide(api, "approver1", approval["id"])
    assert again.status_code == 403 and again.json()["code"] == "decision_refused"
    not_yet = api.client.get(f"{url}/document", headers=api.headers("own"))
    assert not_yet.status_code == 409 and not_yet.json()["code"] == "approval_not_sealed"

    done = decide(api, "approver2", approval["id"])
    assert done.status_code == 200, done.text
    body = done.json()
    assert body["status"] == "sealed" and body["archive_id"]
    assert [d["name"] for d in body["decisions"]] == ["approver 1", "approver 2"]
    assert body["decisions"][0]["comment"] == "条款已审"
    sealed = api.client.get(f"{url}/document", headers=api.headers("own"))
    assert sealed.status_code == 200 and sealed.headers["content-type"] == "application/pdf"
    assert sealed.content.startswith(pdf)  # the same bytes, sealed incrementally
    assert sealed.headers["x-eseal-sha256"] == hashlib.sha256(sealed.content).hexdigest()
    assert body["result_sha256"] == sealed.headers["x-eseal-sha256"]

    # sealed with the options as sent: the archive record and the verifier say so
    record = api.client.get(f"/v1/archives/{body['archive_id']}", headers=api.headers("own"))
    assert record.json()["reference"] == "HT-7" and record.json()["document_type"] == "contract"
    report = api.client.post(
        "/v1/verify",
        headers=api.headers("approver1"),
        files={"file": ("s.pdf", sealed.content, "application/pdf")},
        data={"expect_uscc": USCC},
    ).json()
    assert report["valid"] is True
    assert [s["seal"]["kind"] for s in report["signatures"]] == ["contract"]
    third = decide(api, "approver3", approval["id"])
    assert third.status_code == 409 and third.json()["code"] == "approval_closed"
    gone = api.client.get(f"{url}/original", headers=api.headers("approver1"))
    assert gone.status_code == 404 and gone.json()["code"] == "approval_document_discarded"

    actions = audit_actions(api)
    tail = actions[actions.index("approval.request") :]
    assert tail == [
        "approval.request",
        "approval.approve",
        "approval.approve",
        "seal.use",
        "approval.seal",
    ]
    assert api.client.get("/v1/audit/verify", headers=api.headers("admin")).json()["ok"]
    assert archived(api) == 1


def test_a_rejection_ends_the_request(api: Api) -> None:
    add_approvers(api, 2)
    set_policy(api, quorum=2)
    approval = ask(api, simple_pdf(1)).json()
    url = f"/v1/approvals/{approval['id']}"
    assert decide(api, "approver1", approval["id"]).status_code == 200
    no_reason = api.client.post(f"{url}/reject", headers=api.headers("approver2"), json={})
    assert no_reason.status_code == 422  # a rejection says why
    r = decide(api, "approver2", approval["id"], "reject", "金额与审批单不符")
    assert r.status_code == 200 and r.json()["status"] == "rejected"
    assert r.json()["decisions"][-1] == {
        **r.json()["decisions"][-1],
        "decision": "reject",
        "comment": "金额与审批单不符",
    }
    assert r.json()["document"]["kept"] is False
    late = decide(api, "approver1", approval["id"])
    assert late.status_code == 409 and late.json()["approval_status"] == "rejected"
    assert api.client.get(f"{url}/document", headers=api.headers("own")).status_code == 409
    assert archived(api) == 0
    assert audit_actions(api)[-1] == "approval.reject"


def test_conditions_decide_which_requests_wait(api: Api) -> None:
    add_approvers(api, 1)
    set_policy(api, condition={"document_types": ["contract"], "min_amount": "100000.00"})
    pdf = simple_pdf(1)
    assert ask(api, pdf, amount="99999.99").status_code == 200  # below the amount: sealed
    other = {**OPTIONS, "document_type": "other"}
    assert ask(api, pdf, other, amount="500000").status_code == 200  # not a contract
    assert ask(api, pdf, amount="100000").status_code == 202
    assert ask(api, pdf).status_code == 202  # no amount stated: it waits
    bad = ask(api, pdf, amount="12.345")
    assert bad.status_code == 422 and bad.json()["code"] == "invalid_amount"
    # another kind's seal is not governed by the contract seal's policy
    assert ask(api, pdf, {"seals": [{"kind": "official"}]}).status_code == 200


def test_a_retry_with_the_same_key_finds_the_request(api: Api) -> None:
    add_approvers(api, 1)
    set_policy(api)
    pdf = simple_pdf(1)
    first = ask(api, pdf, key="order-17")
    second = ask(api, pdf, key="order-17")
    assert first.status_code == second.status_code == 202
    assert second.json()["id"] == first.json()["id"]
    assert second.headers["idempotent-replayed"] == "true"
    changed = ask(api, simple_pdf(2), key="order-17")
    assert changed.status_code == 409 and changed.json()["code"] == "idempotency_conflict"
    listed = api.client.get("/v1/approvals", headers=api.headers("own")).json()["items"]
    assert len(listed) == 1


def test_a_seal_suspended_meanwhile_fails_with_the_usual_code(api: Api) -> None:
    add_approvers(api, 1)
    set_policy(api)
    approval = ask(api, simple_pdf(1)).json()
    suspended = api.client.post(
        f"/v1/enterprises/{USCC}/seals/contract/suspend", headers=api.headers("admin"), json={}
    )
    assert suspended.status_code == 200
    r = decide(api, "approver1", approval["id"])
    assert r.status_code == 409 and r.json()["code"] == "seal_suspended", r.text
    body = api.client.get(f"/v1/approvals/{approval['id']}", headers=api.headers("own")).json()
    assert body["status"] == "failed" and body["error"]["code"] == "seal_suspended"
    assert archived(api) == 0
    assert audit_actions(api)[-1] == "approval.fail"
    # a request for a seal already suspended is refused at once, as sealing would be
    refused = ask(api, simple_pdf(1))
    assert refused.status_code == 409 and refused.json()["code"] == "seal_suspended"


def test_an_unanswered_request_expires(api: Api) -> None:
    add_approvers(api, 1)
    set_policy(api)
    now = [datetime.now(UTC)]
    store = ApprovalStore(api.container.engine, clock=lambda: now[0])
    api.client.app.state.approvals = ApprovalFlow(api.container, store)
    approval = ask(api, simple_pdf(1)).json()
    assert datetime.fromisoformat(approval["expires_at"]) == now[0] + timedelta(hours=72)
    now[0] += timedelta(hours=72, seconds=1)
    r = decide(api, "approver1", approval["id"])
    assert r.status_code == 409 and r.json()["approval_status"] == "expired"
    body = api.client.get(f"/v1/approvals/{approval['id']}", headers=api.headers("own")).json()
    assert body["status"] == "expired" and body["document"]["kept"] is False
    assert "approval.expire" in audit_actions(api)
    assert archived(api) == 0


def test_keys_of_other_enterprises_see_nothing(api: Api) -> None:
    add_approvers(api, 1)
    add_approvers(api, 1, uscc=OTHER_USCC, prefix="stranger")
    set_policy(api)
    approval = ask(api, simple_pdf(1)).json()
    url = f"/v1/approvals/{approval['id']}"
    for path in ("", "/original", "/preview", "/document"):
        assert api.client.get(url + path, headers=api.headers("stranger1")).status_code == 403
    assert decide(api, "stranger1", approval["id"]).status_code == 403
    assert api.client.get("/v1/approvals", headers=api.headers("stranger1")).json()["items"] == []
    admin_view = api.client.get(f"/v1/approvals?uscc={USCC}", headers=api.headers("admin"))
    assert [a["id"] for a in admin_view.json()["items"]] == [approval["id"]]


def test_an_ofd_goes_the_same_way(api: Api) -> None:
    add_approvers(api, 1)
    set_policy(api)
    ofd = simple_ofd(2)
    r = api.client.post(
        "/v1/sign",
        headers=api.headers("own"),
        files={"file": ("c.ofd", ofd, "application/ofd")},
        data={
            "options": json.dumps({"seals": [{"kind": "contract", "page": 1, "x": 150, "y": 60}]})
        },
    )
    assert r.status_code == 202, r.text
    approval = r.json()
    assert approval["document"]["format"] == "ofd"
    assert approval["placements"][0]["unit"] == "mm"
    png = api.client.get(
        f"/v1/approvals/{approval['id']}/preview", headers=api.headers("approver1")
    )
    assert png.content.startswith(b"\x89PNG")
    done = decide(api, "approver1", approval["id"])
    assert done.status_code == 200 and done.json()["status"] == "sealed", done.text
    sealed = api.client.get(f"/v1/approvals/{approval['id']}/document", headers=api.headers("own"))
    assert sealed.headers["content-type"] == "application/ofd"
    report = api.client.post(
        "/v1/verify",
        headers=api.headers("verifier"),
        files={"file": ("s.ofd", sealed.content, "application/ofd")},
        data={"expect_uscc": USCC},
    ).json()
    assert report["valid"] is True, report


def test_racing_approvals_seal_once(api: Api) -> None:
    add_approvers(api, 4)
    set_policy(api, quorum=1)
    approval = ask(api, simple_pdf(1)).json()
    start = threading.Barrier(4)
    answers: list[httpx.Response] = []

    def approve(who: str) -> None:
        start.wait()
        answers.append(decide(api, who, approval["id"]))

    threads = [threading.Thread(target=approve, args=(f"approver{i}",)) for i in range(1, 5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    statuses = sorted(r.status_code for r in answers)
    assert statuses == [200, 409, 409, 409], [r.text for r in answers]
    assert archived(api) == 1
    actions = audit_actions(api)
    assert actions.count("seal.use") == 1 and actions.count("approval.seal") == 1


@pytest.mark.parametrize("who", ["own", "admin"])
def test_nothing_to_resume_for_a_sealed_request(api: Api, who: str) -> None:
    add_approvers(api, 1)
    set_policy(api)
    approval = ask(api, simple_pdf(1)).json()
    decide(api, "approver1", approval["id"])
    r = api.client.post(f"/v1/approvals/{approval['id']}/seal", headers=api.headers(who))
    if who == "admin":
        assert r.status_code == 403
    else:
        assert r.status_code == 200 and r.json()["status"] == "sealed"
        assert archived(api) == 1


def test_the_answers_match_their_models(api: Api) -> None:
    from test_openapi_contract import _checked

    from api import answers

    add_approvers(api, 1)
    policies = set_policy(api, condition={"document_types": ["contract"]}).json()
    _checked(answers.SealPoliciesAnswer, policies)
    pending = ask(api, simple_pdf(1), amount="12.5").json()
    _checked(answers.ApprovalAnswer, pending)
    sealed = decide(api, "approver1", pending["id"]).json()
    _checked(answers.ApprovalAnswer, sealed)
    _checked(
        answers.ApprovalPageAnswer,
        api.client.get("/v1/approvals", headers=api.headers("own")).json(),
    )


def test_each_step_writes_its_webhook_event(api: Api) -> None:
    """approval.requested, approval.approved and approval.rejected are written in the
    transactions of those steps, for a subscription of the enterprise (delivery itself:
    tests/api/test_webhooks.py)."""
    from sqlalchemy import text as sql

    subscribe_to_approvals(api)
    add_approvers(api, 1)
    set_policy(api, quorum=1)
    first = ask(api, simple_pdf(1)).json()
    assert decide(api, "approver1", first["id"]).status_code == 200
    second = ask(api, simple_pdf(2)).json()
    assert decide(api, "approver1", second["id"], "reject", "不同意").status_code == 200
    with api.container.engine.connect() as conn:
        rows = conn.execute(
            sql("SELECT type, data FROM webhook_events WHERE type LIKE 'approval.%' ORDER BY id")
        ).all()
    seen = [(t, (json.loads(d) if isinstance(d, str) else d)["approval_id"]) for t, d in rows]
    assert seen == [
        ("approval.requested", first["id"]),
        ("approval.approved", first["id"]),
        ("approval.requested", second["id"]),
        ("approval.rejected", second["id"]),
    ]
    assert all("不同意" not in json.dumps(d, ensure_ascii=False) for _, d in rows)


def test_a_request_nobody_reads_again_expires_in_the_background(
    settings: Any, _registered_template: Any
) -> None:
    """The server's sweep ends a request whose time ran out although nobody reads or decides
    it: its status, its audit entry and its ``approval.expired`` event appear on their own."""
    import time

    from fastapi.testclient import TestClient

    from api.app import create_app

    app = create_app(settings.model_copy(update={"approval_sweep_seconds": 0.05}))
    with TestClient(app) as client:
        api = Api(client, app.state.container, dict(_registered_template.tokens))
        subscribe_to_approvals(api)
        add_approvers(api, 1)
        set_policy(api)
        now = [datetime.now(UTC)]
        store = ApprovalStore(api.container.engine, clock=lambda: now[0])
        app.state.approvals = ApprovalFlow(api.container, store)
        approval = ask(api, simple_pdf(1)).json()

        def status() -> str:
            with api.container.engine.connect() as conn:
                return str(
                    conn.execute(
                        text("SELECT status FROM approvals WHERE id = :id"), {"id": approval["id"]}
                    ).scalar_one()
                )

        time.sleep(0.3)  # several rounds of the sweep before the deadline: nothing ends
        assert status() == "pending"
        now[0] += timedelta(hours=72, seconds=1)
        give_up = time.monotonic() + 60
        while status() == "pending" and time.monotonic() < give_up:
            time.sleep(0.05)
        assert status() == "expired"
        assert app.state.approval_sweeper.expired == 1
        assert "approval.expire" in audit_actions(api)
        with api.container.engine.connect() as conn:
            events = conn.execute(
                text("SELECT count(*) FROM webhook_events WHERE type = 'approval.expired'")
            ).scalar_one()
        assert events == 1
        assert archived(api) == 0
