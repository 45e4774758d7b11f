"""POST /v1/archives/export through the one export flow: checked and audited before it streams."""

from __future__ import annotations

import io
import json
import zipfile

from helpers import USCC, Api
from pdfs import simple_pdf

PROBLEM = "application/problem+json"


def _exports(api: Api) -> list[dict[str, object]]:
    entries = api.container.audit.entries(limit=1000)
    return [e for e in entries if e["action"] == "archive.export"]


def test_an_admin_export_of_everything_is_refused_before_it_is_audited(api: Api) -> None:
    r = api.client.post("/v1/archives/export", headers=api.headers("admin"), json={})
    assert r.status_code == 422 and r.headers["content-type"] == PROBLEM
    assert r.json()["code"] == "export_too_broad" and r.json()["title"] == "Invalid request"
    assert _exports(api) == []


def test_an_export_is_audited_with_its_filter(api: Api) -> None:
    signed = api.client.post(
        "/v1/sign",
        headers=api.headers("own"),
        files={"file": ("c.pdf", simple_pdf(), "application/pdf")},
        data={"options": json.dumps({"level": "B-B"})},
    )
    assert signed.status_code == 200
    r = api.client.post("/v1/archives/export", headers=api.headers("own"), json={"reports": False})
    assert r.status_code == 200
    manifest = json.loads(zipfile.ZipFile(io.BytesIO(r.content)).read("manifest.json"))
    assert [f["id"] for f in manifest["files"]] == [signed.headers["x-eseal-archive-id"]]
    (entry,) = _exports(api)
    assert entry["uscc"] == USCC and entry["actor"] == api.tokens["own"].split("_")[1]
    assert entry["detail"]["filter"]["party"] == USCC  # type: ignore[index]
