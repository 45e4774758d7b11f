"""Where a seal goes: visible coordinates, rotated pages, odd boxes, cross-page strips, errors.

Pages here are mostly of the kind whose producer drew the text turned in user space and set
``/Rotate`` to compensate, so the text (and the seal) reads upright on screen
(``text_rotate`` = ``/Rotate``); pages whose text stands upright in user space and turns with
``/Rotate`` are in ``test_rotated_pages.py``.

The geometry is checked twice: as arithmetic, and by rendering the sealed page with poppler's
``pdftoppm`` and finding the red pixels of an asymmetric test seal (a disc under a full-width
bar, so "upright" means the widest red rows are at the top).
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

from keystore.errors import ErrorKind
from signer.appearance import SealAppearance, add_seal_field
from signer.errors import (
    CrossPageNeedsTwoPages,
    InvalidPlacement,
    KeywordNotFound,
    PageOutOfRange,
    PositionOffPage,
)
from signer.keyword import Hit
from signer.placement import (
    MM,
    AtKeyword,
    AtPoint,
    CrossPage,
    DefaultPlacement,
    PageGeometry,
    WidgetBox,
    page_geometries,
    resolve,
    resolve_in,
)

DPI = 50
PX = DPI / 72  # pixels per point
ODD_BOX = (100.0, 100.0, 712.0, 892.0)
SEAL = 100.0  # seal size in points for the render tests

needs_poppler = pytest.mark.skipif(shutil.which("pdftoppm") is None, reason="needs pdftoppm")


# --------------------------------------------------------------------------- helpers


def text_ops(turn: int, media: tuple[float, ...]) -> bytes:
    """Lines of black Helvetica turned ``turn`` degrees counter-clockwise in user space,
    around the middle of ``media``."""
    cos, sin = round(math.cos(math.radians(turn))), round(math.sin(math.radians(turn)))
    mx, my = (media[0] + media[2]) / 2, (media[1] + media[3]) / 2
    lines = []
    for i in range(4):
        # the i-th line sits 20 pt below the first, "below" as the text reads
        x, y = mx + 20 * i * sin, my - 20 * i * cos
        lines.append(f"{cos} {sin} {-sin} {cos} {x:g} {y:g} Tm (Contract text) Tj")
    return ("BT /F1 12 Tf " + " ".join(lines) + " ET").encode()


def make_pdf(pages: list[dict]) -> bytes:
    """Pages given as dicts: media (box), crop (box), rotate, user_unit, text (the turn of
    its text in user space; by default the page's /Rotate, so the text reads upright on
    screen; None: blank)."""
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
    for spec in pages:
        media = spec.get("media", (0, 0, 595, 842))
        turn = spec.get("text", spec.get("rotate", 0))
        data = b"% blank\n" if turn is None else text_ops(turn, media)
        content = writer.add_object(generic.StreamObject(stream_data=data))
        page = PageObject(contents=content, media_box=media)
        page[pdf_name("/Resources")] = generic.DictionaryObject(
            {pdf_name("/Font"): generic.DictionaryObject({pdf_name("/F1"): font})}
        )
        if "crop" in spec:
            page[pdf_name("/CropBox")] = generic.ArrayObject(
                generic.FloatObject(v) for v in spec["crop"]
            )
        if spec.get("rotate"):
            page[pdf_name("/Rotate")] = generic.NumberObject(spec["rotate"])
        if "user_unit" in spec:
            page[pdf_name("/UserUnit")] = generic.FloatObject(spec["user_unit"])
        writer.insert_page(page)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def seal_png(px: int = 120) -> bytes:
    """A red test seal on transparency: a full-width bar on top, a gap, a disc below."""
    img = Image.new("RGBA", (px, px), (0, 0, 0, 0))
    draw = ImageDraw.Draw(img)
    bar = px * 15 // 100
    draw.rectangle((0, 0, px - 1, bar), fill=(230, 0, 0, 255))
    radius = px * 38 // 100  # leaves a transparent gap under the bar
    cx, cy = px // 2, px - 1 - radius
    draw.ellipse((cx - radius, cy - radius, cx + radius, cy + radius), fill=(230, 0, 0, 255))
    out = io.BytesIO()
    img.save(out, "PNG")
    return out.getvalue()


def seal_pdf(pdf: bytes, placement, size: float = SEAL) -> tuple[bytes, tuple[WidgetBox, ...]]:
    writer = IncrementalPdfFileWriter(io.BytesIO(pdf))
    seal = SealAppearance(seal_png(), width=size, height=size)
    boxes = resolve_in(writer, placement, seal.width, seal.height)
    add_seal_field(writer, "Seal", boxes, seal, defer_extra_widgets=False)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue(), boxes


def render(pdf: bytes, page: int, tmp_path: Path, *, cropbox: bool = False) -> Image.Image:
    src = tmp_path / "in.pdf"
    src.write_bytes(pdf)
    root = tmp_path / f"page{page}"
    args = ["pdftoppm", "-r", str(DPI), "-png", "-singlefile", "-f", str(page), "-l", str(page)]
    if cropbox:
        args.append("-cropbox")
    subprocess.run([*args, str(src), str(root)], check=True, capture_output=True)
    with Image.open(f"{root}.png") as img:
        return img.convert("RGB")


def red_pixels(img: Image.Image) -> list[tuple[int, int]]:
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
    pts = red_pixels(img)
    assert pts, "no red pixels: the seal was not drawn"
    xs = [p[0] for p in pts]
    ys = [p[1] for p in pts]
    return min(xs), min(ys), max(xs), max(ys)


def gap_near_top(img: Image.Image) -> bool:
    """Upright test seal, or a strip of it: the empty band under the bar is near the top."""
    _x0, y0, _x1, y1 = red_box(img)
    rows = {y for _, y in red_pixels(img)}
    gaps = [y for y in range(y0, y1 + 1) if y not in rows]
    return bool(gaps) and gaps[0] - y0 < (y1 - y0) / 4


def widest_rows_on_top(img: Image.Image) -> bool:
    """Upright test seal: its widest red rows (the bar) are in the top quarter of the seal."""
    pts = red_pixels(img)
    _x0, y0, _x1, y1 = red_box(img)
    counts: dict[int, int] = {}
    for _, y in pts:
        counts[y] = counts.get(y, 0) + 1
    widest = max(counts.values())
    rows = [y for y, n in counts.items() if n >= widest - 1]
    return all(y <= y0 + (y1 - y0) / 4 for y in rows)


# --------------------------------------------------------------------------- geometry


@pytest.mark.parametrize("rotate", [0, 90, 180, 270])
def test_visible_and_user_coordinates_are_inverse(rotate: int) -> None:
    g = PageGeometry(media_box=ODD_BOX, rotate=rotate)
    for x, y in [(0, 0), (10, 20), (300.5, 400.25), (g.visible_width, g.visible_height)]:
        ux, uy = g.to_user(x, y)
        vx, vy = g.to_visible(ux, uy)
        assert (vx, vy) == pytest.approx((x, y))
        assert ODD_BOX[0] - 1e-9 <= ux <= ODD_BOX[2] + 1e-9
        assert ODD_BOX[1] - 1e-9 <= uy <= ODD_BOX[3] + 1e-9


@pytest.mark.parametrize(
    ("rotate", "corner"),
    [(0, (100, 100)), (90, (712, 100)), (180, (712, 892)), (270, (100, 892))],
)
def test_visible_origin_is_the_right_corner(rotate: int, corner: tuple[float, float]) -> None:
    # /Rotate turns the page clockwise: the reader's bottom-left corner moves accordingly
    g = PageGeometry(media_box=ODD_BOX, rotate=rotate)
    assert g.to_user(0, 0) == pytest.approx(corner)


def test_visible_size_follows_rotation_and_crop_box() -> None:
    assert (PageGeometry(ODD_BOX).visible_width, PageGeometry(ODD_BOX).visible_height) == (
        612,
        792,
    )
    turned = PageGeometry(ODD_BOX, rotate=90)
    assert (turned.visible_width, turned.visible_height) == (792, 612)
    cropped = PageGeometry(ODD_BOX, crop_box=(50, 150, 600, 800))  # sticks out at the left
    assert cropped.visible_box == (100, 150, 600, 800)
    outside = PageGeometry(ODD_BOX, crop_box=(0, 0, 50, 50))  # useless: back to the media box
    assert outside.visible_box == ODD_BOX


@pytest.mark.parametrize(("value", "expected"), [(-90, 270), (450, 90), (45, 0), ("x", 0)])
def test_odd_rotate_values_are_normalised(value, expected: int) -> None:
    assert PageGeometry((0, 0, 10, 10), rotate=value).rotate == expected


def test_user_unit_scales_points_to_user_units() -> None:
    g = PageGeometry((0, 0, 100, 100), user_unit=2.0)  # 200 x 200 pt as displayed
    assert g.visible_width == 200
    assert g.to_user(100, 50) == pytest.approx((50, 25))
    (box,) = resolve(AtPoint(1, 100, 100), [g], 40, 20)
    assert box.rect == pytest.approx((40, 45, 60, 55))
    a, _, _, d, _, _ = box.appearance_matrix()
    assert (a, d) == pytest.approx((0.5, 0.5))


def test_boxes_and_rotation_are_read_from_the_page_tree() -> None:
    writer = PdfFileWriter()
    pages_root = writer.root["/Pages"]
    pages_root[pdf_name("/MediaBox")] = generic.ArrayObject(generic.FloatObject(v) for v in ODD_BOX)
    pages_root[pdf_name("/Rotate")] = generic.NumberObject(270)
    content = writer.add_object(generic.StreamObject(stream_data=b""))
    page = generic.DictionaryObject(
        {
            pdf_name("/Type"): pdf_name("/Page"),
            pdf_name("/Contents"): content,
            pdf_name("/Resources"): generic.DictionaryObject(),
        }
    )
    writer.insert_page(page)
    out = io.BytesIO()
    writer.write(out)
    (g,) = page_geometries(out.getvalue())
    assert g.media_box == ODD_BOX
    assert g.rotate == 270
    assert (g.visible_width, g.visible_height) == (792, 612)


# --------------------------------------------------------------------------- resolution


@pytest.mark.parametrize("rotate", [0, 90, 180, 270])
def test_point_placement_maps_the_visible_square_into_user_space(rotate: int) -> None:
    g = PageGeometry(ODD_BOX, rotate=rotate, text_rotate=rotate)
    (box,) = resolve(AtPoint(1, 200, 300), [g], 80, 40)
    assert box.page_index == 0 and box.page == 1
    assert box.visible_rect == (160, 280, 240, 320)
    assert g.rect_to_visible(box.rect) == pytest.approx(box.visible_rect)
    w, h = box.size
    assert (w, h) == pytest.approx((40, 80) if rotate in (90, 270) else (80, 40))
    assert box.rotation == rotate
    assert box.crop == (0, 0, 80, 40)


@pytest.mark.parametrize("rotate", [0, 90, 180, 270])
def test_appearance_matrix_puts_the_seal_top_where_the_reader_sees_top(rotate: int) -> None:
    g = PageGeometry(ODD_BOX, rotate=rotate, text_rotate=rotate)
    (box,) = resolve(AtPoint(1, 200, 300), [g], 80, 40)
    m = box.appearance_matrix()

    def seal_to_visible(x: float, y: float) -> tuple[float, float]:
        fx, fy = m[0] * x + m[2] * y + m[4], m[1] * x + m[3] * y + m[5]
        return g.to_visible(box.rect[0] + fx, box.rect[1] + fy)

    # the seal's corners land on the same corners of the visible rectangle: no turn, no mirror
    assert seal_to_visible(0, 0) == pytest.approx((160, 280))
    assert seal_to_visible(80, 0) == pytest.approx((240, 280))
    assert seal_to_visible(0, 40) == pytest.approx((160, 320))
    assert seal_to_visible(80, 40) == pytest.approx((240, 320))


def test_pages_count_from_one_and_minus_one_is_the_last() -> None:
    pages = [PageGeometry((0, 0, 595, 842))] * 3
    assert resolve(AtPoint(1, 100, 100), pages, 10, 10)[0].page_index == 0
    assert resolve(AtPoint(3, 100, 100), pages, 10, 10)[0].page_index == 2
    assert resolve(AtPoint(-1, 100, 100), pages, 10, 10)[0].page_index == 2
    assert resolve(AtPoint(-3, 100, 100), pages, 10, 10)[0].page_index == 0


@pytest.mark.parametrize("page", [0, 4, -4, 100])
def test_page_out_of_range_is_a_clear_error(page: int) -> None:
    pages = [PageGeometry((0, 0, 595, 842))] * 3
    with pytest.raises(PageOutOfRange) as caught:
        resolve(AtPoint(page, 100, 100), pages, 10, 10)
    err = caught.value
    assert err.code == "page_out_of_range"
    assert err.kind is ErrorKind.INVALID
    problem = err.to_problem()
    assert problem["code"] == "page_out_of_range"
    assert problem["pages"] == 3 and problem["page"] == page


def test_a_seal_mostly_off_the_page_is_refused_but_a_small_overhang_is_allowed() -> None:
    pages = [PageGeometry(ODD_BOX, rotate=90, text_rotate=90)]  # 792 x 612 as displayed
    (box,) = resolve(AtPoint(1, 750, 306), pages, 100, 100)  # 8 % over the right edge
    assert box.visible_rect == (700, 256, 800, 356)
    with pytest.raises(PositionOffPage) as caught:  # 38 % over the corner
        resolve(AtPoint(1, 780, 600), pages, 100, 100)
    assert caught.value.code == "seal_off_page"
    assert caught.value.kind is ErrorKind.INVALID
    assert "(780, 600)" in str(caught.value.detail) and "page 1" in str(caught.value.detail)
    with pytest.raises(PositionOffPage):
        resolve(AtPoint(1, 700, 700), pages, 100, 100)


def test_malformed_placements_are_refused() -> None:
    pages = [PageGeometry((0, 0, 595, 842))]
    with pytest.raises(InvalidPlacement):
        resolve(AtPoint(1, math.nan, 10), pages, 10, 10)
    with pytest.raises(InvalidPlacement):
        resolve(AtPoint(1, 10, 10), pages, 0, 10)
    with pytest.raises(InvalidPlacement):
        resolve(AtKeyword("  "), pages, 10, 10, hits=[])
    with pytest.raises(InvalidPlacement):
        resolve(AtKeyword("甲方", occurrence=0), pages, 10, 10, hits=[Hit(1, 0, 0, 1, 1)])
    with pytest.raises(InvalidPlacement):
        resolve(DefaultPlacement(margin=-1), pages, 10, 10)


def test_default_is_bottom_right_of_the_last_page() -> None:
    pages = [PageGeometry((0, 0, 595, 842)), PageGeometry(ODD_BOX, rotate=90, text_rotate=90)]
    (box,) = resolve(None, pages, 113.4, 113.4)
    margin = 20 * MM
    assert box.page_index == 1
    x0, y0, x1, y1 = box.visible_rect
    assert x1 == pytest.approx(792 - margin)
    assert y0 == pytest.approx(margin)
    assert (x1 - x0, y1 - y0) == pytest.approx((113.4, 113.4))
    assert resolve(DefaultPlacement(), pages, 113.4, 113.4) == (box,)


def test_default_on_a_tiny_page_moves_to_the_middle() -> None:
    (box,) = resolve(None, [PageGeometry((0, 0, 100, 80))], 60, 60)
    assert box.visible_rect == (20, 10, 80, 70)


def test_cross_page_strips_are_flush_right_at_one_height() -> None:
    pages = [
        PageGeometry((0, 0, 595, 842)),
        PageGeometry(ODD_BOX, rotate=90, text_rotate=90),
        PageGeometry(ODD_BOX, rotate=180, text_rotate=180),
        PageGeometry((0, 0, 842, 595), crop_box=(20, 20, 800, 580), rotate=270, text_rotate=270),
    ]
    boxes = resolve(CrossPage(y=300), pages, 120, 100)
    assert [b.page_index for b in boxes] == [0, 1, 2, 3]
    for box, g in zip(boxes, pages, strict=True):
        x0, y0, x1, y1 = box.visible_rect
        assert x1 == pytest.approx(g.visible_width)
        assert x1 - x0 == pytest.approx(30)
        assert (y0, y1) == pytest.approx((250, 350))
        assert g.rect_to_visible(box.rect) == pytest.approx(box.visible_rect)
    # the strips, left to right, tile the seal
    assert [b.crop for b in boxes] == [
        pytest.approx((30 * i, 0, 30 * (i + 1), 100)) for i in range(4)
    ]


def test_cross_page_default_height_is_the_middle_of_the_shortest_page() -> None:
    pages = [PageGeometry((0, 0, 595, 842)), PageGeometry((0, 0, 842, 595))]
    boxes = resolve(CrossPage(), pages, 100, 100)
    assert all(b.visible_rect[1] + 50 == pytest.approx(595 / 2) for b in boxes)


def test_cross_page_needs_two_pages() -> None:
    with pytest.raises(CrossPageNeedsTwoPages) as caught:
        resolve(CrossPage(), [PageGeometry((0, 0, 595, 842))], 100, 100)
    assert caught.value.code == "cross_page_needs_two_pages"
    assert caught.value.kind is ErrorKind.INVALID


def test_cross_page_height_must_be_on_every_page() -> None:
    pages = [PageGeometry((0, 0, 595, 842)), PageGeometry((0, 0, 842, 595))]
    with pytest.raises(PositionOffPage):
        resolve(CrossPage(y=700), pages, 100, 100)


def test_keyword_placement_centres_on_the_chosen_occurrence() -> None:
    pages = [PageGeometry((0, 0, 595, 842))] * 3
    hits = [
        Hit(1, 100, 700, 184, 714),
        Hit(2, 300, 200, 384, 214),
        Hit(3, 50, 100, 134, 114),
    ]
    (first,) = resolve(AtKeyword("甲方"), pages, 40, 40, hits=hits)
    assert first.page_index == 0
    assert first.visible_rect == (122, 687, 162, 727)
    (last,) = resolve(AtKeyword("甲方", occurrence=-1), pages, 40, 40, hits=hits)
    assert last.page_index == 2
    (second,) = resolve(AtKeyword("甲方", occurrence=2), pages, 40, 40, hits=hits)
    assert second.page_index == 1
    (on_page,) = resolve(AtKeyword("甲方", page=-1), pages, 40, 40, hits=hits)
    assert on_page.page_index == 2


def test_missing_keyword_or_occurrence_is_keyword_not_found() -> None:
    pages = [PageGeometry((0, 0, 595, 842))] * 2
    hits = [Hit(1, 100, 700, 184, 714)]
    with pytest.raises(KeywordNotFound) as caught:
        resolve(AtKeyword("丙方（盖章）"), pages, 40, 40, hits=[])
    assert caught.value.code == "keyword_not_found"
    assert caught.value.kind is ErrorKind.INVALID
    with pytest.raises(KeywordNotFound, match="occurs 1 time"):
        resolve(AtKeyword("甲方", occurrence=2), pages, 40, 40, hits=hits)
    with pytest.raises(KeywordNotFound, match="page 2"):
        resolve(AtKeyword("甲方", page=2), pages, 40, 40, hits=hits)
    with pytest.raises(PageOutOfRange):
        resolve(AtKeyword("甲方", page=3), pages, 40, 40, hits=hits)


def test_resolve_in_a_document_reads_its_pages() -> None:
    pdf = make_pdf([{"media": ODD_BOX, "rotate": 90}, {"media": ODD_BOX}])
    (box,) = resolve_in(pdf, AtPoint(1, 396, 306), 50, 50)
    assert box.rotation == 90  # the text is turned with /Rotate: the seal follows it
    (blank,) = resolve_in(
        make_pdf([{"media": ODD_BOX, "rotate": 90, "text": None}]), AtPoint(1, 396, 306), 50, 50
    )
    assert blank.rotation == 0  # no text: upright in user space
    assert blank.rect == box.rect
    assert box.rect == pytest.approx((381, 471, 431, 521))
    with pytest.raises(PageOutOfRange):
        resolve_in(pdf, AtPoint(3, 10, 10), 50, 50)


# --------------------------------------------------------------------------- rendered


@needs_poppler
@pytest.mark.parametrize("rotate", [0, 90, 180, 270])
def test_rendered_seal_lands_where_asked_and_upright(rotate: int, tmp_path: Path) -> None:
    pdf, _ = seal_pdf(make_pdf([{"media": ODD_BOX, "rotate": rotate}]), AtPoint(1, 150, 250))
    img = render(pdf, 1, tmp_path)
    vw, vh = (792, 612) if rotate in (90, 270) else (612, 792)
    assert img.size == pytest.approx((vw * PX, vh * PX), abs=1)
    x0, y0, x1, y1 = red_box(img)
    assert ((x0 + x1) / 2, (y0 + y1) / 2) == pytest.approx((150 * PX, (vh - 250) * PX), abs=2)
    assert (x1 - x0, y1 - y0) == pytest.approx((SEAL * PX, SEAL * PX), abs=3)
    assert widest_rows_on_top(img)
    assert gap_near_top(img)


@needs_poppler
def test_rendered_seal_respects_the_crop_box(tmp_path: Path) -> None:
    spec = {"media": ODD_BOX, "crop": (150, 120, 650, 820), "rotate": 90}  # 700 x 500 shown
    pdf, _ = seal_pdf(make_pdf([spec]), AtPoint(1, 100, 400))
    img = render(pdf, 1, tmp_path, cropbox=True)
    assert img.size == pytest.approx((700 * PX, 500 * PX), abs=1)
    x0, y0, x1, y1 = red_box(img)
    assert ((x0 + x1) / 2, (y0 + y1) / 2) == pytest.approx((100 * PX, 100 * PX), abs=2)
    assert widest_rows_on_top(img)
    assert gap_near_top(img)


@needs_poppler
def test_rendered_keyword_free_default_is_bottom_right(tmp_path: Path) -> None:
    pdf, _ = seal_pdf(make_pdf([{"media": ODD_BOX}, {"media": ODD_BOX, "rotate": 270}]), None)
    img = render(pdf, 2, tmp_path)
    _x0, _y0, x1, y1 = red_box(img)
    margin = 20 * MM * PX
    assert x1 == pytest.approx(img.size[0] - margin, abs=2)
    assert y1 == pytest.approx(img.size[1] - margin, abs=2)
    assert widest_rows_on_top(img)
    assert gap_near_top(img)


@needs_poppler
def test_rendered_cross_page_strips(tmp_path: Path) -> None:
    specs = [
        {"media": (0, 0, 595, 842)},
        {"media": ODD_BOX, "rotate": 90},
        {"media": ODD_BOX, "rotate": 180},
        {"media": (0, 0, 595, 842), "rotate": 270},
    ]
    pdf, boxes = seal_pdf(make_pdf(specs), CrossPage(y=300), size=120)
    assert len(boxes) == 4
    tops = []
    for page in range(1, 5):
        img = render(pdf, page, tmp_path)
        w, h = img.size
        x0, y0, x1, _y1 = red_box(img)
        assert x1 == pytest.approx(w - 1, abs=1), f"page {page}: strip not at the right edge"
        assert x1 - x0 == pytest.approx(30 * PX, abs=2), f"page {page}: strip width"
        # the bar at the top of the seal starts 360 pt above the bottom of every page
        top_from_bottom = h / PX - y0 / PX
        assert top_from_bottom == pytest.approx(360, abs=3), f"page {page}: height"
        assert gap_near_top(img), f"page {page}: strip not upright"
        tops.append(top_from_bottom)
    assert max(tops) - min(tops) <= 2
