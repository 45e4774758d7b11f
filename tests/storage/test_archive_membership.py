"""Parties of archived documents, original names and export names (SQLite and PostgreSQL)."""

from __future__ import annotations

import io
import json
import zipfile
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from archive_helpers import USCC_A, USCC_B, Clock, add_enterprise, pdf
from sqlalchemy import Engine, insert, select, text
from sqlalchemy.exc import IntegrityError

from seals.kinds import SealKind
from storage.archive import (
    Archive,
    ArchiveQuery,
    ArchiveRecord,
    InvalidArchiveQuery,
    LocalObjectStore,
    SealUse,
    VerifiedReader,
)
from storage.archive.index import ArchiveIndex
from storage.archive.model import PartyRole, clean_original_name, export_stem
from storage.db import make_engine, migrate
from storage.tables import ArchivePartyRow

pytest_plugins = ["archive_fixtures"]

USCC_C = "9144030071526726XG"
#: valid check character, never registered
USCC_UNKNOWN = "91110108551385082Q"


@pytest.fixture
def archive(db: Engine, tmp_path: Path) -> Archive:
    add_enterprise(db, USCC_C)
    store = LocalObjectStore(tmp_path / "archive")
    store.start()
    return Archive(db, store, clock=Clock(tick=timedelta(minutes=5)))


def _put(
    archive: Archive,
    uscc: str,
    seed: int,
    *,
    parties: list[str] | None = None,
    reference: str | None = None,
    name: str | None = None,
) -> ArchiveRecord:
    return archive.put(
        pdf(seed=seed),
        uscc=uscc,
        seals=[SealUse(SealKind.CONTRACT, 0x99 + seed)],
        level="B-T",
        document_type="contract",
        reference=reference,
        parties=parties or [],
        original_name=name,
    )


def _ids(archive: Archive, query: ArchiveQuery, limit: int = 50) -> list[str]:
    return [r.id for r in archive.list(query, limit=limit).records]


def test_registered_signers_become_parties_and_nobody_else(archive: Archive) -> None:
    first = _put(archive, USCC_A, 1)
    final = _put(archive, USCC_B, 2, parties=[USCC_A, USCC_B, USCC_UNKNOWN, USCC_A])
    assert [(p.uscc, p.role) for p in final.parties] == [
        (USCC_B, PartyRole.SEALER),
        (USCC_A, PartyRole.PARTY),
    ]
    assert archive.record(final.id).parties == final.parties
    assert final.role_of(USCC_A) is PartyRole.PARTY and final.role_of(USCC_C) is None
    assert archive.record(final.id).to_json()["parties"] == [
        {"uscc": USCC_B, "role": "sealer"},
        {"uscc": USCC_A, "role": "party"},
    ]
    # A's listing holds the version it sealed and the final one B sealed; C's holds neither
    assert _ids(archive, ArchiveQuery(party=USCC_A)) == [final.id, first.id]
    assert _ids(archive, ArchiveQuery(party=USCC_B)) == [final.id]
    assert _ids(archive, ArchiveQuery(party=USCC_C)) == []
    assert _ids(archive, ArchiveQuery(party=USCC_A, role=PartyRole.PARTY)) == [final.id]
    assert _ids(archive, ArchiveQuery(party=USCC_A, role=PartyRole.SEALER)) == [first.id]
    # ``uscc`` still means the sealer
    assert _ids(archive, ArchiveQuery(uscc=USCC_A)) == [first.id]
    # the other filters apply on top of membership
    assert _ids(archive, ArchiveQuery(party=USCC_A, document_type="invoice")) == []
    assert _ids(archive, ArchiveQuery(party=USCC_A, kind=SealKind.CONTRACT)) == [final.id, first.id]
    with pytest.raises(InvalidArchiveQuery):
        ArchiveQuery(role=PartyRole.PARTY)


