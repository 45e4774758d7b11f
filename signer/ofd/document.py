"""The document of an OFD package: its pages in order, their sizes, and the text on them with
each glyph's position, so a keyword can be found on a page.

Units and axes are OFD's own (GB/T 33190-2016 §7.3): millimetres, origin at the page's
top-left corner, ``y`` growing downwards.  A page's size is its ``PhysicalBox``: the page's
own ``Area``, else that of its template page, else the document's ``CommonData/PageArea``.

Text (§11): a ``TextObject`` has a ``Boundary`` (``x y w h`` on the page), an optional ``CTM``
(``a b c d e f``, mapping the object's own coordinates into the boundary's) and a font
``Size``; each ``TextCode`` gives the first glyph's origin (``X``, ``Y``: the baseline, in
object coordinates; a missing one repeats the previous ``TextCode``'s) and the advances to
each next glyph in ``DeltaX``/``DeltaY``, where ``g N v`` stands for ``N`` times ``v``.
A glyph's box is taken as its advance-free width (the font size for full-width characters,
half of it for others) by 0.85 of the size above the baseline and 0.15 below: OFD carries no
glyph metrics unless the font file is read, and a keyword's box only needs to be close.
When ``DeltaX`` is missing or shorter than the text, the next glyph follows at that width
(the spec's reading, "no offset", would pile the glyphs on one point; every reader lays them
out with the font's advances instead).

Text of the page's template pages is part of the page, as a reader shows it; text with
``Visible="false"`` is not.  Matching a keyword ignores whitespace and Unicode compatibility
differences, as the PDF keyword search does (:mod:`signer.keyword`).
"""

from __future__ import annotations

import math
import unicodedata
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import cached_property
from xml.etree.ElementTree import Element

from ..errors import InvalidOfd, InvalidPlacement, KeywordNotFound, PageOutOfRange
from ..geometry import overlap
from ..text.matching import find_runs, normalise
from .package import OfdPackage, ofd_tag, read_package

__all__ = [
    "Box",
    "Glyph",
    "OfdDocument",
    "OfdPage",
    "Rect",
    "TextHit",
    "open_document",
    "parse_box",
    "parse_numbers",
]

#: An OFD ``ST_Box``: ``(x, y, width, height)`` in mm, ``y`` downwards.
Box = tuple[float, float, float, float]
#: A rectangle by corners ``(x0, y0, x1, y1)`` in mm with ``x0 <= x1``, ``y0 <= y1``
#: (``y0`` is the top edge).
Rect = tuple[float, float, float, float]

_ASCENT = 0.85
_DESCENT = 0.15


def parse_numbers(text: str | None, what: str = "a number list") -> list[float]:
    """An OFD number list (``ST_Array``) with the ``g N value`` repeat syntax expanded.

    :raises InvalidOfd: a token that is not a finite number, or a ``g`` without a count
        and a value.
    """
    if text is None:
        return []
    tokens = text.split()
    values: list[float] = []
    i = 0
    try:
        while i < len(tokens):
            if tokens[i] == "g":
                count = int(tokens[i + 1])
                value = float(tokens[i + 2])
                if count < 0 or count > 1_000_000:
                    raise ValueError("count out of range")
                values.extend([value] * count)
                i += 3
            else:
                values.append(float(tokens[i]))
                i += 1
    except (IndexError, ValueError) as ex:
        raise InvalidOfd(f"{what} is malformed") from ex
    if not all(math.isfinite(v) for v in values):
        raise InvalidOfd(f"{what} holds a number that is not finite")
    return values


def parse_box(text: str | None, what: str = "a box") -> Box:
    """An ``ST_Box`` ``"x y w h"``.

    :raises InvalidOfd: not four numbers, or a negative width or height.
    """
    values = parse_numbers(text, what)
    if len(values) != 4 or values[2] < 0 or values[3] < 0:
        raise InvalidOfd(f"{what} is not a box of four numbers (x y width height)")
    return values[0], values[1], values[2], values[3]


@dataclass(frozen=True)
class OfdPage:
    """One page of the document, in the order of ``Document.xml``'s ``Pages``."""

    #: position in the document, counted from 1
    number: int
    #: the page's ``ID`` (what a ``StampAnnot``'s ``PageRef`` names)
    id: str
    #: package name of the page's ``Content.xml``
    path: str
    #: the ``PhysicalBox``, mm
    box: Box
    #: package names of the template pages' content, in the page's order
    templates: tuple[str, ...] = ()

    @property
    def width(self) -> float:
        return self.box[2]

    @property
    def height(self) -> float:
        return self.box[3]


@dataclass(frozen=True)
class Glyph:
    """One character drawn on a page."""

    text: str
    #: the glyph's box on the page, mm from the top-left corner
    rect: Rect
    #: font size, mm (after the object's CTM)
    size: float


