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
that draws the upright seal (or the slice of it this widget shows) into the widget's
appearance so that a reader sees it upright on a rotated page: an annotation's appearance is
drawn in user space and turns with the page, so it has to be counter-rotated by ``/Rotate``.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.pdf_utils.rw_common import PdfHandler

from .errors import (
    CrossPageNeedsTwoPages,
    InvalidPlacement,
    KeywordNotFound,
    PageOutOfRange,
    PositionOffPage,
)

if TYPE_CHECKING:
    from .keyword import Hit

__all__ = [
    "MM",
    "AtKeyword",
    "AtPoint",
    "CrossPage",
    "DefaultPlacement",
    "Matrix",
    "PageGeometry",
    "Placement",
    "Rect",
    "WidgetBox",
    "iter_pages",
    "open_pdf",
    "page_geometries",
    "resolve",
    "resolve_in",
]

#: One millimetre in PDF points.
MM = 72.0 / 25.4

#: ``(x0, y0, x1, y1)`` with ``x0 <= x1`` and ``y0 <= y1``.
Rect = tuple[float, float, float, float]
#: A PDF matrix ``[a b c d e f]``: ``x' = a*x + c*y + e``, ``y' = b*x + d*y + f``.
Matrix = tuple[float, float, float, float, float, float]

#: US Letter: what viewers assume when a page has no usable ``/MediaBox``.
_DEFAULT_MEDIA_BOX: Rect = (0.0, 0.0, 612.0, 792.0)
_MAX_KEYWORD_IN_MESSAGE = 40


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


@dataclass(frozen=True)
class AtKeyword:
    """Centre the seal on an occurrence of a text in the page content, e.g. ``甲方（盖章）``.

    ``occurrence`` counts from 1 in reading order (pages in order; on a page, top to bottom,
    then left to right); negative numbers count from the end, so ``-1`` is the last
    occurrence in the document.  ``page`` (counted like :attr:`AtPoint.page`) restricts the
    search to one page, and ``occurrence`` then counts on that page.  Matching ignores
    whitespace and Unicode compatibility differences (full-width ``（`` matches ``(``).
    """

    keyword: str
    occurrence: int = 1
    page: int | None = None


@dataclass(frozen=True)
class CrossPage:
    """A cross-page seal (骑缝章) over every page of the document.

    The seal is cut into N vertical strips of equal width, N being the page count; strip
    ``i`` (counted from the seal's left) is drawn on page ``i``, flush with the visible right
    edge, so only the strip's width lies on the page.  ``y`` is the centre height in visible
    points and is the same on every page; ``None`` centres it vertically on the shortest page.
    """

    y: float | None = None


@dataclass(frozen=True)
class DefaultPlacement:
    """The rule when the caller names no place: bottom right of the last page.

    The seal's right and bottom edges are ``margin`` points (default 20 mm) from the visible
    page's right and bottom edges; on a page too small for that, it moves towards the middle.
    """

    margin: float = 20 * MM


Placement = AtPoint | AtKeyword | CrossPage | DefaultPlacement


# --------------------------------------------------------------------------- geometry


def _normalise_rect(x0: float, y0: float, x1: float, y1: float) -> Rect:
    return (min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1))


def _normalise_rotation(value: Any) -> int:
    """``/Rotate`` as 0, 90, 180 or 270; anything that is not a multiple of 90 counts as 0."""
    try:
        rotate = int(value)
    except (TypeError, ValueError):
        return 0
    if rotate % 90:
        return 0
    return rotate % 360


