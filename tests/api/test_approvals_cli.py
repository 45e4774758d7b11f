"""用印审批 from the command line: ``eseal apikey create --role approver``, ``eseal seal
policy``, ``eseal approval request|list|preview|approve|reject|document``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from api.settings import Settings
from helpers import READY_TIMEOUT_S, ROOT, USCC
from pdfs import simple_pdf

pytestmark = pytest.mark.slow  # each command is a process that opens the key store and PKI


def eseal(
    settings: Settings, *args: str, token: str | None = None
) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "ESEAL_DATA_DIR": str(settings.data_dir)}
    env.pop("ESEAL_MASTER_KEY", None)
    env.pop("ESEAL_APPROVER_TOKEN", None)
    if token is not None:
        env["ESEAL_APPROVER_TOKEN"] = token
    return subprocess.run(
        [sys.executable, "-m", "api.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=READY_TIMEOUT_S,
        cwd=ROOT,
    )


def ok(done: subprocess.CompletedProcess[str]) -> Any:
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_the_cli_sets_a_policy_and_approvers_decide(
    settings: Settings, _registered_template: object, tmp_path: Path
) -> None:
    tokens = [
        ok(eseal(settings, "apikey", "create", "--role", "approver", "--uscc", USCC, "--name", n))
        for n in ("法务", "财务")
    ]
    assert [t["role"] for t in tokens] == ["approver", "approver"]
    unbound = eseal(settings, "apikey", "create", "--role", "approver", "--name", "x")
    assert unbound.returncode == 1 and "uscc" in unbound.stderr

    policy = ok(
        eseal(
            settings, "seal", "policy", USCC, "contract", "--approval", "required", "--quorum", "2"
        )
    )
    contract = next(p for p in policy["policies"] if p["kind"] == "contract")
    assert (contract["approval"], contract["quorum"], contract["approvers"]) == (
        "required",
        2,
        None,
    )
    assert sorted(policy["approver_keys"]) == sorted(t["id"] for t in tokens)
    shown = ok(eseal(settings, "seal", "policy", USCC))
    assert shown["policies"] == policy["policies"]

    pdf = tmp_path / "contract.pdf"
    pdf.write_bytes(simple_pdf(1))
    options = tmp_path / "options.json"
    options.write_text(json.dumps({"seals": [{"kind": "contract"}], "document_type": "contract"}))
    request = ok(
        eseal(settings, "approval", "request", str(pdf), "--uscc", USCC, "--options", str(options))
    )
    assert request["status"] == "pending" and request["requested_by"]["key_id"] == "cli"
    listed = ok(eseal(settings, "approval", "list", "--status", "pending"))
    assert [a["id"] for a in listed] == [request["id"]]
    png = tmp_path / "preview.png"
    ok(eseal(settings, "approval", "preview", request["id"], "-o", str(png)))
    assert png.read_bytes().startswith(b"\x89PNG")

    nobody = eseal(settings, "approval", "approve", request["id"])
    assert nobody.returncode == 1 and json.loads(nobody.stderr)["code"] == "unauthorized"
    first = ok(eseal(settings, "approval", "approve", request["id"], token=tokens[0]["token"]))
    assert first["status"] == "pending"
    done = ok(
        eseal(
            settings,
            "approval",
            "approve",
            request["id"],
            "--token",
            tokens[1]["token"],
            "--comment",
            "同意",
        )
    )
    assert done["status"] == "sealed" and done["archive_id"]
    out = tmp_path / "sealed.pdf"
    written = ok(eseal(settings, "approval", "document", request["id"], "-o", str(out)))
    assert written["archive_id"] == done["archive_id"]
    assert out.read_bytes().startswith(pdf.read_bytes()) and out.stat().st_size > pdf.stat().st_size

    second = ok(
        eseal(settings, "approval", "request", str(pdf), "--uscc", USCC, "--options", str(options))
    )
    why = eseal(settings, "approval", "reject", second["id"], token=tokens[0]["token"])
    assert why.returncode == 1  # a rejection says why
    rejected = ok(
        eseal(
            settings,
            "approval",
            "reject",
            second["id"],
            "--comment",
            "不同意",
            token=tokens[0]["token"],
        )
    )
    assert rejected["status"] == "rejected"
