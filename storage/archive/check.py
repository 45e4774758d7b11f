"""``eseal archive check``: do the rows and the objects agree, and are the objects intact?

The rows (in bytewise object-key order, paged on the unique key) and the store's listing (in
the same order) are merged in one pass, in constant memory:

* an object no row refers to is an **orphan** (a write whose row failed, or something put
  there by hand).  Objects younger than ``grace`` are writes in flight and are left alone.
  Repair removes an orphan, or where retention forbids it tags it ``eseal-orphan=true``, after
  which it counts as quarantined, not as a problem;
* a row whose object (or recorded version) is absent is **missing**; repair marks the row
  ``missing`` so it is never served, and keeps it: it is the evidence of what was sealed;
* a row whose object has another size, or (read in full) another SHA-256, is **corrupt**;
  repair marks it ``corrupt``.  With ``sample=N`` only N rows chosen at random (reservoir
  sampling) are read in full; sizes are compared for all.
* a row marked missing or corrupt whose object is back and intact is **recovered**; repair
  marks it ``ok`` again.

Every version of a document (migration 0006: ``{id}.v{N}.pdf`` and its ``archive_versions``
row) is checked the same way, as a row of its own; a finding names the archive id, and its
``key`` the version.

Marking a row is not fixing it: a missing or corrupt document stays a problem in every later
report until someone restores the file (from a backup, or an older version).
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from .errors import ArchiveError, ArchiveNotFound
from .index import KeyRow
from .local import LocalObjectStore
from .model import ArchiveStatus, parse_object_key
from .store import CHUNK_SIZE, ObjectInfo

if TYPE_CHECKING:
    from .service import Archive

__all__ = ["CheckReport", "Finding", "run_check"]

#: findings kept in full per category; beyond that only counted
MAX_DETAILS = 1000


@dataclass
class Finding:
    key: str
    archive_id: str | None
    version_id: str | None
    detail: str
    #: what repair did: removed, quarantined, marked missing/corrupt/ok; None: nothing
    action: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "archive_id": self.archive_id,
            "version_id": self.version_id,
            "detail": self.detail,
            "action": self.action,
        }


@dataclass
class _Category:
    count: int = 0
    items: list[Finding] = field(default_factory=list)

    def add(self, finding: Finding) -> None:
        self.count += 1
        if len(self.items) < MAX_DETAILS:
            self.items.append(finding)


@dataclass
class CheckReport:
    """What ``check`` found, and with ``repair``, what it did."""

    store: dict[str, Any]
    repair: bool
    sample: int | None
    rows: int = 0
    objects: int = 0
    #: documents read in full and hashed
    verified: int = 0
    orphans: _Category = field(default_factory=_Category)
    missing: _Category = field(default_factory=_Category)
    corrupt: _Category = field(default_factory=_Category)
    recovered: _Category = field(default_factory=_Category)
    #: versions of a recorded key that no row names (someone wrote over it; versioning kept both)
    unrecorded_versions: _Category = field(default_factory=_Category)
    #: orphans already tagged by an earlier repair, kept by retention
    quarantined: int = 0
    #: objects without a row younger than the grace period (writes in flight)
    in_flight: int = 0
    #: temporary files of interrupted local writes (removed by repair)
    stale_temporaries: int = 0

    @property
    def problems(self) -> int:
        return self.orphans.count + self.missing.count + self.corrupt.count + self.recovered.count

    @property
    def clean(self) -> bool:
        """Nothing wrong was found."""
        return self.problems == 0

    @property
    def unresolved(self) -> int:
        """Problems still there after this run (missing and corrupt documents always are)."""
        open_orphans = sum(1 for f in self.orphans.items if f.action is None) + max(
            0, self.orphans.count - len(self.orphans.items)
        )
        open_recovered = sum(1 for f in self.recovered.items if f.action is None) + max(
            0, self.recovered.count - len(self.recovered.items)
        )
        return open_orphans + open_recovered + self.missing.count + self.corrupt.count

    def to_json(self) -> dict[str, Any]:
        def cat(c: _Category) -> dict[str, Any]:
            return {"count": c.count, "items": [f.to_json() for f in c.items]}

        return {
            "clean": self.clean,
            "unresolved": self.unresolved,
            "repair": self.repair,
            "sample": self.sample,
            "store": self.store,
            "rows": self.rows,
            "objects": self.objects,
            "verified": self.verified,
            "orphans": cat(self.orphans),
            "missing": cat(self.missing),
            "corrupt": cat(self.corrupt),
            "recovered": cat(self.recovered),
            "unrecorded_versions": cat(self.unrecorded_versions),
            "quarantined": self.quarantined,
            "in_flight": self.in_flight,
            "stale_temporaries": self.stale_temporaries,
        }


def _grouped(objects: Iterator[ObjectInfo]) -> Iterator[tuple[str, list[ObjectInfo]]]:
    """Consecutive versions of the same key, together.

    The merge is only right if the store lists keys in bytewise order, as S3 does; a store
    that does not is refused rather than reported on wrongly.
    """
    key: str | None = None
    group: list[ObjectInfo] = []
    for obj in objects:
        if key is not None and obj.key < key:
            raise ArchiveError(
                "the archive store does not list keys in order; archive check cannot run on it",
                code="archive_listing_unordered",
            )
        if obj.key != key:
            if key is not None:
                yield key, group
            key, group = obj.key, []
        group.append(obj)
    if key is not None:
        yield key, group


class _Checker:
    def __init__(
        self,
        archive: Archive,
        *,
        repair: bool,
        sample: int | None,
        grace: timedelta,
        now: datetime,
    ) -> None:
        self.archive = archive
        self.store = archive.store
        self.index = archive.index
        self.repair = repair
        self.sample = sample
        self.grace = grace
        self.now = now
        self.report = CheckReport(store=self.store.describe(), repair=repair, sample=sample)
        self._reservoir: list[KeyRow] = []
        self._candidates = 0
        self._random = random.Random()

    def run(self) -> CheckReport:
        rows = self.index.iter_keys()
        objects = _grouped(self.store.list())
        row = next(rows, None)
        obj = next(objects, None)
        while row is not None or obj is not None:
            if obj is None or (row is not None and row.key < obj[0]):
                assert row is not None
                self._row(row, [])
                row = next(rows, None)
            elif row is None or obj[0] < row.key:
                self._orphans(obj[1])
                obj = next(objects, None)
            else:
                self._row(row, obj[1])
                row, obj = next(rows, None), next(objects, None)
        for sampled in self._reservoir:
            self._verify(sampled)
        self._temporaries()
        return self.report

    # -- one key ---------------------------------------------------------------------------

    def _row(self, row: KeyRow, versions: list[ObjectInfo]) -> None:
        report = self.report
        report.rows += 1
        report.objects += len(versions)
        if row.version_id is not None:
            match = next((v for v in versions if v.version_id == row.version_id), None)
        else:
            match = versions[0] if versions else None
        for other in versions:
            if other is not match:
                report.unrecorded_versions.add(
                    Finding(
                        other.key,
                        row.id,
                        other.version_id,
                        "a version of this key that the row does not name",
                    )
                )
        if match is None:
            detail = "the object is gone" if not versions else "the recorded version is gone"
            self._bad(row, report.missing, ArchiveStatus.MISSING, detail)
            return
        if match.size != row.size:
            self._bad(
                row,
                report.corrupt,
                ArchiveStatus.CORRUPT,
                f"size {match.size}, recorded {row.size}",
            )
            return
        if self.sample is None:
            self._verify(row)
        else:
            self._offer(row)

    def _offer(self, row: KeyRow) -> None:
        """Reservoir sampling: every row ends up in the sample with the same probability."""
        assert self.sample is not None
        self._candidates += 1
        if len(self._reservoir) < self.sample:
            self._reservoir.append(row)
            return
        j = self._random.randrange(self._candidates)
        if j < self.sample:
            self._reservoir[j] = row

    def _verify(self, row: KeyRow) -> None:
        report = self.report
        try:
            raw, info = self.store.open(row.key, row.version_id)
        except ArchiveNotFound:
            self._bad(row, report.missing, ArchiveStatus.MISSING, "the object is gone")
            return
        digest = hashlib.sha256()
        size = 0
        try:
            while chunk := raw.read(CHUNK_SIZE):
                digest.update(chunk)
                size += len(chunk)
        finally:
            raw.close()
        report.verified += 1
        if size != row.size or digest.hexdigest() != row.sha256:
            self._bad(
                row,
                report.corrupt,
                ArchiveStatus.CORRUPT,
                "the content does not match the recorded SHA-256",
            )
        elif info.sha256 is not None and info.sha256 != row.sha256:
            self._bad(
                row,
                report.corrupt,
                ArchiveStatus.CORRUPT,
                "the object's SHA-256 metadata differs from the row",
            )
        elif row.status is not ArchiveStatus.OK:
            finding = Finding(
                row.key,
                row.id,
                row.version_id,
                f"marked {row.status.value}, but the object is back and intact",
            )
            if self.repair:
                self.index.set_status(row.id, ArchiveStatus.OK, row.version)
                finding.action = "marked ok"
            report.recovered.add(finding)

    def _bad(self, row: KeyRow, category: _Category, status: ArchiveStatus, detail: str) -> None:
        finding = Finding(row.key, row.id, row.version_id, detail)
        if self.repair:
            if row.status is not status:
                self.index.set_status(row.id, status, row.version)
            finding.action = f"marked {status.value}"
        category.add(finding)

    def _orphans(self, versions: list[ObjectInfo]) -> None:
        report = self.report
        for obj in versions:
            report.objects += 1
            if self.now - obj.last_modified < self.grace:
                report.in_flight += 1
                continue
            if self.store.is_quarantined(obj.key, obj.version_id):
                report.quarantined += 1
                continue
            finding = Finding(
                obj.key, parse_object_key(obj.key), obj.version_id, "no row refers to this object"
            )
            # a row may have committed since the listing: never remove a referenced object
            if self.repair and not self.index.key_referenced(obj.key):
                finding.action = self.store.discard(obj.key, obj.version_id)
            report.orphans.add(finding)

    def _temporaries(self) -> None:
        if not isinstance(self.store, LocalObjectStore):
            return
        stale = self.store.stale_temporaries(self.grace)
        self.report.stale_temporaries = len(stale)
        if self.repair:
            for path in stale:
                path.unlink(missing_ok=True)


def run_check(
    archive: Archive,
    *,
    repair: bool = False,
    sample: int | None = None,
    grace: timedelta = timedelta(minutes=15),
    now: datetime,
) -> CheckReport:
    """Check (and with ``repair``, fix what can be fixed); see the module docstring."""
    if sample is not None and sample < 0:
        raise ValueError("sample must be a positive number of documents")
    return _Checker(archive, repair=repair, sample=sample, grace=grace, now=now).run()
