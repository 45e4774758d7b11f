"""Sealed OFDs and GB/T 38540 signatures in the archive, beside sealed PDFs (migration 0010).

The same guarantees as for a PDF: the row only after the object, the SHA-256 checked on
read, listing, filtering, export, ``archive check``; each file under its format's extension
and media type.  Rows on SQLite and PostgreSQL; objects in a local directory and on a real
S3 server (SeaweedFS).  The archive does not parse what it keeps, so the files here are bytes
shaped like an OFD (a ZIP with ``OFD.xml``) and like an ``SES_Signature`` (a DER SEQUENCE).
"""

from __future__ import annotations

import hashlib
import io
import json
import random
import urllib.request
import zipfile
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from archive_helpers import T0, USCC_A, USCC_B, Clock, add_enterprise, pdf, put
from sqlalchemy import CheckConstraint, Engine, bindparam, text, update
from sqlalchemy.exc import IntegrityError

from seals.kinds import SealKind
from seals.vocab import DocumentFormat, PadesLevel, values
from storage import tables
from storage.archive import (
    Archive,
    ArchiveCorrupt,
    ArchiveNotRenewable,
    ArchiveQuery,
    ArchiveRecord,
    LocalObjectStore,
    S3Config,
    S3ObjectStore,
    SealUse,
)
from storage.archive.model import format_of_key, object_key, parse_object_key
from storage.db import alembic_config, make_engine, migrate
from storage.tables import ArchiveRow, UTCDateTime

if TYPE_CHECKING:
    from s3_fixtures import WeedServer

pytest_plugins = ["archive_fixtures", "s3_fixtures"]

OFD = DocumentFormat.OFD
SES = DocumentFormat.SES


def ofd_file(seed: int = 0) -> bytes:
    """A small OFD package: a ZIP holding ``OFD.xml`` and one page."""
    rng = random.Random(seed)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as zf:
        zf.writestr(
            zipfile.ZipInfo("OFD.xml", date_time=(2024, 3, 1, 9, 30, 0)),
            '<?xml version="1.0" encoding="UTF-8"?>'
            '<ofd:OFD xmlns:ofd="http://www.ofdspec.org/2016" Version="1.0" DocType="OFD">'
            "<ofd:DocBody><ofd:DocRoot>Doc_0/Document.xml</ofd:DocRoot></ofd:DocBody></ofd:OFD>",
        )
        zf.writestr(
            zipfile.ZipInfo("Doc_0/Pages/Page_0/Content.xml", date_time=(2024, 3, 1, 9, 30, 0)),
            rng.randbytes(3000).hex(),
        )
    return out.getvalue()


def ses_file(seed: int = 0) -> bytes:
    """DER-shaped bytes: a SEQUENCE with a long-form length, as an ``SES_Signature`` starts."""
    body = random.Random(seed).randbytes(1500)
    return b"\x30\x82" + len(body).to_bytes(2, "big") + body


def put_as(
    archive: Archive,
    data: bytes,
    document_format: DocumentFormat,
    *,
    level: str = "B-T",
    reference: str | None = None,
    original_name: str | None = None,
    uscc: str = USCC_A,
) -> ArchiveRecord:
    return archive.put(
        data,
        uscc=uscc,
        seals=[SealUse(SealKind.CONTRACT, 0x5A0001)],
        level=level,
        document_type="contract",
        reference=reference,
        timestamp_time=T0 if level == "B-T" else None,
        original_name=original_name,
        format=document_format,
    )


def _three(archive: Archive) -> tuple[ArchiveRecord, ArchiveRecord, ArchiveRecord]:
    """A PDF, an OFD and an SES record of enterprise A, in that order."""
    return (
        put(archive, seed=1, reference="HT-PDF"),
        put_as(archive, ofd_file(), OFD, reference="HT-OFD", original_name="采购合同.ofd"),
        put_as(archive, ses_file(), SES, level="B-B", original_name="invoice.xml"),
    )


