"""Archive rows: schema, filters, keyset paging and its query plans, on SQLite and PostgreSQL."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest
from archive_helpers import USCC_A, USCC_B, count_rows
from sqlalchemy import Engine, insert, inspect
from ulid import ULID

from keystore.errors import ErrorKind
from seals.kinds import SealKind
from storage.archive import (
    ArchiveExists,
    ArchiveQuery,
    ArchiveRecord,
    ArchiveStatus,
    InvalidArchiveQuery,
    SealUse,
    day_range,
)
from storage.archive.index import ArchiveIndex
from storage.archive.model import CHINA_TIME, id_bounds, object_key
from storage.tables import ArchiveRow, ArchiveSealRow

T0 = datetime(2024, 1, 1, tzinfo=UTC)
KINDS = list(SealKind)
TYPES = ["contract", "invoice", "other"]


def record(i: int, *, uscc: str = USCC_A, at: datetime | None = None) -> ArchiveRecord:
    """Record number ``i``: its kinds, type and reference cycle so that filters pick subsets."""
    created = at or T0 + timedelta(hours=i)
    ulid = ULID.from_datetime(created)
    kinds = [KINDS[i % 5]] + ([SealKind.LEGAL_REP] if i % 3 == 0 else [])
    return ArchiveRecord(
        id=str(ulid),
        uscc=uscc,
        seals=tuple(SealUse(k, 0x1000 + i * 8 + n) for n, k in enumerate(kinds)),
        level="B-LT",
        timestamp_time=created,
        document_type=TYPES[i % 3],
        reference=f"REF-{i % 4}",
        sha256=f"{i:064x}",
        size=1000 + i,
        created_at=ulid.datetime,
        object_key=object_key(uscc, str(ulid), ulid.datetime),
        version_id=None,
    )


pytest_plugins = ["archive_fixtures"]


@pytest.fixture
def index(db: Engine) -> ArchiveIndex:
    return ArchiveIndex(db)


@pytest.fixture
def filled(index: ArchiveIndex) -> list[ArchiveRecord]:
    records = [record(i, uscc=USCC_A if i % 4 else USCC_B) for i in range(40)]
    for r in records:
        index.insert(r)
    return records


def test_schema(db: Engine) -> None:
    inspector = inspect(db)
    indexes = {ix["name"] for ix in inspector.get_indexes("archives")}
    assert {
        "ix_archives_uscc_id",
        "ix_archives_uscc_document_type_id",
        "ix_archives_uscc_reference_id",
    } <= indexes
    assert "ix_archive_seals_uscc_kind_archive_id" in {
        ix["name"] for ix in inspector.get_indexes("archive_seals")
    }


def test_insert_and_get_round_trip(index: ArchiveIndex) -> None:
    r = record(3)
    index.insert(r)
    assert index.get(r.id) == r
    assert index.get("01HZZZZZZZZZZZZZZZZZZZZZZZ") is None
    with pytest.raises(ArchiveExists):
        index.insert(r)
    assert count_rows(index.engine) == (1, 2)


def _all_pages(
    index: ArchiveIndex, query: ArchiveQuery, limit: int, newest_first: bool
) -> list[str]:
    seen: list[str] = []
    cursor: str | None = None
    for _ in range(100):
        page = index.page(query, limit=limit, after=cursor, newest_first=newest_first)
        seen += [r.id for r in page]
        if len(page) < limit:
            return seen
        cursor = page[-1].id
    raise AssertionError("paging did not end")


QUERIES = [
    ArchiveQuery(),
    ArchiveQuery(uscc=USCC_A),
    ArchiveQuery(uscc=USCC_A, kind=SealKind.LEGAL_REP),
    ArchiveQuery(uscc=USCC_B, kind=SealKind.CONTRACT),
    ArchiveQuery(kind=SealKind.FINANCE),
    ArchiveQuery(uscc=USCC_A, document_type="invoice"),
    ArchiveQuery(uscc=USCC_A, reference="REF-2"),
    ArchiveQuery(
        uscc=USCC_A, created_from=T0 + timedelta(hours=5), created_to=T0 + timedelta(hours=30)
    ),
    ArchiveQuery(
        uscc=USCC_A,
        kind=SealKind.LEGAL_REP,
        document_type="contract",
        created_to=T0 + timedelta(hours=33),
    ),
]


def _matches(r: ArchiveRecord, q: ArchiveQuery) -> bool:
    return (
        (q.uscc is None or r.uscc == q.uscc)
        and (q.kind is None or q.kind in r.kinds)
        and (q.document_type is None or r.document_type == q.document_type)
        and (q.reference is None or r.reference == q.reference)
        and (q.created_from is None or r.created_at >= q.created_from)
        and (q.created_to is None or r.created_at < q.created_to)
    )


def test_filters_and_keyset_paging(index: ArchiveIndex, filled: list[ArchiveRecord]) -> None:
    for query in QUERIES:
        expected = [r.id for r in filled if _matches(r, query)]
        assert expected, f"the query should match something: {query}"
        newest = _all_pages(index, query, 4, newest_first=True)
        oldest = _all_pages(index, query, 3, newest_first=False)
        assert newest == expected[::-1], query
        assert oldest == expected, query


def test_records_carry_their_seals(index: ArchiveIndex, filled: list[ArchiveRecord]) -> None:
    page = index.page(ArchiveQuery(), limit=1000)
    assert {r.id: r for r in page} == {r.id: r for r in filled}


def test_time_range_is_exact_to_the_microsecond(index: ArchiveIndex) -> None:
    at = datetime(2024, 5, 6, 7, 8, 9, 123000, tzinfo=UTC)
    r = record(1, at=at)
    index.insert(r)

    def hits(**kw: datetime) -> int:
        return len(index.page(ArchiveQuery(**kw), limit=10))

    assert hits(created_from=at) == 1
    assert hits(created_from=at + timedelta(microseconds=1)) == 0
    assert hits(created_to=at) == 0
    assert hits(created_to=at + timedelta(microseconds=1)) == 1
    beijing = at.astimezone(CHINA_TIME)
    assert hits(created_from=beijing, created_to=beijing + timedelta(milliseconds=1)) == 1


def test_id_bounds_and_day_range() -> None:
    low, high = id_bounds(T0, T0 + timedelta(milliseconds=1))
    assert low is not None and high is not None
    assert ULID.from_str(low).milliseconds == int(T0.timestamp() * 1000)
    assert ULID.from_str(high).milliseconds - ULID.from_str(low).milliseconds == 1
    start, end = day_range(datetime(2024, 3, 1).date(), datetime(2024, 3, 31).date())
    assert start == datetime(2024, 2, 29, 16, tzinfo=UTC)
    assert end == datetime(2024, 3, 31, 16, tzinfo=UTC)
    with pytest.raises(InvalidArchiveQuery):
        day_range(datetime(2024, 3, 2).date(), datetime(2024, 3, 1).date())


def test_status_filter(index: ArchiveIndex, filled: list[ArchiveRecord]) -> None:
    index.set_status(filled[5].id, ArchiveStatus.MISSING)
    page = index.page(ArchiveQuery(status=ArchiveStatus.MISSING), limit=10)
    assert [r.id for r in page] == [filled[5].id]
    assert page[0].status is ArchiveStatus.MISSING


def test_bad_queries(index: ArchiveIndex) -> None:
    for call in (
        lambda: index.page(ArchiveQuery(), limit=10, after="1 OR 1=1"),
        lambda: index.page(ArchiveQuery(), limit=0),
        lambda: index.page(ArchiveQuery(), limit=100_000),
        lambda: ArchiveQuery(created_from=datetime(2024, 1, 1)),
        lambda: ArchiveQuery(document_type="receipt"),
    ):
        with pytest.raises(InvalidArchiveQuery) as info:
            call()
        assert info.value.kind is ErrorKind.INVALID


# -- query plans: the listings walk an index, in order, without sorting ----------------------


def _bulk(engine: Engine, n: int) -> None:
    rows, seals = [], []
    usccs = itertools.cycle([USCC_A, USCC_B])
    for i in range(n):
        r = record(i, uscc=next(usccs), at=T0 + timedelta(seconds=i))
        rows.append(
            {
                "id": r.id,
                "uscc": r.uscc,
                "level": r.level,
                "timestamp_time": r.timestamp_time,
                "document_type": r.document_type,
                "reference": r.reference,
                "sha256": r.sha256,
                "size": r.size,
                "created_at": r.created_at,
                "object_key": r.object_key,
                "version_id": None,
                "status": "ok",
            }
        )
        seals += [
            {
                "archive_id": r.id,
                "position": p,
                "uscc": r.uscc,
                "kind": s.kind.value,
                "serial": format(s.serial, "x"),
            }
            for p, s in enumerate(r.seals)
        ]
    with engine.begin() as conn:
        conn.execute(insert(ArchiveRow), rows)
        conn.execute(insert(ArchiveSealRow), seals)
        conn.exec_driver_sql("ANALYZE")


def _plan(engine: Engine, query: ArchiveQuery, after: str | None) -> str:
    stmt = ArchiveIndex.page_statement(query, limit=50, after=after)
    sql = str(stmt.compile(engine, compile_kwargs={"literal_binds": True}))
    with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            return "\n".join(row[-1] for row in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + sql))
        return "\n".join(row[0] for row in conn.exec_driver_sql("EXPLAIN " + sql))


PLANS = [
    (ArchiveQuery(uscc=USCC_A), "ix_archives_uscc_id"),
    (ArchiveQuery(uscc=USCC_A, document_type="invoice"), "ix_archives_uscc_document_type_id"),
    (ArchiveQuery(uscc=USCC_A, reference="REF-2"), "ix_archives_uscc_reference_id"),
    (
        ArchiveQuery(uscc=USCC_A, created_from=T0, created_to=T0 + timedelta(hours=1)),
        "ix_archives_uscc_id",
    ),
    (ArchiveQuery(uscc=USCC_A, kind=SealKind.FINANCE), None),
    (ArchiveQuery(), "pk_archives"),
]


def test_page_queries_walk_an_index_without_sorting(index: ArchiveIndex) -> None:
    """Every page is an index range read in order: no sort, no full scan, no OFFSET.

    SQLite has no statistics and takes the index the filter names.  PostgreSQL may prefer the
    primary key when an enterprise holds half the rows, as here; the million-row figures are
    in bench/archive_list.py.
    """
    engine = index.engine
    _bulk(engine, 4000)
    for query, index_name in PLANS:
        cursor = index.page(query, limit=5)[-1].id
        plan = _plan(engine, query, cursor)
        assert "OFFSET" not in plan.upper()
        assert "TEMP B-TREE" not in plan and "Sort" not in plan, plan
        assert "Seq Scan on archives" not in plan, plan
        if engine.dialect.name == "sqlite":
            assert "SCAN archives" not in plan, plan
            if index_name is not None and index_name != "pk_archives":
                assert f"USING INDEX {index_name}" in plan, plan
        else:
            assert "Index" in plan, plan


def test_many_records_read_together_are_those_read_one_by_one(
    index: ArchiveIndex, filled: list[ArchiveRecord]
) -> None:
    wanted = [r.id for r in filled[::3]]
    unknown = str(ULID.from_datetime(T0 - timedelta(days=1)))
    got = index.get_many([*reversed(wanted), unknown, "not-an-id"])
    assert set(got) == set(wanted)  # the unknown and the malformed ids are left out
    assert all(got[i] == index.get(i) for i in wanted)
    assert index.get_many([]) == {}
