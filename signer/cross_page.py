"""Cross-page seals (骑缝章): one vertical strip of the seal per page, flush with the right edge
of the paper as its text reads, in a band at the same height on every page — given, or the free
band nearest the middle (see :class:`signer.placement_kinds.CrossPage`)."""

from __future__ import annotations

from collections.abc import Sequence

from .errors import CrossPageNeedsTwoPages, InvalidPlacement
from .geometry import Rect, finite
from .pages import PageGeometry
from .placement_kinds import BAND_GAP, BAND_MARGIN, CrossPage
from .widgets import SealOffPage, WidgetBox, widget

__all__ = ["cross_page"]


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


def cross_page(
    placement: CrossPage,
    pages: Sequence[PageGeometry],
    width: float,
    height: float,
    existing: Sequence[Sequence[Rect]],
) -> tuple[WidgetBox, ...]:
    """One box per page for a cross-page seal of ``width`` x ``height`` points: page ``i``
    shows strip ``i``.  ``existing`` holds, per page, the seal widgets already there, whose
    bands the strips keep clear of when neither ``y`` nor ``position`` is given."""
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
            widget(
                index,
                geometry,
                (tw - strip, y - height / 2, tw, y + height / 2),
                (index * strip, 0.0, (index + 1) * strip, height),
                what,
            )
        )
    return tuple(boxes)
