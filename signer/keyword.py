"""Find a text such as ``甲方（盖章）`` in a PDF, with its position on the page.

Producers split text freely: one glyph per ``TJ`` element, ``甲方`` and ``（盖章）`` in
separate ``Tj`` operators, kerning numbers in between, the text of a table cell in a form
XObject.  The page's glyphs, as :mod:`signer.text` reads them (its own small content-stream
interpreter, decoding CID fonts through their ``/ToUnicode`` maps), are therefore searched as
one string, so a keyword is found however the producer cut it up.

Matching ignores whitespace and Unicode compatibility differences (NFKC: full-width and
half-width forms, CJK compatibility ideographs and the Kangxi radicals some producers put
in their ToUnicode maps).  The page text is searched twice: in content-stream order, and in
reading order (lines top to bottom, glyphs left to right) for producers that draw a line out
of order; overlapping hits count once.  Text drawn twice at the same place to fake a bold
face counts once.

Positions are visible-page coordinates in points (origin at the bottom-left corner of the
page as displayed, after ``/CropBox`` and ``/Rotate``).  A glyph's box is its advance width
by the font's declared ascent and descent.

Known limits: glyphs without a Unicode mapping (no ``/ToUnicode`` and a non-Unicode
encoding) cannot be matched; the reader's other limits are listed in :mod:`signer.text`.

It is pure Python and CPU-bound — about 1.5 s for 100 densely printed pages
(180 000 glyphs) on a 2-core machine, a few milliseconds for a contract page — so async
callers run it in a worker thread.

:class:`Glyph` and :func:`text_rotation` (which way a page's text stands, owned by
:mod:`signer.pages`) are re-exported here, where callers have always found them.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.rw_common import PdfHandler

from .errors import InvalidPlacement, KeywordNotFound
from .geometry import Rect, overlap
from .pages import PageGeometry, iter_pages, open_pdf, text_rotation
from .text.interpreter import Glyph, GState, Interpreter, inherited_resources, page_content
from .text.matching import find_runs, normalise

__all__ = ["Glyph", "Hit", "find_keyword", "page_glyphs", "text_rotation"]


@dataclass(frozen=True)
class Hit:
    """One occurrence of a keyword: page counted from 1, box in visible points."""

    page: int
    x0: float
    y0: float
    x1: float
    y1: float

    @property
    def center(self) -> tuple[float, float]:
        return (self.x0 + self.x1) / 2, (self.y0 + self.y1) / 2


def page_glyphs(
    page: generic.DictionaryObject,
    geometry: PageGeometry | None = None,
    fonts: dict[Any, Any] | None = None,
) -> list[Glyph]:
    """Every glyph drawn by a page's content, in content-stream order, in visible points."""
    if geometry is None:
        geometry = PageGeometry.from_page(page)
    interpreter = Interpreter(geometry.visible_matrix, {} if fonts is None else fonts)
    resources = inherited_resources(page)
    interpreter.run(page_content(page), resources, GState(), 0, frozenset())
    return interpreter.glyphs


def _search(glyphs: list[Glyph], needle: str, gap_limit: bool) -> Iterator[Rect]:
    return find_runs(
        glyphs,
        needle,
        gap_limit=gap_limit,
        text=lambda g: g.text,
        box=lambda g: g.box,
        size=lambda g: g.size,
    )


def _reading_order(glyphs: list[Glyph]) -> list[Glyph]:
    """Lines top to bottom, glyphs left to right (upright horizontal text only)."""
    upright = [g for g in glyphs if g.box[2] - g.box[0] <= 1.5 * max(g.size, 1e-6) + 1]
    upright.sort(key=lambda g: -(g.box[1] + g.box[3]) / 2)
    lines: list[list[Glyph]] = []
    line_y = 0.0
    for glyph in upright:
        centre = (glyph.box[1] + glyph.box[3]) / 2
        if lines and abs(centre - line_y) <= 0.4 * max(glyph.size, 1e-6):
            lines[-1].append(glyph)
        else:
            lines.append([glyph])
            line_y = centre
    ordered: list[Glyph] = []
    for line in lines:
        ordered.extend(sorted(line, key=lambda g: g.box[0]))
    return ordered


def _sort_reading(rects: list[Rect]) -> list[Rect]:
    rects = sorted(rects, key=lambda r: -(r[1] + r[3]) / 2)
    lines: list[list[Rect]] = []
    for rect in rects:
        centre = (rect[1] + rect[3]) / 2
        if lines:
            last = lines[-1][0]
            if abs(centre - (last[1] + last[3]) / 2) <= 0.4 * (last[3] - last[1]):
                lines[-1].append(rect)
                continue
        lines.append([rect])
    return [r for line in lines for r in sorted(line, key=lambda r: r[0])]


def find_keyword(
    pdf: bytes | PdfHandler,
    keyword: str,
    *,
    pages: Iterable[int] | None = None,
    missing_ok: bool = False,
) -> list[Hit]:
    """Every occurrence of ``keyword`` in the text of the document, in reading order.

    ``pdf`` is the file's bytes or a pyHanko reader or writer.  ``pages`` (counted from 1)
    limits the search.  Whitespace and Unicode compatibility differences are ignored.

    :raises KeywordNotFound: no occurrence, unless ``missing_ok``.
    :raises InvalidPlacement: an empty keyword.
    """
    needle = normalise(keyword or "")
    if not needle:
        raise InvalidPlacement("the keyword is empty")
    handler = open_pdf(pdf)
    wanted = None if pages is None else set(pages)
    fonts: dict[Any, Any] = {}
    hits: list[Hit] = []
    for number, page in enumerate(iter_pages(handler), start=1):
        if wanted is not None and number not in wanted:
            continue
        glyphs = page_glyphs(page, PageGeometry.from_page(page), fonts)
        if not set(needle) <= {ch for g in glyphs for ch in normalise(g.text)}:
            continue
        found: list[Rect] = []
        in_stream_order = _search(glyphs, needle, gap_limit=False)
        in_reading_order = _search(_reading_order(glyphs), needle, gap_limit=True)
        for rect in (*in_stream_order, *in_reading_order):
            if all(overlap(rect, other) < 0.5 for other in found):
                found.append(rect)
        hits.extend(Hit(number, *rect) for rect in _sort_reading(found))
    if not hits and not missing_ok:
        shown = keyword if len(keyword) <= 40 else keyword[:40] + "…"
        raise KeywordNotFound(f"the keyword {shown!r} is not in the text of the document")
    return hits
