"""Seals on rotated pages stand upright with the text, checked on the rendered page.

Each page is rendered with poppler's ``pdftoppm`` and the red pixels of an asymmetric test
seal (a full-width bar on its top edge, a disc below) are found: the side of the red box
the bar lies on is where the seal's "up" points on screen.  A page drawn upright in user
space and turned by ``/Rotate R`` shows its text's up turned by R clockwise, and the seal
must point the same way; a page whose text matrix is turned to compensate for ``/Rotate``
reads upright on screen, and so must the seal.  Cross-page strips lie on the right edge of
the paper as its text reads.
"""

from __future__ import annotations

import io
import math
import shutil
import subprocess
from pathlib import Path

import pytest
from PIL import Image, ImageDraw
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.generic import pdf_name
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.writer import PageObject, PdfFileWriter

from signer.appearance import SealAppearance, add_seal_field
from signer.keyword import find_keyword, text_rotation
from signer.placement import (
    MM,
    AtKeyword,
    AtPoint,
    CrossPage,
    Placement,
    WidgetBox,
    iter_pages,
    open_pdf,
    resolve_in,
)

DPI = 50
PX = DPI / 72
ODD_BOX = (100.0, 100.0, 712.0, 892.0)  # a MediaBox that does not start at the origin
SEAL = 100.0

pytestmark = pytest.mark.skipif(shutil.which("pdftoppm") is None, reason="needs pdftoppm")

#: where "up" of a text drawn upright in user space points on screen, per /Rotate
SCREEN_UP = {0: "top", 90: "right", 180: "bottom", 270: "left"}
#: where the right edge of such a page's paper is on screen, per /Rotate
SCREEN_RIGHT = {0: "right", 90: "bottom", 180: "left", 270: "top"}


