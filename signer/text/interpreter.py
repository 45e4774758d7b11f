"""The content-stream interpreter: runs a page's content (and its form XObjects) through the
graphics and text state and records every glyph drawn, with its box in visible points, and
which way the glyphs stand in user space."""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import Any

from pyhanko.pdf_utils import generic

from ..geometry import Matrix, Rect, overlap
from ..pdf_objects import deref, number, stream_data
from .fonts import Font
from .tokens import operations

__all__ = ["GState", "Glyph", "Interpreter", "inherited_resources", "page_content"]

logger = logging.getLogger(__name__)

_IDENTITY: Matrix = (1.0, 0.0, 0.0, 1.0, 0.0, 0.0)
_MAX_FORM_DEPTH = 12


@dataclass(frozen=True)
class Glyph:
    """One drawn glyph: its Unicode text (may be empty or several characters) and its box."""

    text: str
    box: Rect
    size: float  #: the font size as seen on the page, in points


# =========================================================================== matrices


def _mul(m: Matrix, n: Matrix) -> Matrix:
    """``m`` then ``n`` (PDF row-vector convention)."""
    a, b, c, d, e, f = m
    p, q, r, s, t, u = n
    return (
        a * p + b * r,
        a * q + b * s,
        c * p + d * r,
        c * q + d * s,
        e * p + f * r + t,
        e * q + f * s + u,
    )


def _matrix(values: list[Any]) -> Matrix:
    a, b, c, d, e, f = (float(v) for v in values)
    return (a, b, c, d, e, f)


# =========================================================================== interpreter


@dataclass
class GState:
    """The parts of the graphics and text state that place glyphs (``q`` saves a copy)."""

    ctm: Matrix = _IDENTITY
    font: Font | None = None
    size: float = 0.0
    char_spacing: float = 0.0
    word_spacing: float = 0.0
    scale: float = 1.0
    leading: float = 0.0
    rise: float = 0.0

    def copy(self) -> GState:
        return GState(**self.__dict__)


