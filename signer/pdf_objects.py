"""Reading pyHanko's object model defensively.

What a page, a font or a form holds may be an indirect reference, a number of the wrong type
or a stream that does not decode; the readers of page geometry and page text take such values
through these helpers, which resolve references and fall back to a default instead of failing.
"""

from __future__ import annotations

import logging
import math
from typing import Any

from pyhanko.pdf_utils import generic

__all__ = ["deref", "number", "stream_data"]

logger = logging.getLogger(__name__)


def deref(value: Any) -> Any:
    """The object an indirect reference points to; any other value as it is."""
    return value.get_object() if isinstance(value, generic.IndirectObject) else value


def number(value: Any, default: float) -> float:
    """A PDF number as a finite float; ``default`` for anything else."""
    value = deref(value)
    try:
        result = float(value)
    except (TypeError, ValueError):
        return default
    return result if math.isfinite(result) else default


def stream_data(stream: Any) -> bytes | None:
    """The decoded data of a stream; ``None`` when it is no stream or does not decode."""
    stream = deref(stream)
    if not isinstance(stream, generic.StreamObject):
        return None
    try:
        return stream.data
    except Exception as exc:  # an undecodable stream is skipped, not fatal
        logger.debug("cannot decode a stream: %s", exc)
        return None