@dataclass(frozen=True)
class PageGeometry:
    """The boxes of one page that decide where things appear to a reader.

    ``media_box`` and ``crop_box`` are in user space, as in the file.  The visible area is the
    crop box clipped to the media box (ISO 32000-1, 14.11.2); ``rotate`` is how far the page
    is turned clockwise for display.
    """

    media_box: Rect
    crop_box: Rect | None = None
    rotate: int = 0
    user_unit: float = 1.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "media_box", _normalise_rect(*self.media_box))
        if self.crop_box is not None:
            object.__setattr__(self, "crop_box", _normalise_rect(*self.crop_box))
        object.__setattr__(self, "rotate", _normalise_rotation(self.rotate))
        if not (self.user_unit > 0 and math.isfinite(self.user_unit)):
            object.__setattr__(self, "user_unit", 1.0)

    @classmethod
    def from_page(cls, page: generic.DictionaryObject) -> PageGeometry:
        """Read the (possibly inherited) boxes and rotation of a page dictionary."""
        media = _box_entry(page, "/MediaBox") or _DEFAULT_MEDIA_BOX
        crop = _box_entry(page, "/CropBox")
        rotate = _inherited(page, "/Rotate")
        user_unit = _deref(page.get("/UserUnit", 1.0))
        try:
            unit = float(user_unit)
        except (TypeError, ValueError):
            unit = 1.0
        return cls(
            media_box=media, crop_box=crop, rotate=_normalise_rotation(rotate), user_unit=unit
        )

    @property
    def visible_box(self) -> Rect:
        """The crop box clipped to the media box, in user space."""
        mx0, my0, mx1, my1 = self.media_box
        if self.crop_box is None:
            return self.media_box
        cx0, cy0, cx1, cy1 = self.crop_box
        x0, y0, x1, y1 = max(mx0, cx0), max(my0, cy0), min(mx1, cx1), min(my1, cy1)
        if x1 <= x0 or y1 <= y0:
            # a crop box outside the media box: viewers fall back to the media box
            return self.media_box
        return (x0, y0, x1, y1)

    @property
    def visible_width(self) -> float:
        """Width of the page as the reader sees it, in points."""
        x0, y0, x1, y1 = self.visible_box
        w, h = (x1 - x0), (y1 - y0)
        return (h if self.rotate in (90, 270) else w) * self.user_unit

    @property
    def visible_height(self) -> float:
        """Height of the page as the reader sees it, in points."""
        x0, y0, x1, y1 = self.visible_box
        w, h = (x1 - x0), (y1 - y0)
        return (w if self.rotate in (90, 270) else h) * self.user_unit

    @property
    def visible_matrix(self) -> Matrix:
        """The matrix from user space (user units) to visible points: :meth:`to_visible`."""
        bx0, by0, bx1, by1 = self.visible_box
        u = self.user_unit
        if self.rotate == 90:
            return (0.0, -u, u, 0.0, -by0 * u, bx1 * u)
        if self.rotate == 180:
            return (-u, 0.0, 0.0, -u, bx1 * u, by1 * u)
        if self.rotate == 270:
            return (0.0, u, -u, 0.0, by1 * u, -bx0 * u)
        return (u, 0.0, 0.0, u, -bx0 * u, -by0 * u)

    def to_user(self, x: float, y: float) -> tuple[float, float]:
        """Visible point (points) → user-space point (user units)."""
        bx0, by0, bx1, by1 = self.visible_box
        u = self.user_unit
        x, y = x / u, y / u
        if self.rotate == 90:
            return bx1 - y, by0 + x
        if self.rotate == 180:
            return bx1 - x, by1 - y
        if self.rotate == 270:
            return bx0 + y, by1 - x
        return bx0 + x, by0 + y

    def to_visible(self, x: float, y: float) -> tuple[float, float]:
        """User-space point (user units) → visible point (points)."""
        bx0, by0, bx1, by1 = self.visible_box
        u = self.user_unit
        if self.rotate == 90:
            vx, vy = y - by0, bx1 - x
        elif self.rotate == 180:
            vx, vy = bx1 - x, by1 - y
        elif self.rotate == 270:
            vx, vy = by1 - y, x - bx0
        else:
            vx, vy = x - bx0, y - by0
        return vx * u, vy * u

    def rect_to_user(self, rect: Rect) -> Rect:
        """Visible rectangle → user-space rectangle (normalised)."""
        ax, ay = self.to_user(rect[0], rect[1])
        bx, by = self.to_user(rect[2], rect[3])
        return _normalise_rect(ax, ay, bx, by)

    def rect_to_visible(self, rect: Rect) -> Rect:
        """User-space rectangle → visible rectangle (normalised)."""
        ax, ay = self.to_visible(rect[0], rect[1])
        bx, by = self.to_visible(rect[2], rect[3])
        return _normalise_rect(ax, ay, bx, by)

    def contains_visible(self, x: float, y: float) -> bool:
        return 0 <= x <= self.visible_width and 0 <= y <= self.visible_height


