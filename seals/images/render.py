"""Drawing the default seal images (同章同模: the image matches the physical seal).

Geometry is computed first, in millimetres from the seal's centre (x to the right, y down),
by :func:`seal_layout`; :func:`render_seal` then draws that layout at real size.  Keeping the
two apart lets the tests check the geometry (no two glyphs overlap, everything stays inside
the border) without looking at pixels.

Shapes (DESIGN.md section 1, and 国家税务总局公告2011年第7号 for the invoice seal):

* official, contract: circle Ø40 mm, border 1 mm, five-pointed star Ø14 mm in the centre, the
  enterprise name arched clockwise along the top (contract: 合同专用章 at the bottom);
* finance: the same at Ø38 mm with 财务专用章;
* invoice: oval 40×30 mm, border 1 mm, the name arched along the top of the ellipse, the USCC
  across the centre, 发票专用章 below;
* legal_rep: square 20 mm, border 1 mm, the person's name in columns read right to left;
  a two-character name becomes 「X X 之印」, a three-character one 「X X X 印」, so both fill 2×2.

The arched name is set with equal spacing, every glyph turned so that its foot points at the
centre.  A long name first gets narrower glyphs, then smaller ones; when even the smallest
legible glyphs do not fit in the allowed arc, :class:`~seals.errors.NameTooLong` is raised.
"""

from __future__ import annotations

import bisect
import functools
import io
import itertools
import math
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageChops, ImageDraw

from seals.errors import InvalidImage, InvalidLicense, NameTooLong
from seals.kinds import SealKind, SealShape

from .fonts import cjk_face_index, find_cjk_font, font_charset, load_font

__all__ = [
    "SEAL_RED",
    "Glyph",
    "SealLayout",
    "arc_layout",
    "render_seal",
    "seal_layout",
]

#: The colour of seal ink (印泥红) used for every image we produce.
SEAL_RED: tuple[int, int, int] = (230, 0, 18)

MM_PER_INCH = 25.4
#: FreeType faces are shared (cached) and not safe to use from two threads at once
_FONT_LOCK = threading.Lock()
BORDER_MM = 1.0
STAR_DIAMETER_MM = 14.0
#: The smallest glyph height (mm) still legible on a printed seal.
MIN_CHAR_HEIGHT_MM = 2.5
#: Glyphs are never squeezed narrower than this fraction of their height.
MIN_ASPECT = 0.45


@dataclass(frozen=True)
class Glyph:
    """One character (or, with ``line=True``, a line of Latin text) placed on the seal.

    ``x``, ``y`` is the centre in mm from the seal's centre, y pointing down; ``width`` and
    ``height`` are the glyph's em box (the ink sits inside it); ``angle`` is the clockwise
    rotation in degrees (0 = upright).
    """

    text: str
    x: float
    y: float
    width: float
    height: float
    angle: float = 0.0
    line: bool = False

    def corners(self, *, pad_x: float = 0.0, pad_y: float = 0.0) -> list[tuple[float, float]]:
        """The four corners of the box (grown by ``pad_x``/``pad_y`` on each side)."""
        rad = math.radians(self.angle)
        ux, uy = math.cos(rad), math.sin(rad)  # the glyph's "right"
        vx, vy = -math.sin(rad), math.cos(rad)  # the glyph's "down"
        hw, hh = self.width / 2 + pad_x, self.height / 2 + pad_y
        return [
            (self.x + sx * hw * ux + sy * hh * vx, self.y + sx * hw * uy + sy * hh * vy)
            for sx, sy in ((-1, -1), (1, -1), (1, 1), (-1, 1))
        ]


@dataclass(frozen=True)
class SealLayout:
    kind: SealKind
    width_mm: float
    height_mm: float
    border_mm: float
    #: circumradius of the centred five-pointed star, if there is one
    star_radius_mm: float | None
    #: the arched name (circle, oval) or the name grid (square)
    name: tuple[Glyph, ...]
    #: text across the centre (the USCC of the invoice seal)
    center: tuple[Glyph, ...]
    #: text set horizontally at the bottom (合同专用章 ...)
    bottom: tuple[Glyph, ...]

    @property
    def glyphs(self) -> tuple[Glyph, ...]:
        return self.name + self.center + self.bottom