def test_party_listing_pages_by_cursor_in_both_directions(archive: Archive) -> None:
    made = [
        _put(archive, USCC_A if i % 2 else USCC_B, i, parties=[USCC_C] if i % 3 else [])
        for i in range(12)
    ]
    expected = [r.id for r in made if r.uscc == USCC_C or any(p.uscc == USCC_C for p in r.parties)]
    seen: list[str] = []
    cursor = None
    while True:
        page = archive.list(ArchiveQuery(party=USCC_C), limit=3, cursor=cursor)
        seen += [r.id for r in page.records]
        assert all(r.role_of(USCC_C) is PartyRole.PARTY for r in page.records)
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert seen == expected[::-1] and len(seen) == 8
    oldest_first = [r.id for r in archive.index.iter_records(ArchiveQuery(party=USCC_C), batch=3)]
    assert oldest_first == expected
    window = ArchiveQuery(
        party=USCC_C, created_from=made[3].created_at, created_to=made[8].created_at
    )
    assert _ids(archive, window) == [r for r in expected[::-1] if made[3].id <= r < made[8].id]


def test_a_party_listing_walks_the_party_index(archive: Archive) -> None:
    engine = archive.index.engine
    for i in range(300):
        _put(archive, USCC_A, i, parties=[USCC_B] if i % 2 else [])
    with engine.connect() as conn:
        conn.exec_driver_sql("ANALYZE")
    query = ArchiveQuery(party=USCC_B)
    cursor = archive.list(query, limit=5).records[-1].id
    stmt = ArchiveIndex.page_statement(query, limit=50, after=cursor)
    sql = str(stmt.compile(engine, compile_kwargs={"literal_binds": True}))
    with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            plan = "\n".join(r[-1] for r in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + sql))
            assert "ix_archive_parties_uscc_archive_id" in plan, plan
            assert "TEMP B-TREE" not in plan and "SCAN archives" not in plan, plan
        else:
            plan = "\n".join(r[0] for r in conn.exec_driver_sql("EXPLAIN " + sql))
            assert "Sort" not in plan and "Seq Scan on archives" not in plan, plan


@pytest.mark.parametrize(
    ("raw", "kept"),
    [
        ("合同 HT-1.pdf", "合同 HT-1.pdf"),
        ("C:\\Users\\张三\\Desktop\\采购合同.pdf", "采购合同.pdf"),
        ("../../etc/passwd", "passwd"),
        ("bad\x00name\r\n\x1b[31m.pdf", "badname[31m.pdf"),
        ("a\u202eevil.pdf", "aevil.pdf"),  # a right-to-left override is a format character
        ("  spaced \t name.pdf  ", "spaced name.pdf"),
        ("..", None),
        ("/", None),
        ("", None),
        (None, None),
    ],
)
def test_original_names_are_cleaned(raw: str | None, kept: str | None) -> None:
    assert clean_original_name(raw) == kept


def test_long_names_keep_their_extension() -> None:
    name = clean_original_name("合" * 500 + ".pdf")
    assert name is not None and len(name) == 200 and name.endswith("合.pdf")


@pytest.mark.parametrize(
    ("reference", "name", "stem"),
    [
        ("HT-2026/001", "x.pdf", "HT-2026_001"),
        (None, "采购合同.PDF", "采购合同"),
        ("  ", "合同.pdf", "合同"),
        ('a:b*c?"d<e>f|g\\h', None, "a_b_c_d_e_f_g_h"),
        (None, None, "document"),
        ("...", None, "document"),
        ("x" * 300, None, "x" * 80),
    ],
)
def test_export_stems_are_safe(reference: str | None, name: str | None, stem: str) -> None:
    assert export_stem(reference, name) == stem