def _deref(value: Any) -> Any:
    return value.get_object() if isinstance(value, generic.IndirectObject) else value


def _inherited(page: generic.DictionaryObject, key: str) -> Any:
    """An inheritable page attribute (ISO 32000-1, 7.7.3.4), or ``None``."""
    node: Any = page
    seen: set[int] = set()
    while isinstance(node, generic.DictionaryObject) and id(node) not in seen:
        seen.add(id(node))
        if key in node:
            return node[key]
        node = _deref(node.get("/Parent"))
    return None


def _box_entry(page: generic.DictionaryObject, key: str) -> Rect | None:
    value = _deref(_inherited(page, key))
    if not isinstance(value, generic.ArrayObject):
        return None
    try:
        numbers = [float(value[i]) for i in range(len(value))]
    except (TypeError, ValueError):
        return None
    if len(numbers) != 4 or not all(math.isfinite(v) for v in numbers):
        return None
    rect = _normalise_rect(*numbers)
    if rect[2] - rect[0] <= 0 or rect[3] - rect[1] <= 0:
        return None
    return rect


# --------------------------------------------------------------------------- documents


def open_pdf(pdf: bytes | PdfHandler) -> PdfHandler:
    """A pyHanko handler for ``pdf``: readers and writers pass through, bytes are parsed."""
    if isinstance(pdf, PdfHandler):
        return pdf
    import io

    return PdfFileReader(io.BytesIO(pdf), strict=False)


def iter_pages(pdf: PdfHandler) -> Iterator[generic.DictionaryObject]:
    """The page dictionaries in document order (a walk of the page tree, cycles skipped)."""
    root = pdf.root["/Pages"]
    stack: list[Iterator[Any]] = [iter([root])]
    seen: set[Any] = set()
    while stack:
        try:
            node = next(stack[-1])
        except StopIteration:
            stack.pop()
            continue
        key: Any = node.reference if isinstance(node, generic.IndirectObject) else id(node)
        node = _deref(node)
        if not isinstance(node, generic.DictionaryObject) or key in seen:
            continue
        seen.add(key)
        kids = _deref(node.get("/Kids"))
        kind = _deref(node.get("/Type"))
        if kind == "/Pages" or (kids is not None and kind != "/Page"):
            if isinstance(kids, generic.ArrayObject):
                stack.append(iter(list(kids)))
            continue
        yield node


def page_geometries(pdf: bytes | PdfHandler) -> list[PageGeometry]:
    """The :class:`PageGeometry` of every page, in order."""
    return [PageGeometry.from_page(page) for page in iter_pages(open_pdf(pdf))]


# --------------------------------------------------------------------------- result


