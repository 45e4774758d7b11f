"""A PDF's pages as a reader sees them: the page tree, each page's boxes and rotation, which way
its text stands, and the seal widgets already on it.

Two coordinate systems matter:

*visible coordinates*
    What the caller speaks: PDF points (1/72 inch) measured from the bottom-left corner of the
    page *as a reader sees it* — after the page's ``/CropBox`` has cut it and its ``/Rotate``
    has turned it.  ``x`` grows to the reader's right, ``y`` grows upwards.

*user space*
    What the PDF speaks: the page's default coordinate system, before rotation, where the
    ``/MediaBox`` may start anywhere (``[100 100 712 892]`` is legal) and a unit may be larger
    than a point (``/UserUnit``).  Widget annotation rectangles (``/Rect``) live here.

A seal stands upright relative to the text of its page, so a third frame matters to it:

*the text frame*
    The page turned so that its text reads upright.  Most rotated pages draw their content
    upright in user space and let ``/Rotate`` turn the whole page for display: the text frame
    is then user space itself, and the seal is drawn upright there (it turns with the text on
    screen).  A producer may instead draw the text turned in user space and set ``/Rotate``
    to compensate, so the text reads upright on screen: the text frame is then the visible
    page, and the seal is counter-rotated with the text.  Which way the text stands is the
    majority direction of the page's glyphs (:func:`text_rotation`, recorded as
    :attr:`PageGeometry.text_rotate`); a page without text is taken as upright in user space.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any

from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.pdf_utils.rw_common import PdfHandler

from .geometry import Matrix, Rect, finite, normalise_rect
from .pdf_objects import deref
from .text.fonts import Font
from .text.interpreter import (
    GState,
    Interpreter,
    _mul,
    _quarter_turns,
    inherited_resources,
    page_content,
)

__all__ = [
    "PageGeometry",
    "iter_pages",
    "open_pdf",
    "page_geometries",
    "seal_widget_rects",
    "text_rotation",
]

#: US Letter: what viewers assume when a page has no usable ``/MediaBox``.
_DEFAULT_MEDIA_BOX: Rect = (0.0, 0.0, 612.0, 792.0)


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
    is turned clockwise for display.  ``text_rotate`` is how far the page's text is turned
    counter-clockwise in user space (see the module documentation); ``None`` when unknown or
    when the page has no text, which counts as upright in user space.
    """

    media_box: Rect
    crop_box: Rect | None = None
    rotate: int = 0
    user_unit: float = 1.0
    text_rotate: int | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "media_box", normalise_rect(*self.media_box))
        if self.crop_box is not None:
            object.__setattr__(self, "crop_box", normalise_rect(*self.crop_box))
        object.__setattr__(self, "rotate", _normalise_rotation(self.rotate))
        if self.text_rotate is not None:
            object.__setattr__(self, "text_rotate", _normalise_rotation(self.text_rotate))
        if not (self.user_unit > 0 and math.isfinite(self.user_unit)):
            object.__setattr__(self, "user_unit", 1.0)

    @classmethod
    def from_page(
        cls, page: generic.DictionaryObject, *, text: bool = False, fonts: Any = None
    ) -> PageGeometry:
        """Read the (possibly inherited) boxes and rotation of a page dictionary; with
        ``text``, also which way its text stands (``fonts``: a cache shared across pages)."""
        media = _box_entry(page, "/MediaBox") or _DEFAULT_MEDIA_BOX
        crop = _box_entry(page, "/CropBox")
        rotate = _inherited(page, "/Rotate")
        user_unit = deref(page.get("/UserUnit", 1.0))
        try:
            unit = float(user_unit)
        except (TypeError, ValueError):
            unit = 1.0
        text_rotate = None
        if text:
            # every string upright: the answer is 0 or None (no text), the same seal either way
            upright = _all_text_upright(page)
            text_rotate = 0 if upright else text_rotation(page, fonts)
        return cls(
            media_box=media,
            crop_box=crop,
            rotate=_normalise_rotation(rotate),
            user_unit=unit,
            text_rotate=text_rotate,
        )

    @property
    def seal_rotation(self) -> int:
        """How far a seal is turned counter-clockwise in user space to stand upright with
        the text (0 for a page without text)."""
        return self.text_rotate or 0

    @property
    def text_frame(self) -> PageGeometry:
        """The page turned so that its text reads upright: its "visible" coordinates are
        the text frame's (the same page when the text reads upright on screen)."""
        return replace(self, rotate=self.seal_rotation, text_rotate=None)

    def visible_to_text(self, rect: Rect) -> Rect:
        """Visible rectangle → the same rectangle in the text frame."""
        return self.text_frame.rect_to_visible(self.rect_to_user(rect))

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
        return normalise_rect(ax, ay, bx, by)

    def rect_to_visible(self, rect: Rect) -> Rect:
        """User-space rectangle → visible rectangle (normalised)."""
        ax, ay = self.to_visible(rect[0], rect[1])
        bx, by = self.to_visible(rect[2], rect[3])
        return normalise_rect(ax, ay, bx, by)

    def contains_visible(self, x: float, y: float) -> bool:
        return 0 <= x <= self.visible_width and 0 <= y <= self.visible_height