def text_page_pdf(pages: list[tuple[int, int]], media: tuple[float, ...] = ODD_BOX) -> bytes:
    """Pages given as (``/Rotate``, turn of the text in user space, counter-clockwise)."""
    writer = PdfFileWriter()
    font = writer.add_object(
        generic.DictionaryObject(
            {
                pdf_name("/Type"): pdf_name("/Font"),
                pdf_name("/Subtype"): pdf_name("/Type1"),
                pdf_name("/BaseFont"): pdf_name("/Helvetica"),
            }
        )
    )
    for rotate, turn in pages:
        cos, sin = round(math.cos(math.radians(turn))), round(math.sin(math.radians(turn)))
        mx, my = (media[0] + media[2]) / 2, (media[1] + media[3]) / 2
        lines = " ".join(
            f"{cos} {sin} {-sin} {cos} {mx + 20 * i * sin:g} {my - 20 * i * cos:g} Tm "
            "(Party A seal here) Tj"
            for i in range(5)
        )
        content = writer.add_object(
            generic.StreamObject(stream_data=f"BT /F1 12 Tf {lines} ET".encode())
        )
        page = PageObject(contents=content, media_box=media)
        page[pdf_name("/Resources")] = generic.DictionaryObject(
            {pdf_name("/Font"): generic.DictionaryObject({pdf_name("/F1"): font})}
        )
        if rotate:
            page[pdf_name("/Rotate")] = generic.NumberObject(rotate)
        writer.insert_page(page)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def seal_png(px: int = 120) -> bytes:
    img = Image.new("RGBA", (px, px), (0, 0, 0, 0))
    draw = ImageDraw.Draw(img)
    draw.rectangle((0, 0, px - 1, px * 15 // 100), fill=(230, 0, 0, 255))
    radius = px * 38 // 100
    cx, cy = px // 2, px - 1 - radius
    draw.ellipse((cx - radius, cy - radius, cx + radius, cy + radius), fill=(230, 0, 0, 255))
    out = io.BytesIO()
    img.save(out, "PNG")
    return out.getvalue()


def seal_pdf(
    pdf: bytes, placement: Placement, size: float = SEAL
) -> tuple[bytes, tuple[WidgetBox, ...]]:
    writer = IncrementalPdfFileWriter(io.BytesIO(pdf))
    seal = SealAppearance(seal_png(), width=size, height=size)
    boxes = resolve_in(writer, placement, seal.width, seal.height)
    add_seal_field(writer, "Seal", boxes, seal, defer_extra_widgets=False)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue(), boxes


def render(pdf: bytes, page: int, tmp_path: Path) -> Image.Image:
    src = tmp_path / "in.pdf"
    src.write_bytes(pdf)
    root = tmp_path / f"page{page}"
    subprocess.run(
        [
            "pdftoppm",
            "-r",
            str(DPI),
            "-png",
            "-singlefile",
            "-f",
            str(page),
            "-l",
            str(page),
            str(src),
            str(root),
        ],
        check=True,
        capture_output=True,
    )
    with Image.open(f"{root}.png") as img:
        return img.convert("RGB")


def red(img: Image.Image) -> list[tuple[int, int]]:
    w, h = img.size
    data = img.load()
    assert data is not None
    return [
        (x, y)
        for y in range(h)
        for x in range(w)
        if (p := data[x, y])[0] > 150 and p[1] < 110 and p[2] < 110
    ]


def red_box(img: Image.Image) -> tuple[int, int, int, int]:
    pts = red(img)
    assert pts, "no red pixels: the seal was not drawn"
    return (
        min(x for x, _ in pts),
        min(y for _, y in pts),
        max(x for x, _ in pts),
        max(y for _, y in pts),
    )


def bar_side(img: Image.Image) -> str:
    """The side of the seal's red box its bar (the seal's top edge) lies on: the outermost
    band of the box that is the most filled with red."""
    pts = set(red(img))
    x0, y0, x1, y1 = red_box(img)
    band = max(1, round(min(x1 - x0, y1 - y0) * 0.06))

    def fill(xs: range, ys: range) -> float:
        return sum((x, y) in pts for x in xs for y in ys) / (len(xs) * len(ys))

    sides = {
        "top": fill(range(x0, x1 + 1), range(y0, y0 + band)),
        "bottom": fill(range(x0, x1 + 1), range(y1 - band + 1, y1 + 1)),
        "left": fill(range(x0, x0 + band), range(y0, y1 + 1)),
        "right": fill(range(x1 - band + 1, x1 + 1), range(y0, y1 + 1)),
    }
    return max(sides, key=lambda s: sides[s])


def test_text_direction_is_read_from_the_text_matrices() -> None:
    pdf = text_page_pdf([(0, 0), (90, 0), (90, 90), (0, 270), (180, 180)])
    pages = list(iter_pages(open_pdf(pdf)))
    assert [text_rotation(p) for p in pages] == [0, 0, 90, 270, 180]
    blank = PdfFileWriter()
    blank.insert_page(
        PageObject(
            contents=blank.add_object(
                generic.StreamObject(stream_data=b"0 0 1 rg 10 10 50 50 re f")
            ),
            media_box=(0, 0, 595, 842),
        )
    )
    out = io.BytesIO()
    blank.write(out)
    assert text_rotation(next(iter(iter_pages(open_pdf(out.getvalue()))))) is None


@pytest.mark.parametrize("rotate", [0, 90, 180, 270])
def test_seal_turns_with_text_drawn_upright_in_user_space(rotate: int, tmp_path: Path) -> None:
    """The common rotated page: content upright in user space, the page turned for display.
    The seal lands on the asked point and points where the text's up points on screen."""
    pdf, (box,) = seal_pdf(text_page_pdf([(rotate, 0)]), AtPoint(1, 200, 250))
    assert box.rotation == 0
    img = render(pdf, 1, tmp_path)
    x0, y0, x1, y1 = red_box(img)
    vh = img.size[1] / PX
    assert ((x0 + x1) / 2 / PX, vh - (y0 + y1) / 2 / PX) == pytest.approx((200, 250), abs=3)
    assert (x1 - x0, y1 - y0) == pytest.approx((SEAL * PX, SEAL * PX), abs=3)
    assert bar_side(img) == SCREEN_UP[rotate]


@pytest.mark.parametrize("rotate", [90, 180, 270])
def test_seal_is_upright_on_screen_when_the_text_matrix_compensates(
    rotate: int, tmp_path: Path
) -> None:
    """The text is drawn turned in user space and /Rotate turns it back: it reads upright on
    screen, and so does the seal."""
    pdf, (box,) = seal_pdf(text_page_pdf([(rotate, rotate)]), AtPoint(1, 200, 250))
    assert box.rotation == rotate
    assert bar_side(render(pdf, 1, tmp_path)) == "top"


def test_text_turned_on_an_unrotated_page(tmp_path: Path) -> None:
    """No /Rotate, text running upwards (turned 90° counter-clockwise): its up is the
    screen's left, and the seal's too."""
    pdf, _ = seal_pdf(text_page_pdf([(0, 90)]), AtPoint(1, 300, 400))
    assert bar_side(render(pdf, 1, tmp_path)) == "left"


@pytest.mark.parametrize("rotate", [0, 90, 180, 270])
def test_cross_page_strips_lie_on_the_right_edge_of_the_paper(rotate: int, tmp_path: Path) -> None:
    pdf, boxes = seal_pdf(text_page_pdf([(0, 0), (rotate, 0), (rotate, 0)]), CrossPage(), size=120)
    assert len(boxes) == 3
    img = render(pdf, 2, tmp_path)
    w, h = img.size
    x0, y0, x1, y1 = red_box(img)
    edge = SCREEN_RIGHT[rotate]
    depth = 40 * PX  # a third of the 120 pt seal
    if edge == "right":
        assert x1 >= w - 2 and x0 >= w - depth - 3
    elif edge == "left":
        assert x0 <= 1 and x1 <= depth + 3
    elif edge == "bottom":
        assert y1 >= h - 2 and y0 >= h - depth - 3
    else:
        assert y0 <= 1 and y1 <= depth + 3
    # the middle strip's end with the seal's bar points where the text's up points
    assert bar_side(img) == SCREEN_UP[rotate]


def test_cross_page_strips_on_a_page_whose_text_is_turned_to_compensate(tmp_path: Path) -> None:
    pdf, _ = seal_pdf(text_page_pdf([(0, 0), (90, 90)]), CrossPage(), size=120)
    img = render(pdf, 2, tmp_path)
    w, _h = img.size
    x0, _y0, x1, _y1 = red_box(img)
    assert x1 >= w - 2 and x0 >= w - 60 * PX - 3  # the screen's right edge: the text's


@pytest.mark.parametrize("rotate", [0, 90, 180, 270])
def test_keyword_seal_is_centred_on_the_keyword(rotate: int, tmp_path: Path) -> None:
    pdf = text_page_pdf([(rotate, 0)])
    (hit, *_) = find_keyword(pdf, "Party A")
    sealed, (box,) = seal_pdf(pdf, AtKeyword("Party A"), size=60)
    x0, y0, x1, y1 = box.visible_rect
    assert ((x0 + x1) / 2, (y0 + y1) / 2) == pytest.approx(hit.center, abs=0.01)
    img = render(sealed, 1, tmp_path)
    rx0, ry0, rx1, ry1 = red_box(img)
    vh = img.size[1] / PX
    assert ((rx0 + rx1) / 2 / PX, vh - (ry0 + ry1) / 2 / PX) == pytest.approx(hit.center, abs=3)
    assert bar_side(img) == SCREEN_UP[rotate]


@pytest.mark.parametrize("rotate", [90, 270])
def test_after_the_keyword_follows_the_text(rotate: int) -> None:
    """``after`` puts the seal after the keyword as the text reads, not as the screen
    shows: on a page turned 90°, that is below or above the keyword on screen."""
    pdf = text_page_pdf([(rotate, 0)])
    (hit, *_) = find_keyword(pdf, "Party A")
    _, (box,) = seal_pdf(pdf, AtKeyword("Party A", align="after", offset=(5, 0)), size=60)
    x0, y0, x1, y1 = box.visible_rect
    assert (x0 + x1) / 2 == pytest.approx((hit.x0 + hit.x1) / 2, abs=0.01)
    if rotate == 90:  # the text runs down the screen
        assert y1 == pytest.approx(hit.y0 - 5 * MM, abs=0.01)
    else:  # up the screen
        assert y0 == pytest.approx(hit.y1 + 5 * MM, abs=0.01)