class Interpreter:
    """Runs content streams (:meth:`run`), collecting the :class:`Glyph` s they draw in
    visible points and counting which way they stand in user space (:attr:`directions`).

    ``to_visible`` is the page's matrix from user space to visible points
    (:attr:`signer.pages.PageGeometry.visible_matrix`); ``fonts`` caches the fonts read, and
    may be shared across the pages of a document; after ``glyph_limit`` glyphs with text the
    interpreter stops.
    """

    def __init__(
        self,
        to_visible: Matrix,
        fonts: dict[Any, Font | None],
        *,
        glyph_limit: int | None = None,
    ) -> None:
        self.to_visible = to_visible
        self.fonts = fonts
        self.glyphs: list[Glyph] = []
        #: glyphs counted by the direction of their "up" in user space (0, 90, 180, 270:
        #: how far the text is turned counter-clockwise from upright in user space)
        self.directions: dict[int, int] = {}
        self._counted = 0
        self._limit = glyph_limit

    # ------------------------------------------------------------- resources

    def _font(self, resources: Any, name: str) -> Font | None:
        fonts = deref(resources.get("/Font")) if isinstance(resources, dict) else None
        if not isinstance(fonts, generic.DictionaryObject) or "/" + name not in fonts:
            return None
        raw = fonts.raw_get("/" + name)
        key: Any = raw.reference if isinstance(raw, generic.IndirectObject) else id(raw)
        if key not in self.fonts:
            font = deref(raw)
            try:
                readable = isinstance(font, generic.DictionaryObject)
                self.fonts[key] = Font(font) if readable else None
            except Exception as exc:  # an unreadable font: its text is skipped
                logger.debug("unreadable font %s: %s", name, exc)
                self.fonts[key] = None
        return self.fonts[key]

    # ------------------------------------------------------------- run

    def run(self, data: bytes, resources: Any, state: GState, depth: int, seen: frozenset) -> None:
        stack: list[GState] = []
        tm: Matrix = _IDENTITY
        tlm: Matrix = _IDENTITY
        for op, args in operations(data):
            if self._limit is not None and self._counted >= self._limit:
                return
            try:
                if op == "q":
                    stack.append(state.copy())
                elif op == "Q":
                    if stack:
                        state = stack.pop()
                elif op == "cm" and len(args) == 6:
                    state.ctm = _mul(_matrix(args), state.ctm)
                elif op == "BT":
                    tm = tlm = _IDENTITY
                elif op == "Tf" and len(args) == 2:
                    state.font = self._font(resources, str(args[0]))
                    state.size = float(args[1])
                elif op == "Tc" and args:
                    state.char_spacing = float(args[0])
                elif op == "Tw" and args:
                    state.word_spacing = float(args[0])
                elif op == "Tz" and args:
                    state.scale = float(args[0]) / 100
                elif op == "TL" and args:
                    state.leading = float(args[0])
                elif op == "Ts" and args:
                    state.rise = float(args[0])
                elif op in ("Td", "TD") and len(args) == 2:
                    tx, ty = float(args[0]), float(args[1])
                    if op == "TD":
                        state.leading = -ty
                    tlm = _mul((1.0, 0.0, 0.0, 1.0, tx, ty), tlm)
                    tm = tlm
                elif op == "Tm" and len(args) == 6:
                    tlm = tm = _matrix(args)
                elif op == "T*":
                    tlm = _mul((1.0, 0.0, 0.0, 1.0, 0.0, -state.leading), tlm)
                    tm = tlm
                elif op in ("Tj", "'", '"'):
                    if op == '"' and len(args) == 3:
                        state.word_spacing, state.char_spacing = float(args[0]), float(args[1])
                    if op in ("'", '"'):
                        tlm = _mul((1.0, 0.0, 0.0, 1.0, 0.0, -state.leading), tlm)
                        tm = tlm
                    if args and isinstance(args[-1], bytes):
                        tm = self._show(state, tm, args[-1])
                elif op == "TJ" and args and isinstance(args[0], list):
                    for item in args[0]:
                        if isinstance(item, bytes):
                            tm = self._show(state, tm, item)
                        elif isinstance(item, float):
                            tm = self._adjust(state, tm, item)
                elif op == "Do" and args and depth < _MAX_FORM_DEPTH:
                    self._form(resources, str(args[0]), state, depth, seen)
            except Exception as exc:  # malformed content: skip the operator, keep reading
                logger.debug("skipping malformed operator %s: %s", op, exc)

    def _form(self, resources: Any, name: str, state: GState, depth: int, seen: frozenset) -> None:
        xobjects = deref(resources.get("/XObject")) if isinstance(resources, dict) else None
        if not isinstance(xobjects, generic.DictionaryObject) or "/" + name not in xobjects:
            return
        raw = xobjects.raw_get("/" + name)
        key = raw.reference if isinstance(raw, generic.IndirectObject) else id(raw)
        if key in seen:
            return
        form = deref(raw)
        if not isinstance(form, generic.StreamObject) or form.get("/Subtype") != "/Form":
            return
        data = stream_data(form)
        if not data:
            return
        inner = state.copy()
        matrix = deref(form.get("/Matrix"))
        if isinstance(matrix, generic.ArrayObject) and len(matrix) == 6:
            inner.ctm = _mul(_matrix([number(v, 0.0) for v in matrix]), inner.ctm)
        form_resources = deref(form.get("/Resources"))
        if not isinstance(form_resources, generic.DictionaryObject):
            form_resources = resources
        self.run(data, form_resources, inner, depth + 1, seen | {key})

    # ------------------------------------------------------------- text

    def _adjust(self, state: GState, tm: Matrix, amount: float) -> Matrix:
        shift = -amount / 1000 * state.size
        if state.font is not None and state.font.vertical:
            return _mul((1.0, 0.0, 0.0, 1.0, 0.0, shift), tm)
        return _mul((1.0, 0.0, 0.0, 1.0, shift * state.scale, 0.0), tm)

    def _show(self, state: GState, tm: Matrix, data: bytes) -> Matrix:
        font = state.font
        if font is None:
            return tm
        size, hscale, rise = state.size, state.scale, state.rise
        # text space -> visible page, once per string; glyphs only move along it
        to_user = _mul(tm, state.ctm)
        a, b, c, d, e, f = _mul(to_user, self.to_visible)
        up = _quarter_turns(to_user[2], to_user[3])
        seen_size = size * math.hypot(c, d)
        scaled = size * hscale
        dx = dy = 0.0
        for text, width, is_space in font.decode(data):
            # the glyph's box in text space: advance width by ascent/descent (or, in
            # vertical writing, a 1 em cell hanging below the origin)
            if font.vertical:
                x0, x1 = -width / 2 * scaled, width / 2 * scaled
                y0, y1 = rise - size, rise
            else:
                x0, x1 = 0.0, width * scaled
                y0, y1 = font.descent * size + rise, font.ascent * size + rise
            mx, my = dx + (x0 + x1) / 2, dy + (y0 + y1) / 2
            wx, wy = (x1 - x0) / 2, (y1 - y0) / 2
            cx, cy = a * mx + c * my + e, b * mx + d * my + f
            hx, hy = abs(a) * wx + abs(c) * wy, abs(b) * wx + abs(d) * wy
            self._add(Glyph(text, (cx - hx, cy - hy, cx + hx, cy + hy), seen_size))
            if up is not None and text.strip():
                self.directions[up] = self.directions.get(up, 0) + 1
                self._counted += 1
            spacing = state.char_spacing + (state.word_spacing if is_space else 0.0)
            if font.vertical:
                dy += font.vertical_advance * size + spacing
            else:
                dx += (width * size + spacing) * hscale
        return _mul((1.0, 0.0, 0.0, 1.0, dx, dy), tm) if dx or dy else tm

    def _add(self, glyph: Glyph) -> None:
        # a producer faking bold draws the same glyph again a hair's breadth away
        for previous in self.glyphs[-2:]:
            if previous.text == glyph.text and overlap(previous.box, glyph.box) > 0.7:
                return
        self.glyphs.append(glyph)


