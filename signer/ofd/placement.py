"""Where a seal goes on an OFD page: the placements a caller asks for, turned into the
``StampAnnot`` boxes of §18.2.3.

OFD measures in millimetres from the page's top-left corner, ``y`` downwards, and so do these
placements.  As for PDF (:mod:`signer.placement`), a seal placed at ``(x, y)`` has its
**centre** there, a keyword hit is turned into a centre the same way (:class:`AtKeyword` is
the PDF one: its ``offset`` is in mm already, ``dx`` to the right and ``dy`` up), and a centre
off the page is refused (:class:`signer.errors.PositionOffPage`).

A cross-page seal (骑缝章) is laid out as ofdrw's ``RidingStampPos`` and the national readers
do: one ``StampAnnot`` per page, each with the **whole** seal's ``Boundary`` placed so that
strip ``i`` of ``N`` (counted from the seal's left) lies flush with page ``i``'s right edge,
and a ``Clip`` (in the seal's own box) that shows only that strip.  Put side by side, the
pages' right edges show the whole seal.  Its band is the same on every page: ``y`` given,
``position`` top/middle/bottom, or the free band nearest the middle, next to cross-page seals
already in the document.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from ..errors import CrossPageNeedsTwoPages, InvalidPlacement, KeywordNotFound, PositionOffPage
from ..placement_kinds import AtKeyword
from .document import Box, OfdDocument, OfdPage

__all__ = [
    "BAND_GAP_MM",
    "BAND_MARGIN_MM",
    "AtKeyword",
    "AtPoint",
    "CrossPage",
    "DefaultPlacement",
    "Placement",
    "Stamp",
    "resolve_stamps",
]

#: Room left between the bands of different cross-page seals, mm.
BAND_GAP_MM = 2.0
#: Distance of a ``top`` or ``bottom`` cross-page band from the page's edge, mm.
BAND_MARGIN_MM = 20.0


@dataclass(frozen=True)
class AtPoint:
    """Centre the seal on a point of a page.

    ``page`` counts from 1; negative numbers count from the end.  ``x`` and ``y`` are mm from
    the page's top-left corner (OFD's own axes, ``y`` downwards) and must lie on the page;
    the seal itself may overhang the edge.
    """

    page: int
    x: float
    y: float


@dataclass(frozen=True)
class CrossPage:
    """A cross-page seal (骑缝章) over every page, along the right edges.

    ``y``: the seal's centre, mm from the top of the page; ``position``: ``top`` or
    ``bottom`` (:data:`BAND_MARGIN_MM` from that edge) or ``middle`` of the shortest page;
    neither: the free band nearest the middle.
    """

    y: float | None = None
    position: Literal["top", "middle", "bottom"] | None = None


@dataclass(frozen=True)
class DefaultPlacement:
    """Bottom right of the last page, the seal's edges ``margin`` mm from the page's right
    and bottom edges (towards the middle on a page too small for that)."""

    margin: float = 20.0


Placement = AtPoint | AtKeyword | CrossPage | DefaultPlacement


@dataclass(frozen=True)
class Stamp:
    """One ``StampAnnot`` to write: the page, the seal's box on it, and the strip it shows."""

    page: OfdPage
    boundary: Box
    clip: Box | None = None


def _finite(*values: float) -> bool:
    try:
        return all(math.isfinite(float(v)) for v in values)
    except (TypeError, ValueError):
        return False


def _centred(page: OfdPage, x: float, y: float, width: float, height: float, what: str) -> Stamp:
    px, py, pw, ph = page.box
    if not (px <= x <= px + pw and py <= y <= py + ph):
        raise PositionOffPage(
            f"{what} puts the seal's centre at ({x:g}, {y:g}) mm, outside page {page.number} "
            f"({pw:g} x {ph:g} mm)"
        )
    return Stamp(page, (x - width / 2, y - height / 2, width, height))


def _keyword(doc: OfdDocument, placement: AtKeyword, width: float, height: float) -> Stamp:
    if placement.align not in ("center", "after", "before"):
        raise InvalidPlacement("align is center, after or before")
    if placement.occurrence == 0:
        raise InvalidPlacement("occurrence counts from 1 (or from -1 at the end)")
    dx, dy = placement.offset
    if not _finite(dx, dy):
        raise InvalidPlacement("the offset must be finite numbers of millimetres")
    pages = None if placement.page is None else [placement.page]
    hits = doc.find_text(placement.keyword, pages=pages)
    index = (
        placement.occurrence - 1 if placement.occurrence > 0 else len(hits) + placement.occurrence
    )
    if not 0 <= index < len(hits):
        shown = placement.keyword if len(placement.keyword) <= 40 else placement.keyword[:40] + "…"
        raise KeywordNotFound(
            f"occurrence {placement.occurrence} of the keyword {shown!r} is not in the "
            f"document, which has {len(hits)}"
        )
    hit = hits[index]
    x, y = hit.center
    if placement.align == "after":
        x = hit.x1 + width / 2
    elif placement.align == "before":
        x = hit.x0 - width / 2
    return _centred(
        doc.page(hit.page), x + dx, y - dy, width, height, f"the keyword {placement.keyword!r}"
    )


