"""Where a visible seal goes on the page, as pure geometry.

Two coordinate systems matter:

*visible coordinates*
    What the caller speaks: PDF points (1/72 inch) measured from the bottom-left corner of the
    page *as a reader sees it* — after the page's ``/CropBox`` has cut it and its ``/Rotate``
    has turned it.  ``x`` grows to the reader's right, ``y`` grows upwards.  A seal placed at
    ``(x, y)`` has its **centre** at that point: a person who says "seal it here" points at
    where the middle of the seal should be, and a keyword hit is turned into a placement the
    same way (the seal is centred on the text).

*user space*
    What the PDF speaks: the page's default coordinate system, before rotation, where the
    ``/MediaBox`` may start anywhere (``[100 100 712 892]`` is legal) and a unit may be larger
    than a point (``/UserUnit``).  Widget annotation rectangles (``/Rect``) live here.

:func:`resolve` turns a :data:`Placement` into one :class:`WidgetBox` per page the seal touches
(one, or N for a cross-page seal).  Each box knows its ``/Rect`` in user space and the matrix
that draws the seal (or the slice of it this widget shows) into the widget's appearance.

A seal stands **upright relative to the text of its page**, the way a clerk stamps paper:

*the text frame*
    The page turned so that its text reads upright.  Most rotated pages draw their content
    upright in user space and let ``/Rotate`` turn the whole page for display: the text frame
    is then user space itself, and the seal is drawn upright there (it turns with the text on
    screen).  A producer may instead draw the text turned in user space and set ``/Rotate``
    to compensate, so the text reads upright on screen: the text frame is then the visible
    page, and the seal is counter-rotated with the text.  Which way the text stands is the
    majority direction of the page's glyphs (:func:`signer.pages.text_rotation`, recorded
    as :attr:`PageGeometry.text_rotate`); a page without text is taken as upright in user
    space.

Points and keyword hits are given in visible coordinates; the seal's box around that centre,
offsets from a keyword, the default corner and the edge the cross-page strips go on (the
right edge of the paper when its text is read upright) are taken in the text frame.

Seals that would lie more than :data:`OFF_PAGE_LIMIT` outside the visible page are refused
(:class:`SealOffPage`); a seal that overlaps a seal widget already on the page is placed as
asked and reported as a :class:`Notice` (``overlaps_seal``), which callers collect with
:func:`collect_notices`.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from pyhanko.pdf_utils.rw_common import PdfHandler

from .errors import (
    CrossPageNeedsTwoPages,
    InvalidPdf,
    InvalidPlacement,
    KeywordNotFound,
    PageOutOfRange,
    PlacementError,
    PositionOffPage,
)
from .geometry import MM, Matrix, Rect, finite, intersection_area, rect_area
from .keyword import Hit, find_keyword
from .pages import PageGeometry, iter_pages, open_pdf, page_geometries, seal_widget_rects

__all__ = [
    "MM",
    "OFF_PAGE_LIMIT",
    "AtKeyword",
    "AtPoint",
    "CrossPage",
    "DefaultPlacement",
    "Matrix",
    "Notice",
    "PageGeometry",
    "Placement",
    "Rect",
    "SealOffPage",
    "WidgetBox",
    "collect_notices",
    "iter_pages",
    "open_pdf",
    "page_geometries",
    "resolve",
    "resolve_in",
    "seal_widget_rects",
]

_MAX_KEYWORD_IN_MESSAGE = 40
#: A seal with more than this share of its area outside the visible page is refused.
OFF_PAGE_LIMIT = 0.10
#: Room left between the cross-page bands of different seals, in points.
BAND_GAP = 2 * MM
#: Distance of a ``top`` or ``bottom`` cross-page band from the page's edge, in points.
BAND_MARGIN = 20 * MM
#: Overlap below this area (square points) does not count: widgets that merely touch.
_OVERLAP_AREA = 1.0


class SealOffPage(PositionOffPage):
    """The seal's box would lie too far (over :data:`OFF_PAGE_LIMIT`) outside the page."""

    code = "seal_off_page"
    title = "Seal outside the page"


# --------------------------------------------------------------------------- notices


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


# --------------------------------------------------------------------------- placements


@dataclass(frozen=True)
class AtPoint:
    """Centre the seal on a point of a page.

    ``page`` counts from 1; negative numbers count from the end (-1 is the last page).
    ``x`` and ``y`` are PDF points from the bottom-left corner of the *visible* page (after
    ``/CropBox`` and ``/Rotate``) and give the **centre** of the seal.  The centre must lie on
    the page; the seal itself may overhang the edge.
    """

    page: int
    x: float
    y: float


