"""Notices: what a caller should know about a seal that was placed rather than refused, such as
a seal that overlaps a seal already on the page (``overlaps_seal``).

Placement code records them with :func:`notify`, deep inside the signing; whoever wants them
opens :func:`collect_notices` around that work (the list is per thread or task: a context
variable), so the layers in between need not pass them along.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterator
from dataclasses import dataclass

__all__ = ["Notice", "collect_notices", "notify"]


@dataclass(frozen=True)
class Notice:
    """Something the caller should know about a seal that was placed: ``code`` for programs
    (``overlaps_seal``, ``cross_page_skipped``), ``message`` for people."""

    code: str
    message: str


_NOTICES: contextvars.ContextVar[list[Notice] | None] = contextvars.ContextVar(
    "eseal_placement_notices", default=None
)


@contextlib.contextmanager
def collect_notices() -> Iterator[list[Notice]]:
    """Collect the :class:`Notice` s of the placements resolved inside the ``with`` block
    (in this thread or task) into the list it yields."""
    notices: list[Notice] = []
    token = _NOTICES.set(notices)
    try:
        yield notices
    finally:
        _NOTICES.reset(token)


def notify(code: str, message: str) -> None:
    """Record a notice for the surrounding :func:`collect_notices` (dropped if none)."""
    sink = _NOTICES.get()
    if sink is not None and all(n != Notice(code, message) for n in sink):
        sink.append(Notice(code, message))
