"""A centre and two front systems (前置系统) as real servers, real HTTP between them (issue 19).

The tests are the steps of one story and run in order on one deployment per backend
(``conftest.py``): the fronts replicate and verify; a front seals nothing; only front keys read
the feed; a changed or replayed batch is refused and logged; a cancelled license reaches the
fronts; with the centre stopped a front keeps verifying and says its registry is stale; with
the centre back it catches up, without loss or duplicates; a department registered at a front
is filed with the centre, and its revocation there reaches the front.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import pytest
from deployment import ACCESS_FORM, Tiers, change_offline, permit
from tiers import Server

from helpers import OTHER_USCC, USCC, wait_until

pytestmark = pytest.mark.slow

E = f"/v1/enterprises/{USCC}"


def _status(front: Server) -> dict[str, Any]:
    answer = front.call(None, "GET", "/v1/registry/status")
    assert answer.status_code == 200, answer.text
    found: dict[str, Any] = answer.json()
    return found


def _face(server: Server, token: str) -> dict[str, Any] | None:
    answer = server.call(token, "GET", E)
    return answer.json() if answer.status_code == 200 else None


def _fresh_report(t: Tiers, front: Server, token: str) -> dict[str, Any]:
    """A front's report once its replica is current (not ``unconfirmed``)."""

    def ready() -> dict[str, Any] | None:
        report = front.verify(token, t.sealed)
        return report if report["verdict"] != "unconfirmed" else None

    return wait_until(ready, "the front's replica is current")


def test_fronts_verify_a_two_seal_document_as_the_centre_does(tiers: Tiers) -> None:
    t = tiers
    centre = t.centre.verify(t.tokens["bank"], t.sealed)
    assert centre["valid"] is True and centre["verdict"] == "valid"
    assert centre["registry_as_of"]
    for front in (t.front, t.second):
        report = _fresh_report(t, front, t.front_admin if front is t.front else t.second_admin)
        assert report["valid"] is True, report
        assert [s["seal"]["kind"] for s in report["signatures"]] == ["official", "contract"]
        assert [s["enterprise"]["license_status_now"] for s in report["signatures"]] == [
            "active",
            "active",
        ]
        assert datetime.fromisoformat(report["registry_as_of"])
        assert not any(n["code"] == "registry_stale" for n in report["notices"])


def test_the_second_front_has_no_keys_of_the_centre(tiers: Tiers) -> None:
    # the second front's own keys are its own: the centre's bank key is unknown there
    answer = tiers.second.call(tiers.tokens["bank"], "GET", E)
    assert answer.status_code == 401


def test_fronts_serve_license_faces_seal_material_from_the_replica(tiers: Tiers) -> None:
    t = tiers
    assert _face(t.front, t.front_admin) == _face(t.centre, t.tokens["admin"])
    for part in ("image", "certificate"):
        at_front = t.front.call(t.front_admin, "GET", f"{E}/seals/contract/{part}")
        at_centre = t.centre.call(t.tokens["admin"], "GET", f"{E}/seals/contract/{part}")
        assert at_front.status_code == 200
        assert at_front.content == at_centre.content


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/v1/sign"),
        ("POST", "/v1/extend"),
        ("POST", "/v1/enterprises"),
        ("POST", f"{E}/status"),
        ("POST", f"{E}/seals/contract/revoke"),
        ("GET", "/v1/archives"),
        ("POST", "/v1/tsa"),
        ("GET", "/v1/registry/feed"),
    ],
)
def test_a_front_seals_nothing(tiers: Tiers, method: str, path: str) -> None:
    answer = tiers.front.call(tiers.front_admin, method, path)
    assert answer.status_code in (404, 405)
    assert answer.headers["content-type"].startswith("application/problem+json")


def test_only_front_keys_and_admins_read_the_feed(tiers: Tiers) -> None:
    t = tiers
    assert t.centre.call(None, "GET", "/v1/registry/feed").status_code == 401
    for who in ("bank", "own"):
        assert t.centre.call(t.tokens[who], "GET", "/v1/registry/feed").status_code == 403
    for who in ("front", "admin"):
        answer = t.centre.call(t.tokens[who], "GET", "/v1/registry/feed?after=0&limit=5")
        assert answer.status_code == 200
        assert answer.headers["eseal-feed-signature"]
        assert json.loads(answer.content)["after"] == 0


def _change_at_centre(t: Tiers, number: str) -> None:
    answer = t.centre.call(t.tokens["admin"], "POST", f"{E}/permits", json=permit(number))
    assert answer.status_code == 201, answer.text


def _permit_numbers(front: Server, token: str) -> list[str]:
    answer = front.call(token, "GET", f"{E}/permits")
    return sorted(p["number"] for p in answer.json()) if answer.status_code == 200 else []


