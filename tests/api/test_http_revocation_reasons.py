"""Revocation reasons as an administrator and a relying party meet them: over HTTP and with the
``eseal seal`` commands, checked with ``openssl crl -text`` and ``openssl ocsp`` against a real
running server, and in the verifier's verdict on documents sealed before and after a key
compromise.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import httpx
import pytest

from helpers import ROOT, USCC, Api, wait_until
from pdfs import simple_pdf

BEIJING = timezone(timedelta(hours=8))
E = f"/v1/enterprises/{USCC}"


def openssl(*args: str) -> str:
    out = subprocess.run(["openssl", *args], capture_output=True, text=True, timeout=60)
    return out.stdout + out.stderr


def openssl_time(when: datetime) -> str:
    """How openssl prints a time: ``Mar  1 08:00:00 2025 GMT``."""
    return when.astimezone(UTC).strftime("%b %e %H:%M:%S %Y GMT")


def crl_text(der: bytes, tmp_path: Path) -> str:
    path = tmp_path / "crl.der"
    path.write_bytes(der)
    return openssl("crl", "-inform", "DER", "-in", str(path), "-noout", "-text")


def crl_entry(text: str, serial_hex: str) -> str:
    """The block ``openssl crl -text`` prints for one serial (up to the next one)."""
    blocks = text.split("Serial Number: ")[1:]
    for block in blocks:
        if block.split()[0].lstrip("0").lower() == serial_hex.lstrip("0").lower():
            return block
    raise AssertionError(f"serial {serial_hex} not in the CRL:\n{text}")


def seal_json(api: Api, kind: str) -> dict[str, Any]:
    r = api.client.get(f"{E}/seals/{kind}", headers=api.headers("admin"))
    assert r.status_code == 200, r.text
    out: dict[str, Any] = r.json()
    return out


# -- HTTP ----------------------------------------------------------------------------------------


def test_http_revoke_suspend_reissue_with_reason_codes(api: Api, tmp_path: Path) -> None:
    admin = api.headers("admin")
    contract = seal_json(api, "contract")
    since = datetime.fromisoformat(contract["not_before"]) + timedelta(seconds=20)
    r = api.client.post(
        f"{E}/seals/contract/revoke",
        headers=admin,
        json={
            "reason_code": "key_compromise",
            "reason": "U 盾遗失 key compromise",
            "compromised_at": since.astimezone(BEIJING).isoformat(),
        },
    )
    assert r.status_code == 200, r.text
    assert r.json()["reason_code"] == "key_compromise" and r.json()["status"] == "revoked"
    assert datetime.fromisoformat(r.json()["compromised_at"]) == since

    finance = api.client.post(
        f"{E}/seals/finance/suspend", headers=admin, json={"reason": "保管人休假"}
    )
    assert finance.status_code == 200 and finance.json()["reason_code"] == "certificate_hold"
    official = seal_json(api, "official")
    r = api.client.post(f"{E}/seals/official/reissue", headers=admin, json={"reason": "新印模"})
    assert r.status_code == 200 and r.json()["version"] == 2
    invoice = api.client.post(
        f"{E}/seals/invoice/revoke", headers=admin, json={"reason_code": "affiliation_changed"}
    )
    assert invoice.status_code == 200

    crl = api.client.get("/v1/pki/crl")
    text = crl_text(crl.content, tmp_path)
    entry = crl_entry(text, contract["serial"])
    assert "Key Compromise" in entry, entry
    assert f"Revocation Date: {openssl_time(since)}" in entry
    assert openssl_time(since) in entry.split("Invalidity Date")[1], entry
    assert "Certificate Hold" in crl_entry(text, finance.json()["serial"])
    assert "Superseded" in crl_entry(text, official["serial"])
    assert "Affiliation Changed" in crl_entry(text, invoice.json()["serial"])
    assert "U 盾" not in text and "遗失" not in text  # the free text is not published

    # the free text is in the audit log, with the code
    entries = api.client.get("/v1/audit", headers=admin, params={"limit": 500}).json()["entries"]
    revoke = next(
        e for e in entries if e["action"] == "seal.revoke" and e["serial"] == contract["serial"]
    )
    assert revoke["detail"]["reason"] == "U 盾遗失 key compromise"
    assert revoke["detail"]["reason_code"] == "key_compromise"

    # resuming lifts the hold: the serial leaves the CRL
    r = api.client.post(f"{E}/seals/finance/resume", headers=admin, json={})
    assert r.status_code == 200 and r.json()["reason_code"] is None
    assert (
        finance.json()["serial"]
        not in crl_text(api.client.get("/v1/pki/crl").content, tmp_path).replace(":", "").lower()
    )


def _later(minutes: int) -> str:
    return (datetime.now(UTC) + timedelta(minutes=minutes)).isoformat()


@pytest.mark.parametrize(
    ("action", "body", "code"),
    [
        ("revoke", {"reason_code": "lost"}, "invalid_reason_code"),
        ("revoke", {"reason_code": "certificate_hold"}, "invalid_reason_code"),
        ("suspend", {"reason_code": "superseded"}, "invalid_reason_code"),
        ("reissue", {"reason_code": "cessation_of_operation"}, "invalid_reason_code"),
        ("resume", {"reason_code": "unspecified"}, "invalid_reason_code"),
        (
            "revoke",
            {"reason_code": "key_compromise", "compromised_at": "2025-03-01 08:00"},
            "invalid_compromised_at",
        ),
        (
            "revoke",
            {"reason_code": "key_compromise", "compromised_at": "soon"},
            "invalid_compromised_at",
        ),
        (
            "revoke",
            {"reason_code": "key_compromise", "compromised_at": "later"},
            "invalid_compromised_at",
        ),
        (
            "reissue",
            {"reason_code": "key_compromise", "compromised_at": "2001-01-01T00:00:00Z"},
            "invalid_compromised_at",
        ),
        (
            "revoke",
            {"reason_code": "unspecified", "compromised_at": "earlier"},
            "invalid_compromised_at",
        ),
        ("suspend", {"compromised_at": "earlier"}, "invalid_compromised_at"),
        ("revoke", {"reason_code": "key_compromise", "why": "x"}, "invalid_request"),
    ],
)
def test_http_bad_reason_input_is_422_and_changes_nothing(
    api: Api, tmp_path: Path, action: str, body: dict[str, str], code: str
) -> None:
    body = {k: {"later": _later(10), "earlier": _later(-1)}.get(v, v) for k, v in body.items()}
    before = seal_json(api, "contract")
    crl_before = api.client.get("/v1/pki/crl").content
    if action == "resume":
        api.client.post(f"{E}/seals/contract/suspend", headers=api.headers("admin"))
        before = seal_json(api, "contract")
        crl_before = api.client.get("/v1/pki/crl").content
    r = api.client.post(f"{E}/seals/contract/{action}", headers=api.headers("admin"), json=body)
    assert r.status_code == 422, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["code"] == code
    after = seal_json(api, "contract")
    assert (after["status"], after["version"], after["serial"], after["reason_code"]) == (
        before["status"],
        before["version"],
        before["serial"],
        before["reason_code"],
    )
    # the CRL lists the same serials
    now = crl_text(api.client.get("/v1/pki/crl").content, tmp_path)
    was = crl_text(crl_before, tmp_path)
    assert now.count("Serial Number:") == was.count("Serial Number:")


# -- the verifier ------------------------------------------------------------------------------


def _sign(api: Api, kind: str) -> bytes:
    r = api.client.post(
        "/v1/sign",
        headers=api.headers("own"),
        files={"file": ("c.pdf", simple_pdf(1), "application/pdf")},
        data={"options": json.dumps({"seals": [{"kind": kind}], "level": "B-T"})},
    )
    assert r.status_code == 200, r.text
    return r.content


def _verify(api: Api, pdf: bytes) -> dict[str, Any]:
    r = api.client.post(
        "/v1/verify",
        headers=api.headers("verifier"),
        files={"file": ("s.pdf", pdf, "application/pdf")},
    )
    assert r.status_code == 200, r.text
    out: dict[str, Any] = r.json()
    return out


def test_verifier_judges_signatures_by_the_compromise_time(api: Api) -> None:
    admin = api.headers("admin")
    early = _sign(api, "official")  # sealed before its key is compromised
    stamped = datetime.fromisoformat(_verify(api, early)["signatures"][0]["timestamp"]["time"])
    # the compromise comes after the timestamp's second and its accuracy (±1 s)
    since = stamped + timedelta(seconds=3)
    while datetime.now(UTC) <= since:
        time.sleep(0.2)
    r = api.client.post(
        f"{E}/seals/official/revoke",
        headers=admin,
        json={"reason_code": "key_compromise", "compromised_at": since.isoformat()},
    )
    assert r.status_code == 200, r.text
    report = _verify(api, early)
    assert report["valid"] is True, report
    sig = report["signatures"][0]
    assert sig["revoked"] == {
        "revoked": True,
        "at": since.isoformat(),
        "reason": "key_compromise",
        "at_signing": False,
    }

    # a seal whose key was compromised before it signed: the signature is revoked, even
    # though the seal was revoked only after signing
    contract = seal_json(api, "contract")
    late = _sign(api, "contract")
    assert _verify(api, late)["valid"] is True
    compromised = datetime.fromisoformat(contract["not_before"])
    r = api.client.post(
        f"{E}/seals/contract/revoke",
        headers=admin,
        json={"reason_code": "key_compromise", "compromised_at": compromised.isoformat()},
    )
    assert r.status_code == 200, r.text
    report = _verify(api, late)
    assert report["valid"] is False
    sig = report["signatures"][0]
    assert sig["revoked"]["at_signing"] is True and sig["revoked"]["reason"] == "key_compromise"
    assert sig["revoked"]["at"] == compromised.isoformat()
    assert "certificate_revoked" in {p["code"] for p in sig["problems"]}


# -- the CLI against a running server, checked with openssl ------------------------------------


def eseal(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "ESEAL_DATA_DIR": str(data_dir)}
    env.pop("ESEAL_MASTER_KEY", None)
    return subprocess.run(
        [sys.executable, "-m", "api.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )


@pytest.fixture
def live(tmp_path: Path) -> Iterator[tuple[Path, str, dict[str, Any]]]:
    """(data dir, server URL, registration output): ``eseal init``, ``register``, ``serve``."""
    data = tmp_path / "data"
    assert eseal(data, "init").returncode == 0
    r = eseal(data, "enterprise", "register", str(ROOT / "examples" / "license.json"))
    assert r.returncode == 0, r.stderr
    registered = json.loads(r.stdout)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    url = f"http://127.0.0.1:{port}"
    env = {**os.environ, "ESEAL_DATA_DIR": str(data), "ESEAL_PUBLIC_URL": url}
    env.pop("ESEAL_MASTER_KEY", None)
    log = data / "serve.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "api.cli", "serve", "--port", str(port)],
            env=env,
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:

        def healthy() -> bool:
            try:
                return httpx.get(f"{url}/healthz", timeout=5).status_code == 200
            except httpx.HTTPError:
                return False

        wait_until(
            healthy,
            "the server to answer /healthz",
            alive=lambda: proc.poll() is None,
            explain=lambda: log.read_text(errors="replace")[-3000:],
        )
        yield data, url, registered
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.mark.slow
def test_cli_reason_codes_seen_by_openssl_ocsp_and_crl(
    live: tuple[Path, str, dict[str, Any]], tmp_path: Path
) -> None:
    data, url, registered = live
    seals = {s["kind"]: s for s in registered["seals"]}
    pems = {}
    for kind, seal in seals.items():
        pems[kind] = tmp_path / f"{kind}.pem"
        pems[kind].write_text(seal["certificate"])
    ask = [
        "ocsp",
        "-issuer",
        str(data / "pki" / "issuing.pem"),
        "-url",
        f"{url}/v1/pki/ocsp",
        "-CAfile",
        str(data / "pki" / "root.pem"),
    ]

    # key compromise from a time in the past: the revocation time is that time
    since = datetime.fromisoformat(seals["contract"]["not_before"]) + timedelta(seconds=30)
    r = eseal(
        data,
        "seal",
        "revoke",
        USCC,
        "contract",
        "--reason-code",
        "key_compromise",
        "--reason",
        "U 盾遗失",
        "--compromised-at",
        since.astimezone(BEIJING).isoformat(),
    )
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["reason_code"] == "key_compromise"
    out = openssl(*ask, "-cert", str(pems["contract"]))
    assert "Response verify OK" in out and f"{pems['contract']}: revoked" in out, out
    assert "Reason: keyCompromise" in out, out
    assert f"Revocation Time: {openssl_time(since)}" in out, out

    r = eseal(data, "seal", "suspend", USCC, "finance", "--reason", "保管人休假")
    assert r.returncode == 0, r.stderr
    out = openssl(*ask, "-cert", str(pems["finance"]))
    assert f"{pems['finance']}: revoked" in out and "Reason: certificateHold" in out, out

    r = eseal(data, "seal", "reissue", USCC, "official", "--reason", "新印模")
    assert r.returncode == 0, r.stderr
    out = openssl(*ask, "-cert", str(pems["official"]))
    assert "Reason: superseded" in out, out

    r = eseal(data, "seal", "resume", USCC, "finance")
    assert r.returncode == 0, r.stderr
    out = openssl(*ask, "-cert", str(pems["finance"]))
    assert f"{pems['finance']}: good" in out, out

    text = crl_text(httpx.get(f"{url}/v1/pki/crl").content, tmp_path)
    entry = crl_entry(text, seals["contract"]["serial"])
    assert "Key Compromise" in entry and f"Revocation Date: {openssl_time(since)}" in entry
    assert "Invalidity Date" in entry
    assert "Superseded" in crl_entry(text, seals["official"]["serial"])
    assert "遗失" not in text and text.count("Serial Number:") == 2  # finance was resumed

    # bad input: a problem object, exit 1, nothing changes
    for args, code in (
        (["--reason-code", "lost"], "invalid_reason_code"),
        (
            ["--reason-code", "key_compromise", "--compromised-at", "2025-03-01T08:00:00"],
            "invalid_compromised_at",
        ),
        (
            [
                "--reason-code",
                "key_compromise",
                "--compromised-at",
                (datetime.now(UTC) + timedelta(hours=1)).isoformat(),
            ],
            "invalid_compromised_at",
        ),
    ):
        r = eseal(data, "seal", "revoke", USCC, "invoice", *args)
        assert r.returncode == 1, r.stdout
        assert json.loads(r.stderr)["code"] == code
    out = openssl(*ask, "-cert", str(pems["invoice"]))
    assert f"{pems['invoice']}: good" in out, out
    r = eseal(data, "seal", "suspend", USCC, "invoice", "--compromised-at", "now")
    assert r.returncode == 2  # not an option of suspend