@dataclass(frozen=True)
class TextHit:
    """One occurrence of a keyword: its page (from 1) and box (mm, from the top-left)."""

    page: int
    x0: float
    y0: float
    x1: float
    y1: float

    @property
    def center(self) -> tuple[float, float]:
        return (self.x0 + self.x1) / 2, (self.y0 + self.y1) / 2

    @property
    def rect(self) -> Rect:
        return self.x0, self.y0, self.x1, self.y1


def _width(ch: str, size: float) -> float:
    return size if unicodedata.east_asian_width(ch) in ("W", "F") else size / 2


class OfdDocument:
    """The first document of an OFD package (the one ``DocBody/DocRoot`` names)."""

    def __init__(self, package: OfdPackage) -> None:
        self.package = package
        #: package name of ``Document.xml``
        self.path = package.doc_root
        root = package.xml(self.path)
        common = root.find(ofd_tag("CommonData"))
        if common is None:
            raise InvalidOfd("Document.xml has no CommonData")
        area = common.find(f"{ofd_tag('PageArea')}/{ofd_tag('PhysicalBox')}")
        self._default_box = (
            parse_box(area.text, "the document's PhysicalBox") if area is not None else None
        )
        self._templates: dict[str, str] = {}
        for template in common.findall(ofd_tag("TemplatePage")):
            tid, loc = template.get("ID"), template.get("BaseLoc")
            if tid and loc:
                located = package.locate(loc, self.path)
                if located is None:
                    raise InvalidOfd(
                        "a template page that Document.xml names is not in the package"
                    )
                self._templates[tid] = located
        pages = root.find(ofd_tag("Pages"))
        refs = [] if pages is None else pages.findall(ofd_tag("Page"))
        if not refs:
            raise InvalidOfd("the document has no pages")
        #: the pages, in order
        self.pages: tuple[OfdPage, ...] = tuple(
            self._page(number, ref) for number, ref in enumerate(refs, start=1)
        )

    def _page(self, number: int, ref: Element) -> OfdPage:
        pid, loc = ref.get("ID"), ref.get("BaseLoc")
        if not pid or not loc:
            raise InvalidOfd(f"page {number} of Document.xml has no ID or BaseLoc")
        path = self.package.locate(loc, self.path)
        if path is None:
            raise InvalidOfd(f"the content of page {number} is not in the package")
        root = self.package.xml(path)
        templates = []
        for template in root.findall(ofd_tag("Template")):
            tpath = self._templates.get(template.get("TemplateID") or "")
            if tpath is not None:
                templates.append(tpath)
        box = self._area(root, f"page {number}")
        for tpath in templates:
            box = box or self._area(self.package.xml(tpath), f"page {number}'s template")
        box = box or self._default_box
        if box is None:
            raise InvalidOfd(f"page {number} has no PhysicalBox, nor has the document")
        return OfdPage(number, pid, path, box, tuple(templates))

    @staticmethod
    def _area(root: Element, what: str) -> Box | None:
        found = root.find(f"{ofd_tag('Area')}/{ofd_tag('PhysicalBox')}")
        return None if found is None else parse_box(found.text, f"the PhysicalBox of {what}")

    @cached_property
    def page_ids(self) -> dict[str, OfdPage]:
        """The pages by ``ID``."""
        return {page.id: page for page in self.pages}

    def page(self, number: int) -> OfdPage:
        """Page ``number``, counted from 1; negative numbers count from the end.

        :raises PageOutOfRange: no such page.
        """
        count = len(self.pages)
        index = number - 1 if number > 0 else count + number
        if number == 0 or not 0 <= index < count:
            raise PageOutOfRange(
                f"page {number} is not a page of the document, which has {count}",
                page=number,
                pages=count,
            )
        return self.pages[index]

    def glyphs(self, number: int) -> list[Glyph]:
        """Every visible glyph of page ``number`` (templates first), in content order."""
        page = self.page(number)
        glyphs: list[Glyph] = []
        for path in (*page.templates, page.path):
            content = self.package.xml(path).find(ofd_tag("Content"))
            if content is not None:
                for obj in content.iter(ofd_tag("TextObject")):
                    glyphs.extend(_text_glyphs(obj))
        return glyphs

    def find_text(
        self, keyword: str, *, pages: Iterable[int] | None = None, missing_ok: bool = False
    ) -> list[TextHit]:
        """Every occurrence of ``keyword``, in reading order (pages in order; on a page, lines
        top to bottom, then left to right).  ``pages`` (from 1) limits the search.

        :raises InvalidPlacement: an empty keyword.
        :raises KeywordNotFound: no occurrence, unless ``missing_ok``.
        """
        needle = normalise(keyword or "")
        if not needle:
            raise InvalidPlacement("the keyword is empty")
        wanted = None if pages is None else {self.page(p).number for p in pages}
        hits: list[TextHit] = []
        for page in self.pages:
            if wanted is not None and page.number not in wanted:
                continue
            glyphs = self.glyphs(page.number)
            found: list[Rect] = []
            for rect in (
                *_search(glyphs, needle, gap_limit=False),
                *_search(_reading_order(glyphs), needle, gap_limit=True),
            ):
                if all(overlap(rect, other) < 0.5 for other in found):
                    found.append(rect)
            hits.extend(TextHit(page.number, *rect) for rect in _sort_reading(found))
        if not hits and not missing_ok:
            shown = keyword if len(keyword) <= 40 else keyword[:40] + "…"
            raise KeywordNotFound(f"the keyword {shown!r} is not in the text of the document")
        return hits


