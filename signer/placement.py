"""Where a visible seal goes on the page, as pure geometry: the public face of the placement
modules, which re-exports their public names.

Points are given in *visible coordinates* (:mod:`signer.pages`): PDF points from the
bottom-left corner of the page as a reader sees it, after ``/CropBox`` and ``/Rotate``.  A seal
placed at ``(x, y)`` has its **centre** at that point: a person who says "seal it here" points
at where the middle of the seal should be, and a keyword hit is turned into a placement the
same way (the seal is centred on the text).

:func:`resolve` turns a :data:`Placement` into one :class:`WidgetBox` per page the seal touches
(one, or N for a cross-page seal).  Each box knows its ``/Rect`` in user space and the matrix
that draws the seal (or the slice of it this widget shows) into the widget's appearance.

A seal stands **upright relative to the text of its page**, the way a clerk stamps paper: it
is drawn upright in the page's *text frame* (:attr:`PageGeometry.text_frame`, defined in
:mod:`signer.pages`).  Points and keyword hits are given in visible coordinates; the seal's
box around that centre, offsets from a keyword, the default corner and the edge the cross-page
strips go on (the right edge of the paper when its text is read upright) are taken in the text
frame.

Seals that would lie more than :data:`OFF_PAGE_LIMIT` outside the visible page are refused
(:class:`SealOffPage`); a seal that overlaps a seal widget already on the page is placed as
asked and reported as a :class:`Notice` (``overlaps_seal``), which callers collect with
:func:`collect_notices`.

The modules, each named for what it owns:

* :mod:`signer.geometry` — points, rectangles, matrices (``MM``, ``Rect``, ``Matrix``);
* :mod:`signer.pages` — the page tree, :class:`PageGeometry`, which way a page's text stands,
  the seal widgets already on a page;
* :mod:`signer.placement_kinds` — what a caller asks for (:class:`AtPoint`,
  :class:`AtKeyword`, :class:`CrossPage`, :class:`DefaultPlacement`);
* :mod:`signer.widgets` — one widget of a seal (:class:`WidgetBox`) and the off-page refusal;
* :mod:`signer.cross_page` — the strips and bands of a cross-page seal;
* :mod:`signer.resolution` — :func:`resolve` and :func:`resolve_in`;
* :mod:`signer.notices` — :class:`Notice` and :func:`collect_notices`;
* :mod:`signer.keyword` and :mod:`signer.text` — finding a keyword in the page text.
"""

from __future__ import annotations

from .geometry import MM, Matrix, Rect
from .notices import Notice, collect_notices, notify
from .pages import PageGeometry, iter_pages, open_pdf, page_geometries, seal_widget_rects
from .placement_kinds import (
    BAND_GAP,
    BAND_MARGIN,
    Align,
    AtKeyword,
    AtPoint,
    BandPosition,
    CrossPage,
    DefaultPlacement,
    Placement,
)
from .resolution import resolve, resolve_in
from .widgets import OFF_PAGE_LIMIT, SealOffPage, WidgetBox

__all__ = [
    "BAND_GAP",
    "BAND_MARGIN",
    "MM",
    "OFF_PAGE_LIMIT",
    "Align",
    "AtKeyword",
    "AtPoint",
    "BandPosition",
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
    "notify",
    "open_pdf",
    "page_geometries",
    "resolve",
    "resolve_in",
    "seal_widget_rects",
]
