"""One export flow (storage/exports.py): the ZIP and its audit entry, for the route and the CLI."""

from __future__ import annotations

import io
import json
import zipfile
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from archive_helpers import USCC_A, USCC_B, Clock, put
from sqlalchemy import Engine

from storage.archive import Archive, ArchiveQuery, ArchiveRecord, LocalObjectStore, VerifiedReader
from storage.audit import AuditLog
from storage.exports import ArchiveExports, ExportReports, ExportTooBroad, export_query

pytest_plugins = ["archive_fixtures"]


def _report(record: ArchiveRecord, reader: VerifiedReader) -> dict[str, Any]:
    return {"valid": True, "size": len(reader.read())}


@pytest.fixture
def flow(sqlite_engine: Engine, tmp_path: Path) -> tuple[ArchiveExports, Archive, AuditLog]:
    store = LocalObjectStore(tmp_path / "archive")
    store.start()
    archive = Archive(sqlite_engine, store, clock=Clock(tick=timedelta(hours=7)))
    audit = AuditLog(sqlite_engine)
    reports = ExportReports(_report, lambda report: f"<!doctype html><p>{report['valid']}</p>")
    return ArchiveExports(archive, audit, reports), archive, audit


def _exports(audit: AuditLog) -> list[dict[str, Any]]:
    return [e for e in audit.entries(limit=1000) if e["action"] == "archive.export"]


def test_the_stream_and_the_file_are_one_export_each_audited(
    flow: tuple[ArchiveExports, Archive, AuditLog], tmp_path: Path
) -> None:
    exports, archive, audit = flow
    mine = [put(archive, seed=i, reference=f"HT-{i}") for i in range(2)]
    put(archive, uscc=USCC_B, seed=7)
    query = export_query(uscc=USCC_A)

    streamed = zipfile.ZipFile(io.BytesIO(b"".join(exports.stream(query, actor="key-1"))))
    summary = exports.to_file(tmp_path / "a.zip", query, actor="cli")
    written = zipfile.ZipFile(tmp_path / "a.zip")

    for zf in (streamed, written):
        manifest = json.loads(zf.read("manifest.json"))
        assert [f["id"] for f in manifest["files"]] == [r.id for r in mine]
        assert all(f["report"] and f["report_html"] for f in manifest["files"])
        assert json.loads(zf.read(manifest["files"][0]["report"]))["valid"] is True
    assert summary.files == 2
    assert [(e["actor"], e["uscc"], e["detail"]["filter"]["party"]) for e in _exports(audit)] == [
        ("key-1", USCC_A, USCC_A),
        ("cli", USCC_A, USCC_A),
    ]


def test_without_reports_only_the_documents_go(
    flow: tuple[ArchiveExports, Archive, AuditLog],
) -> None:
    exports, archive, _ = flow
    put(archive)
    chunks = exports.stream(export_query(uscc=USCC_A), actor="cli", reports=False)
    manifest = json.loads(zipfile.ZipFile(io.BytesIO(b"".join(chunks))).read("manifest.json"))
    assert [(f["report"], f["report_html"]) for f in manifest["files"]] == [(None, None)]


def test_the_cli_flags_make_the_query(flow: tuple[ArchiveExports, Archive, AuditLog]) -> None:
    query = export_query(
        uscc=USCC_A, first=date(2024, 3, 1), last=date(2024, 3, 1), kind="contract"
    )
    assert query.party == USCC_A and query.kind is not None and query.kind.value == "contract"
    assert query.created_to is not None and query.created_from is not None
    assert query.created_to - query.created_from == timedelta(days=1)


def test_an_export_of_everything_is_refused_and_not_audited(
    flow: tuple[ArchiveExports, Archive, AuditLog], tmp_path: Path
) -> None:
    exports, archive, audit = flow
    put(archive)
    for call in (
        lambda: exports.stream(ArchiveQuery(), actor="admin"),
        lambda: exports.to_file(tmp_path / "all.zip", ArchiveQuery(), actor="cli"),
    ):
        with pytest.raises(ExportTooBroad) as caught:
            call()
        assert caught.value.code == "export_too_broad"
        assert caught.value.to_problem()["title"] == "Invalid request"
    assert _exports(audit) == [] and not (tmp_path / "all.zip").exists()
    # a reference or a first day is narrow enough
    assert b"".join(exports.stream(ArchiveQuery(reference="HT-1"), actor="admin"))
