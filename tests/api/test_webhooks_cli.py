"""``eseal webhook ...``: the same subscriptions and checks as the HTTP API, from the CLI."""

from __future__ import annotations

import json
import subprocess
from typing import Any

import pytest

from api.settings import Settings
from helpers import USCC, run_eseal

pytestmark = pytest.mark.slow


def _eseal(settings: Settings, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return run_eseal(settings, "webhook", *args, **env)


def _json(done: subprocess.CompletedProcess[str]) -> Any:
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_subscribe_rotate_list_and_delete_from_the_cli(
    settings: Settings, _registered_template: Any
) -> None:
    refused = _eseal(settings, "create", "--url", "https://10.0.0.7/hook", "--events", "*")
    assert refused.returncode == 1
    assert json.loads(refused.stderr)["code"] == "webhook_address_not_allowed"

    sub = _json(
        _eseal(
            settings,
            "create",
            "--url",
            "http://127.0.0.1:9/hook",
            "--events",
            "seal.*,document.sealed",
            "--uscc",
            USCC,
            ESEAL_WEBHOOK_ALLOW_HTTP="true",
            ESEAL_WEBHOOK_ALLOW_PRIVATE="true",
        )
    )
    assert sub["uscc"] == USCC and sub["events"] == ["seal.*", "document.sealed"]
    assert sub["secret"].startswith("whsec_")
    rotated = _json(_eseal(settings, "rotate", sub["id"], "--overlap-hours", "2"))
    assert rotated["secret"] != sub["secret"] and rotated["previous_secret_expires_at"]
    listed = _json(_eseal(settings, "list"))
    assert [s["id"] for s in listed] == [sub["id"]] and "secret" not in listed[0]
    assert _json(_eseal(settings, "deliveries", sub["id"])) == []
    assert _json(_eseal(settings, "delete", sub["id"]))["id"] == sub["id"]
    gone = _eseal(settings, "deliveries", sub["id"])
    assert gone.returncode == 1 and json.loads(gone.stderr)["code"] == "webhook_not_found"
