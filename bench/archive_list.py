"""Archive listings at a million rows: query plans and timings.  (A benchmark, not a test.)

Fills the archive tables with ``--rows`` rows (default 1,000,000) over 1,000 enterprises, one
of which holds a third of them, spread over three years, then times pages of 50 through
:meth:`storage.archive.index.ArchiveIndex.page` (the query behind ``GET /v1/archives``) for
the filters of the API, at the newest end and deep in the history (keyset cursor), and prints
each plan.  For contrast it also times the same deep page fetched with OFFSET.

    .venv/bin/python bench/archive_list.py                         # SQLite, temporary file
    .venv/bin/python bench/archive_list.py --url postgresql+psycopg://user@host/db

On PostgreSQL the rows go into a schema of their own, dropped at the end.
"""

from __future__ import annotations

import argparse
import functools
import random
import secrets
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import Engine, create_engine, insert, text
from ulid import ULID

from seals.kinds import SealKind
from seals.uscc import CHARSET, check_character
from storage.archive import ArchiveQuery
from storage.archive.index import ArchiveIndex
from storage.archive.model import object_key
from storage.db import make_engine, migrate
from storage.tables import ArchiveRow, ArchiveSealRow, EnterpriseRow

START = datetime(2022, 1, 1, tzinfo=UTC)
SPAN = timedelta(days=3 * 365)
TYPES = ["contract"] * 6 + ["invoice"] * 3 + ["other"]
#: finance seals are rare: the kind filter's hard case
KINDS = (
    [SealKind.CONTRACT] * 10 + [SealKind.OFFICIAL] * 5 + [SealKind.INVOICE] * 4 + [SealKind.FINANCE]
)


def usccs(n: int, rng: random.Random) -> list[str]:
    out = []
    for _ in range(n):
        body = (
            "91"
            + "".join(rng.choice("0123456789") for _ in range(6))
            + "".join(rng.choice(CHARSET) for _ in range(9))
        )
        out.append(body + check_character(body))
    return out


def fill(engine: Engine, rows: int, seed: int = 7) -> tuple[str, str]:
    rng = random.Random(seed)
    firms = usccs(1000, rng)
    big, small = firms[0], firms[1]
    with engine.begin() as conn:
        conn.execute(
            insert(EnterpriseRow),
            [
                {
                    "uscc": u,
                    "name": f"企业{i}",
                    "type": "有限责任公司",
                    "legal_representative": "张三",
                    "face": {},
                    "status": "active",
                    "registered_at": START,
                }
                for i, u in enumerate(firms)
            ],
        )
    batch = 20_000
    started = time.perf_counter()
    for offset in range(0, rows, batch):
        archives, seals = [], []
        for i in range(offset, min(rows, offset + batch)):
            created = START + SPAN * (i / rows) + timedelta(microseconds=rng.randrange(1000))
            ulid = ULID.from_datetime(created)
            uscc = big if rng.random() < 1 / 3 else rng.choice(firms)
            aid = str(ulid)
            archives.append(
                {
                    "id": aid,
                    "uscc": uscc,
                    "level": "B-LT",
                    "timestamp_time": created,
                    "document_type": rng.choice(TYPES),
                    "reference": f"HT-{i:08d}",
                    "sha256": secrets.token_hex(32),
                    "size": rng.randrange(50_000, 2_000_000),
                    "created_at": ulid.datetime,
                    "object_key": object_key(uscc, aid, ulid.datetime),
                    "version_id": None,
                    "status": "ok",
                }
            )
            kinds = {rng.choice(KINDS)} | ({SealKind.LEGAL_REP} if rng.random() < 0.3 else set())
            seals += [
                {
                    "archive_id": aid,
                    "position": p,
                    "uscc": uscc,
                    "kind": k.value,
                    "serial": format(rng.getrandbits(64), "x"),
                }
                for p, k in enumerate(kinds)
            ]
        _insert(engine, archives, seals)
        done = min(rows, offset + batch)
        if done % 200_000 == 0 or done == rows:
            print(f"  {done:>9,} rows ({time.perf_counter() - started:.0f} s)", flush=True)
    with engine.begin() as conn:
        conn.exec_driver_sql("ANALYZE")
    return big, small


def _insert(engine: Engine, archives: list[dict[str, Any]], seals: list[dict[str, Any]]) -> None:
    if engine.dialect.name != "postgresql":
        with engine.begin() as conn:
            conn.execute(insert(ArchiveRow), archives)
            conn.execute(insert(ArchiveSealRow), seals)
        return
    # COPY: many times faster than INSERT for a million rows
    raw = engine.raw_connection()
    try:
        cur: Any = raw.cursor()  # a psycopg cursor: it has copy()
        with cur:
            for table, rows in (("archives", archives), ("archive_seals", seals)):
                columns = list(rows[0])
                with cur.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
                    for row in rows:
                        copy.write_row([row[c] for c in columns])
        raw.commit()
    finally:
        raw.close()


def timed(call: Callable[[], Any], repeat: int = 15) -> tuple[float, Any]:
    call()  # warm
    times = []
    result = None
    for _ in range(repeat):
        t = time.perf_counter()
        result = call()
        times.append(time.perf_counter() - t)
    return statistics.median(times) * 1000, result