@dataclass(frozen=True)
class WidgetBox:
    """Where one widget annotation of a seal goes, and what it shows.

    ``rect`` is the annotation's ``/Rect`` in the page's user space.  ``crop`` is the part of
    the upright seal this widget shows, in points with the origin at the seal's bottom-left
    corner (the whole seal ``(0, 0, W, H)``, or one strip of a cross-page seal).
    ``visible_rect`` is where it lands for the reader, in visible points.
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
        user units, and turns the seal by ``rotation`` degrees counter-clockwise, which the
        page's clockwise ``/Rotate`` undoes on screen: the reader sees it upright.
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


def _finite(*values: float) -> bool:
    try:
        return all(math.isfinite(float(v)) for v in values)
    except (TypeError, ValueError):
        return False


def _centred(
    index: int, geometry: PageGeometry, x: float, y: float, w: float, h: float
) -> WidgetBox:
    if not geometry.contains_visible(x, y):
        raise PositionOffPage(
            f"the point ({x:g}, {y:g}) is not on page {index + 1}, which is "
            f"{geometry.visible_width:g} x {geometry.visible_height:g} pt as displayed"
        )
    visible = (x - w / 2, y - h / 2, x + w / 2, y + h / 2)
    return WidgetBox(
        page_index=index,
        rect=geometry.rect_to_user(visible),
        rotation=geometry.rotate,
        crop=(0.0, 0.0, w, h),
        visible_rect=visible,
        user_unit=geometry.user_unit,
    )


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


def resolve(
    placement: Placement | None,
    pages: Sequence[PageGeometry],
    width: float,
    height: float,
    *,
    hits: Sequence[Hit] | None = None,
) -> tuple[WidgetBox, ...]:
    """Where a seal of ``width`` x ``height`` points goes: one box per widget.

    ``pages`` are the document's pages in order (see :func:`page_geometries`).  For an
    :class:`AtKeyword` placement, ``hits`` are the keyword's occurrences as found by
    :func:`signer.keyword.find_keyword` (:func:`resolve_in` does that for you).  ``None``
    means :class:`DefaultPlacement`.

    :raises PageOutOfRange: a page number that is not in the document.
    :raises KeywordNotFound: no (or not enough) occurrences of the keyword.
    :raises CrossPageNeedsTwoPages: a cross-page seal on a one-page document.
    :raises PositionOffPage: the seal's centre is not on the page.
    :raises InvalidPlacement: anything else malformed.
    """
    if not (_finite(width, height) and width > 0 and height > 0):
        raise InvalidPlacement("the seal must have a positive width and height")
    count = len(pages)
    if count == 0:
        raise PageOutOfRange("the document has no pages", page=1, pages=0)
    if placement is None:
        placement = DefaultPlacement()

    if isinstance(placement, AtPoint):
        index = _page_index(placement.page, count)
        if not _finite(placement.x, placement.y):
            raise InvalidPlacement("x and y must be finite numbers of points")
        return (_centred(index, pages[index], placement.x, placement.y, width, height),)

    if isinstance(placement, AtKeyword):
        if hits is None:
            raise ValueError("resolve() needs the keyword hits for an AtKeyword placement")
        hit = _keyword_hit(placement, count, hits)
        cx, cy = hit.center
        return (_centred(hit.page - 1, pages[hit.page - 1], cx, cy, width, height),)

    if isinstance(placement, DefaultPlacement):
        if not (_finite(placement.margin) and placement.margin >= 0):
            raise InvalidPlacement("the margin must be a non-negative number of points")
        geometry = pages[-1]
        vw, vh = geometry.visible_width, geometry.visible_height
        # on a page too small for the margins the seal moves to the middle
        cx = max(vw - placement.margin - width / 2, vw / 2)
        cy = min(placement.margin + height / 2, vh / 2)
        return (_centred(count - 1, geometry, cx, cy, width, height),)

    if isinstance(placement, CrossPage):
        if count < 2:
            raise CrossPageNeedsTwoPages(
                "a cross-page seal (骑缝章) needs a document of at least two pages"
            )
        if placement.y is None:
            y = min(g.visible_height for g in pages) / 2
        elif _finite(placement.y):
            y = float(placement.y)
        else:
            raise InvalidPlacement("y must be a finite number of points")
        strip = width / count
        boxes = []
        for index, geometry in enumerate(pages):
            vw = geometry.visible_width
            if not geometry.contains_visible(vw, y):
                raise PositionOffPage(
                    f"the height {y:g} is not on page {index + 1}, which is "
                    f"{geometry.visible_height:g} pt high as displayed"
                )
            visible = (vw - strip, y - height / 2, vw, y + height / 2)
            boxes.append(
                WidgetBox(
                    page_index=index,
                    rect=geometry.rect_to_user(visible),
                    rotation=geometry.rotate,
                    crop=(index * strip, 0.0, (index + 1) * strip, height),
                    visible_rect=visible,
                    user_unit=geometry.user_unit,
                )
            )
        return tuple(boxes)

    raise InvalidPlacement(f"unknown placement {type(placement).__name__}")


def resolve_in(
    pdf: bytes | PdfHandler,
    placement: Placement | None,
    width: float,
    height: float,
) -> tuple[WidgetBox, ...]:
    """:func:`resolve` on a document: reads its pages and, for a keyword, searches its text."""
    handler = open_pdf(pdf)
    pages = page_geometries(handler)
    hits: list[Hit] | None = None
    if isinstance(placement, AtKeyword):
        from .keyword import find_keyword

        only = None
        if placement.page is not None and pages:
            only = [_page_index(placement.page, len(pages)) + 1]
        hits = find_keyword(handler, placement.keyword, pages=only, missing_ok=True)
    return resolve(placement, pages, width, height, hits=hits)