def _check_round_trip(archive: Archive) -> tuple[ArchiveRecord, ArchiveRecord, ArchiveRecord]:
    """What every store and database must give: put, get, list, filter, in the right names."""
    pdf_rec, ofd_rec, ses_rec = _three(archive)

    assert (pdf_rec.format, ofd_rec.format, ses_rec.format) == (DocumentFormat.PDF, OFD, SES)
    month = f"{USCC_A}/{ofd_rec.created_at:%Y}/"
    assert ofd_rec.object_key.startswith(month) and ofd_rec.object_key.endswith(
        f"/{ofd_rec.id}.ofd"
    )
    assert ses_rec.object_key.endswith(f"/{ses_rec.id}.ses")
    assert pdf_rec.object_key.endswith(f"/{pdf_rec.id}.pdf")
    assert (ofd_rec.filename, ofd_rec.media_type) == (f"{ofd_rec.id}.ofd", "application/ofd")
    assert (ses_rec.filename, ses_rec.media_type) == (
        f"{ses_rec.id}.ses",
        "application/octet-stream",
    )
    assert ofd_rec.export_name == f"HT-OFD-{ofd_rec.id}.ofd"
    assert ses_rec.export_name == f"invoice.xml-{ses_rec.id}.ses"

    # read back, verified, as they were archived; the record says what they are
    assert archive.read(ofd_rec.id) == ofd_file()
    assert archive.read(ses_rec.id) == ses_file()
    again = archive.record(ofd_rec.id)
    assert again == ofd_rec
    assert again.to_json()["format"] == "ofd"
    assert (again.level, archive.record(ses_rec.id).level) == ("B-T", "B-B")
    assert archive.versions(ses_rec.id)[0].object_key == ses_rec.object_key

    # listing and filters see all three; the format filter picks one
    everything = archive.list(ArchiveQuery(uscc=USCC_A)).records
    assert [r.id for r in everything] == [ses_rec.id, ofd_rec.id, pdf_rec.id]
    assert [r.format for r in everything] == [SES, OFD, DocumentFormat.PDF]
    for wanted, record in ((OFD, ofd_rec), (SES, ses_rec), (DocumentFormat.PDF, pdf_rec)):
        found = archive.list(ArchiveQuery(uscc=USCC_A, format=wanted)).records
        assert [r.id for r in found] == [record.id]
    by_party = archive.list(ArchiveQuery(party=USCC_A, format=OFD, kind=SealKind.CONTRACT))
    assert [r.id for r in by_party.records] == [ofd_rec.id]
    assert archive.list(ArchiveQuery(uscc=USCC_B, format=OFD)).records == []
    return pdf_rec, ofd_rec, ses_rec


def _check_export(
    archive: Archive, pdf_rec: ArchiveRecord, ofd_rec: ArchiveRecord, ses_rec: ArchiveRecord
) -> None:
    seen: dict[str, DocumentFormat] = {}

    def report_for(record: ArchiveRecord, reader: Any) -> dict[str, Any]:
        seen[record.id] = record.format  # a caller picks its verifier by the format
        return {
            "valid": True,
            "format": record.format.value,
            "signatures": [],
            "size": len(reader.read()),
        }

    blob = b"".join(archive.export(ArchiveQuery(party=USCC_A), report_for=report_for))
    with zipfile.ZipFile(io.BytesIO(blob)) as zf:
        names = set(zf.namelist())
        assert {
            f"HT-PDF-{pdf_rec.id}.pdf",
            f"HT-OFD-{ofd_rec.id}.ofd",
            f"HT-OFD-{ofd_rec.id}.report.json",
            f"invoice.xml-{ses_rec.id}.ses",
            f"invoice.xml-{ses_rec.id}.report.json",
        } <= names
        assert zf.read(f"HT-OFD-{ofd_rec.id}.ofd") == ofd_file()
        assert zf.read(f"invoice.xml-{ses_rec.id}.ses") == ses_file()
        manifest = json.loads(zf.read("manifest.json"))
    assert seen == {pdf_rec.id: DocumentFormat.PDF, ofd_rec.id: OFD, ses_rec.id: SES}
    files = {f["id"]: f for f in manifest["files"]}
    assert files[ofd_rec.id]["format"] == "ofd"
    assert files[ofd_rec.id]["path"] == f"HT-OFD-{ofd_rec.id}.ofd"
    assert files[ses_rec.id]["format"] == "ses"
    assert files[ses_rec.id]["sha256"] == hashlib.sha256(ses_file()).hexdigest()
    assert files[pdf_rec.id]["format"] == "pdf"

    only_ofd = b"".join(archive.export(ArchiveQuery(party=USCC_A, format=OFD)))
    with zipfile.ZipFile(io.BytesIO(only_ofd)) as zf:
        assert sorted(zf.namelist()) == sorted([f"HT-OFD-{ofd_rec.id}.ofd", "manifest.json"])
        assert json.loads(zf.read("manifest.json"))["query"]["format"] == "ofd"


# -- local directory, rows on SQLite and PostgreSQL -----------------------------------------


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return tmp_path / "archive"


@pytest.fixture
def archive(db: Engine, root: Path) -> Archive:
    store = LocalObjectStore(root)
    store.start()
    return Archive(db, store, clock=Clock(tick=timedelta(minutes=5)))


def test_ofd_and_ses_round_trip_and_export(archive: Archive, root: Path) -> None:
    pdf_rec, ofd_rec, ses_rec = _check_round_trip(archive)
    assert (root / ofd_rec.object_key).read_bytes() == ofd_file()
    assert (root / ses_rec.object_key).read_bytes() == ses_file()
    _check_export(archive, pdf_rec, ofd_rec, ses_rec)
    report = archive.check(grace=timedelta(0))
    assert report.clean and (report.rows, report.objects, report.verified) == (3, 3, 3)