# --------------------------------------------------------------------------- geometry


def polygons_overlap(a: Sequence[tuple[float, float]], b: Sequence[tuple[float, float]]) -> bool:
    """Whether two convex polygons overlap (separating axis theorem)."""
    for poly in (a, b):
        for i in range(len(poly)):
            x1, y1 = poly[i]
            x2, y2 = poly[(i + 1) % len(poly)]
            nx, ny = y1 - y2, x2 - x1
            pa = [nx * x + ny * y for x, y in a]
            pb = [nx * x + ny * y for x, y in b]
            if max(pa) <= min(pb) or max(pb) <= min(pa):
                return False
    return True


class _Track:
    """The curve the glyph centres run along: an ellipse with semi-axes ``a``, ``b`` (the
    glyphs' outer edge), moved inwards along its normal by ``depth`` (half a glyph height).

    Parameter ``t`` is the angle from the top, clockwise; ``point(t) = (a sin t, -b cos t)``.
    """

    STEPS = 1440  # samples over [0, pi]

    def __init__(self, a: float, b: float, depth: float) -> None:
        self.a, self.b, self.depth = a, b, depth
        self.ts = [math.pi * i / self.STEPS for i in range(self.STEPS + 1)]
        self.lengths = [0.0]
        px, py, _ = self.at(0.0)
        for t in self.ts[1:]:
            x, y, _ = self.at(t)
            self.lengths.append(self.lengths[-1] + math.hypot(x - px, y - py))
            px, py = x, y

    def at(self, t: float) -> tuple[float, float, float]:
        """Centre point and glyph angle (degrees clockwise) at parameter ``t``."""
        a, b = self.a, self.b
        ex, ey = a * math.sin(t), -b * math.cos(t)
        nx, ny = math.sin(t) / a, -math.cos(t) / b  # outward normal (gradient)
        norm = math.hypot(nx, ny)
        nx, ny = nx / norm, ny / norm
        return ex - nx * self.depth, ey - ny * self.depth, math.degrees(math.atan2(nx, -ny))

    def length_to(self, t: float) -> float:
        """Arc length from the top to parameter ``t`` (0 <= t <= pi)."""
        pos = t / math.pi * self.STEPS
        i = min(int(pos), self.STEPS - 1)
        frac = pos - i
        return self.lengths[i] + (self.lengths[i + 1] - self.lengths[i]) * frac

    def param_at(self, s: float) -> float:
        """Parameter at signed arc length ``s`` from the top."""
        sign = -1.0 if s < 0 else 1.0
        s = min(abs(s), self.lengths[-1])
        i = max(1, bisect.bisect_left(self.lengths, s))
        s0, s1 = self.lengths[i - 1], self.lengths[i]
        frac = 0.0 if s1 == s0 else (s - s0) / (s1 - s0)
        return sign * (self.ts[i - 1] + (self.ts[i] - self.ts[i - 1]) * frac)


@functools.lru_cache(maxsize=256)
def _track(a: float, b: float, depth: float) -> _Track:
    return _Track(a, b, depth)


@dataclass(frozen=True)
class ArcStyle:
    """How the name is arched on a circle or oval (all lengths in mm)."""

    #: semi-axes of the border's inner edge
    inner_a: float
    inner_b: float
    #: room between the border and the glyphs' outer edge
    clearance: float
    #: the largest glyph height, and the width/height ratio glyphs have at that size
    max_height: float
    aspect: float
    #: the name (glyph boxes included) stays within ``base_half_angle + per_char_half_angle *
    #: len(name)`` either side of the top, and never beyond ``max_half_angle``: short names
    #: take a shorter arc, long ones wrap further round
    base_half_angle: float
    per_char_half_angle: float
    max_half_angle: float
    #: short names are spread to at least ``per_char_angle`` per glyph, up to ``min_half_cap``
    per_char_angle: float
    min_half_cap: float


