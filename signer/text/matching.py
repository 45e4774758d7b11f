"""Finding a keyword among positioned glyphs: the matching that PDF pages
(:mod:`signer.keyword`) and OFD pages (:mod:`signer.ofd.document`) share.

A glyph is anything with its text, its box ``(x0, y0, x1, y1)`` and its font size; the two
callers give accessors, since a PDF glyph and an OFD glyph are different records.  Matching
compares NFKC text without whitespace or control/format characters, so ``甲方（盖章）`` finds
``甲方 (盖章)``.
"""

from __future__ import annotations

import functools
import unicodedata
from collections.abc import Callable, Iterator, Sequence
from typing import TypeVar

__all__ = ["Rect", "find_runs", "normalise"]

Rect = tuple[float, float, float, float]
G = TypeVar("G")


@functools.lru_cache(maxsize=65536)
def normalise(text: str) -> str:
    """NFKC without any whitespace or control/format character: what matching compares."""
    return "".join(
        ch
        for ch in unicodedata.normalize("NFKC", text)
        if not ch.isspace() and unicodedata.category(ch) not in ("Cc", "Cf")
    )


def find_runs(
    glyphs: Sequence[G],
    needle: str,
    *,
    gap_limit: bool,
    text: Callable[[G], str],
    box: Callable[[G], Rect],
    size: Callable[[G], float],
) -> Iterator[Rect]:
    """The bounding box of every occurrence of ``needle`` (normalised) in ``glyphs`` taken in
    the order given.  With ``gap_limit`` a horizontal gap of more than three font sizes, or
    an overlap of more than half of one, is a column break no match may span."""
    chars: list[str] = []
    owners: list[int] = []
    previous: G | None = None
    for index, glyph in enumerate(glyphs):
        piece = normalise(text(glyph))
        if not piece:
            continue
        if gap_limit and previous is not None:
            gap = box(glyph)[0] - box(previous)[2]
            largest = max(size(glyph), size(previous))
            if gap > 3 * largest or gap < -0.5 * size(glyph):
                chars.append("\uffff")
                owners.append(-1)
        for ch in piece:
            chars.append(ch)
            owners.append(index)
        previous = glyph
    haystack = "".join(chars)
    start = haystack.find(needle)
    while start >= 0:
        boxes = [box(glyphs[owners[i]]) for i in range(start, start + len(needle))]
        yield (
            min(b[0] for b in boxes),
            min(b[1] for b in boxes),
            max(b[2] for b in boxes),
            max(b[3] for b in boxes),
        )
        start = haystack.find(needle, start + 1)