Align = Literal["center", "after", "before"]


@dataclass(frozen=True)
class AtKeyword:
    """Place the seal at an occurrence of a text in the page content, e.g. ``甲方（盖章）``.

    ``occurrence`` counts from 1 in reading order (pages in order; on a page, top to bottom,
    then left to right); negative numbers count from the end, so ``-1`` is the last
    occurrence in the document.  ``page`` (counted like :attr:`AtPoint.page`) restricts the
    search to one page, and ``occurrence`` then counts on that page.  Matching ignores
    whitespace and Unicode compatibility differences (full-width ``（`` matches ``(``).

    ``align`` says where the seal goes relative to the keyword, in the direction the text
    reads: ``center`` centres it on the keyword, ``after`` puts its left edge at the end of
    the keyword (the blank after 法定代表人：), ``before`` its right edge at the keyword's
    start; vertically it is centred on the keyword's line.  ``offset`` ``(dx, dy)`` in
    millimetres then moves it along the text (``dx``, to the right as the text reads) and
    up (``dy``).
    """

    keyword: str
    occurrence: int = 1
    page: int | None = None
    align: Align = "center"
    offset: tuple[float, float] = (0.0, 0.0)


BandPosition = Literal["top", "middle", "bottom"]


@dataclass(frozen=True)
class CrossPage:
    """A cross-page seal (骑缝章) over every page of the document.

    The seal is cut into N vertical strips of equal width, N being the page count; strip
    ``i`` (counted from the seal's left) is drawn on page ``i``, flush with the right edge of
    the page as its text reads upright, so only the strip's width lies on the page.  Its band
    along that edge is the same on every page:

    * ``y``: the seal's centre, in points from the bottom of the page (as its text reads);
    * ``position``: ``top`` or ``bottom`` (:data:`BAND_MARGIN` from that edge) or ``middle``
      of the shortest page;
    * neither: the free band nearest the middle — bands of cross-page seals already in the
      document (any signature widget on that edge) are left alone, the strips go next to
      them with :data:`BAND_GAP` between.

    ``auto`` is for callers that apply one policy to every document: the service leaves the
    seal out of a one-page document (``cross_page_skipped``) instead of refusing it;
    :func:`resolve` itself always refuses one page.
    """

    y: float | None = None
    position: BandPosition | None = None
    auto: bool = False


@dataclass(frozen=True)
class DefaultPlacement:
    """The rule when the caller names no place: bottom right of the last page.

    The seal's right and bottom edges are ``margin`` points (default 20 mm) from the visible
    page's right and bottom edges; on a page too small for that, it moves towards the middle.
    """

    margin: float = 20 * MM


Placement = AtPoint | AtKeyword | CrossPage | DefaultPlacement


# --------------------------------------------------------------------------- result


@dataclass(frozen=True)
class WidgetBox:
    """Where one widget annotation of a seal goes, and what it shows.

    ``rect`` is the annotation's ``/Rect`` in the page's user space.  ``crop`` is the part of
    the upright seal this widget shows, in points with the origin at the seal's bottom-left
    corner (the whole seal ``(0, 0, W, H)``, or one strip of a cross-page seal).
    ``visible_rect`` is where it lands for the reader, in visible points.  ``rotation`` is
    how far the seal is turned counter-clockwise in user space: the text's turn
    (:attr:`PageGeometry.seal_rotation`), so that it stands upright with the text.
    """

    page_index: int
    rect: Rect
    rotation: int
    crop: Rect
    visible_rect: Rect
    user_unit: float = 1.0

    @property
    def page(self) -> int:
        """The page number, counted from 1."""
        return self.page_index + 1

    @property
    def size(self) -> tuple[float, float]:
        """Width and height of ``rect`` (user units): the appearance's ``/BBox`` size."""
        x0, y0, x1, y1 = self.rect
        return x1 - x0, y1 - y0

    def appearance_matrix(self) -> Matrix:
        """The matrix (for ``cm``) from seal points to the widget's appearance space.

        The appearance space has its origin at the lower-left corner of ``rect`` and is
        ``size`` wide and high.  The matrix moves ``crop`` to the origin, scales points to
        user units, and turns the seal by ``rotation`` degrees counter-clockwise, the way
        the page's text is turned: the seal stands upright with the text.
        """
        s = 1.0 / self.user_unit
        cx0, cy0, cx1, cy1 = self.crop
        cw, ch = (cx1 - cx0) * s, (cy1 - cy0) * s
        a, b, c, d, e, f = {
            0: (1.0, 0.0, 0.0, 1.0, 0.0, 0.0),
            90: (0.0, 1.0, -1.0, 0.0, ch, 0.0),
            180: (-1.0, 0.0, 0.0, -1.0, cw, ch),
            270: (0.0, -1.0, 1.0, 0.0, 0.0, cw),
        }[self.rotation]
        return (
            a * s,
            b * s,
            c * s,
            d * s,
            e - s * (a * cx0 + c * cy0),
            f - s * (b * cx0 + d * cy0),
        )


