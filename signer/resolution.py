"""Resolution: a placement and the document's pages → the widget boxes of the seal.

:func:`resolve` is pure geometry on :class:`~signer.pages.PageGeometry` values and keyword
hits: it checks what the caller asked for (page numbers, keyword occurrences, the share of the
seal off the page) and reports an overlap with a seal already there as a notice
(:mod:`signer.notices`).  :func:`resolve_in` reads all that from a document first.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, overload

from pyhanko.pdf_utils.rw_common import PdfHandler

from .cross_page import cross_page
from .errors import (
    InvalidPdf,
    InvalidPlacement,
    KeywordNotFound,
    PageOutOfRange,
    PlacementError,
)
from .geometry import MM, Rect, finite, intersection_area
from .keyword import Hit, find_keyword
from .notices import notify
from .pages import PageGeometry, iter_pages, open_pdf, seal_widget_rects
from .placement_kinds import AtKeyword, AtPoint, CrossPage, DefaultPlacement, Placement
from .widgets import WidgetBox, centred, centred_in_text

__all__ = ["resolve", "resolve_in"]

_MAX_KEYWORD_IN_MESSAGE = 40
#: Overlap below this area (square points) does not count: widgets that merely touch.
_OVERLAP_AREA = 1.0


def _page_index(page: int, count: int) -> int:
    """The index (from 0) of page ``page``, counted from 1 or, if negative, from the end."""
    if isinstance(page, bool) or not isinstance(page, int):
        raise InvalidPlacement("the page number must be an integer")
    if page == 0 or page > count or page < -count:
        raise PageOutOfRange(
            f"page {page} is not in the document, which has {count} page(s); "
            "pages count from 1 and -1 is the last page",
            page=page,
            pages=count,
        )
    return page - 1 if page > 0 else count + page


def _short(keyword: str) -> str:
    if len(keyword) > _MAX_KEYWORD_IN_MESSAGE:
        keyword = keyword[:_MAX_KEYWORD_IN_MESSAGE] + "…"
    return repr(keyword)


def _keyword_hit(placement: AtKeyword, count: int, hits: Sequence[Hit]) -> Hit:
    if not placement.keyword or not placement.keyword.strip():
        raise InvalidPlacement("the keyword is empty")
    occurrence = placement.occurrence
    if isinstance(occurrence, bool) or not isinstance(occurrence, int) or occurrence == 0:
        raise InvalidPlacement("the occurrence counts from 1 (or from -1 backwards)")
    where = "the document"
    candidates = [h for h in hits if 1 <= h.page <= count]
    if placement.page is not None:
        index = _page_index(placement.page, count)
        candidates = [h for h in candidates if h.page == index + 1]
        where = f"page {index + 1}"
    if not candidates:
        raise KeywordNotFound(
            f"the keyword {_short(placement.keyword)} is not in the text of {where}"
        )
    if occurrence > len(candidates) or -occurrence > len(candidates):
        raise KeywordNotFound(
            f"the keyword {_short(placement.keyword)} occurs {len(candidates)} time(s) in "
            f"{where}; occurrence {occurrence} was asked for"
        )
    return candidates[occurrence - 1 if occurrence > 0 else occurrence]


def _describe_keyword(placement: AtKeyword) -> str:
    parts = [f"occurrence {placement.occurrence}"]
    if placement.page is not None:
        parts.append(f"page {placement.page}")
    if placement.align != "center":
        parts.append(f"align {placement.align}")
    if tuple(placement.offset) != (0.0, 0.0):
        dx, dy = placement.offset
        parts.append(f"offset [{dx:g}, {dy:g}] mm")
    return f"the keyword {_short(placement.keyword)} ({', '.join(parts)})"


def _keyword_centre(
    placement: AtKeyword, geometry: PageGeometry, hit: Hit, width: float
) -> tuple[float, float]:
    """The seal's centre in the text frame: at the keyword as ``align`` says, moved by
    ``offset`` along the text and up."""
    if placement.align not in ("center", "after", "before"):
        raise InvalidPlacement("align is center, after or before")
    try:
        dx, dy = (float(v) for v in placement.offset)
    except (TypeError, ValueError):
        raise InvalidPlacement("the offset is two numbers of millimetres, [dx, dy]") from None
    if not finite(dx, dy):
        raise InvalidPlacement("the offset must be finite numbers of millimetres")
    x0, y0, x1, y1 = geometry.visible_to_text((hit.x0, hit.y0, hit.x1, hit.y1))
    cx = {"center": (x0 + x1) / 2, "after": x1 + width / 2, "before": x0 - width / 2}[
        placement.align
    ]
    return cx + dx * MM, (y0 + y1) / 2 + dy * MM


def _overlaps(boxes: Sequence[WidgetBox], existing: Sequence[Sequence[Rect]]) -> list[int]:
    """Pages (from 1) on which a box overlaps a seal widget already there."""
    out = []
    for box in boxes:
        rects = existing[box.page_index] if box.page_index < len(existing) else ()
        if any(intersection_area(box.rect, r) * box.user_unit**2 > _OVERLAP_AREA for r in rects):
            out.append(box.page)
    return out


def resolve(
    placement: Placement | None,
    pages: Sequence[PageGeometry],
    width: float,
    height: float,
    *,
    hits: Sequence[Hit] | None = None,
    existing: Sequence[Sequence[Rect]] | None = None,
) -> tuple[WidgetBox, ...]:
    """Where a seal of ``width`` x ``height`` points goes: one box per widget.

    ``pages`` are the document's pages in order (see :func:`signer.pages.page_geometries`; their
    ``text_rotate`` decides which way the seal stands).  For an :class:`AtKeyword`
    placement, ``hits`` are the keyword's occurrences as found by
    :func:`signer.keyword.find_keyword` (:func:`resolve_in` does that for you).  ``None``
    means :class:`DefaultPlacement`.  ``existing`` holds, per page, the ``/Rect`` (user
    space) of the seal widgets already on it (:func:`signer.pages.seal_widget_rects`): a
    cross-page seal keeps clear of their bands, and a seal overlapping one is reported
    (``overlaps_seal``, see :func:`signer.notices.collect_notices`).

    :raises PageOutOfRange: a page number that is not in the document.
    :raises KeywordNotFound: no (or not enough) occurrences of the keyword.
    :raises CrossPageNeedsTwoPages: a cross-page seal on a one-page document.
    :raises SealOffPage: more than :data:`signer.widgets.OFF_PAGE_LIMIT` of the seal off the page.
    :raises InvalidPlacement: anything else malformed.
    """
    boxes = _resolve(placement, pages, width, height, hits, existing or ())
    overlapping = _overlaps(boxes, existing) if existing else []
    if overlapping:
        where = ", ".join(str(p) for p in overlapping)
        notify("overlaps_seal", f"the seal overlaps a seal already there on page {where}")
    return boxes


def _resolve(
    placement: Placement | None,
    pages: Sequence[PageGeometry],
    width: float,
    height: float,
    hits: Sequence[Hit] | None,
    existing: Sequence[Sequence[Rect]],
) -> tuple[WidgetBox, ...]:
    if not (finite(width, height) and width > 0 and height > 0):
        raise InvalidPlacement("the seal must have a positive width and height")
    count = len(pages)
    if count == 0:
        # an empty or broken page tree (/Pages not a dictionary, /Kids not an array): the
        # file is not a PDF that can be sealed, whatever page the caller asked for
        raise InvalidPdf("the document has no readable page")
    if placement is None:
        placement = DefaultPlacement()

    if isinstance(placement, AtPoint):
        index = _page_index(placement.page, count)
        if not finite(placement.x, placement.y):
            raise InvalidPlacement("x and y must be finite numbers of points")
        what = f"the point ({placement.x:g}, {placement.y:g}) of page {placement.page}"
        return (centred(index, pages[index], placement.x, placement.y, width, height, what),)

    if isinstance(placement, AtKeyword):
        if hits is None:
            raise ValueError("resolve() needs the keyword hits for an AtKeyword placement")
        hit = _keyword_hit(placement, count, hits)
        geometry = pages[hit.page - 1]
        tx, ty = _keyword_centre(placement, geometry, hit, width)
        return (
            centred_in_text(
                hit.page - 1, geometry, tx, ty, width, height, _describe_keyword(placement)
            ),
        )

    if isinstance(placement, DefaultPlacement):
        if not (finite(placement.margin) and placement.margin >= 0):
            raise InvalidPlacement("the margin must be a non-negative number of points")
        geometry = pages[-1]
        frame = geometry.text_frame
        tw, th = frame.visible_width, frame.visible_height
        # bottom right as the text reads; on a page too small for the margins, the middle
        cx = max(tw - placement.margin - width / 2, tw / 2)
        cy = min(placement.margin + height / 2, th / 2)
        return (centred_in_text(count - 1, geometry, cx, cy, width, height, None),)

    if isinstance(placement, CrossPage):
        return cross_page(placement, pages, width, height, existing)

    raise InvalidPlacement(f"unknown placement {type(placement).__name__}")


def resolve_in(
    pdf: bytes | PdfHandler,
    placement: Placement | None,
    width: float,
    height: float,
) -> tuple[WidgetBox, ...]:
    """:func:`resolve` on a document: reads its pages, which way their text stands, the
    seal widgets on them and, for a keyword, searches its text."""
    handler = open_pdf(pdf)
    page_dicts = list(iter_pages(handler))
    pages = _Geometries(page_dicts)
    hits: list[Hit] | None = None
    if isinstance(placement, AtKeyword):
        only = None
        if placement.page is not None and pages:
            only = [_page_index(placement.page, len(pages)) + 1]
        hits = find_keyword(handler, placement.keyword, pages=only, missing_ok=True)
    touched = _touched(placement, len(pages), hits)
    fonts: dict[Any, Any] = {}
    existing: list[list[Rect]] = [[] for _ in range(len(pages))]
    for index in touched:
        pages[index] = PageGeometry.from_page(page_dicts[index], text=True, fonts=fonts)
        existing[index] = seal_widget_rects(page_dicts[index])
    return resolve(placement, pages, width, height, hits=hits, existing=existing)


class _Geometries(Sequence[PageGeometry]):
    """The :class:`PageGeometry` of each page, read when first asked for: most placements
    look at one page of the document (the geometry of a page does not depend on the others)."""

    def __init__(self, page_dicts: Sequence[Any]) -> None:
        self._dicts = page_dicts
        self._read: dict[int, PageGeometry] = {}

    def __len__(self) -> int:
        return len(self._dicts)

    @overload
    def __getitem__(self, index: int) -> PageGeometry: ...

    @overload
    def __getitem__(self, index: slice) -> Sequence[PageGeometry]: ...

    def __getitem__(self, index: int | slice) -> PageGeometry | Sequence[PageGeometry]:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        if index < 0:
            index += len(self)
        if not 0 <= index < len(self):
            raise IndexError(index)
        found = self._read.get(index)
        if found is None:
            found = self._read[index] = PageGeometry.from_page(self._dicts[index])
        return found

    def __setitem__(self, index: int, geometry: PageGeometry) -> None:
        self._read[index] = geometry


def _touched(placement: Placement | None, count: int, hits: Sequence[Hit] | None) -> set[int]:
    """The pages (from 0) a placement may put a widget on."""
    if count == 0:
        return set()
    if isinstance(placement, CrossPage):
        return set(range(count))
    if isinstance(placement, AtPoint):
        try:
            return {_page_index(placement.page, count)}
        except PlacementError:
            return set()
    if isinstance(placement, AtKeyword):
        return {h.page - 1 for h in hits or () if 1 <= h.page <= count}
    return {count - 1}