def _inherited(page: generic.DictionaryObject, key: str) -> Any:
    """An inheritable page attribute (ISO 32000-1, 7.7.3.4), or ``None``."""
    node: Any = page
    seen: set[int] = set()
    while isinstance(node, generic.DictionaryObject) and id(node) not in seen:
        seen.add(id(node))
        if key in node:
            return node[key]
        node = deref(node.get("/Parent"))
    return None


def _box_entry(page: generic.DictionaryObject, key: str) -> Rect | None:
    value = deref(_inherited(page, key))
    if not isinstance(value, generic.ArrayObject):
        return None
    try:
        numbers = [float(value[i]) for i in range(len(value))]
    except (TypeError, ValueError):
        return None
    if len(numbers) != 4 or not all(math.isfinite(v) for v in numbers):
        return None
    rect = normalise_rect(*numbers)
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
        node = deref(node)
        if not isinstance(node, generic.DictionaryObject) or key in seen:
            continue
        seen.add(key)
        kids = deref(node.get("/Kids"))
        kind = deref(node.get("/Type"))
        if kind == "/Pages" or (kids is not None and kind != "/Page"):
            if isinstance(kids, generic.ArrayObject):
                stack.append(iter(list(kids)))
            continue
        yield node


def page_geometries(pdf: bytes | PdfHandler) -> list[PageGeometry]:
    """The :class:`PageGeometry` of every page, in order."""
    return [PageGeometry.from_page(page) for page in iter_pages(open_pdf(pdf))]


# --------------------------------------------------------------------------- text direction


def text_rotation(
    page: generic.DictionaryObject,
    fonts: dict[Any, Any] | None = None,
    *,
    glyph_limit: int = 500,
) -> int | None:
    """Which way the text of a page stands in user space: the counter-clockwise turn (0,
    90, 180, 270) of most of its glyphs' "up", counted over the first ``glyph_limit``
    glyphs; ``None`` for a page without readable text (a scan, a blank page).

    A page drawn upright and turned by ``/Rotate`` for display answers 0; a landscape page
    whose producer drew the text turned by 90° and set ``/Rotate 90`` to compensate (so it
    reads upright on screen) answers 90.
    """
    interpreter = Interpreter(
        PageGeometry.from_page(page).visible_matrix,
        {} if fonts is None else fonts,
        glyph_limit=glyph_limit,
    )
    interpreter.run(page_content(page), inherited_resources(page), GState(), 0, frozenset())
    if not interpreter.directions:
        return None
    # the most glyphs win; a tie goes to upright, then to the smaller turn
    return max(sorted(interpreter.directions), key=lambda r: (interpreter.directions[r], r == 0))


class _UprightCheck(Interpreter):
    """Runs a page's content as :func:`text_rotation` does, without reading a single font,
    and notes whether every string shown stands upright (or slanted) in user space.

    Which way a glyph stands depends on the text and graphics matrices alone; a glyph's
    advance only moves the next one.  So if every string the page shows is upright, so is
    every glyph :func:`text_rotation` would count, whatever the fonts say of their text and
    widths: its answer is 0, or None for a page without visible text.  Fonts are what cost
    (a CJK font's width array and ToUnicode map take milliseconds to parse), so the common
    page is answered from its content stream alone; any other answer is left to
    :func:`text_rotation`.  More than ``show_limit`` strings: no answer.
    """

    def __init__(self, to_visible: Matrix, show_limit: int) -> None:
        super().__init__(to_visible, {})
        self.upright: bool | None = True
        self._shows_left = show_limit

    def _font(self, resources: Any, name: str) -> Font | None:
        return None  # strings are judged by their matrices alone (see _show)

    def _show(self, state: GState, tm: Matrix, data: bytes) -> Matrix:
        self._shows_left -= 1
        to_user = _mul(tm, state.ctm)
        up = _quarter_turns(to_user[2], to_user[3])
        if self._shows_left < 0:
            self.upright = None
        elif up not in (0, None):
            self.upright = False
        if self.upright is not True:
            self._limit = 0  # stop reading
        return tm  # the advance is a translation: it turns nothing


