"""Reading the values of an invoice as the two files write them.

The XML writes ``1130.00`` and ``2026-05-19`` (or ``2026-09-10 09:30:00``); the OFD shows what
a person reads: ``¥1130.00`` (often the ``¥`` as an object of its own), ``2026年05月19日``.
Both are read to the same value, so the comparison is of meaning, not of spelling:

* an amount is a :class:`~decimal.Decimal`: ``¥``/``￥`` and the spaces around go, thousands
  separators go when they group by three (``1,130.00`` is 1130; ``11,30.00`` and ``1 130`` are
  unreadable), ASCII digits only, and a minus sign may stand before or after the currency sign
  (红字发票 carry negative amounts).  Amounts compare as numbers, so ``1130`` equals
  ``1,130.00``: the grouping and the trailing zeros are how an amount is printed, not what it is.
* a date is a :class:`~datetime.date`: ``YYYY-MM-DD``, ``YYYY/MM/DD``, ``YYYYMMDD`` and
  ``YYYY年MM月DD日``, optionally followed by a time (the XML's ``IssueTime`` may carry one, the
  OFD shows the day only).
* a tax id is compared without spaces and in capitals.
"""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal, InvalidOperation

__all__ = ["Unreadable", "read_amount", "read_date", "read_tax_id", "read_text"]


class Unreadable(ValueError):
    """The text is there but is not a value of the expected kind."""


_SPACES = re.compile(r"[\s\u3000]+")
_AMOUNT = re.compile(r"(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?", re.ASCII)
_DATE = re.compile(
    r"(\d{4})(?:[-/.年](\d{1,2})[-/.月](\d{1,2})日?|(\d{2})(\d{2}))"
    r"(?:[ T]\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?)?",
    re.ASCII,
)


def read_text(text: str | None) -> str | None:
    """Surrounding white space removed; empty is None."""
    if text is None:
        return None
    text = text.strip()
    return text or None


def read_amount(text: str | None) -> Decimal | None:
    """An amount as a Decimal, None when there is no text; :class:`Unreadable` when the text
    is not an amount."""
    text = read_text(text)
    if text is None:
        return None
    negative = text.startswith("-")
    s = text.removeprefix("-").lstrip()
    if s[:1] in ("¥", "￥"):
        s = s[1:].lstrip()
        if not negative and s.startswith("-"):  # ¥-100.00
            negative, s = True, s[1:]
    if not _AMOUNT.fullmatch(s):
        raise Unreadable("not an amount")
    try:
        value = Decimal(s.replace(",", ""))
    except InvalidOperation:  # pragma: no cover - the pattern admits only digits
        raise Unreadable("not an amount") from None
    return -value if negative else value


def read_date(text: str | None) -> date | None:
    """The day a date (or date and time) names; :class:`Unreadable` when it names none."""
    text = read_text(text)
    if text is None:
        return None
    m = _DATE.fullmatch(_SPACES.sub(" ", text))
    if m is None:
        raise Unreadable("not a date")
    year = int(m.group(1))
    month = int(m.group(2) or m.group(4))
    day = int(m.group(3) or m.group(5))
    try:
        return date(year, month, day)
    except ValueError:
        raise Unreadable("not a date") from None


def read_tax_id(text: str | None) -> str | None:
    """A 纳税人识别号 / USCC as compared: no spaces, capitals."""
    text = read_text(text)
    if text is None:
        return None
    return _SPACES.sub("", text).upper() or None
