"""What a caller can ask for: the placements of a seal — a point, a keyword, a cross-page band
or the default corner — as plain values.  :func:`signer.resolution.resolve` turns them into
widget boxes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from .geometry import MM

__all__ = [
    "BAND_GAP",
    "BAND_MARGIN",
    "Align",
    "AtKeyword",
    "AtPoint",
    "BandPosition",
    "CrossPage",
    "DefaultPlacement",
    "Placement",
]

#: Room left between the cross-page bands of different seals, in points.
BAND_GAP = 2 * MM
#: Distance of a ``top`` or ``bottom`` cross-page band from the page's edge, in points.
BAND_MARGIN = 20 * MM


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
    :func:`signer.resolution.resolve` itself always refuses one page.
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