def _text_glyphs(obj: Element) -> Iterator[Glyph]:
    if (obj.get("Visible") or "true").strip().lower() == "false":
        return
    bx, by, _, _ = parse_box(obj.get("Boundary"), "a TextObject's Boundary")
    size_text = obj.get("Size")
    if size_text is None:
        raise InvalidOfd("a TextObject has no Size")
    (size,) = parse_numbers(size_text, "a TextObject's Size") or [0.0]
    ctm = parse_numbers(obj.get("CTM"), "a TextObject's CTM") if obj.get("CTM") else None
    if ctm is not None and len(ctm) != 6:
        raise InvalidOfd("a TextObject's CTM is not six numbers")
    a, b, c, d, e, f = ctm or (1.0, 0.0, 0.0, 1.0, 0.0, 0.0)
    scale = math.sqrt(abs(a * d - b * c)) or 1.0

    def place(x: float, y: float) -> tuple[float, float]:
        return bx + a * x + c * y + e, by + b * x + d * y + f

    x = y = None
    for code in obj.findall(ofd_tag("TextCode")):
        text = code.text or ""
        x_attr, y_attr = code.get("X"), code.get("Y")
        x = parse_numbers(x_attr, "a TextCode's X")[0] if x_attr else x
        y = parse_numbers(y_attr, "a TextCode's Y")[0] if y_attr else y
        if x is None or y is None:
            raise InvalidOfd("a TextObject's first TextCode has no X or Y")
        dx = parse_numbers(code.get("DeltaX"), "a TextCode's DeltaX")
        dy = parse_numbers(code.get("DeltaY"), "a TextCode's DeltaY")
        gx, gy = x, y
        for i, ch in enumerate(text):
            if i:
                gx += dx[i - 1] if i - 1 < len(dx) else _width(text[i - 1], size)
                gy += dy[i - 1] if i - 1 < len(dy) else 0.0
            w = _width(ch, size)
            corners = [
                place(gx, gy - _ASCENT * size),
                place(gx + w, gy - _ASCENT * size),
                place(gx, gy + _DESCENT * size),
                place(gx + w, gy + _DESCENT * size),
            ]
            xs = [p[0] for p in corners]
            ys = [p[1] for p in corners]
            yield Glyph(ch, (min(xs), min(ys), max(xs), max(ys)), size * scale)


def _search(glyphs: list[Glyph], needle: str, gap_limit: bool) -> Iterator[Rect]:
    return find_runs(
        glyphs,
        needle,
        gap_limit=gap_limit,
        text=lambda g: g.text,
        box=lambda g: g.rect,
        size=lambda g: g.size,
    )


def _reading_order(glyphs: list[Glyph]) -> list[Glyph]:
    """Lines top to bottom, glyphs left to right."""
    ordered = sorted(glyphs, key=lambda g: (g.rect[1] + g.rect[3]) / 2)
    lines: list[list[Glyph]] = []
    line_y = 0.0
    for glyph in ordered:
        centre = (glyph.rect[1] + glyph.rect[3]) / 2
        if lines and abs(centre - line_y) <= 0.4 * max(glyph.size, 1e-6):
            lines[-1].append(glyph)
        else:
            lines.append([glyph])
            line_y = centre
    return [g for line in lines for g in sorted(line, key=lambda g: g.rect[0])]


def _sort_reading(rects: list[Rect]) -> list[Rect]:
    rects = sorted(rects, key=lambda r: (r[1] + r[3]) / 2)
    lines: list[list[Rect]] = []
    for rect in rects:
        centre = (rect[1] + rect[3]) / 2
        if lines:
            last = lines[-1][0]
            if abs(centre - (last[1] + last[3]) / 2) <= 0.4 * (last[3] - last[1]):
                lines[-1].append(rect)
                continue
        lines.append([rect])
    return [r for line in lines for r in sorted(line, key=lambda r: r[0])]


def open_document(data: bytes | OfdPackage) -> OfdDocument:
    """The document of an OFD file's bytes (read with :func:`read_package`) or package."""
    package = data if isinstance(data, OfdPackage) else read_package(data)
    return OfdDocument(package)