@pytest.mark.parametrize("attack", ["flip", "replay"])
def test_a_changed_or_replayed_batch_is_refused_and_logged(tiers: Tiers, attack: str) -> None:
    t = tiers
    wait_until(lambda: t.proxy.recorded is not None, "the proxy saw a feed batch")
    before = len(_status(t.front)["refused_batches"])
    t.proxy.mode = attack
    number = f"JY-{attack}"
    _change_at_centre(t, number)
    try:
        refused = wait_until(
            lambda: (
                _status(t.front)["refused_batches"][0]
                if len(_status(t.front)["refused_batches"]) > before
                else None
            ),
            f"the front refuses a {attack}ed batch",
        )
        expected = "signature" if attack == "flip" else "replay"
        assert expected in refused["reason"]
        assert number not in _permit_numbers(t.front, t.front_admin)
        assert "feed batch refused" in t.front.log.read_text(errors="replace")
    finally:
        t.proxy.mode = "pass"
    # the genuine batch is taken at the next pull
    wait_until(lambda: number in _permit_numbers(t.front, t.front_admin), "the front catches up")


def test_a_department_registered_at_a_front_is_filed_with_the_centre(tiers: Tiers) -> None:
    t = tiers
    answer = t.front.call(
        t.front_admin,
        "POST",
        "/v1/api-keys",
        json={
            "role": "verifier",
            "name": "税务局",
            "access_form": {**ACCESS_FORM, "application_system": "税务征管系统"},
        },
    )
    assert answer.status_code == 201, answer.text
    key = answer.json()
    filed = wait_until(
        lambda: (
            r.json()
            if (r := t.front.call(t.front_admin, "GET", f"/v1/api-keys/{key['id']}/filing"))
            .json()
            .get("filed")
            else None
        ),
        "the centre accepts the access form",
    )
    department = key["token"]
    assert t.front.verify(department, t.sealed)["signatures"]
    t.extra["department"] = (department, filed["upstream_id"])


def test_revoking_a_department_at_the_centre_reaches_the_front(tiers: Tiers) -> None:
    t = tiers
    department, upstream_id = t.extra["department"]
    answer = t.centre.call(t.tokens["admin"], "DELETE", f"/v1/api-keys/{upstream_id}")
    assert answer.status_code == 204, answer.text
    wait_until(
        lambda: t.front.call(department, "POST", "/v1/verify").status_code == 401,
        "the department's key stops working at the front",
    )


def test_centre_stopped_the_front_verifies_and_says_the_registry_is_stale(tiers: Tiers) -> None:
    t = tiers
    t.centre.stop()

    def unconfirmed() -> dict[str, Any] | None:
        report = t.front.verify(t.front_admin, t.sealed)
        return report if report["verdict"] == "unconfirmed" else None

    report = wait_until(unconfirmed, "the front says it could not confirm the current status")
    assert report["valid"] is False
    assert report["valid_per_replica"] is True
    assert [s["seal"]["kind"] for s in report["signatures"]] == ["official", "contract"]
    stale = [n for n in report["notices"] if n["code"] == "registry_stale"]
    assert stale and stale[0]["since"] == report["registry_as_of"]
    assert "registry_status_unconfirmed" in {p["code"] for p in report["problems"]}
    assert _status(t.front)["stale"] is True


def test_centre_back_the_front_catches_up_without_loss_or_duplicates(tiers: Tiers) -> None:
    t = tiers
    numbers = change_offline(t, 3)  # written while the centre's server is down
    t.centre.start()
    for front, token in ((t.front, t.front_admin), (t.second, t.second_admin)):
        wait_until(
            lambda f=front, tok=token: set(numbers) <= set(_permit_numbers(f, tok)),
            "the front catches up",
        )
        assert _permit_numbers(front, token) == _permit_numbers(t.centre, t.tokens["admin"])
        for uscc in (USCC, OTHER_USCC):
            path = f"/v1/enterprises/{uscc}"
            wait_until(
                lambda f=front, tok=token, p=path: f.call(tok, "GET", p).status_code == 200,
                "the second enterprise reaches the front",
            )
            at_front = front.call(token, "GET", path).json()
            assert at_front == t.centre.call(t.tokens["admin"], "GET", path).json()
        report = _fresh_report(t, front, token)
        assert report["valid"] is True
        assert not any(n["code"] == "registry_stale" for n in report["notices"])


def test_a_license_cancelled_at_the_centre_is_reported_by_the_fronts(tiers: Tiers) -> None:
    t = tiers
    answer = t.centre.call(
        t.tokens["admin"], "POST", f"{E}/status", json={"status": "cancelled", "reason": "注销"}
    )
    assert answer.status_code == 200, answer.text
    for front, token in ((t.front, t.front_admin), (t.second, t.second_admin)):

        def cancelled(f: Server = front, tok: str = token) -> dict[str, Any] | None:
            report = f.verify(tok, t.sealed)
            statuses = {s["enterprise"]["license_status_now"] for s in report["signatures"]}
            return report if statuses == {"cancelled"} else None

        report = wait_until(cancelled, "the front reports the cancellation")
        assert "license_cancelled_since_signing" in {n["code"] for n in report["notices"]}
        face = _face(front, token)
        assert face is not None and face["status"] == "cancelled"
        assert face == _face(t.centre, t.tokens["admin"])
