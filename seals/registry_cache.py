"""What a sealing request looks up in the registry, read once per registry revision.

Every request that seals looks up its license's status and the seal (a row with a ~100 KB
image); a verification looks up the seals by certificate serial and the enterprise.  These
change only through a registry write, and every registry write raises the registry's revision
in its own transaction (migration 0008, :meth:`seals.ports.EnterpriseRepository.revision`),
whichever process makes it.  So each look-up first reads the revision (one primary-key read,
tens of microseconds): while it is the revision the cached answers were read at, nothing in
the registry changed since, and the cached answer is the registry's answer; once it moved,
every cached answer is dropped and read again.  A license suspended by another worker or by
the CLI blocks the very next request here, with no expiry to wait for.

Why an answer cached at revision R is current while the revision still reads R: the revision
is read *before* the answer is loaded, so the answer reflects the registry at R or later; had
anything changed after the revision read, the revision would have moved past R (and the
answer is then dropped at the next look-up).  An answer loaded while another thread already
saw a newer revision is returned but not kept.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import TypeVar

__all__ = ["RegistryCache"]

T = TypeVar("T")

_MISSING = object()


class RegistryCache:
    """Answers of the registry, kept while its revision stays the same (thread-safe).

    ``max_entries`` bounds the memory (a seal with its image and seal data is a few hundred
    KB); the least recently used answer goes first.
    """

    def __init__(self, revision: Callable[[], int], *, max_entries: int = 128) -> None:
        if max_entries < 1:
            raise ValueError("max_entries must be at least 1")
        self._revision = revision
        self._max = max_entries
        self._lock = threading.Lock()
        self._at: int | None = None
        self._answers: OrderedDict[Hashable, object] = OrderedDict()
        #: answers served from the cache, and loaded from the registry (for tests and metrics)
        self.hits = 0
        self.loads = 0

    def get(self, key: Hashable, load: Callable[[], T]) -> T:
        """The answer to ``key``: cached if the registry has not changed since it was read,
        else ``load()`` (kept for the next look-up)."""
        revision = self._revision()
        with self._lock:
            if revision != self._at:
                self._answers.clear()
                self._at = revision
            else:
                found = self._answers.get(key, _MISSING)
                if found is not _MISSING:
                    self._answers.move_to_end(key)
                    self.hits += 1
                    return found  # type: ignore[return-value]
        value = load()
        with self._lock:
            self.loads += 1
            if self._at == revision:
                self._answers[key] = value
                while len(self._answers) > self._max:
                    self._answers.popitem(last=False)
        return value

    def clear(self) -> None:
        with self._lock:
            self._answers.clear()
            self._at = None
