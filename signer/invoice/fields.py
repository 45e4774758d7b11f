"""Collecting what one file says into :class:`~signer.invoice.model.InvoiceFields`.

Each parser hands in the text of a field with the place it was read from; this module reads
the text (:mod:`signer.invoice.values`), keeps the first place that gave the field, and notes
fields whose text is unreadable and fields that two places of the same file give differently.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .model import ComparedField, InvoiceFields, Source
from .values import Unreadable, read_amount, read_date, read_tax_id, read_text

__all__ = ["FieldsBuilder"]

_READERS: dict[str, Callable[[str | None], Any]] = {
    "number": read_tax_id,  # digits; compared like an id: no spaces
    "issue_date": read_date,
    "seller_tax_id": read_tax_id,
    "buyer_tax_id": read_tax_id,
    "amount_without_tax": read_amount,
    "tax": read_amount,
    "total_with_tax": read_amount,
}


class FieldsBuilder:
    """The fields of one file, filled place by place."""

    def __init__(self, source: Source) -> None:
        self.source = source
        self._values: dict[str, Any] = {}
        self._where: dict[str, str] = {}
        self._unreadable: list[ComparedField] = []
        self._inconsistent: list[tuple[ComparedField, str, str]] = []

    def has(self, name: str) -> bool:
        return name in self._where

    def add(self, name: str, text: str | None, where: str) -> None:
        """The text of field ``name`` as read at ``where`` (None or blank: not given there).

        The first place that gives a field wins; a later place that gives a different value
        for a compared field is recorded as an inconsistency of the file.
        """
        reader = _READERS.get(name, read_text)
        compared = ComparedField(name) if name in _READERS else None
        try:
            value = reader(text)
        except Unreadable:
            self.unreadable(name, where)
            return
        if value is None:
            return
        if not self.has(name):
            self._where[name] = where
            self._values[name] = value
            return
        first = self._values[name]
        if compared is not None and first is not None and first != value:
            self._inconsistent.append((compared, self._where[name], where))

    def unreadable(self, name: str, where: str) -> None:
        """Field ``name`` is named at ``where`` but its value cannot be found or read (a tag
        whose references point at no object)."""
        if name in _READERS and not self.has(name):
            self._where[name] = where
            self._values[name] = None
            self._unreadable.append(ComparedField(name))

    def build(self, **extra: Any) -> InvoiceFields:
        return InvoiceFields(
            source=self.source,
            **self._values,
            **extra,
            where=dict(self._where),
            unreadable=list(self._unreadable),
            inconsistent=list(self._inconsistent),
        )
