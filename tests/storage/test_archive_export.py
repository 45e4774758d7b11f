"""The streamed ZIP export: contents, manifest, reports, failures, and memory."""

from __future__ import annotations

import hashlib
import io
import json
import os
import stat
import subprocess
import tracemalloc
import zipfile
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from archive_helpers import USCC_A, USCC_B, Clock, pdf, put
from sqlalchemy import Engine
from sqlalchemy.pool import QueuePool

from helpers import require_tool
from seals.errors import InvalidLicense
from seals.kinds import SealKind
from storage.archive import (
    CHINA_TIME,
    MANIFEST_FORMAT,
    Archive,
    ArchiveCorrupt,
    ArchiveQuery,
    ArchiveRecord,
    ArchiveStatus,
    LocalObjectStore,
    VerifiedReader,
)
from storage.archive.commands import export_command

pytest_plugins = ["archive_fixtures"]


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return tmp_path / "archive"


def _archive(engine: Engine, root: Path) -> Archive:
    store = LocalObjectStore(root)
    store.start()
    return Archive(engine, store, clock=Clock(tick=timedelta(hours=7)))


@pytest.fixture
def archive(db: Engine, root: Path) -> Archive:
    return _archive(db, root)


@pytest.fixture
def local(sqlite_engine: Engine, root: Path) -> Archive:
    return _archive(sqlite_engine, root)


def _unzip(chunks: Any) -> zipfile.ZipFile:
    return zipfile.ZipFile(io.BytesIO(b"".join(chunks)))