def plan(engine: Engine, sql: str) -> str:
    with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            rows = conn.exec_driver_sql("EXPLAIN QUERY PLAN " + sql)
            return "\n".join(f"    {r[-1]}" for r in rows)
        rows = conn.exec_driver_sql("EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) " + sql)
        return "\n".join(f"    {r[0]}" for r in rows)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--url", help="PostgreSQL URL (default: a temporary SQLite file)")
    parser.add_argument("--plans", action="store_true", help="print every query plan")
    args = parser.parse_args()

    schema = None
    work = None
    if args.url:
        schema = f"bench_{secrets.token_hex(4)}"
        admin = create_engine(args.url)
        with admin.begin() as conn:
            conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
        sep = "&" if "?" in args.url else "?"
        url = f"{args.url}{sep}options={quote(f'-csearch_path={schema}')}"
    else:
        work = tempfile.TemporaryDirectory(prefix="eseal-bench-")
        url = f"sqlite:///{Path(work.name) / 'eseal.db'}"
    engine = make_engine(url)
    try:
        migrate(engine)
        print(f"{engine.dialect.name}: filling {args.rows:,} rows")
        big, small = fill(engine, args.rows)
        index = ArchiveIndex(engine)
        with engine.connect() as conn:
            total = conn.scalar(text("SELECT count(*) FROM archives"))
            in_big = conn.scalar(text("SELECT count(*) FROM archives WHERE uscc = :u"), {"u": big})
        print(f"{total:,} rows; the big enterprise holds {in_big:,}\n")

        middle = START + SPAN / 2
        deep_record = index.page(ArchiveQuery(uscc=big, created_to=middle), limit=1)[0]
        deep = deep_record.id
        cases = [
            ("enterprise, newest page", ArchiveQuery(uscc=big), None),
            ("enterprise, deep page (cursor)", ArchiveQuery(uscc=big), deep),
            ("enterprise + type invoice", ArchiveQuery(uscc=big, document_type="invoice"), deep),
            (
                "enterprise + kind finance (rare)",
                ArchiveQuery(uscc=big, kind=SealKind.FINANCE),
                deep,
            ),
            (
                "enterprise + kind legal_rep (common)",
                ArchiveQuery(uscc=big, kind=SealKind.LEGAL_REP),
                deep,
            ),
            (
                "enterprise + one month",
                ArchiveQuery(uscc=big, created_from=middle, created_to=middle + timedelta(days=30)),
                None,
            ),
            (
                "enterprise + reference",
                ArchiveQuery(uscc=big, reference=deep_record.reference),
                None,
            ),
            ("small enterprise, newest page", ArchiveQuery(uscc=small), None),
            (
                "small enterprise + kind finance",
                ArchiveQuery(uscc=small, kind=SealKind.FINANCE),
                None,
            ),
            ("all (admin), deep page", ArchiveQuery(), deep),
            (
                "all (admin) + one day",
                ArchiveQuery(created_from=middle, created_to=middle + timedelta(days=1)),
                None,
            ),
        ]
        print(f"{'page of 50':40} {'median ms':>10} {'rows':>5}")
        for name, query, cursor in cases:
            ms, page = timed(functools.partial(index.page, query, limit=50, after=cursor))
            print(f"{name:40} {ms:10.2f} {len(page):5}")
            if args.plans:
                stmt = ArchiveIndex.page_statement(query, limit=50, after=cursor)
                sql = str(stmt.compile(engine, compile_kwargs={"literal_binds": True}))
                print(plan(engine, sql))

        # the same deep page with OFFSET, for contrast: it has to walk everything before it
        with engine.connect() as conn:
            offset = conn.scalar(
                text("SELECT count(*) FROM archives WHERE uscc = :u AND id >= :d"),
                {"u": big, "d": deep},
            )
        sql = "SELECT * FROM archives WHERE uscc = :u ORDER BY id DESC LIMIT 50 OFFSET :o"

        def by_offset() -> list[Any]:
            with engine.connect() as conn:
                return list(conn.execute(text(sql), {"u": big, "o": offset}))

        ms, page = timed(by_offset, repeat=5)
        print(
            f"{'enterprise, deep page (OFFSET ' + format(offset, ',') + ')':40} {ms:10.2f} "
            f"{len(page):5}   <- what keyset paging avoids"
        )
        for title, query in (
            ("enterprise, deep page (cursor)", ArchiveQuery(uscc=big)),
            ("enterprise + kind finance (rare)", ArchiveQuery(uscc=big, kind=SealKind.FINANCE)),
        ):
            stmt = ArchiveIndex.page_statement(query, limit=50, after=deep)
            sql = str(stmt.compile(engine, compile_kwargs={"literal_binds": True}))
            print(f"\nplan of '{title}':")
            print(plan(engine, sql))
    finally:
        engine.dispose()
        if schema is not None:
            admin = create_engine(args.url)
            try:
                with admin.begin() as conn:
                    conn.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
            except Exception as exc:
                print(f"could not drop schema {schema}: {exc}", file=sys.stderr)
            finally:
                admin.dispose()
        if work is not None:
            work.cleanup()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