def test_a_damaged_ofd_or_ses_is_never_served(archive: Archive, root: Path) -> None:
    ofd_rec = put_as(archive, ofd_file(), OFD)
    ses_rec = put_as(archive, ses_file(), SES)
    for record in (ofd_rec, ses_rec):
        path = root / record.object_key
        path.chmod(0o600)
        data = bytearray(path.read_bytes())
        data[len(data) // 2] ^= 1
        path.write_bytes(bytes(data))
        with pytest.raises(ArchiveCorrupt) as info:
            archive.read(record.id)
        assert info.value.code == "archive_corrupt"
    report = archive.check(grace=timedelta(0))
    assert report.corrupt.count == 2


def test_levels_of_ofd_and_ses_are_b_b_or_b_t(archive: Archive, db: Engine) -> None:
    for level in ("B-LT", "B-LTA"):
        with pytest.raises(ValueError, match="level must be one of B-B, B-T for a ofd document"):
            put_as(archive, ofd_file(), OFD, level=level)
    with pytest.raises(TypeError, match="DocumentFormat"):
        archive.put(
            ofd_file(),
            uscc=USCC_A,
            seals=[SealUse(SealKind.CONTRACT, 1)],
            level="B-T",
            document_type="contract",
            format="ofd",  # type: ignore[arg-type]
        )
    assert archive.list().records == []  # nothing stored by a refused put
    # the database says the same, whoever writes the row
    record = put_as(archive, ses_file(), SES, level="B-B")
    for values_ in ({"level": "B-LTA"}, {"format": "xml"}):
        with pytest.raises(IntegrityError), db.begin() as conn:
            conn.execute(update(ArchiveRow).where(ArchiveRow.id == record.id).values(**values_))
    pdf_rec = put(archive, level="B-LTA")
    with db.begin() as conn:  # a PDF keeps every PAdES level
        conn.execute(update(ArchiveRow).where(ArchiveRow.id == pdf_rec.id).values(level="B-LT"))


def test_only_pdfs_get_later_versions(archive: Archive, root: Path) -> None:
    record = put_as(archive, ofd_file(), OFD)
    with pytest.raises(ArchiveNotRenewable) as info:
        archive.add_version(record, ofd_file(seed=2), action="renew", level="B-T")
    assert info.value.code == "archive_not_renewable"
    assert [v.version for v in archive.versions(record.id)] == [1]
    stored = sorted(p.name for p in root.rglob(f"{record.id}*"))
    assert stored == [f"{record.id}.ofd"]


def test_object_keys_of_every_format() -> None:
    at = T0
    ulid = "01HQWNJQE0P79Y81Z8RF772FMQ"
    for fmt, ext in ((DocumentFormat.PDF, "pdf"), (OFD, "ofd"), (SES, "ses")):
        key = object_key(USCC_A, ulid, at, fmt)
        assert key == f"{USCC_A}/2024/03/{ulid}.{ext}"
        assert (parse_object_key(key), format_of_key(key)) == (ulid, fmt)
    assert object_key(USCC_A, ulid, at) == f"{USCC_A}/2024/03/{ulid}.pdf"
    assert parse_object_key(f"{USCC_A}/2024/03/{ulid}.v2.pdf") == ulid
    # a later version is a PDF's alone; other names are not eseal's
    for foreign in (".v2.ofd", ".v2.ses", ".xml", ".OFD", ".ofd.tmp"):
        assert parse_object_key(f"{USCC_A}/2024/03/{ulid}{foreign}") is None


def test_the_format_check_lists_the_vocabulary() -> None:
    assert list(values(DocumentFormat)) == tables.ARCHIVE_FORMATS
    checks = {
        str(c.name): str(c.sqltext)
        for c in tables.Base.metadata.tables["archives"].constraints
        if isinstance(c, CheckConstraint)
    }
    fmt = checks["ck_archives_format"]
    assert all(f"'{word}'" in fmt for word in values(DocumentFormat))
    national = checks["ck_archives_level_of_format"]
    assert {word for word in values(PadesLevel) if f"'{word}'" in national} == {"B-B", "B-T"}


# -- a real S3 server, rows on SQLite and PostgreSQL ----------------------------------------


@pytest.fixture
def s3_archive(db: Engine, s3_server: WeedServer) -> Iterator[Archive]:
    from s3_fixtures import ACCESS_KEY, SECRET_KEY, new_bucket_name

    store = S3ObjectStore(
        S3Config(
            endpoint=s3_server.endpoint,
            access_key=ACCESS_KEY,
            secret_key=SECRET_KEY,
            bucket=new_bucket_name(),
            secure=False,
            presign=True,
            read_timeout=30.0,
        )
    )
    store.start()
    yield Archive(db, store, clock=Clock(tick=timedelta(minutes=5)))


@pytest.mark.s3
@pytest.mark.slow
def test_ofd_and_ses_on_s3(s3_archive: Archive) -> None:
    pdf_rec, ofd_rec, ses_rec = _check_round_trip(s3_archive)
    store = s3_archive.store
    assert isinstance(store, S3ObjectStore)
    # the store keeps each object with its media type, and a download link names it so
    for record, media_type in (
        (pdf_rec, "application/pdf"),
        (ofd_rec, "application/ofd"),
        (ses_rec, "application/octet-stream"),
    ):
        stat = store.client.stat_object(
            store.bucket, record.object_key, version_id=record.version_id
        )
        assert stat.content_type == media_type
        assert record.version_id is not None
        with urllib.request.urlopen(s3_archive.presigned_url(record)) as answer:
            assert answer.headers["Content-Type"] == media_type
            assert record.filename in answer.headers["Content-Disposition"]
            assert hashlib.sha256(answer.read()).hexdigest() == record.sha256
    _check_export(s3_archive, pdf_rec, ofd_rec, ses_rec)
    report = s3_archive.check(grace=timedelta(0))
    assert report.clean and (report.rows, report.verified) == (3, 3)


# -- the migration -------------------------------------------------------------------------


def test_migration_makes_earlier_documents_pdfs(db_url: str, tmp_path: Path) -> None:
    """A database at 0008 with archived PDFs: after 0010 they are pdf records, served as
    before, and OFD and SES records go beside them."""
    store = LocalObjectStore(tmp_path / "archive")
    store.start()
    engine = make_engine(db_url)
    try:
        migrate(engine, "0008")
        add_enterprise(engine, USCC_A)
        ids = ["01HQWNJQE0P79Y81Z8RF772FMQ", "01HQWNJQE1P79Y81Z8RF772FMR"]
        insert_row = text(
            "INSERT INTO archives (id, uscc, level, document_type, sha256, size, created_at, "
            "object_key, version_id, status) VALUES (:id, :uscc, :level, 'contract', :sha, "
            ":size, :at, :key, NULL, 'ok')"
        ).bindparams(bindparam("at", type_=UTCDateTime()))
        for n, archive_id in enumerate(ids):
            body = pdf(seed=10 + n)
            key = object_key(USCC_A, archive_id, T0)
            sha = hashlib.sha256(body).hexdigest()
            md5 = hashlib.md5(body, usedforsecurity=False).hexdigest()
            store.put(
                key,
                io.BytesIO(body),
                len(body),
                sha256=sha,
                md5=md5,
                archive_id=archive_id,
                uscc=USCC_A,
            )
            with engine.begin() as conn:
                conn.execute(
                    insert_row,
                    {
                        "id": archive_id,
                        "uscc": USCC_A,
                        "level": ("B-T", "B-LTA")[n],
                        "sha": sha,
                        "size": len(body),
                        "at": T0,
                        "key": key,
                    },
                )
                conn.execute(
                    text(
                        "INSERT INTO archive_seals (archive_id, position, uscc, kind, serial) "
                        "VALUES (:id, 0, :uscc, 'contract', '4000')"
                    ),
                    {"id": archive_id, "uscc": USCC_A},
                )
                conn.execute(
                    text(
                        "INSERT INTO archive_parties (archive_id, uscc, role) "
                        "VALUES (:id, :uscc, 'sealer')"
                    ),
                    {"id": archive_id, "uscc": USCC_A},
                )

        migrate(engine)

        with engine.connect() as conn:
            formats = conn.execute(text("SELECT id, format FROM archives ORDER BY id")).all()
            assert [tuple(r) for r in formats] == [(ids[0], "pdf"), (ids[1], "pdf")]
        archive = Archive(engine, store, clock=Clock(T0 + timedelta(days=1)))
        old = archive.record(ids[1])
        assert (old.format, old.level, old.filename) == (
            DocumentFormat.PDF,
            "B-LTA",
            f"{ids[1]}.pdf",
        )
        assert archive.read(ids[0]) == pdf(seed=10)
        assert [r.id for r in archive.list(ArchiveQuery(format=DocumentFormat.PDF)).records] == [
            ids[1],
            ids[0],
        ]
        new = put_as(archive, ofd_file(), OFD)
        assert [r.id for r in archive.list(ArchiveQuery(format=OFD)).records] == [new.id]
        assert archive.check(grace=timedelta(0)).clean

        # going back below 0010 would turn the OFD into a PDF: refused, nothing changed
        from alembic import command

        with pytest.raises(RuntimeError, match="OFD or SES"), engine.begin() as conn:
            command.downgrade(alembic_config(conn), "0008")
        assert archive.record(new.id).format is OFD
    finally:
        engine.dispose()