def test_zip_holds_files_manifest_and_reports(archive: Archive, tmp_path: Path) -> None:
    records = [
        put(
            archive,
            pdf(3000 + i, seed=i),
            kinds=[SealKind.CONTRACT, SealKind.LEGAL_REP],
            reference=f"HT-{i}",
            seed=i,
        )
        for i in range(3)
    ]
    put(archive, uscc=USCC_B, seed=9)
    calls: list[str] = []

    def report_for(record: ArchiveRecord, stream: VerifiedReader) -> dict[str, Any]:
        data = stream.read()
        calls.append(record.id)
        return {"valid": True, "file": {"sha256": hashlib.sha256(data).hexdigest()}}

    raw = b"".join(archive.export(ArchiveQuery(uscc=USCC_A), report_for=report_for))
    zf = zipfile.ZipFile(io.BytesIO(raw))
    assert zf.testzip() is None
    names = zf.namelist()
    assert names[-1] == "manifest.json"
    manifest = json.loads(zf.read("manifest.json"))
    assert manifest["format"] == MANIFEST_FORMAT
    assert manifest["query"]["uscc"] == USCC_A
    assert manifest["count"] == manifest["included"] == 3 and manifest["skipped"] == 0
    assert [f["id"] for f in manifest["files"]] == [r.id for r in records]  # oldest first
    assert calls == [r.id for r in records]
    for entry, record in zip(manifest["files"], records, strict=True):
        data = zf.read(entry["path"])
        assert hashlib.sha256(data).hexdigest() == entry["sha256"] == record.sha256
        assert entry["size"] == len(data) and entry["reference"] == record.reference
        assert [s["kind"] for s in entry["seals"]] == ["contract", "legal_rep"]
        report = json.loads(zf.read(entry["report"]))
        assert report == {"valid": True, "file": {"sha256": record.sha256}}
        info = zf.getinfo(entry["path"])
        assert info.flag_bits & 0x08  # streamed: sizes in a data descriptor
        assert stat.S_IMODE(info.external_attr >> 16) == 0o444
    assert len(names) == 7  # 3 documents, 3 reports, the manifest

    require_tool("unzip")  # another implementation must accept it too
    path = tmp_path / "export.zip"
    path.write_bytes(raw)
    result = subprocess.run(["unzip", "-t", str(path)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_report_errors_are_recorded_not_fatal(local: Archive) -> None:
    put(local, seed=1)

    def report_for(record: ArchiveRecord, stream: VerifiedReader) -> dict[str, Any]:
        raise InvalidLicense("cannot read this one")

    zf = _unzip(local.export(report_for=report_for))
    entry = json.loads(zf.read("manifest.json"))["files"][0]
    assert json.loads(zf.read(entry["report"]))["error"]["code"] == "invalid_license"


def test_marked_documents_are_listed_not_included(local: Archive) -> None:
    good = put(local, seed=1)
    gone = put(local, seed=2)
    local.index.set_status(gone.id, ArchiveStatus.MISSING)
    zf = _unzip(local.export())
    manifest = json.loads(zf.read("manifest.json"))
    assert manifest["included"] == 1 and manifest["skipped"] == 1
    by_id = {f["id"]: f for f in manifest["files"]}
    assert by_id[gone.id]["included"] is False and by_id[gone.id]["status"] == "missing"
    assert by_id[gone.id]["path"] is None
    assert zf.namelist() == [good.export_name, "manifest.json"]


def test_empty_export_is_a_valid_zip(local: Archive) -> None:
    zf = _unzip(local.export(ArchiveQuery(uscc=USCC_B)))
    manifest = json.loads(zf.read("manifest.json"))
    assert manifest["files"] == [] and manifest["count"] == 0


def test_corrupt_document_stops_the_export(local: Archive, root: Path, tmp_path: Path) -> None:
    put(local, seed=1)
    bad = put(local, pdf(200_000, seed=2), seed=2)
    path = root / bad.object_key
    path.chmod(0o600)
    damaged = bytearray(path.read_bytes())
    damaged[-1] ^= 0xFF
    path.write_bytes(bytes(damaged))
    chunks: list[bytes] = []
    with pytest.raises(ArchiveCorrupt):
        for chunk in local.export():
            chunks.append(chunk)
    with pytest.raises(zipfile.BadZipFile):  # what was sent is not a complete ZIP
        _unzip(chunks)
    out = tmp_path / "out.zip"
    with pytest.raises(ArchiveCorrupt):
        local.export_to(out)
    assert not out.exists() and not (tmp_path / "out.zip.part").exists()


def _open_documents(root: Path) -> list[str]:
    """Files under ``root`` that this process has open."""
    fds = Path("/proc/self/fd")
    found = []
    for fd in fds.iterdir():
        try:
            target = Path(os.readlink(fd))
        except OSError:  # closed meanwhile (the listing's own descriptor)
            continue
        if target.is_relative_to(root):
            found.append(str(target))
    return found


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs /proc (Linux)")
def test_stopping_early_is_safe(local: Archive, sqlite_engine: Engine, root: Path) -> None:
    """A client that goes away mid-document: the file is closed, no connection is held, the
    archive takes and exports documents as before, and the ZIP sent so far is cut short."""
    first = put(local, pdf(500_000, seed=1), seed=1)
    stream = local.export()
    sent = next(stream)
    # the export stopped inside the document: its file is open, as a ZIP still unfinished
    assert _open_documents(root) == [str(root / first.object_key)]
    stream.close()  # a client that went away
    assert _open_documents(root) == []
    assert isinstance(sqlite_engine.pool, QueuePool)
    assert sqlite_engine.pool.checkedout() == 0  # no connection left behind
    with pytest.raises(zipfile.BadZipFile):
        _unzip([sent])
    second = put(local, seed=2)
    zf = _unzip(local.export())
    manifest = json.loads(zf.read("manifest.json"))
    assert manifest["included"] == 2
    paths = {f["id"]: f["path"] for f in manifest["files"]}
    assert zf.read(paths[first.id]) == pdf(500_000, seed=1)
    assert zf.read(paths[second.id]) == pdf(seed=2)


def test_export_command_with_days(local: Archive, tmp_path: Path) -> None:
    # the clock ticks 7 hours per document: T0 is 2024-03-01 17:30 in Beijing
    records = [put(local, seed=i) for i in range(6)]
    out = tmp_path / "a.zip"
    text = io.StringIO()
    assert (
        export_command(local, text, out, uscc=USCC_A, first=date(2024, 3, 2), last=date(2024, 3, 2))
        == 0
    )
    summary = json.loads(text.getvalue())
    manifest = json.loads(zipfile.ZipFile(out).read("manifest.json"))
    day = date(2024, 3, 2)
    in_day = [r.id for r in records if r.created_at.astimezone(CHINA_TIME).date() == day]
    assert [f["id"] for f in manifest["files"]] == in_day
    assert summary["files"] == len(in_day) == 4  # 00:30, 07:30, 14:30, 21:30 Beijing time
    assert summary["zip_bytes"] == out.stat().st_size


def test_memory_stays_flat(local: Archive) -> None:
    """24 MB through the export with well under 4 MB traced: nothing accumulates."""
    size = 2 * 1024 * 1024
    for i in range(12):
        put(local, pdf(size, seed=i), seed=i)
    tracemalloc.start()
    try:
        total = 0
        largest = 0
        for chunk in local.export():
            total += len(chunk)
            largest = max(largest, len(chunk))
            del chunk
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert total > 12 * size  # random bytes do not compress
    assert largest < 1024 * 1024
    assert peak < 4 * 1024 * 1024, f"peak {peak} bytes"
