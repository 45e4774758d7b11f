"""Renewing archived documents over HTTP and from the CLI: versions, downloads, refusals."""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path

import pytest

from api.cli import main
from helpers import USCC, Api
from pdfs import simple_pdf
from seals.kinds import SealKind

pytestmark = pytest.mark.slow

PROBLEM = "application/problem+json"


def _sign(api: Api, level: str) -> str:
    r = api.client.post(
        "/v1/sign",
        headers=api.headers("own"),
        files={"file": ("c.pdf", simple_pdf(), "application/pdf")},
        data={"options": json.dumps({"seals": [{"kind": "contract"}], "level": level})},
    )
    assert r.status_code == 200, r.text
    return r.headers["X-Eseal-Archive-Id"]


def test_renew_writes_a_new_version_and_keeps_the_original(api: Api) -> None:
    archive_id = _sign(api, "B-LTA")
    original = api.client.get(f"/v1/archives/{archive_id}/file", headers=api.headers("own"))
    r = api.client.post(f"/v1/archives/{archive_id}/renew", headers=api.headers("own"))
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["action"] == "renew" and body["version"] == 2 and body["renew_by"]

    latest = api.client.get(f"/v1/archives/{archive_id}/file", headers=api.headers("own"))
    assert latest.status_code == 200
    assert hashlib.sha256(latest.content).hexdigest() == body["sha256"]
    assert latest.content.startswith(original.content)  # an incremental update of it
    first = api.client.get(f"/v1/archives/{archive_id}/file?version=1", headers=api.headers("own"))
    assert first.content == original.content
    missing = api.client.get(
        f"/v1/archives/{archive_id}/file?version=7", headers=api.headers("own")
    )
    assert missing.status_code == 404 and missing.headers["content-type"] == PROBLEM

    versions = api.client.get(
        f"/v1/archives/{archive_id}/versions", headers=api.headers("own")
    ).json()
    assert versions["latest"] == 2
    assert [(v["version"], v["action"]) for v in versions["versions"]] == [
        (1, "seal"),
        (2, "renew"),
    ]
    meta = api.client.get(f"/v1/archives/{archive_id}", headers=api.headers("own")).json()
    assert meta["version"] == 2 and meta["sha256"] == body["sha256"]

    report = api.client.post(
        "/v1/verify",
        headers=api.headers("own"),
        files={"file": ("r.pdf", latest.content, "application/pdf")},
    ).json()
    assert report["valid"], report["problems"]
    stamps = [s for s in report["signatures"] if s["type"] == "document_timestamp"]
    assert len(stamps) == 2

    audit = api.client.get("/v1/audit", headers=api.headers("admin")).json()
    entries = audit["entries"] if isinstance(audit, dict) else audit
    renewals = [e for e in entries if e["action"] == "archive.renew"]
    assert renewals and renewals[-1]["archive_id"] == archive_id
    assert renewals[-1]["document_sha256"] == body["sha256"]
    assert api.container.archive.check(sample=None).clean


def test_b_b_with_a_revoked_seal_is_refused_and_nothing_is_written(api: Api) -> None:
    archive_id = _sign(api, "B-B")
    api.container.seals.reissue_seal(USCC, SealKind.CONTRACT, "test")
    api.container.revocation.forget_all()
    before = api.container.archive.versions(archive_id)
    r = api.client.post(f"/v1/archives/{archive_id}/renew", headers=api.headers("own"))
    assert r.status_code == 409 and r.headers["content-type"] == PROBLEM
    problem = r.json()
    assert problem["code"] == "extend_refused"
    assert "revoked" in problem["detail"] and "no timestamp" in problem["detail"]
    assert api.container.archive.versions(archive_id) == before
    # the stateless route says the same
    pdf = api.client.get(f"/v1/archives/{archive_id}/file", headers=api.headers("own")).content
    r = api.client.post(
        "/v1/extend", headers=api.headers("own"), files={"file": ("b.pdf", pdf, "application/pdf")}
    )
    assert r.status_code == 409 and r.json()["code"] == "extend_refused"


def test_b_t_after_re_issue_is_extended_with_the_revocation_shown(api: Api) -> None:
    _extended_report(api)


def _extended_report(api: Api) -> dict:  # type: ignore[type-arg]
    archive_id = _sign(api, "B-T")
    # the TSA's genTime and the OCSP revocation time name whole seconds: a revocation in the
    # same second as the timestamp cannot be shown to come after it (and is refused)
    time.sleep(1.1)
    api.container.seals.reissue_seal(USCC, SealKind.CONTRACT, "test")
    api.container.revocation.forget_all()
    r = api.client.post(f"/v1/archives/{archive_id}/renew", headers=api.headers("own"))
    assert r.status_code == 201, r.text
    assert r.json()["action"] == "extend" and len(r.json()["revoked_seals"]) == 1
    pdf = api.client.get(f"/v1/archives/{archive_id}/file", headers=api.headers("own")).content
    report = api.client.post(
        "/v1/verify", headers=api.headers("own"), files={"file": ("e.pdf", pdf, "application/pdf")}
    ).json()
    seal = next(s for s in report["signatures"] if s["type"] == "signature")
    assert seal["integrity"] == "ok" and seal["level"] == "B-LTA"
    assert seal["revoked"]["revoked"] and not seal["revoked"]["at_signing"]
    assert seal["revoked"]["reason"] == "superseded"
    return report


def test_b_t_after_re_issue_is_valid_after_extension(api: Api) -> None:
    report = _extended_report(api)
    assert report["valid"], report["problems"]
    seal = next(s for s in report["signatures"] if s["type"] == "signature")
    # validated at its signature timestamp's time, before the revocation
    assert seal["trusted"] and seal["validated_at"] == seal["timestamp"]["time"]
    assert "seal_superseded" in {n["code"] for n in report["notices"]}


def test_another_enterprise_cannot_renew(api: Api) -> None:
    archive_id = _sign(api, "B-LTA")
    r = api.client.post(f"/v1/archives/{archive_id}/renew", headers=api.headers("other"))
    assert r.status_code in (403, 404) and r.headers["content-type"] == PROBLEM
    assert [v.version for v in api.container.archive.versions(archive_id)] == [1]


def test_cli_renews_what_expires_before_the_date(
    api: Api, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    archive_id = _sign(api, "B-LTA")
    _sign(api, "B-T")  # not B-LTA: not the renewal command's business
    settings = api.container.settings
    monkeypatch.setenv("ESEAL_DATA_DIR", str(Path(settings.data_dir)))
    monkeypatch.setenv("ESEAL_PUBLIC_URL", settings.public_url)
    # nothing expires before tomorrow
    assert main(["archive", "renew", "--before", "2000-01-01"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["renewed"] == [] and out["checked"] == 1
    # the TSA certificate (five years) expires before 2100
    assert main(["archive", "renew", "--before", "2100-01-01", "--dry-run"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert [d["id"] for d in out["due"]] == [archive_id] and out["renewed"] == []
    assert main(["archive", "renew", "--before", "2100-01-01"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert [(r["id"], r["version"]) for r in out["renewed"]] == [(archive_id, 2)]
    assert main(["archive", "renew", "--before", "not-a-date"]) != 0
    assert "invalid_date" in capsys.readouterr().err