def _candidates(style: ArcStyle) -> Iterable[tuple[float, float]]:
    """(height, aspect) pairs to try, most preferred first: first narrower glyphs, then smaller
    ones, then the smallest legible glyphs narrower still."""
    mid = 0.62
    aspect = style.aspect
    while aspect > mid + 1e-9:
        yield style.max_height, aspect
        aspect -= 0.02
    height = style.max_height
    while height > MIN_CHAR_HEIGHT_MM + 1e-9:
        yield height, mid
        height -= 0.1
    aspect = mid
    while aspect >= MIN_ASPECT - 1e-9:
        yield MIN_CHAR_HEIGHT_MM, aspect
        aspect -= 0.02


def _gap(width: float) -> float:
    return max(0.2, 0.12 * width)


def _place(track: _Track, text: str, width: float, height: float, pitch: float) -> list[Glyph]:
    n = len(text)
    glyphs = []
    for i, ch in enumerate(text):
        x, y, angle = track.at(track.param_at((i - (n - 1) / 2) * pitch))
        glyphs.append(Glyph(ch, x, y, width, height, angle))
    return glyphs


def _adjacent_clear(glyphs: Sequence[Glyph], gap: float) -> bool:
    boxes = [g.corners(pad_x=gap / 2) for g in glyphs]
    return not any(polygons_overlap(p, q) for p, q in itertools.pairwise(boxes))


def _clear_of(glyphs: Sequence[Glyph], obstacles: Sequence[Glyph], gap: float) -> bool:
    obs = [o.corners(pad_x=gap, pad_y=gap) for o in obstacles]
    return not any(polygons_overlap(g.corners(), o) for g in glyphs for o in obs)


def arc_layout(text: str, style: ArcStyle, obstacles: Sequence[Glyph] = ()) -> tuple[Glyph, ...]:
    """Arch ``text`` clockwise along the top of the seal.

    Glyphs are evenly spaced (equal arc length along the track of their centres), turned so
    that their foot points at the centre, and kept clear of each other and of ``obstacles``.
    Raises :class:`NameTooLong` if the text does not fit even with the smallest glyphs.
    """
    n = len(text)
    if n == 0:
        return ()
    for height, aspect in _candidates(style):
        width = height * aspect
        gap = _gap(width)
        track = _track(style.inner_a - style.clearance, style.inner_b - style.clearance, height / 2)
        half_angle = min(
            style.max_half_angle, style.base_half_angle + style.per_char_half_angle * n
        )
        limit = track.length_to(math.radians(half_angle))
        # the lower bound: glyphs side by side along the track
        if (n - 1) / 2 * (width + gap) + width / 2 > limit:
            continue
        if n == 1:
            placed = _place(track, text, width, height, 0.0)
            if _clear_of(placed, obstacles, gap):
                return tuple(placed)
            continue
        # the smallest pitch at which neighbours are clear of each other (they crowd on the
        # inside of the curve, so it is larger than width + gap)
        widest = (limit - width / 2) / ((n - 1) / 2)
        lo, hi = width + gap, min(2.5 * (width + gap), widest)
        if not _adjacent_clear(_place(track, text, width, height, hi), gap):
            continue
        if _adjacent_clear(_place(track, text, width, height, lo), gap):
            hi = lo
        else:
            for _ in range(24):
                mid = (lo + hi) / 2
                if _adjacent_clear(_place(track, text, width, height, mid), gap):
                    hi = mid
                else:
                    lo = mid
        pitch = hi
        if (n - 1) / 2 * pitch + width / 2 > limit:
            continue
        # short names are spread out, as seal engravers do
        min_half = math.radians(min(style.min_half_cap, style.per_char_angle * n / 2))
        spread = (track.length_to(min_half) - width / 2) / ((n - 1) / 2)
        for candidate in (min(max(pitch, spread), widest), pitch):
            placed = _place(track, text, width, height, candidate)
            if _clear_of(placed, obstacles, gap):
                return tuple(placed)
    raise NameTooLong(
        f"the name {text!r} ({n} characters) does not fit on the seal even in the smallest "
        f"legible type ({MIN_CHAR_HEIGHT_MM} mm); register a shorter name (规范化简称)"
    )