# --------------------------------------------------------------------------- resolution


def _page_index(page: int, count: int) -> int:
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


def _outside(geometry: PageGeometry, visible: Rect) -> float:
    """The share of ``visible``'s area that lies outside the visible page."""
    page = (0.0, 0.0, geometry.visible_width, geometry.visible_height)
    area = rect_area(visible)
    return 1.0 - intersection_area(visible, page) / area if area > 0 else 1.0


def _widget(
    index: int, geometry: PageGeometry, text_rect: Rect, crop: Rect, what: str | None
) -> WidgetBox:
    """The widget showing ``crop`` of the seal at ``text_rect`` (text-frame points).

    ``what`` describes what the caller asked for, for the refusal of a seal too far off the
    page; ``None``: the place is ours (the default), not checked.
    """
    rect = geometry.text_frame.rect_to_user(text_rect)
    visible = geometry.rect_to_visible(rect)
    if what is not None:
        outside = _outside(geometry, visible)
        if outside > OFF_PAGE_LIMIT + 1e-9:
            raise SealOffPage(
                f"the seal at {what} would lie {outside:.0%} outside page {index + 1}, "
                f"which is {geometry.visible_width:g} x {geometry.visible_height:g} pt as "
                f"displayed; at most {OFF_PAGE_LIMIT:.0%} of it may overhang the edge"
            )
    return WidgetBox(
        page_index=index,
        rect=rect,
        rotation=geometry.seal_rotation,
        crop=crop,
        visible_rect=visible,
        user_unit=geometry.user_unit,
    )


def _centred(
    index: int,
    geometry: PageGeometry,
    x: float,
    y: float,
    w: float,
    h: float,
    what: str | None,
) -> WidgetBox:
    """The whole seal centred on the visible point ``(x, y)``, upright with the text."""
    tx, ty = geometry.text_frame.to_visible(*geometry.to_user(x, y))
    return _centred_in_text(index, geometry, tx, ty, w, h, what)


def _centred_in_text(
    index: int,
    geometry: PageGeometry,
    tx: float,
    ty: float,
    w: float,
    h: float,
    what: str | None,
) -> WidgetBox:
    text_rect = (tx - w / 2, ty - h / 2, tx + w / 2, ty + h / 2)
    return _widget(index, geometry, text_rect, (0.0, 0.0, w, h), what)


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


def _edge_bands(
    pages: Sequence[PageGeometry], existing: Sequence[Sequence[Rect]]
) -> list[tuple[float, float]]:
    """Heights (text frame, from the bottom) taken on the right edge by seal widgets that
    are there already: the bands of earlier cross-page seals."""
    bands = []
    for geometry, rects in zip(pages, existing, strict=False):
        frame = geometry.text_frame
        right = frame.visible_width
        for rect in rects:
            x0, y0, x1, y1 = frame.rect_to_visible(rect)
            if x1 >= right - 1.0 and x0 < right:
                bands.append((y0, y1))
    return sorted(bands)