def _visible(stamp_boundary: Box, clip: Box | None) -> Box:
    if clip is None:
        return stamp_boundary
    return (stamp_boundary[0] + clip[0], stamp_boundary[1] + clip[1], clip[2], clip[3])


def _free_band(
    bands: Sequence[tuple[float, float]], wanted: float, height: float, bottom: float
) -> float | None:
    """The centre nearest ``wanted`` (upper on a tie) of a band ``height`` high between 0 and
    ``bottom`` that keeps :data:`BAND_GAP_MM` from every band in ``bands``."""
    half = height / 2

    def free(y: float) -> bool:
        return half - 1e-6 <= y <= bottom - half + 1e-6 and all(
            y + half + BAND_GAP_MM <= b0 + 1e-6 or y - half - BAND_GAP_MM >= b1 - 1e-6
            for b0, b1 in bands
        )

    candidates = [wanted]
    for b0, b1 in bands:
        candidates += [b0 - BAND_GAP_MM - half, b1 + BAND_GAP_MM + half]
    fits = [y for y in candidates if free(y)]
    return min(fits, key=lambda y: (abs(y - wanted), y)) if fits else None


def _cross_page(
    doc: OfdDocument,
    placement: CrossPage,
    width: float,
    height: float,
    existing: Sequence[tuple[str, Box, Box | None]],
) -> tuple[Stamp, ...]:
    pages = doc.pages
    count = len(pages)
    if count < 2:
        raise CrossPageNeedsTwoPages(
            "a cross-page seal (骑缝章) needs a document of at least two pages"
        )
    if placement.y is not None and placement.position is not None:
        raise InvalidPlacement("give the cross-page band's y or its position, not both")
    shortest = min(p.height for p in pages)
    explicit = True
    if placement.y is not None:
        if not _finite(placement.y):
            raise InvalidPlacement("y must be a finite number of millimetres")
        y = float(placement.y)
    elif placement.position is not None:
        if placement.position not in ("top", "middle", "bottom"):
            raise InvalidPlacement("the position is top, middle or bottom")
        y = {
            "top": BAND_MARGIN_MM + height / 2,
            "middle": shortest / 2,
            "bottom": shortest - BAND_MARGIN_MM - height / 2,
        }[placement.position]
    else:
        explicit = False
        by_id = doc.page_ids
        bands = []
        for page_ref, boundary, clip in existing:
            page = by_id.get(page_ref)
            if page is None:
                continue
            x, top, w, h = _visible(boundary, clip)
            right = page.box[0] + page.box[2]
            if x + w >= right - 1.0 and x < right:
                bands.append((top - page.box[1], top - page.box[1] + h))
        free = _free_band(sorted(bands), shortest / 2, height, shortest)
        y = shortest / 2 if free is None else free
    strip = width / count
    stamps = []
    for index, page in enumerate(pages):
        px, py, pw, ph = page.box
        if explicit and not 0 <= y <= ph:
            raise PositionOffPage(
                f"the cross-page seal's centre, {y:g} mm from the top, is not on page "
                f"{page.number}, which is {ph:g} mm high"
            )
        stamps.append(
            Stamp(
                page,
                (px + pw - strip * (index + 1), py + y - height / 2, width, height),
                (index * strip, 0.0, strip, height),
            )
        )
    return tuple(stamps)


def resolve_stamps(
    doc: OfdDocument,
    placement: Placement,
    width: float,
    height: float,
    existing: Sequence[tuple[str, Box, Box | None]] = (),
) -> tuple[Stamp, ...]:
    """The ``StampAnnot`` boxes for a seal of ``width`` x ``height`` mm.

    ``existing`` holds the stamps already in the document as ``(page ID, Boundary, Clip)``:
    a cross-page seal with neither ``y`` nor ``position`` keeps clear of their bands on the
    right edges.

    :raises InvalidPlacement: a malformed placement or seal size.
    :raises PageOutOfRange, KeywordNotFound, PositionOffPage, CrossPageNeedsTwoPages: the
        placement does not fit this document.
    """
    if not _finite(width, height) or width <= 0 or height <= 0:
        raise InvalidPlacement("the seal's width and height must be positive millimetres")
    if isinstance(placement, AtPoint):
        if not _finite(placement.x, placement.y):
            raise InvalidPlacement("x and y must be finite numbers of millimetres")
        page = doc.page(placement.page)
        return (_centred(page, placement.x, placement.y, width, height, "the point"),)
    if isinstance(placement, AtKeyword):
        return (_keyword(doc, placement, width, height),)
    if isinstance(placement, CrossPage):
        return _cross_page(doc, placement, width, height, existing)
    if isinstance(placement, DefaultPlacement):
        if not _finite(placement.margin) or placement.margin < 0:
            raise InvalidPlacement("the margin must be a non-negative number of millimetres")
        page = doc.pages[-1]
        px, py, pw, ph = page.box
        x = max(px + pw / 2, px + pw - placement.margin - width / 2)
        y = max(py + ph / 2, py + ph - placement.margin - height / 2)
        return (_centred(page, x, y, width, height, "the default placement"),)
    raise TypeError(f"not an OFD placement: {placement!r}")