def _row(
    text: str, *, y: float, height: float, width: float, gap: float, max_total: float
) -> tuple[Glyph, ...]:
    """A horizontal line of CJK glyphs centred at ``y``, narrowed to fit ``max_total``."""
    n = len(text)
    if n == 0:
        return ()
    total = n * width + (n - 1) * gap
    if total > max_total:
        scale = max_total / total
        width, gap = width * scale, gap * scale
    x0 = -((n - 1) / 2) * (width + gap)
    return tuple(Glyph(ch, x0 + i * (width + gap), y, width, height) for i, ch in enumerate(text))


def _circle_layout(kind: SealKind, name: str) -> SealLayout:
    info = kind.info
    diameter = info.width_mm
    radius = diameter / 2
    inner = radius - BORDER_MM
    bottom: tuple[Glyph, ...] = ()
    if info.bottom_text:
        height = 0.115 * diameter
        bottom = _row(
            info.bottom_text,
            y=0.275 * diameter,
            height=height,
            width=0.8 * height,
            gap=0.08 * height,
            max_total=0.5 * diameter,
        )
    style = ArcStyle(
        inner_a=inner,
        inner_b=inner,
        clearance=0.6,
        max_height=0.16 * diameter,
        aspect=0.78,
        base_half_angle=95.0,
        per_char_half_angle=2.2,
        max_half_angle=150.0,
        per_char_angle=26.0,
        min_half_cap=110.0,
    )
    arc = arc_layout(name, style, bottom)
    return SealLayout(kind, diameter, diameter, BORDER_MM, STAR_DIAMETER_MM / 2, arc, (), bottom)


def _oval_layout(kind: SealKind, name: str, uscc: str) -> SealLayout:
    info = kind.info
    a, b = info.width_mm / 2 - BORDER_MM, info.height_mm / 2 - BORDER_MM
    # 纳税人识别号: Arial-like, about 3.7 mm high, 18 characters across about 26 mm
    center = (Glyph(uscc, 0.0, 0.0, min(26.0, 1.45 * len(uscc)), 3.7, line=True),) if uscc else ()
    bottom: tuple[Glyph, ...] = ()
    if info.bottom_text:
        bottom = _row(info.bottom_text, y=7.6, height=4.6, width=3.0, gap=0.6, max_total=20.0)
    style = ArcStyle(
        inner_a=a,
        inner_b=b,
        clearance=0.6,
        max_height=4.2,
        aspect=0.88,
        base_half_angle=100.0,
        per_char_half_angle=1.0,
        max_half_angle=135.0,
        per_char_angle=18.0,
        min_half_cap=85.0,
    )
    arc = arc_layout(name, style, center + bottom)
    return SealLayout(kind, info.width_mm, info.height_mm, BORDER_MM, None, arc, center, bottom)


def legal_rep_text(person: str) -> str:
    """The characters engraved on a legal representative's seal: the name, with 之印 for
    a two-character name and 印 for a three-character one (so both fill a 2×2 grid)."""
    chars = "".join(person.split())
    if len(chars) <= 2:
        return chars + "之印"
    if len(chars) == 3:
        return chars + "印"
    return chars


