"""One widget of a seal: where its ``/Rect`` goes on a page, which part of the seal it shows and
the matrix that draws it there (:class:`WidgetBox`); and the refusal of a seal that would lie
too far off the page (:class:`SealOffPage`).

Boxes are laid out in the page's text frame (see :mod:`signer.pages`) and turned into user
space here.
"""

from __future__ import annotations

from dataclasses import dataclass

from .errors import PositionOffPage
from .geometry import Matrix, Rect, intersection_area, rect_area
from .pages import PageGeometry

__all__ = [
    "OFF_PAGE_LIMIT",
    "SealOffPage",
    "WidgetBox",
    "centred",
    "centred_in_text",
    "widget",
]

#: A seal with more than this share of its area outside the visible page is refused.
OFF_PAGE_LIMIT = 0.10


class SealOffPage(PositionOffPage):
    """The seal's box would lie too far (over :data:`OFF_PAGE_LIMIT`) outside the page."""

    code = "seal_off_page"
    title = "Seal outside the page"


@dataclass(frozen=True)
class WidgetBox:
    """Where one widget annotation of a seal goes, and what it shows.

    ``rect`` is the annotation's ``/Rect`` in the page's user space.  ``crop`` is the part of
    the upright seal this widget shows, in points with the origin at the seal's bottom-left
    corner (the whole seal ``(0, 0, W, H)``, or one strip of a cross-page seal).
    ``visible_rect`` is where it lands for the reader, in visible points.  ``rotation`` is
    how far the seal is turned counter-clockwise in user space: the text's turn
    (:attr:`signer.pages.PageGeometry.seal_rotation`), so that it stands upright with the text.
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


def _outside(geometry: PageGeometry, visible: Rect) -> float:
    """The share of ``visible``'s area that lies outside the visible page."""
    page = (0.0, 0.0, geometry.visible_width, geometry.visible_height)
    area = rect_area(visible)
    return 1.0 - intersection_area(visible, page) / area if area > 0 else 1.0


def widget(
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


def centred(
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
    return centred_in_text(index, geometry, tx, ty, w, h, what)


def centred_in_text(
    index: int,
    geometry: PageGeometry,
    tx: float,
    ty: float,
    w: float,
    h: float,
    what: str | None,
) -> WidgetBox:
    """The whole seal centred on the point ``(tx, ty)`` of the text frame."""
    text_rect = (tx - w / 2, ty - h / 2, tx + w / 2, ty + h / 2)
    return widget(index, geometry, text_rect, (0.0, 0.0, w, h), what)