def _quarter_turns(ux: float, uy: float) -> int | None:
    """The text's "up" vector ``(ux, uy)`` in user space as the counter-clockwise turn from
    upright (0, 90, 180 or 270), or ``None`` when it is degenerate or not near a quarter."""
    if not (math.isfinite(ux) and math.isfinite(uy)) or (ux == 0 and uy == 0):
        return None
    angle = math.degrees(math.atan2(uy, ux)) - 90.0  # upright text has up = (0, 1)
    turns = round(angle / 90.0)
    if abs(angle - turns * 90.0) > 20.0:  # slanted text says nothing about the page's up
        return None
    return int(turns * 90) % 360


def page_content(page: generic.DictionaryObject) -> bytes:
    """A page's content streams, decoded and joined (streams that do not decode left out)."""
    contents = deref(page.get("/Contents"))
    parts: list[Any] = list(contents) if isinstance(contents, generic.ArrayObject) else [contents]
    chunks = []
    for part in parts:
        data = stream_data(part)
        if data:
            chunks.append(data)
    return b"\n".join(chunks)


def inherited_resources(page: generic.DictionaryObject) -> Any:
    """A page's ``/Resources``, inherited from the page tree if need be; empty if none."""
    node: Any = page
    for _ in range(64):
        if not isinstance(node, generic.DictionaryObject):
            break
        if "/Resources" in node:
            return deref(node["/Resources"])
        node = deref(node.get("/Parent"))
    return generic.DictionaryObject()