def _square_layout(kind: SealKind, person: str) -> SealLayout:
    info = kind.info
    side = info.width_mm
    text = legal_rep_text(person)
    n = len(text)
    rows = math.ceil(math.sqrt(n))
    cols = math.ceil(n / rows)
    content = side - 2 * BORDER_MM - 2 * 0.7
    gap = 0.5
    cell_w = content / cols
    # columns read right to left, top to bottom; the right-hand columns take the extra chars
    base, extra = divmod(n, cols)
    counts = [base + 1 if c < extra else base for c in range(cols)]
    glyphs: list[Glyph] = []
    pos = 0
    for c, count in enumerate(counts):
        x = content / 2 - (c + 0.5) * cell_w
        cell_h = content / count
        for r in range(count):
            y = -content / 2 + (r + 0.5) * cell_h
            w, h = cell_w - gap, cell_h - gap
            w, h = min(w, 1.8 * h), min(h, 1.8 * w)
            if min(w, h) < 2.0:
                raise NameTooLong(
                    f"the name {person!r} ({len(person)} characters) does not fit on a "
                    f"{side:g} mm legal representative's seal"
                )
            glyphs.append(Glyph(text[pos], x, y, w, h))
            pos += 1
    return SealLayout(kind, side, side, BORDER_MM, None, tuple(glyphs), (), ())


def seal_layout(kind: SealKind, *, name: str, uscc: str, legal_representative: str) -> SealLayout:
    """The geometry of ``kind``'s seal for this enterprise (see the module docstring)."""
    name = " ".join(name.split())
    person = " ".join(legal_representative.split())
    shape = kind.info.shape
    if shape is SealShape.SQUARE:
        if not person:
            raise InvalidLicense("the legal representative's name is empty")
        return _square_layout(kind, person)
    if not name:
        raise InvalidLicense("the enterprise name is empty")
    if shape is SealShape.OVAL:
        return _oval_layout(kind, name, uscc.strip())
    return _circle_layout(kind, name)


# --------------------------------------------------------------------------- drawing


#: the same input gives the same bytes, so a re-issue or a second registration of the same
#: license face (tests, demos) does not draw again; 64 images of ~100 KB at most
@functools.lru_cache(maxsize=64)
def render_seal(
    kind: SealKind,
    *,
    name: str,
    uscc: str,
    legal_representative: str,
    font_path: Path | None = None,
    dpi: int = 600,
) -> bytes:
    """The default image of ``kind``'s seal: a PNG, seal red on a transparent background, at
    real size for ``dpi`` (recorded in the PNG).  The same input always gives the same bytes.
    """
    if not 72 <= dpi <= 2400:
        raise InvalidImage(f"dpi must be between 72 and 2400, not {dpi}")
    layout = seal_layout(kind, name=name, uscc=uscc, legal_representative=legal_representative)
    font = find_cjk_font(font_path)
    _check_glyphs(font, layout.glyphs)
    mask = _draw(layout, font, dpi)
    image = Image.new("RGBA", mask.size, (*SEAL_RED, 0))
    image.putalpha(mask)
    out = io.BytesIO()
    image.save(out, "PNG", dpi=(dpi, dpi), compress_level=6)
    return out.getvalue()


def _check_glyphs(font: Path, glyphs: Iterable[Glyph]) -> None:
    charset = font_charset(font, cjk_face_index(font))
    if not charset:
        return
    missing = sorted({ch for g in glyphs for ch in g.text if ord(ch) not in charset and ch != " "})
    if missing:
        raise InvalidLicense(
            f"the seal font has no glyph for {''.join(missing)!r}; set ESEAL_FONT_PATH to a "
            "font that covers these characters",
            code="character_not_in_font",
        )


def _pixels(mm: float, dpi: int) -> int:
    return round(mm / MM_PER_INCH * dpi)


