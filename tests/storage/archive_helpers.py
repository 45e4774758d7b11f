"""Shared pieces of the archive tests: enterprises, documents, a settable clock."""

from __future__ import annotations

import hashlib
import random
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from seals.kinds import SealKind
from storage.archive import Archive, ArchiveRecord, SealUse
from storage.tables import ArchiveRow, ArchiveSealRow, EnterpriseRow

USCC_A = "91110000600037341L"
USCC_B = "914403001922038216"
T0 = datetime(2024, 3, 1, 9, 30, tzinfo=UTC)


class Clock:
    """A clock the test moves; ``tick`` is added after every reading."""

    def __init__(self, start: datetime = T0, tick: timedelta = timedelta(milliseconds=1)) -> None:
        self.now = start
        self.tick = tick

    def __call__(self) -> datetime:
        value = self.now
        self.now += self.tick
        return value


def add_enterprise(engine: Engine, uscc: str = USCC_A) -> None:
    with Session(engine) as session, session.begin():
        session.add(
            EnterpriseRow(
                uscc=uscc,
                name=f"示例企业{uscc[-4:]}",
                type="有限责任公司",
                legal_representative="张三",
                face={"uscc": uscc},
                status="active",
                registered_at=T0 - timedelta(days=30),
            )
        )


def pdf(size: int = 4000, seed: int = 0) -> bytes:
    """Bytes that start like a PDF (the archive does not parse them)."""
    rng = random.Random(seed)
    head = f"%PDF-1.7\n% eseal test {seed}\n".encode()
    return head + rng.randbytes(max(0, size - len(head)))


def put(
    archive: Archive,
    data: bytes | None = None,
    *,
    uscc: str = USCC_A,
    kinds: Sequence[SealKind] = (SealKind.CONTRACT,),
    document_type: str = "contract",
    reference: str | None = None,
    level: str = "B-T",
    seed: int = 0,
) -> ArchiveRecord:
    body = pdf(seed=seed) if data is None else data
    seals = [SealUse(kind, 0x4000 + i + seed * 16) for i, kind in enumerate(kinds)]
    return archive.put(
        body,
        uscc=uscc,
        seals=seals,
        level=level,
        document_type=document_type,
        reference=reference,
        timestamp_time=T0 if level != "B-B" else None,
    )


def count_rows(engine: Engine) -> tuple[int, int]:
    with engine.connect() as conn:
        archives = conn.scalar(select(func.count()).select_from(ArchiveRow)) or 0
        seals = conn.scalar(select(func.count()).select_from(ArchiveSealRow)) or 0
    return archives, seals


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
