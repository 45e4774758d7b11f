"""The centre's registry feed in process: what a batch carries, and that its signature holds
only for the exact bytes (issue 19)."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

from api.container import Container
from api.freshness import stamp
from helpers import ROOT, USCC, license_data
from keystore.feed_key import FeedSignatureInvalid, verify_feed_signature
from seals.license import parse_license


def test_a_registration_is_one_batch_with_the_license_before_its_seals(
    container: Container,
) -> None:
    assert container.feed is not None
    container.seals.register(parse_license(license_data()))
    batch = container.feed.batch(0, 100, "n1")
    verify_feed_signature(
        container.feed.certificate_pem, batch.body, base64.b64decode(batch.signature)
    )
    data = json.loads(batch.body)
    assert data["nonce"] == "n1" and data["after"] == 0 and data["next"] == data["sequence"] > 0
    kinds = [change["kind"] for change in data["changes"]]
    assert kinds == ["license"] + ["seal"] * 5
    seal = data["changes"][1]["record"]
    assert seal["uscc"] == USCC and "key_ref" not in seal and "sm2_key_ref" not in seal
    assert data["pki"]["root"].startswith("-----BEGIN CERTIFICATE-----")
    # nothing new after the last cursor: an empty batch that still says the feed is current
    empty = json.loads(container.feed.batch(data["next"], 100, None).body)
    assert empty["changes"] == [] and empty["next"] == data["next"]


def test_a_changed_byte_breaks_the_signature(container: Container) -> None:
    assert container.feed is not None
    batch = container.feed.batch(0, 10, None)
    changed = bytearray(batch.body)
    changed[len(changed) // 2] ^= 0x01
    with pytest.raises(FeedSignatureInvalid):
        verify_feed_signature(
            container.feed.certificate_pem, bytes(changed), base64.b64decode(batch.signature)
        )


def test_only_the_feed_certificate_is_accepted(container: Container) -> None:
    assert container.feed is not None
    batch = container.feed.batch(0, 10, None)
    tsa = container.pki.certificate("tsa").public_bytes(serialization.Encoding.PEM).decode()
    with pytest.raises(FeedSignatureInvalid, match="not a registry feed certificate"):
        verify_feed_signature(tsa, batch.body, base64.b64decode(batch.signature))


def test_a_stale_registry_never_passes() -> None:
    now = datetime.now(UTC)
    fresh = stamp({"valid": True, "notices": [], "problems": []}, now, now=now, max_age=None)
    assert fresh["verdict"] == "valid" and fresh["registry_as_of"] == now.isoformat()
    old = now - timedelta(minutes=11)
    report = stamp(
        {"valid": True, "notices": [], "problems": []},
        old,
        now=now,
        max_age=timedelta(minutes=10),
    )
    assert report["valid"] is False and report["valid_per_replica"] is True
    assert report["verdict"] == "unconfirmed"
    assert report["notices"][0]["code"] == "registry_stale"
    assert report["notices"][0]["since"] == old.isoformat()
    never = stamp({"valid": True}, None, now=now, max_age=timedelta(minutes=10))
    assert never["verdict"] == "unconfirmed" and never["registry_as_of"] is None


def test_a_revoked_relying_party_reaches_the_feed_without_its_contact_details(
    container: Container,
) -> None:
    assert container.feed is not None
    form = json.loads((ROOT / "examples" / "access-form.json").read_text(encoding="utf-8"))
    key, _ = container.api_keys.create(
        role="verifier", uscc=None, name="bank", actor="test", access_form=form
    )
    head = json.loads(container.feed.batch(0, 100, None).body)["next"]
    assert container.api_keys.revoke(key.id, actor="test")
    data = json.loads(container.feed.batch(head, 100, None).body)
    [change] = data["changes"]
    assert change["kind"] == "access" and change["key"] == key.id
    assert change["record"]["revoked_at"]
    text = json.dumps(data, ensure_ascii=False)
    assert form["phone"] not in text and form["contact_name"] not in text


@pytest.mark.slow
def test_a_front_data_dir_has_a_database_and_an_admin_and_no_keys(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ESEAL_")}
    env.update(ESEAL_MODE="front", ESEAL_DATA_DIR=str(tmp_path / "front"))
    done = subprocess.run(
        [sys.executable, "-m", "api.cli", "init"], cwd=ROOT, env=env, capture_output=True
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["admin_key"]["role"] == "admin"
    made = {p.name for p in (tmp_path / "front").iterdir()}
    assert "eseal.db" in made and not made & {"keys", "pki", "master.key"}
    again = subprocess.run(
        [sys.executable, "-m", "api.cli", "init"], cwd=ROOT, env=env, capture_output=True
    )
    assert "admin_key" not in json.loads(again.stdout)  # the token is shown once