def _free_band(
    bands: Sequence[tuple[float, float]], wanted: float, height: float, top: float
) -> float | None:
    """The centre nearest ``wanted`` (below on a tie) of a band ``height`` high between 0
    and ``top`` that keeps :data:`BAND_GAP` from every band in ``bands``; ``None``: full."""
    half = height / 2

    def free(y: float) -> bool:
        return half - 1e-6 <= y <= top - half + 1e-6 and all(
            y + half + BAND_GAP <= b0 + 1e-6 or y - half - BAND_GAP >= b1 - 1e-6 for b0, b1 in bands
        )

    candidates = [wanted]
    for b0, b1 in bands:
        candidates += [b0 - BAND_GAP - half, b1 + BAND_GAP + half]
    fits = [y for y in candidates if free(y)]
    if not fits:
        return None
    return min(fits, key=lambda y: (abs(y - wanted), y))


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

    ``pages`` are the document's pages in order (see :func:`page_geometries`; their
    ``text_rotate`` decides which way the seal stands).  For an :class:`AtKeyword`
    placement, ``hits`` are the keyword's occurrences as found by
    :func:`signer.keyword.find_keyword` (:func:`resolve_in` does that for you).  ``None``
    means :class:`DefaultPlacement`.  ``existing`` holds, per page, the ``/Rect`` (user
    space) of the seal widgets already on it (:func:`seal_widget_rects`): a cross-page seal
    keeps clear of their bands, and a seal overlapping one is reported (``overlaps_seal``,
    see :func:`collect_notices`).

    :raises PageOutOfRange: a page number that is not in the document.
    :raises KeywordNotFound: no (or not enough) occurrences of the keyword.
    :raises CrossPageNeedsTwoPages: a cross-page seal on a one-page document.
    :raises SealOffPage: more than :data:`OFF_PAGE_LIMIT` of the seal off the page.
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
        return (_centred(index, pages[index], placement.x, placement.y, width, height, what),)

    if isinstance(placement, AtKeyword):
        if hits is None:
            raise ValueError("resolve() needs the keyword hits for an AtKeyword placement")
        hit = _keyword_hit(placement, count, hits)
        geometry = pages[hit.page - 1]
        tx, ty = _keyword_centre(placement, geometry, hit, width)
        return (
            _centred_in_text(
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
        return (_centred_in_text(count - 1, geometry, cx, cy, width, height, None),)

    if isinstance(placement, CrossPage):
        return _cross_page(placement, pages, width, height, existing)

    raise InvalidPlacement(f"unknown placement {type(placement).__name__}")


def _cross_page(
    placement: CrossPage,
    pages: Sequence[PageGeometry],
    width: float,
    height: float,
    existing: Sequence[Sequence[Rect]],
) -> tuple[WidgetBox, ...]:
    count = len(pages)
    if count < 2:
        raise CrossPageNeedsTwoPages(
            "a cross-page seal (骑缝章) needs a document of at least two pages"
        )
    shortest = min(g.text_frame.visible_height for g in pages)
    what: str | None = None
    if placement.y is not None and placement.position is not None:
        raise InvalidPlacement("give the cross-page band's y or its position, not both")
    if placement.y is not None:
        if not finite(placement.y):
            raise InvalidPlacement("y must be a finite number of points")
        y = float(placement.y)
        what = f"the height y={y:g}"
    elif placement.position is not None:
        if placement.position not in ("top", "middle", "bottom"):
            raise InvalidPlacement("the position is top, middle or bottom")
        y = {
            "top": shortest - BAND_MARGIN - height / 2,
            "middle": shortest / 2,
            "bottom": BAND_MARGIN + height / 2,
        }[placement.position]
        what = f"the position {placement.position}"
    else:
        y = shortest / 2
        free = _free_band(_edge_bands(pages, existing), y, height, shortest)
        if free is not None:
            y = free
    strip = width / count
    boxes = []
    for index, geometry in enumerate(pages):
        tw = geometry.text_frame.visible_width
        if what is not None and not 0 <= y <= geometry.text_frame.visible_height:
            raise SealOffPage(
                f"the cross-page seal at {what} is not on page {index + 1}, which is "
                f"{geometry.text_frame.visible_height:g} pt high as its text reads"
            )
        boxes.append(
            _widget(
                index,
                geometry,
                (tw - strip, y - height / 2, tw, y + height / 2),
                (index * strip, 0.0, (index + 1) * strip, height),
                what,
            )
        )
    return tuple(boxes)


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
    pages = [PageGeometry.from_page(p) for p in page_dicts]
    hits: list[Hit] | None = None
    if isinstance(placement, AtKeyword):
        only = None
        if placement.page is not None and pages:
            only = [_page_index(placement.page, len(pages)) + 1]
        hits = find_keyword(handler, placement.keyword, pages=only, missing_ok=True)
    touched = _touched(placement, len(pages), hits)
    fonts: dict[Any, Any] = {}
    existing: list[list[Rect]] = [[] for _ in pages]
    for index in touched:
        pages[index] = PageGeometry.from_page(page_dicts[index], text=True, fonts=fonts)
        existing[index] = seal_widget_rects(page_dicts[index])
    return resolve(placement, pages, width, height, hits=hits, existing=existing)


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