def _draw(layout: SealLayout, font: Path, dpi: int) -> Image.Image:
    width, height = _pixels(layout.width_mm, dpi), _pixels(layout.height_mm, dpi)
    ss = 4 if max(width, height) <= 1500 else 2  # supersampling factor
    scale = dpi / MM_PER_INCH * ss  # canvas pixels per mm
    cw, ch = width * ss, height * ss
    cx, cy = cw / 2, ch / 2
    mask = Image.new("L", (cw, ch), 0)
    draw = ImageDraw.Draw(mask)

    half_w = min(layout.width_mm / 2 * scale, cw / 2)
    half_h = min(layout.height_mm / 2 * scale, ch / 2)
    box = (cx - half_w, cy - half_h, cx + half_w - 1, cy + half_h - 1)
    border = round(layout.border_mm * scale)
    if layout.kind.info.shape is SealShape.SQUARE:
        draw.rectangle(box, outline=255, width=border)
    else:
        draw.ellipse(box, outline=255, width=border)

    if layout.star_radius_mm:
        r_out = layout.star_radius_mm * scale
        r_in = r_out * math.sin(math.radians(18)) / math.sin(math.radians(126))
        points = []
        for i in range(10):
            r = r_out if i % 2 == 0 else r_in
            t = math.radians(36 * i)
            points.append((cx + r * math.sin(t), cy - r * math.cos(t)))
        draw.polygon(points, fill=255)

    for glyph in layout.glyphs:
        with _FONT_LOCK:
            tile = _glyph_tile(font, glyph, scale)
        if glyph.angle:
            tile = tile.rotate(-glyph.angle, resample=Image.Resampling.BILINEAR, expand=True)
        left = round(cx + glyph.x * scale - tile.width / 2)
        top = round(cy + glyph.y * scale - tile.height / 2)
        region = (left, top, left + tile.width, top + tile.height)
        mask.paste(ImageChops.lighter(mask.crop(region), tile), region)

    return mask.resize((width, height), Image.Resampling.BOX)


@functools.lru_cache(maxsize=4)
def _em_centre(font: Path) -> float:
    """Height of the ideographic em box's centre above the baseline, in em."""
    big = load_font(font, 1000)
    _, top, _, bottom = big.getbbox("国", anchor="ls")
    return -(top + bottom) / 2 / 1000


def _glyph_tile(font: Path, glyph: Glyph, scale: float) -> Image.Image:
    """The glyph's ink, scaled to its box, unrotated, centred in the returned tile."""
    w_px, h_px = glyph.width * scale, glyph.height * scale
    if glyph.line:
        return _line_tile(font, glyph.text, w_px, h_px)
    em = max(8, round(h_px))
    margin = em // 8
    size = em + 2 * margin
    tile = Image.new("L", (size, size), 0)
    ImageDraw.Draw(tile).text(
        (size / 2, size / 2 + _em_centre(font) * em),
        glyph.text,
        font=load_font(font, em),
        fill=255,
        anchor="ms",
    )
    out = (max(1, round(size * w_px / em)), max(1, round(size * h_px / em)))
    return tile.resize(out, Image.Resampling.LANCZOS)


def _latin_font(font: Path) -> Path:
    """Digits of the USCC are set in a sans face (Arial in the tax rules): the Sans sibling
    of a Noto Serif CJK collection if it is installed, else the same font."""
    sibling = font.with_name(font.name.replace("Serif", "Sans"))
    return sibling if sibling != font and sibling.is_file() else font


def _line_tile(font: Path, text: str, w_px: float, h_px: float) -> Image.Image:
    """A line of capitals and digits whose cap height is ``h_px``, stretched to ``w_px``."""
    latin = _latin_font(font)
    probe = load_font(latin, 1000)
    cap = -probe.getbbox("H", anchor="ls")[1] / 1000
    size = max(8, round(h_px / cap))
    face = load_font(latin, size)
    left, _, right, _ = face.getbbox(text, anchor="ls")
    cap_px = cap * size
    below = 0.25 * cap_px  # room for the tail of a Q
    tile_w, tile_h = round(right - left) + 4, round(cap_px + 2 * below)
    tile = Image.new("L", (tile_w, tile_h), 0)
    ImageDraw.Draw(tile).text((2 - left, below + cap_px), text, font=face, fill=255, anchor="ls")
    ink = tile.getbbox()
    if ink is None:
        return tile
    # keep the vertical frame (cap height centred), crop horizontally to the ink
    tile = tile.crop((ink[0], 0, ink[2], tile_h))
    return tile.resize(
        (max(1, round(w_px)), max(1, round(h_px * tile_h / cap_px))), Image.Resampling.LANCZOS
    )
