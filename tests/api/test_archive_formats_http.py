"""Archived OFDs and SES signatures over HTTP: downloaded under their own media type and
name, listed and filtered by format, exported with their extension, never renewed.

The sealing routes for OFD and SES are not this test's subject: the files are archived as
those routes archive them (``Archive.put(..., format=...)``, the audit entry in the same
transaction), then everything a user does with an archived document is done over HTTP.
"""

from __future__ import annotations

import io
import json
import zipfile
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote

import pytest

from api.renewal import renew_due
from helpers import USCC, Api
from pdfs import simple_pdf
from seals.kinds import SealKind
from seals.vocab import DocumentFormat
from storage.archive import ArchiveRecord, LocalObjectStore, SealUse

OFD_BYTES = b"PK\x03\x04" + bytes(range(256)) * 8  # the archive keeps bytes, it parses none
SES_BYTES = b"\x30\x82\x04\x00" + bytes(range(255, -1, -1)) * 4


def _archive(
    api: Api,
    data: bytes,
    document_format: DocumentFormat,
    *,
    level: str,
    reference: str | None = None,
    original_name: str | None = None,
) -> ArchiveRecord:
    c = api.container
    seal = c.seals.seal(USCC, SealKind.CONTRACT)
    return c.archive.put(
        data,
        uscc=USCC,
        seals=[SealUse(SealKind.CONTRACT, seal.serial)],
        level=level,
        document_type="contract",
        reference=reference,
        timestamp_time=datetime.now(UTC) if level == "B-T" else None,
        original_name=original_name,
        format=document_format,
    )


@pytest.fixture
def archived(api: Api) -> dict[str, ArchiveRecord]:
    """A sealed PDF (through /v1/sign), an OFD and an SES signature of the enterprise."""
    signed = api.client.post(
        "/v1/sign",
        headers=api.headers("own"),
        files={"file": ("合同.pdf", simple_pdf(1), "application/pdf")},
        data={
            "options": json.dumps({"seals": [{"kind": "contract", "page": 1, "x": 100, "y": 100}]})
        },
    )
    assert signed.status_code == 200, signed.text
    return {
        "pdf": api.container.archive.record(signed.headers["x-eseal-archive-id"]),
        "ofd": _archive(api, OFD_BYTES, DocumentFormat.OFD, level="B-T", reference="HT-2026-OFD"),
        "ses": _archive(
            api, SES_BYTES, DocumentFormat.SES, level="B-B", original_name="发票数据.xml"
        ),
    }


def test_each_format_downloads_as_itself(api: Api, archived: dict[str, ArchiveRecord]) -> None:
    own = api.headers("own")
    for fmt, media_type, body, name in (
        ("ofd", "application/ofd", OFD_BYTES, "HT-2026-OFD"),
        ("ses", "application/octet-stream", SES_BYTES, "发票数据.xml"),
    ):
        record = archived[fmt]
        r = api.client.get(f"/v1/archives/{record.id}/file", headers=own)
        assert r.status_code == 200, r.text
        assert r.content == body
        assert r.headers["content-type"] == media_type
        disposition = r.headers["content-disposition"]
        assert f'filename="{record.id}.{fmt}"' in disposition
        assert f"filename*=UTF-8''{quote(f'{name}-{record.id}.{fmt}')}" in disposition
        assert r.headers["x-eseal-sha256"] == record.sha256

        meta = api.client.get(f"/v1/archives/{record.id}", headers=own).json()
        assert (meta["format"], meta["level"]) == (fmt, record.level)
        assert meta["object_key"].endswith(f"/{record.id}.{fmt}")
        # another enterprise gets neither the file nor its metadata
        other = api.headers("other")
        assert api.client.get(f"/v1/archives/{record.id}/file", headers=other).status_code == 403

    pdf = api.client.get(f"/v1/archives/{archived['pdf'].id}/file", headers=own)
    assert pdf.headers["content-type"] == "application/pdf"
    assert pdf.content.startswith(b"%PDF")
    assert api.client.get(f"/v1/archives/{archived['pdf'].id}", headers=own).json()["format"] == (
        "pdf"
    )


