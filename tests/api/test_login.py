"""Logging in with the business license (认证登录), over HTTP, as a relying party and an
enterprise would: challenge, QR code, confirmation, the assertion verified offline (the example
client, ``cryptography`` only) and online, and every refusal with its code."""

from __future__ import annotations

import base64
import copy
import importlib.util
import io
import json
import secrets
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from types import ModuleType
from typing import Any

import pytest
import zxingcpp
from asn1crypto import pem as asn1_pem
from asn1crypto import x509 as asn1_x509
from cryptography.hazmat.primitives import serialization
from PIL import Image

from api.login import LoginFlow
from helpers import OTHER_USCC, ROOT, USCC, Api
from seals.assertions import AssertionInvalid, verify_assertion
from seals.kinds import SealKind


def _example() -> ModuleType:
    """``examples/verify_assertion.py``, the relying party's offline client."""
    spec = importlib.util.spec_from_file_location(
        "verify_assertion_example", ROOT / "examples" / "verify_assertion.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


example = _example()

ACCESS_FORM: dict[str, Any] = json.loads(
    (ROOT / "examples" / "access-form.json").read_text(encoding="utf-8")
)


def _relying_party(api: Api, name: str = "对公开户系统") -> tuple[str, dict[str, str]]:
    """A relying party registered with its access form: its key id and its headers."""
    r = api.client.post(
        "/v1/api-keys",
        headers=api.headers("admin"),
        json={
            "role": "verifier",
            "name": name,
            "access_form": {**ACCESS_FORM, "application_system": name},
        },
    )
    assert r.status_code == 201, r.text
    body = r.json()
    return body["id"], {"Authorization": f"Bearer {body['token']}"}


def _nonce() -> str:
    return secrets.token_urlsafe(16)


def _challenge(api: Api, rp: dict[str, str], **fields: Any) -> dict[str, Any]:
    body = {"nonce": _nonce(), "purpose": "对公开户 登录", **fields}
    r = api.client.post("/v1/auth/challenges", headers=rp, json=body)
    assert r.status_code == 201, r.text
    answer: dict[str, Any] = r.json()
    return answer


def _confirm(api: Api, challenge_id: str, who: str = "own") -> dict[str, Any]:
    r = api.client.post(f"/v1/auth/challenges/{challenge_id}/confirm", headers=api.headers(who))
    assert r.status_code == 200, r.text
    answer: dict[str, Any] = r.json()
    return answer


def _login(api: Api, rp: dict[str, str], **fields: Any) -> tuple[dict[str, Any], str]:
    challenge = _challenge(api, rp, **fields)
    return challenge, _confirm(api, challenge["id"])["assertion"]


def _verify(api: Api, rp: dict[str, str], assertion: str, **fields: Any) -> Any:
    return api.client.post(
        "/v1/auth/assertions/verify", headers=rp, json={"assertion": assertion, **fields}
    )


def _problem(r: Any, status: int, code: str) -> None:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["code"] == code, r.text


def _parts(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    head, payload, _ = token.split(".")
    pad = lambda s: s + "=" * (-len(s) % 4)  # noqa: E731
    return (
        json.loads(base64.urlsafe_b64decode(pad(head))),
        json.loads(base64.urlsafe_b64decode(pad(payload))),
    )


def _ca(api: Api, algorithm: str | None = None) -> bytes:
    query = {"algorithm": algorithm} if algorithm else {}
    r = api.client.get("/v1/pki/ca", params=query)
    assert r.status_code == 200, r.text
    return r.content


def test_an_enterprise_logs_in_and_the_bank_verifies_offline_and_online(api: Api) -> None:
    rp_id, rp = _relying_party(api)
    nonce = _nonce()
    challenge = _challenge(api, rp, nonce=nonce)
    assert challenge["status"] == "pending" and challenge["assertion"] is None
    assert challenge["url"].endswith(f"/v1/auth/challenges/{challenge['id']}")
    # the QR code the bank shows says the URL
    assert challenge["qr_png"].startswith("data:image/png;base64,")
    image = Image.open(io.BytesIO(base64.b64decode(challenge["qr_png"].split(",", 1)[1])))
    assert [code.text for code in zxingcpp.read_barcodes(image)] == [challenge["url"]]

    # the enterprise reads who asks, and for what, before it confirms
    seen = api.client.get(f"/v1/auth/challenges/{challenge['id']}", headers=api.headers("own"))
    assert seen.status_code == 200, seen.text
    assert seen.json()["relying_party"] == {
        "id": rp_id,
        "organisation_name": ACCESS_FORM["organisation_name"],
        "uscc": ACCESS_FORM["uscc"],
        "application_system": "对公开户系统",
        "endpoint": ACCESS_FORM["endpoint"],
    }
    assert seen.json()["purpose"] == "对公开户 登录"

    confirmed = _confirm(api, challenge["id"])
    assert confirmed["status"] == "confirmed" and confirmed["uscc"] == USCC
    assertion = confirmed["assertion"]
    # the bank polls its challenge and gets the same assertion
    polled = api.client.get(f"/v1/auth/challenges/{challenge['id']}", headers=rp).json()
    assert polled["status"] == "confirmed" and polled["assertion"] == assertion

    header, claims = _parts(assertion)
    assert header["alg"] == "ES256" and header["typ"] == "eseal-login+jwt"
    assert len(header["x5c"]) == 3
    official = api.container.seals.seal(USCC, SealKind.OFFICIAL)
    assert claims["uscc"] == claims["sub"] == USCC
    assert claims["name"] == api.container.seals.enterprise(USCC).license.name
    assert claims["license_status"] == "active"
    assert (claims["aud"], claims["nonce"], claims["jti"]) == (rp_id, nonce, challenge["id"])
    assert claims["seal"]["kind"] == "official" and claims["seal"]["serial"] == format(
        official.serial, "x"
    )
    assert claims["exp"] > claims["iat"]

    # offline: the example client, with the CA certificate the bank saved once
    ca = _ca(api)
    roots = example.load_roots(ca)
    assert example.verify(assertion, roots, audience=rp_id, nonce=nonce)["uscc"] == USCC
    with pytest.raises(example.AssertionRefused, match="another relying party"):
        example.verify(assertion, roots, audience="someone-else", nonce=nonce)
    with pytest.raises(example.AssertionRefused, match="nonce"):
        example.verify(assertion, roots, audience=rp_id, nonce=_nonce())

    # online, once
    first = _verify(api, rp, assertion, nonce=nonce)
    assert first.status_code == 200, first.text
    body = first.json()
    assert (body["valid"], body["uscc"], body["license_status"], body["algorithm"]) == (
        True,
        USCC,
        "active",
        "ES256",
    )
    assert body["challenge"] == challenge["id"] and body["seal"]["kind"] == "official"
    _problem(_verify(api, rp, assertion), 409, "assertion_replayed")
    polled = api.client.get(f"/v1/auth/challenges/{challenge['id']}", headers=rp).json()
    assert polled["status"] == "used" and polled["verified_at"]

    # the seal-use log says the official seal signed a login for this bank
    entries = api.client.get("/v1/audit", headers=api.headers("own")).json()["entries"]
    login = [e for e in entries if e["action"] == "login.assert"]
    assert len(login) == 1 and login[0]["seal_kind"] == "official"
    assert login[0]["detail"]["relying_party"] == rp_id


def test_the_example_client_runs_from_the_command_line(api: Api, tmp_path: Any) -> None:
    rp_id, rp = _relying_party(api)
    nonce = _nonce()
    _, assertion = _login(api, rp, nonce=nonce)
    (tmp_path / "ca.pem").write_bytes(_ca(api))
    (tmp_path / "a.jws").write_text(assertion, encoding="ascii")
    script = str(ROOT / "examples" / "verify_assertion.py")
    args = [sys.executable, script, "--ca", str(tmp_path / "ca.pem"), "--audience", rp_id]
    ok = subprocess.run(
        [*args, "--nonce", nonce, str(tmp_path / "a.jws")], capture_output=True, text=True
    )
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout)["uscc"] == USCC
    refused = subprocess.run(
        [*args, "--nonce", "not-the-nonce", "-"], input=assertion, capture_output=True, text=True
    )
    assert refused.returncode == 1 and "nonce" in refused.stderr


def test_an_sm2_assertion_carries_the_sm2_chain(api: Api) -> None:
    rp_id, rp = _relying_party(api)
    nonce = _nonce()
    challenge, assertion = _login(api, rp, nonce=nonce, algorithm="SM2SM3")
    assert challenge["algorithm"] == "SM2SM3"
    header, claims = _parts(assertion)
    assert header["alg"] == "SM2SM3"
    seal = api.container.seals.seal(USCC, SealKind.OFFICIAL)
    assert claims["seal"]["serial"] == format(seal.sm2_serial, "x")
    leaf = asn1_x509.Certificate.load(base64.b64decode(header["x5c"][0]))
    assert leaf["tbs_certificate"]["signature"]["algorithm"].dotted == "1.2.156.10197.1.501"
    # offline, with the SM2 root from GET /v1/pki/ca?algorithm=sm2
    sm2_root = [
        asn1_x509.Certificate.load(der)
        for _, _, der in asn1_pem.unarmor(_ca(api, "sm2"), multiple=True)
    ][-1]
    now = datetime.now(UTC)
    checked = verify_assertion(assertion, [sm2_root], now=now, audience=rp_id, nonce=nonce)
    assert checked.claims.uscc == USCC
    # the ECDSA root does not vouch for it
    ecdsa_root = example.load_roots(_ca(api))[0]
    with pytest.raises(AssertionInvalid):
        verify_assertion(
            assertion,
            [asn1_x509.Certificate.load(ecdsa_root.public_bytes(serialization.Encoding.DER))],
            now=now,
        )
    r = _verify(api, rp, assertion, nonce=nonce)
    assert r.status_code == 200, r.text
    assert r.json()["algorithm"] == "SM2SM3"


def test_a_nonce_counts_once_per_relying_party(api: Api) -> None:
    _, rp = _relying_party(api, "甲系统")
    _, other = _relying_party(api, "乙系统")
    nonce = _nonce()
    _challenge(api, rp, nonce=nonce)
    r = api.client.post(
        "/v1/auth/challenges", headers=rp, json={"nonce": nonce, "purpose": "again"}
    )
    _problem(r, 409, "nonce_reused")
    _challenge(api, other, nonce=nonce)  # another relying party's nonces are its own


def test_a_challenge_is_confirmed_once(api: Api) -> None:
    _, rp = _relying_party(api)
    challenge = _challenge(api, rp)
    first = _confirm(api, challenge["id"])
    again = api.client.post(
        f"/v1/auth/challenges/{challenge['id']}/confirm", headers=api.headers("own")
    )
    _problem(again, 409, "challenge_used")
    by_other = api.client.post(
        f"/v1/auth/challenges/{challenge['id']}/confirm", headers=api.headers("other")
    )
    _problem(by_other, 409, "challenge_used")
    polled = api.client.get(f"/v1/auth/challenges/{challenge['id']}", headers=rp).json()
    assert polled["assertion"] == first["assertion"]  # the first one stands
    # the other enterprise sees nothing of a login it did not confirm
    seen = api.client.get(f"/v1/auth/challenges/{challenge['id']}", headers=api.headers("other"))
    _problem(seen, 404, "challenge_not_found")


def test_another_relying_partys_assertion_is_refused(api: Api) -> None:
    _, bank = _relying_party(api, "甲银行")
    _, thief = _relying_party(api, "乙网站")
    challenge, assertion = _login(api, bank)
    _problem(_verify(api, thief, assertion), 422, "assertion_wrong_audience")
    # nor may it read the bank's challenge
    seen = api.client.get(f"/v1/auth/challenges/{challenge['id']}", headers=thief)
    _problem(seen, 404, "challenge_not_found")
    # the bank still can use its assertion: the refusal did not spend it
    assert _verify(api, bank, assertion).status_code == 200


def test_a_wrong_nonce_and_a_tampered_assertion_are_refused(api: Api) -> None:
    _, rp = _relying_party(api)
    _, assertion = _login(api, rp)
    _problem(_verify(api, rp, assertion, nonce=_nonce()), 422, "nonce_mismatch")
    head, payload, signature = assertion.split(".")
    _, claims = _parts(assertion)
    forged = base64.urlsafe_b64encode(
        json.dumps({**claims, "uscc": OTHER_USCC, "sub": OTHER_USCC}).encode()
    )
    forged_token = f"{head}.{forged.decode().rstrip('=')}.{signature}"
    _problem(_verify(api, rp, forged_token), 422, "assertion_invalid")
    header, _ = _parts(assertion)
    unsigned = base64.urlsafe_b64encode(json.dumps({**header, "alg": "none"}).encode())
    _problem(
        _verify(api, rp, f"{unsigned.decode().rstrip('=')}.{payload}."), 422, "assertion_invalid"
    )
    _problem(_verify(api, rp, "not.a.token"), 422, "assertion_invalid")
    # a chain that leads elsewhere: the x5c of another certificate than the one that signed
    other = copy.deepcopy(header)
    other["x5c"] = other["x5c"][1:]
    swapped = base64.urlsafe_b64encode(json.dumps(other).encode()).decode().rstrip("=")
    _problem(_verify(api, rp, f"{swapped}.{payload}.{signature}"), 422, "assertion_invalid")
    assert _verify(api, rp, assertion).status_code == 200  # the real one is still good


def test_a_suspended_license_neither_logs_in_nor_stays_logged_in(api: Api) -> None:
    _, rp = _relying_party(api)
    waiting = _challenge(api, rp)
    _, assertion = _login(api, rp)
    r = api.client.post(
        f"/v1/enterprises/{USCC}/status",
        headers=api.headers("admin"),
        json={"status": "suspended", "reason": "停业整顿"},
    )
    assert r.status_code == 200, r.text
    _problem(_verify(api, rp, assertion), 409, "license_not_active")
    refused = api.client.post(
        f"/v1/auth/challenges/{waiting['id']}/confirm", headers=api.headers("own")
    )
    _problem(refused, 409, "license_not_active")
    seen = api.client.get(f"/v1/auth/challenges/{waiting['id']}", headers=rp).json()
    assert seen["status"] == "pending"  # nothing was signed


def test_expired_challenges_and_assertions_are_refused(api: Api) -> None:
    _, rp = _relying_party(api)
    late = _challenge(api, rp)
    _, assertion = _login(api, rp)
    # time passes: the app's login flow on a clock ten minutes ahead
    app = api.client.app
    app.state.login = LoginFlow(
        api.container, clock=lambda: datetime.now(UTC) + timedelta(minutes=10)
    )
    _problem(_verify(api, rp, assertion), 422, "assertion_expired")
    refused = api.client.post(
        f"/v1/auth/challenges/{late['id']}/confirm", headers=api.headers("own")
    )
    _problem(refused, 409, "challenge_expired")
    seen = api.client.get(f"/v1/auth/challenges/{late['id']}", headers=rp).json()
    assert seen["status"] == "expired"


def test_a_challenge_for_one_enterprise_refuses_another(api: Api) -> None:
    _, rp = _relying_party(api)
    challenge = _challenge(api, rp, expect_uscc=USCC)
    refused = api.client.post(
        f"/v1/auth/challenges/{challenge['id']}/confirm", headers=api.headers("other")
    )
    _problem(refused, 403, "challenge_wrong_enterprise")
    assert _confirm(api, challenge["id"])["uscc"] == USCC


def test_only_a_registered_relying_party_asks_for_logins(api: Api) -> None:
    # the suite's verifier key was made without an access form
    r = api.client.post(
        "/v1/auth/challenges",
        headers=api.headers("verifier"),
        json={"nonce": _nonce(), "purpose": "登录"},
    )
    _problem(r, 403, "relying_party_not_registered")
    _, rp = _relying_party(api)
    short = api.client.post("/v1/auth/challenges", headers=rp, json={"nonce": "x", "purpose": "p"})
    _problem(short, 422, "invalid_request")


def test_the_answers_are_what_the_openapi_says(api: Api) -> None:
    from api import answers

    def checked(model: type[Any], body: dict[str, Any]) -> None:
        answer = model.model_validate(body)
        assert not answer.model_extra, model.__name__
        assert json.dumps(answer.model_dump(mode="json"), ensure_ascii=False) == json.dumps(
            body, ensure_ascii=False
        )

    _, rp = _relying_party(api)
    challenge = _challenge(api, rp)
    checked(answers.NewChallengeAnswer, challenge)
    checked(answers.ChallengeAnswer, _confirm(api, challenge["id"]))
    polled = api.client.get(f"/v1/auth/challenges/{challenge['id']}", headers=rp).json()
    checked(answers.ChallengeAnswer, polled)
    verified = _verify(api, rp, polled["assertion"])
    assert verified.status_code == 200, verified.text
    checked(answers.AssertionCheck, verified.json())
    spec = api.client.get("/openapi.json").json()
    assert set(spec["paths"]) >= {
        "/v1/auth/challenges",
        "/v1/auth/challenges/{challenge_id}",
        "/v1/auth/challenges/{challenge_id}/confirm",
        "/v1/auth/assertions/verify",
    }
