"""``eseal permit add|list|show|update``: the permits of the HTTP API, from the command line.

``eseal`` runs as a subprocess on the data dir of the ``api`` fixture's app: what the CLI
records, the HTTP API answers (the same JSON, the same attached PDF), and what is recorded
over HTTP, the CLI lists.  Refusals are the API's problem codes on stderr, with exit 1, and
leave nothing recorded.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from test_permits import P, _add, _today

from api.settings import Settings
from helpers import USCC, Api, run_eseal
from pdfs import simple_pdf

pytestmark = pytest.mark.slow


def _eseal(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    return run_eseal(settings, "permit", *args)


def _json(done: subprocess.CompletedProcess[str]) -> Any:
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def _refused(done: subprocess.CompletedProcess[str], code: str) -> None:
    assert done.returncode == 1, (done.stdout, done.stderr)
    assert done.stdout == ""
    assert json.loads(done.stderr)["code"] == code, done.stderr


def _http(api: Api, path: str = "") -> Any:
    r = api.client.get(P + path, headers=api.headers("verifier"))
    assert r.status_code == 200, r.text
    return r.json()


FOOD = (
    "--type", "许可",
    "--name", "食品经营许可证",
    "--number", "JY11101080012345",
    "--authority", "北京市海淀区市场监督管理局",
    "--scope", "预包装食品销售",
    "--valid-from", "2024-01-01",
)  # fmt: skip


def test_a_permit_recorded_by_the_cli_is_the_one_the_api_serves(
    api: Api, settings: Settings, tmp_path: Path
) -> None:
    scan = tmp_path / "食品经营许可证.pdf"
    scan.write_bytes(simple_pdf())
    ends = (_today() + timedelta(days=400)).isoformat()
    permit = _json(
        _eseal(settings, "add", USCC, *FOOD, "--valid-to", ends, "--document", str(scan))
    )
    assert permit["type"] == "permit" and permit["type_label"] == "许可"
    assert permit["status"] == "valid" and permit["valid_to"] == ends
    assert permit["document"]["sha256"] == hashlib.sha256(scan.read_bytes()).hexdigest()
    assert permit["document"]["filename"] == "食品经营许可证.pdf"
    # the API serves the same record, and the attached copy byte for byte
    assert _http(api) == [permit]
    r = api.client.get(f"{P}/{permit['id']}/document", headers=api.headers("verifier"))
    assert r.content == scan.read_bytes()
    # an open-ended filing over HTTP is in the CLI's list, in the order recorded
    filing = _add(
        api, type="filing", name="ICP备案", number="京ICP备12025439号", valid_to=None, scope=None
    )
    listed = _json(_eseal(settings, "list", USCC))
    assert [p["id"] for p in listed] == [permit["id"], filing["id"]]
    assert listed == _http(api)
    # show: the record, and the attached copy written out
    copy = tmp_path / "copy.pdf"
    shown = _json(_eseal(settings, "show", USCC, permit["id"], "--save-document", str(copy)))
    assert shown == permit and copy.read_bytes() == scan.read_bytes()

    # update: suspended with a reason, then a last day in the past reads expired
    changed = _json(
        _eseal(settings, "update", USCC, permit["id"], "--status", "暂停", "--reason", "整改")
    )
    assert changed["status"] == "suspended" and changed["status_reason"] == "整改"
    assert _http(api, f"/{permit['id']}")["status"] == "suspended"
    yesterday = (_today() - timedelta(days=1)).isoformat()
    changed = _json(
        _eseal(settings, "update", USCC, permit["id"], "--status", "valid", "--valid-to", yesterday)
    )
    assert changed["recorded_status"] == "valid" and changed["status"] == "expired"
    assert _http(api, f"/{permit['id']}")["status_label"] == "过期"
    # a new copy of the document, and an end date removed (长期)
    scan.write_bytes(simple_pdf(2))
    changed = _json(
        _eseal(
            settings, "update", USCC, filing["id"], "--valid-to", "长期", "--document", str(scan)
        )
    )
    assert changed["valid_to"] is None and changed["document"]["size"] == len(scan.read_bytes())
    r = api.client.get(f"{P}/{filing['id']}/document", headers=api.headers("verifier"))
    assert r.content == scan.read_bytes()
    # each change is in the audit log, by the CLI
    entries = api.client.get(f"/v1/audit?uscc={USCC}", headers=api.headers("admin")).json()
    actions = [(e["action"], e["actor"]) for e in entries["entries"]]
    for action in ("permit.add", "permit.document", "permit.change"):
        assert (action, "cli") in actions, actions


def test_refusals_are_the_apis_and_record_nothing(
    api: Api, settings: Settings, tmp_path: Path
) -> None:
    permit = _json(_eseal(settings, "add", USCC, *FOOD))
    before = _http(api)
    not_pdf = tmp_path / "scan.pdf"
    not_pdf.write_bytes(b"a photo, not a PDF")
    for args, code in (
        (("add", USCC, *FOOD[:-1], "2024-13-01"), "invalid_request"),  # no such date
        (("add", USCC, *FOOD[:5], "N-2", *FOOD[6:], "--valid-to", "2023-01-01"), "invalid_request"),
        (("add", USCC, *FOOD), "permit_exists"),
        (("add", USCC, *FOOD[:5], "N-3", *FOOD[6:], "--document", str(not_pdf)), "invalid_pdf"),
        (
            ("add", USCC, *FOOD[:5], "N-4", *FOOD[6:], "--document", "nowhere.pdf"),
            "file_unreadable",
        ),
        (("add", "914403001922038216", *FOOD), "enterprise_not_found"),
        (("add", "91110108551385082X", *FOOD), "invalid_uscc"),
        (("show", USCC, "pmt_nope"), "permit_not_found"),
        (("show", USCC, permit["id"], "--save-document", "x.pdf"), "permit_document_not_found"),
        (("update", USCC, permit["id"]), "invalid_request"),  # nothing to change
        (("update", USCC, permit["id"], "--valid-to", "2000-01-01"), "invalid_permit"),
        (("update", USCC, permit["id"], "--document", str(not_pdf)), "invalid_pdf"),
    ):
        _refused(_eseal(settings, *args), code)
    assert _http(api) == before
    # a revoked permit stays revoked
    _json(_eseal(settings, "update", USCC, permit["id"], "--status", "revoked"))
    _refused(_eseal(settings, "update", USCC, permit["id"], "--status", "valid"), "permit_revoked")
    # argparse's own refusals: exit 2
    done = _eseal(settings, "add", USCC, *FOOD[2:])  # no --type
    assert done.returncode == 2 and "--type" in done.stderr
