"""The database's CHECK constraints speak the domain's word lists (seals/vocab.py and the
archive's enums): a word added there is a word the database takes once its migration runs."""

from __future__ import annotations

import enum

import pytest

from seals.vocab import (
    DocumentType,
    LicenseStatus,
    PadesLevel,
    RevocationReason,
    SealKind,
    SealStatus,
    values,
)
from storage import tables
from storage.archive.model import ArchiveStatus, PartyRole


@pytest.mark.parametrize(
    ("listed", "vocabulary"),
    [
        (tables.LICENSE_STATUSES, LicenseStatus),
        (tables.SEAL_KINDS, SealKind),
        (tables.SEAL_STATUSES, SealStatus),
        (tables.REASON_CODES, RevocationReason),
        (tables.ARCHIVE_LEVELS, PadesLevel),
        (tables.ARCHIVE_DOCUMENT_TYPES, DocumentType),
        (tables.ARCHIVE_STATUSES, ArchiveStatus),
        (tables.ARCHIVE_ROLES, PartyRole),
    ],
)
def test_each_check_constraint_lists_exactly_the_vocabulary(
    listed: list[str], vocabulary: type[enum.Enum]
) -> None:
    assert list(listed) == list(values(vocabulary))


def test_the_archive_table_checks_the_level_and_the_document_type_against_them() -> None:
    checks = {
        c.name: str(c.sqltext)
        for c in tables.ArchiveRow.__table__.constraints
        if c.__class__.__name__ == "CheckConstraint"
    }
    level = next(text for name, text in checks.items() if str(name).endswith("level"))
    for word in values(PadesLevel):
        assert f"'{word}'" in level
    doc_type = next(text for name, text in checks.items() if str(name).endswith("document_type"))
    for word in values(DocumentType):
        assert f"'{word}'" in doc_type