def test_listing_filters_by_format(api: Api, archived: dict[str, ArchiveRecord]) -> None:
    own = api.headers("own")
    every = api.client.get("/v1/archives", headers=own).json()["items"]
    assert [(i["id"], i["format"]) for i in every] == [
        (archived["ses"].id, "ses"),
        (archived["ofd"].id, "ofd"),
        (archived["pdf"].id, "pdf"),
    ]
    for fmt in ("pdf", "ofd", "ses"):
        items = api.client.get(f"/v1/archives?format={fmt}", headers=own).json()["items"]
        assert [i["id"] for i in items] == [archived[fmt].id]
    admin = api.client.get(f"/v1/archives?format=ofd&uscc={USCC}", headers=api.headers("admin"))
    assert [i["id"] for i in admin.json()["items"]] == [archived["ofd"].id]
    wrong = api.client.get("/v1/archives?format=xml", headers=own)
    assert wrong.status_code == 422


def test_export_names_each_file_by_its_format(api: Api, archived: dict[str, ArchiveRecord]) -> None:
    r = api.client.post("/v1/archives/export", headers=api.headers("own"), json={"reports": False})
    assert r.status_code == 200, r.text
    with zipfile.ZipFile(io.BytesIO(r.content)) as zf:
        ofd, ses = archived["ofd"], archived["ses"]
        assert zf.read(f"HT-2026-OFD-{ofd.id}.ofd") == OFD_BYTES
        assert zf.read(f"发票数据.xml-{ses.id}.ses") == SES_BYTES
        manifest = json.loads(zf.read("manifest.json"))
    formats = {f["id"]: (f["format"], f["path"]) for f in manifest["files"]}
    assert formats[ofd.id] == ("ofd", f"HT-2026-OFD-{ofd.id}.ofd")
    assert formats[ses.id] == ("ses", f"发票数据.xml-{ses.id}.ses")
    assert formats[archived["pdf"].id][0] == "pdf"

    # with reports (the default) the export still completes and holds every file; which
    # verifier reports on an OFD or SES is the container's choice (ExportReports.report_for)
    full = api.client.post("/v1/archives/export", headers=api.headers("own"), json={})
    assert full.status_code == 200
    with zipfile.ZipFile(io.BytesIO(full.content)) as zf:
        assert zf.read(f"HT-2026-OFD-{ofd.id}.ofd") == OFD_BYTES
        assert zf.read(f"发票数据.xml-{ses.id}.ses") == SES_BYTES
        reports = {f["id"]: f["report"] for f in json.loads(zf.read("manifest.json"))["files"]}
    assert reports[ofd.id] == f"HT-2026-OFD-{ofd.id}.report.json"

    only = api.client.post(
        "/v1/archives/export", headers=api.headers("own"), json={"format": "ses", "reports": False}
    )
    with zipfile.ZipFile(io.BytesIO(only.content)) as zf:
        assert sorted(zf.namelist()) == sorted([f"发票数据.xml-{ses.id}.ses", "manifest.json"])


def test_ofd_and_ses_are_not_renewed(api: Api, archived: dict[str, ArchiveRecord]) -> None:
    own = api.headers("own")
    for fmt in ("ofd", "ses"):
        record = archived[fmt]
        r = api.client.post(f"/v1/archives/{record.id}/renew", headers=own)
        assert r.status_code == 409, r.text
        assert r.json()["code"] == "archive_not_renewable"
        versions = api.client.get(f"/v1/archives/{record.id}/versions", headers=own).json()
        assert [v["version"] for v in versions["versions"]] == [1]
    # ``eseal archive renew --before`` looks at PDFs only: nothing to renew, nothing failed
    report = renew_due(api.container, datetime(2100, 1, 1, tzinfo=UTC), "test", uscc=USCC)
    assert (report["checked"], report["renewed"], report["failed"]) == (0, [], [])


def test_a_damaged_ofd_is_not_sent(api: Api, archived: dict[str, ArchiveRecord]) -> None:
    store = api.container.archive.store
    assert isinstance(store, LocalObjectStore)
    path = Path(store.root) / archived["ofd"].object_key
    path.chmod(0o600)
    path.write_bytes(OFD_BYTES[:-1] + b"\x00")
    r = api.client.get(f"/v1/archives/{archived['ofd'].id}/file", headers=api.headers("own"))
    assert r.status_code == 500
    assert r.json()["code"] == "archive_corrupt"
