"""PAdES baseline levels (ETSI EN 319 142-1)."""

from __future__ import annotations

import enum

__all__ = ["PadesLevel"]


class PadesLevel(enum.Enum):
    """How much a signature carries for long-term validation."""

    B_B = "B-B"  #: the signature alone
    B_T = "B-T"  #: plus an RFC 3161 signature timestamp (the default)
    B_LT = "B-LT"  #: plus certificates and revocation data in the DSS, validating offline
    B_LTA = "B-LTA"  #: plus a document timestamp over all of it

    @property
    def rank(self) -> int:
        return list(PadesLevel).index(self)

    def __ge__(self, other: object) -> bool:
        if not isinstance(other, PadesLevel):
            return NotImplemented
        return self.rank >= other.rank

    def __lt__(self, other: object) -> bool:
        if not isinstance(other, PadesLevel):
            return NotImplemented
        return self.rank < other.rank