def test_the_original_name_is_kept_and_names_the_export(archive: Archive) -> None:
    named = _put(archive, USCC_A, 1, name="../采购合同\x07 2026.pdf")
    referenced = _put(archive, USCC_B, 2, name="ignored.pdf", reference="HT/1", parties=[USCC_A])
    bare = _put(archive, USCC_A, 3)
    assert archive.record(named.id).original_name == "采购合同 2026.pdf"
    assert archive.record(bare.id).original_name is None

    def report_for(record: ArchiveRecord, reader: VerifiedReader) -> dict[str, Any]:
        reader.read()
        return {
            "valid": True,
            "signatures": [
                {
                    "type": "signature",
                    "field": "s1",
                    "valid": True,
                    "signing_time": None,
                    "timestamp": {"time": "2026-01-01T00:00:00+00:00"},
                    "seal": {"kind": "contract", "label": "合同专用章"},
                    "enterprise": {"uscc": p.uscc},
                }
                for p in record.parties
            ]
            + [{"type": "document_timestamp", "valid": True}],
        }

    zf = zipfile.ZipFile(
        io.BytesIO(
            b"".join(
                archive.export(
                    ArchiveQuery(party=USCC_A),
                    report_for=report_for,
                    report_html=lambda report: f"<p>{report['valid']}</p>",
                )
            )
        )
    )
    names = zf.namelist()
    assert names == [
        f"采购合同 2026-{named.id}.pdf",
        f"采购合同 2026-{named.id}.report.json",
        f"采购合同 2026-{named.id}.report.html",
        f"HT_1-{referenced.id}.pdf",
        f"HT_1-{referenced.id}.report.json",
        f"HT_1-{referenced.id}.report.html",
        f"document-{bare.id}.pdf",
        f"document-{bare.id}.report.json",
        f"document-{bare.id}.report.html",
        "manifest.json",
    ]
    manifest = json.loads(zf.read("manifest.json"))
    assert manifest["query"]["party"] == USCC_A
    entry = manifest["files"][1]
    assert entry["path"] == f"HT_1-{referenced.id}.pdf"
    assert zf.read(entry["path"]) == archive.read(referenced.id)
    assert entry["report_html"] == f"HT_1-{referenced.id}.report.html"
    assert zf.read(entry["report_html"]) == b"<p>True</p>"
    assert entry["original_name"] == "ignored.pdf"
    assert entry["parties"] == [
        {"uscc": USCC_B, "role": "sealer"},
        {"uscc": USCC_A, "role": "party"},
    ]
    assert entry["verdict"] == {
        "valid": True,
        "notices": [],
        "seals": [
            {
                "uscc": u,
                "kind": "contract",
                "label": "合同专用章",
                "field": "s1",
                "valid": True,
                "signing_time": None,
                "timestamp_time": "2026-01-01T00:00:00+00:00",
            }
            for u in (USCC_B, USCC_A)
        ],
    }


def test_migration_gives_older_documents_their_sealer(db_url: str, tmp_path: Path) -> None:
    engine = make_engine(db_url)
    try:
        migrate(engine, "0004")
        add_enterprise(engine, USCC_A)
        with engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO archives (id, uscc, level, document_type, sha256, size, "
                    "created_at, object_key, status) VALUES ('01HQWNJQE0P79Y81Z8RF772FMQ', "
                    f"'{USCC_A}', 'B-T', 'contract', '{'0' * 64}', 1, "
                    "'2024-03-01 09:30:00+00', 'k.pdf', 'ok')"
                )
            )
        migrate(engine)
        with engine.connect() as conn:
            rows = conn.execute(
                select(ArchivePartyRow.archive_id, ArchivePartyRow.uscc, ArchivePartyRow.role)
            ).all()
        assert [tuple(r) for r in rows] == [("01HQWNJQE0P79Y81Z8RF772FMQ", USCC_A, "sealer")]
        store = LocalObjectStore(tmp_path / "a")
        store.start()
        old = Archive(engine, store).record("01HQWNJQE0P79Y81Z8RF772FMQ")
        assert old.original_name is None and old.role_of(USCC_A) is PartyRole.SEALER
        # a party must be a registered enterprise
        with engine.connect() as conn, pytest.raises(IntegrityError, match=r"(?i)foreign"):
            conn.execute(
                insert(ArchivePartyRow),
                [
                    {
                        "archive_id": "01HQWNJQE0P79Y81Z8RF772FMQ",
                        "uscc": USCC_UNKNOWN,
                        "role": "party",
                    }
                ],
            )
        from alembic import command

        from storage.db import alembic_config

        with engine.begin() as conn:
            command.downgrade(alembic_config(conn), "0004")
        with engine.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM archives")).scalar_one() == 1
        migrate(engine)
    finally:
        engine.dispose()