#: bytes that end a token (PDF white space and delimiters)
_ENDS_TOKEN = frozenset(b"\x00\t\n\x0c\r ()<>[]{}/%")
#: the operators that can turn text (cm, Tm), draw a form (Do) or hide bytes (inline images)
_TURNING = (b"cm", b"Tm", b"Do", b"BI")
_WHITESPACE = frozenset(b"\x00\t\n\x0c\r ")
_NUMBER_BYTES = frozenset(b"0123456789.+-")
_NUMBER = re.compile(rb"[+-]?(?:\d+\.?\d*|\.\d+)")


def _plainly_upright(content: bytes) -> bool:
    """Whether every ``cm`` and ``Tm`` operator of a content stream sets a matrix that keeps
    text upright (no rotation, no mirroring) and nothing else can turn text (no form, no
    inline image): then every string the stream shows stands upright.  A scan of the bytes,
    no tokenizing; anything it cannot read as such (an operator word inside a string, operands
    split by a comment) makes it answer False, and the interpreter decides."""
    size = len(content)
    for word in _TURNING:
        at = content.find(word)
        while at >= 0:
            end = at + 2
            # the word alone, not part of a longer token or of a name (/cm)
            if (at == 0 or content[at - 1] in _ENDS_TOKEN) and (
                end == size or content[end] in _ENDS_TOKEN
            ):
                if at > 0 and content[at - 1] == 0x2F:  # "/cm" is a name
                    pass
                elif word in (b"Do", b"BI") or not _upright_matrix(content, at):
                    return False
            at = content.find(word, end)
    return True


def _upright_matrix(content: bytes, at: int) -> bool:
    """Whether the six operands just before the operator at ``at`` are numbers making a
    matrix that keeps text upright: a positive scale on each axis, no shear, no rotation.
    Read backwards, token by token; anything else (fewer numbers, a name, a comment) is no."""
    numbers: list[float] = []
    pos = at
    for _ in range(6):
        end = pos
        while end > 0 and content[end - 1] in _WHITESPACE:
            end -= 1
        if end == pos:
            return False  # operands are separated by white space
        start = end
        while start > 0 and content[start - 1] in _NUMBER_BYTES:
            start -= 1
        if start == end or _NUMBER.fullmatch(content, start, end) is None:
            return False
        numbers.append(float(content[start:end]))
        pos = start
    if pos > 0 and content[pos - 1] not in _ENDS_TOKEN:
        return False  # the first operand is the tail of a longer token
    _f, _e, d, c, b, a = numbers
    return b == 0 and c == 0 and a > 0 and d > 0


def _all_text_upright(page: generic.DictionaryObject, show_limit: int = 5_000) -> bool:
    """Whether every string the page shows stands upright (or slanted) in user space, so
    that :func:`text_rotation` answers 0 or None; False when unsure."""
    content = page_content(page)
    if _plainly_upright(content):
        return True
    check = _UprightCheck(PageGeometry.from_page(page).visible_matrix, show_limit)
    check.run(content, inherited_resources(page), GState(), 0, frozenset())
    return check.upright is True


# --------------------------------------------------------------------------- seals already there


def seal_widget_rects(page: generic.DictionaryObject) -> list[Rect]:
    """The ``/Rect`` (user space) of every signature widget on a page: the seals there."""
    out: list[Rect] = []
    annots = deref(page.get("/Annots"))
    if not isinstance(annots, generic.ArrayObject):
        return out
    for item in annots:
        try:
            annot = deref(item)
            if not isinstance(annot, generic.DictionaryObject):
                continue
            if annot.get("/Subtype") != "/Widget" or not _is_signature(annot):
                continue
            rect = deref(annot.get("/Rect"))
            numbers = [float(deref(v)) for v in rect]
            if len(numbers) == 4 and finite(*numbers):
                out.append(normalise_rect(*numbers))
        except (TypeError, ValueError, AttributeError, KeyError):
            continue
    return out


def _is_signature(annot: generic.DictionaryObject) -> bool:
    node: Any = annot
    for _ in range(16):
        if not isinstance(node, generic.DictionaryObject):
            return False
        if "/FT" in node:
            return bool(deref(node["/FT"]) == "/Sig")
        node = deref(node.get("/Parent"))
    return False
