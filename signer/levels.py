"""PAdES baseline levels (ETSI EN 319 142-1); the vocabulary itself is :mod:`seals.vocab`."""

from __future__ import annotations

from seals.vocab import PadesLevel

__all__ = ["PadesLevel"]
