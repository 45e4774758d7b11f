"""Memory of the streamed archive export: does it stay flat for 1 GB?  (A benchmark, not a test.)

Archives ``--total-mb`` of random "documents" (incompressible, the worst case for the ZIP
writer) in a local-directory archive with a SQLite index, then streams the export of all of
them into a byte counter, sampling the process's resident memory as it goes, with
``tracemalloc`` tracing Python allocations.  Prints the figures and writes them to
``bench/results-archive-export.md``.

    .venv/bin/python bench/archive_export.py                  # 1 GiB in 4 MiB documents
    .venv/bin/python bench/archive_export.py --total-mb 256 --doc-mb 1
    .venv/bin/python bench/archive_export.py --report         # with a per-file report callback

The work directory is a temporary one, removed at the end unless ``--keep``.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import resource
import shutil
import sys
import tempfile
import time
import tracemalloc
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from facts import header, write_results
from sqlalchemy.orm import Session

from seals.kinds import SealKind
from storage.archive import Archive, ArchiveRecord, LocalObjectStore, SealUse
from storage.archive.store import VerifiedReader
from storage.db import make_engine, migrate
from storage.tables import EnterpriseRow

USCC = "91110000600037341L"
MIB = 1024 * 1024


def rss_mib() -> float:
    """Current resident set size (Linux /proc), in MiB."""
    try:
        with open("/proc/self/statm") as f:
            pages = int(f.read().split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE") / MIB
    except OSError:
        return float("nan")


def max_rss_mib() -> float:
    """High-water resident set size since the process started (ru_maxrss), in MiB."""
    value = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return value / 1024 if sys.platform != "darwin" else value / MIB


def fill(archive: Archive, total: int, doc: int) -> int:
    seals = [SealUse(SealKind.CONTRACT, 0xE5EA1), SealUse(SealKind.LEGAL_REP, 0xE5EA2)]
    block = os.urandom(doc)
    n = max(1, total // doc)
    for i in range(n):
        # a different document each time without generating 1 GB of randomness
        data = i.to_bytes(8, "big") + block[8:]
        archive.put(
            data,
            uscc=USCC,
            seals=seals,
            level="B-LT",
            document_type="contract",
            reference=f"HT-{i:06d}",
            timestamp_time=datetime.now(UTC),
        )
    return n


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--total-mb", type=int, default=1024, help="documents to export (MiB)")
    parser.add_argument("--doc-mb", type=float, default=4, help="size of one document (MiB)")
    parser.add_argument("--report", action="store_true", help="add a report per file")
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    args = parser.parse_args()

    said: list[str] = []

    def say(text: str) -> None:
        print(text, flush=True)
        said.append(text)

    work = Path(tempfile.mkdtemp(prefix="eseal-bench-"))
    try:
        engine = make_engine(f"sqlite:///{work / 'eseal.db'}")
        migrate(engine)
        with Session(engine) as session, session.begin():
            session.add(
                EnterpriseRow(
                    uscc=USCC,
                    name="基准测试有限公司",
                    type="有限责任公司",
                    legal_representative="张三",
                    face={},
                    status="active",
                    registered_at=datetime.now(UTC) - timedelta(days=1),
                )
            )
        store = LocalObjectStore(work / "archive")
        store.start()
        archive = Archive(engine, store)

        started = time.perf_counter()
        count = fill(archive, args.total_mb * MIB, int(args.doc_mb * MIB))
        filled = time.perf_counter() - started
        say(
            f"archived {count} documents of {args.doc_mb:g} MiB "
            f"({count * args.doc_mb:.0f} MiB) in {filled:.1f} s"
        )

        def report_for(record: ArchiveRecord, reader: VerifiedReader) -> dict[str, Any]:
            digest = hashlib.sha256()
            for chunk in reader.chunks():  # streamed, like a verifier that reads the file
                digest.update(chunk)
            return {"valid": True, "sha256": digest.hexdigest()}

        baseline = rss_mib()
        tracemalloc.start()
        samples: list[tuple[float, float]] = []
        total = 0
        next_sample = 0
        largest = 0
        started = time.perf_counter()
        for chunk in archive.export(report_for=report_for if args.report else None):
            total += len(chunk)
            largest = max(largest, len(chunk))
            if total >= next_sample:
                samples.append((total / MIB, rss_mib()))
                next_sample += 64 * MIB
        elapsed = time.perf_counter() - started
        current, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        samples.append((total / MIB, rss_mib()))

        rss = [r for _, r in samples]
        say(
            f"exported a ZIP of {total / MIB:.0f} MiB in {elapsed:.1f} s "
            f"({total / MIB / elapsed:.0f} MiB/s), largest chunk {largest / 1024:.0f} KiB"
        )
        say(
            f"RSS before export {baseline:.1f} MiB; during export min {min(rss):.1f}, "
            f"max {max(rss):.1f} MiB (spread {max(rss) - min(rss):.1f} MiB)"
        )
        say(
            f"tracemalloc: peak {peak / MIB:.2f} MiB of Python allocations during the export, "
            f"{current / MIB:.2f} MiB held at the end"
        )
        say(f"ru_maxrss (process high-water, filling included): {max_rss_mib():.1f} MiB")
        say("RSS by output written:")
        step = max(1, len(samples) // 8)
        for written, value in samples[::step] + samples[-1:]:
            say(f"  {written:8.0f} MiB written   RSS {value:6.1f} MiB")
        command = (
            "python bench/archive_export.py"
            + (f" --total-mb {args.total_mb}" if args.total_mb != 1024 else "")
            + (f" --doc-mb {args.doc_mb:g}" if args.doc_mb != 4 else "")
            + (" --report" if args.report else "")
        )
        text = "\n".join(
            [
                *header("Streamed archive export: time and memory", command)[:-1],
                f"- {count} incompressible documents of {args.doc_mb:g} MiB in a local-directory "
                "archive with a SQLite index, exported as one ZIP stream into a byte counter",
                "",
                "```",
                *said,
                "```",
            ]
        )
        write_results("results-archive-export.md", text)
    finally:
        if args.keep:
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
