"""Seal images: real size, shapes, glyph geometry, determinism, and cleaning of scans."""

from __future__ import annotations

import hashlib
import io
import itertools
import math
import struct
import zlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from PIL import Image, ImageDraw, ImageFilter

from seals.errors import InvalidImage, InvalidLicense, NameTooLong
from seals.images import SEAL_RED, FontMissing, clean_scan, find_cjk_font, render_seal
from seals.images.fonts import cjk_face_index, load_font
from seals.images.render import Glyph, legal_rep_text, seal_layout
from seals.kinds import SealKind, SealShape

NAME = "北京字节跳动网络技术有限公司"
USCC = "91110108551385082Q"
PERSON = "张一鸣"
LONG_NAME = "中国石油天然气股份有限公司北京销售分公司第三十二加油站管理处"  # 30 characters
ARCHED = [k for k in SealKind if k.info.shape is not SealShape.SQUARE]
CIRCLES = [k for k in SealKind if k.info.shape is SealShape.CIRCLE]
PX_PER_MM = 600 / 25.4


def _render(kind: SealKind, name: str = NAME, person: str = PERSON, **kw: object) -> Image.Image:
    png = render_seal(kind, name=name, uscc=USCC, legal_representative=person, **kw)  # type: ignore[arg-type]
    image = Image.open(io.BytesIO(png))
    image.load()
    return image


def _alpha_at(image: Image.Image, x_mm: float, y_mm: float) -> int:
    """Alpha at a point given in mm from the image centre (y down)."""
    x = image.width / 2 + x_mm * PX_PER_MM
    y = image.height / 2 + y_mm * PX_PER_MM
    return image.getpixel((int(x), int(y)))[3]  # type: ignore[index]


def _colours(image: Image.Image) -> set[tuple[int, int, int]]:
    """The colours of the visible (not fully transparent) pixels."""
    visible = image.getchannel("A").point(lambda v: 255 if v else 0)
    rgb = Image.new("RGB", image.size, (1, 2, 3))
    rgb.paste(image.convert("RGB"), mask=visible)
    return {c for _, c in rgb.getcolors(1 << 24) or [] if c != (1, 2, 3)}  # type: ignore[misc]


# ----------------------------------------------------------------------------- geometry helpers
# (written independently of the renderer's own overlap test)


def _corners(g: Glyph) -> list[tuple[float, float]]:
    a = math.radians(g.angle)
    right = (math.cos(a), math.sin(a))
    down = (-math.sin(a), math.cos(a))
    return [
        (
            g.x + sx * g.width / 2 * right[0] + sy * g.height / 2 * down[0],
            g.y + sx * g.width / 2 * right[1] + sy * g.height / 2 * down[1],
        )
        for sx, sy in ((-1, -1), (1, -1), (1, 1), (-1, 1))
    ]


def _separated(p: list[tuple[float, float]], q: list[tuple[float, float]]) -> bool:
    for poly in (p, q):
        for i in range(4):
            (x1, y1), (x2, y2) = poly[i], poly[(i + 1) % 4]
            axis = (y2 - y1, x1 - x2)
            pp = [axis[0] * x + axis[1] * y for x, y in p]
            qq = [axis[0] * x + axis[1] * y for x, y in q]
            if max(pp) <= min(qq) + 1e-9 or max(qq) <= min(pp) + 1e-9:
                return True
    return False


def _distance_to_origin(poly: list[tuple[float, float]]) -> float:
    best = math.inf
    for i in range(len(poly)):
        (x1, y1), (x2, y2) = poly[i], poly[(i + 1) % len(poly)]
        dx, dy = x2 - x1, y2 - y1
        t = max(0.0, min(1.0, -(x1 * dx + y1 * dy) / (dx * dx + dy * dy)))
        best = min(best, math.hypot(x1 + t * dx, y1 + t * dy))
    return best


def _assert_sound(kind: SealKind, name: str, person: str = PERSON) -> None:
    layout = seal_layout(kind, name=name, uscc=USCC, legal_representative=person)
    glyphs = layout.glyphs
    boxes = [_corners(g) for g in glyphs]
    # no two glyph boxes overlap (name with name, name with USCC and bottom text)
    for i in range(len(boxes)):
        for j in range(i + 1, len(boxes)):
            assert _separated(boxes[i], boxes[j]), (kind, name, glyphs[i], glyphs[j])
    # everything stays inside the border
    a = layout.width_mm / 2 - layout.border_mm
    b = layout.height_mm / 2 - layout.border_mm
    for box in boxes:
        for x, y in box:
            if kind.info.shape is SealShape.SQUARE:
                assert abs(x) <= a and abs(y) <= b
            else:
                assert (x / a) ** 2 + (y / b) ** 2 <= 1.0, (kind, name, x, y)
    # and clear of the star
    if layout.star_radius_mm:
        for box in boxes:
            assert _distance_to_origin(box) > layout.star_radius_mm
    if kind.info.shape is SealShape.SQUARE:
        return
    arc = layout.name
    assert "".join(g.text for g in arc) == " ".join(name.split())
    # each glyph is turned to stand on the curve: its "down" points inwards
    for g in arc:
        down = (-math.sin(math.radians(g.angle)), math.cos(math.radians(g.angle)))
        assert down[0] * -g.x + down[1] * -g.y > 0
        if layout.width_mm == layout.height_mm:  # circle: exactly radial
            assert math.degrees(math.atan2(g.x, -g.y)) == pytest.approx(g.angle, abs=0.01)
    # clockwise from the left, symmetric about the top, evenly spaced
    assert arc[0].x <= 0 <= arc[-1].x
    assert arc[0].x == pytest.approx(-arc[-1].x, abs=1e-6)
    assert arc[0].y == pytest.approx(arc[-1].y, abs=1e-6)
    if len(arc) > 2:
        steps = [math.dist((p.x, p.y), (q.x, q.y)) for p, q in itertools.pairwise(arc)]
        tolerance = 0.001 if kind.info.shape is SealShape.CIRCLE else 0.08
        assert max(steps) <= min(steps) * (1 + tolerance)


# ----------------------------------------------------------------------------- rendering

SIZES = {
    SealKind.OFFICIAL: (945, 945),
    SealKind.CONTRACT: (945, 945),
    SealKind.FINANCE: (898, 898),
    SealKind.INVOICE: (945, 709),
    SealKind.LEGAL_REP: (472, 472),
}


@pytest.mark.parametrize("kind", list(SealKind), ids=lambda k: k.value)
def test_real_size_transparent_red(kind: SealKind) -> None:
    image = _render(kind)
    width, height = SIZES[kind]
    assert image.format == "PNG" and image.mode == "RGBA"
    assert abs(image.width - width) <= 1 and abs(image.height - height) <= 1
    assert image.info["dpi"] == pytest.approx((600, 600), abs=0.01)
    # corners (outside a round seal) and most of the area are transparent
    corners = ((0, 0), (image.width - 1, 0), (0, image.height - 1), (2, image.height - 3))
    for xy in corners:
        assert image.getpixel(xy)[3] == (255 if kind is SealKind.LEGAL_REP else 0)  # type: ignore[index]
    alpha = image.getchannel("A")
    hist = alpha.histogram()
    total = image.width * image.height
    assert hist[0] / total > 0.45
    # there is solid ink, smooth edges, and every visible pixel is seal red
    assert sum(hist[250:]) / total > 0.08
    assert sum(hist[1:250]) > 0  # anti-aliased edges
    assert _colours(image) == {SEAL_RED}
    # the 1 mm border: solid in the middle of the rim at the top and on the left
    assert _alpha_at(image, 0, -image.height / PX_PER_MM / 2 + 0.5) > 200
    assert _alpha_at(image, -image.width / PX_PER_MM / 2 + 0.5, 0) > 200
    # and just inside the rim, paper again (nothing is drawn against the border)
    assert _alpha_at(image, 0, image.height / PX_PER_MM / 2 - 1.4) == 0


@pytest.mark.parametrize("kind", CIRCLES, ids=lambda k: k.value)
def test_star_in_the_centre(kind: SealKind) -> None:
    image = _render(kind)
    assert _alpha_at(image, 0, 0) == 255
    assert _alpha_at(image, 0, -6.3) > 200  # near the top point of a 14 mm star
    assert _alpha_at(image, 0, -7.6) == 0  # just beyond it
    assert _alpha_at(image, 3, -1.5) > 200  # the star's body, to the right of the centre


def test_invoice_has_uscc_across_the_centre_and_no_star() -> None:
    layout = seal_layout(SealKind.INVOICE, name=NAME, uscc=USCC, legal_representative=PERSON)
    assert layout.star_radius_mm is None
    assert [g.text for g in layout.center] == [USCC]
    assert "".join(g.text for g in layout.bottom) == "发票专用章"
    assert layout.center[0].y == 0 and 20 <= layout.center[0].width <= 28
    assert layout.bottom[0].y > layout.center[0].y
    image = _render(SealKind.INVOICE)
    # ink along the centre line, where the USCC is
    row = [_alpha_at(image, x / 2, 0) for x in range(-24, 25)]
    assert sum(1 for a in row if a > 128) >= 8


@pytest.mark.parametrize("kind", [SealKind.CONTRACT, SealKind.FINANCE], ids=lambda k: k.value)
def test_bottom_text(kind: SealKind) -> None:
    layout = seal_layout(kind, name=NAME, uscc=USCC, legal_representative=PERSON)
    assert "".join(g.text for g in layout.bottom) == kind.info.bottom_text
    assert all(g.angle == 0 and g.y > layout.star_radius_mm for g in layout.bottom)  # type: ignore[operator]
    assert (
        seal_layout(SealKind.OFFICIAL, name=NAME, uscc=USCC, legal_representative="").bottom == ()
    )


@pytest.mark.parametrize("kind", ARCHED, ids=lambda k: k.value)
@pytest.mark.parametrize("length", [2, 10, 14, 20, 30, 40])
def test_arched_name_glyphs_do_not_overlap(kind: SealKind, length: int) -> None:
    name = (NAME + LONG_NAME + NAME)[:length]
    _assert_sound(kind, name)


@pytest.mark.parametrize("kind", ARCHED, ids=lambda k: k.value)
def test_long_names_get_smaller_type_and_a_longer_arc(kind: SealKind) -> None:
    def summary(name: str) -> tuple[float, float]:
        layout = seal_layout(kind, name=name, uscc=USCC, legal_representative=PERSON)
        return layout.name[0].height, layout.name[-1].angle

    short_h, short_end = summary(NAME[:6])
    long_h, long_end = summary(LONG_NAME)
    assert long_h < short_h
    assert long_end > short_end
    assert long_h >= 2.5  # legible
    assert long_end < 150  # never all the way round


@pytest.mark.parametrize("kind", ARCHED, ids=lambda k: k.value)
def test_absurd_name_is_refused(kind: SealKind) -> None:
    with pytest.raises(NameTooLong) as info:
        render_seal(kind, name="中" * 80, uscc=USCC, legal_representative=PERSON)
    assert info.value.code == "name_too_long"
    assert "80 characters" in info.value.detail


@pytest.mark.parametrize(
    ("person", "text"),
    [
        ("王伟", "王伟之印"),
        ("张一鸣", "张一鸣印"),
        ("欧阳娜娜", "欧阳娜娜"),
        (" 李 娜 ", "李娜之印"),
    ],
)
def test_legal_rep_columns_read_right_to_left(person: str, text: str) -> None:
    assert legal_rep_text(person) == text
    layout = seal_layout(SealKind.LEGAL_REP, name=NAME, uscc=USCC, legal_representative=person)
    glyphs = layout.name
    assert len(glyphs) == 4
    # 2×2: right column first, top to bottom
    assert glyphs[0].x == glyphs[1].x > 0 > glyphs[2].x == glyphs[3].x
    assert glyphs[0].y == glyphs[2].y < 0 < glyphs[1].y == glyphs[3].y
    ordered = sorted(glyphs, key=lambda g: (-g.x, g.y))
    assert "".join(g.text for g in ordered) == text
    _assert_sound(SealKind.LEGAL_REP, NAME, person)


def test_legal_rep_longer_names_and_limits() -> None:
    _assert_sound(SealKind.LEGAL_REP, NAME, "阿卜杜热合曼·买买提")
    with pytest.raises(NameTooLong):
        render_seal(SealKind.LEGAL_REP, name=NAME, uscc=USCC, legal_representative="王" * 80)


def test_empty_names_are_refused() -> None:
    with pytest.raises(InvalidLicense):
        render_seal(SealKind.OFFICIAL, name="  ", uscc=USCC, legal_representative=PERSON)
    with pytest.raises(InvalidLicense):
        render_seal(SealKind.LEGAL_REP, name=NAME, uscc=USCC, legal_representative="")


def test_character_missing_from_the_font_is_refused() -> None:
    with pytest.raises(InvalidLicense) as info:
        render_seal(
            SealKind.OFFICIAL, name="笑脸\U0001f600公司", uscc=USCC, legal_representative=PERSON
        )
    assert info.value.code == "character_not_in_font"


def test_deterministic() -> None:
    for kind in SealKind:
        one = render_seal(kind, name=NAME, uscc=USCC, legal_representative=PERSON)
        two = render_seal(kind, name=NAME, uscc=USCC, legal_representative=PERSON)
        assert hashlib.sha256(one).digest() == hashlib.sha256(two).digest()
    other = render_seal(
        SealKind.OFFICIAL, name=NAME + "分公司", uscc=USCC, legal_representative="x"
    )
    assert other != render_seal(SealKind.OFFICIAL, name=NAME, uscc=USCC, legal_representative="x")
    assert b"tIME" not in one


def test_thread_safe() -> None:
    def draw(kind: SealKind) -> bytes:
        return render_seal(kind, name=NAME, uscc=USCC, legal_representative=PERSON, dpi=150)

    kinds = list(SealKind) * 3
    with ThreadPoolExecutor(max_workers=6) as pool:
        results = list(pool.map(draw, kinds))
    assert results == [draw(kind) for kind in kinds]


def test_other_dpi() -> None:
    image = _render(SealKind.OFFICIAL, dpi=300)
    assert image.size == (472, 472)
    assert image.info["dpi"] == pytest.approx((300, 300), abs=0.01)
    with pytest.raises(InvalidImage):
        render_seal(SealKind.OFFICIAL, name=NAME, uscc=USCC, legal_representative=PERSON, dpi=10)


# ----------------------------------------------------------------------------- fonts


def test_font_lookup(tmp_path: Path) -> None:
    font = find_cjk_font()
    assert font.is_file()
    assert find_cjk_font(font) == font
    family, _ = load_font(font, 20).getname()
    if font.suffix.lower() == ".ttc":
        assert cjk_face_index(font) >= 0
        assert "SC" in (family or "").split()
    with pytest.raises(FontMissing) as info:
        find_cjk_font(tmp_path / "missing.ttc")
    assert info.value.code == "font_missing"
    assert "fonts-noto-cjk" in info.value.detail and "ESEAL_FONT_PATH" in info.value.detail
    junk = tmp_path / "junk.ttf"
    junk.write_bytes(b"not a font")
    with pytest.raises(FontMissing):
        find_cjk_font(junk)


def test_font_lookup_falls_back_to_fontconfig(monkeypatch: pytest.MonkeyPatch) -> None:
    from seals.images import fonts

    monkeypatch.setattr(fonts, "_NOTO_DIRS", ())
    if fonts.shutil.which("fc-list") is None:
        pytest.skip("no fontconfig")
    found = find_cjk_font()
    assert found.is_file()
    assert ord("印") in fonts.font_charset(found, cjk_face_index(found))
    # neither the known places nor fontconfig: a clear error
    monkeypatch.setattr(fonts.shutil, "which", lambda name: None)
    with pytest.raises(FontMissing, match="install fonts-noto-cjk"):
        find_cjk_font()


# ----------------------------------------------------------------------------- scans


def _scan(
    paper: tuple[int, int, int], *, fmt: str = "JPEG", rotate: float = 8
) -> tuple[bytes, int]:
    """A photo-like scan of the official seal on ``paper`` with noise and black text.

    Returns the file and the number of solid ink pixels the seal had before scanning."""
    seal = _render(SealKind.OFFICIAL, dpi=300)
    solid = sum(seal.getchannel("A").histogram()[129:])
    width, height = 1000, 760
    page = Image.new("RGB", (width, height), paper)
    noise = Image.effect_noise((width, height), 20).convert("RGB")
    page = Image.blend(page, noise, 0.1)
    draw = ImageDraw.Draw(page)
    for i in range(9):
        draw.text(
            (30, 30 + i * 80), f"合同正文 line {i} — signed by both parties", fill=(35, 35, 35)
        )
        draw.line((30, 60 + i * 80, 960, 60 + i * 80), fill=(120, 120, 120), width=2)
    ink = Image.new("RGBA", seal.size, (190, 25, 40, 0))
    ink.putalpha(seal.getchannel("A").point(lambda v: v * 9 // 10))
    ink = ink.rotate(rotate, resample=Image.Resampling.BICUBIC, expand=True)
    ink = ink.filter(ImageFilter.GaussianBlur(0.7))
    page.paste(ink, (300, 130), ink)
    out = io.BytesIO()
    page.save(out, fmt, **({"quality": 80} if fmt == "JPEG" else {}))
    return out.getvalue(), solid


def _check_cleaned(png: bytes, solid_before: int, *, rotate: float = 8) -> Image.Image:
    image = Image.open(io.BytesIO(png))
    image.load()
    assert image.format == "PNG" and image.mode == "RGBA"
    # cropped to the seal (472 px at 300 dpi, grown by the rotation) with a small margin
    expected = 472 * (abs(math.cos(math.radians(rotate))) + abs(math.sin(math.radians(rotate))))
    assert 0.9 * 472 <= image.width <= expected * 1.1
    assert 0.9 * 472 <= image.height <= expected * 1.1
    for xy in ((0, 0), (image.width - 1, 0), (0, image.height - 1)):
        assert image.getpixel(xy)[3] == 0  # type: ignore[index]
    hist = image.getchannel("A").histogram()
    solid_after = sum(hist[129:])
    assert 0.8 * solid_before <= solid_after <= 1.25 * solid_before
    # the paper is gone: few faint pixels beyond the ink's edges
    assert sum(hist[1:129]) < 0.6 * solid_after
    assert hist[0] > 0.5 * image.width * image.height
    assert _colours(image) == {SEAL_RED}
    return image


@pytest.mark.parametrize(
    "paper",
    [(255, 255, 255), (243, 236, 214), (226, 210, 178), (205, 205, 200)],
    ids=["white", "cream", "beige", "grey"],
)
def test_clean_scan_keeps_the_red(paper: tuple[int, int, int]) -> None:
    data, solid = _scan(paper)
    image = _check_cleaned(clean_scan(data), solid)
    # the star is still in the middle
    assert image.getpixel((image.width // 2, image.height // 2))[3] > 200  # type: ignore[index]


def test_clean_scan_png_and_transparent_input() -> None:
    data, solid = _scan((240, 235, 220), fmt="PNG", rotate=0)
    _check_cleaned(clean_scan(data), solid, rotate=0)
    # a transparent PNG (the rendered seal itself) is read as if on white paper
    rendered = render_seal(
        SealKind.OFFICIAL, name=NAME, uscc=USCC, legal_representative="", dpi=300
    )
    _check_cleaned(clean_scan(rendered), solid, rotate=0)


def test_clean_scan_is_deterministic() -> None:
    data, _ = _scan((243, 236, 214))
    assert clean_scan(data) == clean_scan(data)


def _png(width: int, height: int, idat: bytes) -> bytes:
    def chunk(tag: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + tag + body + struct.pack(">I", zlib.crc32(tag + body))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def _no_red() -> bytes:
    page = Image.new("RGB", (400, 300), (245, 240, 225))
    draw = ImageDraw.Draw(page)
    for i in range(6):
        draw.text((20, 20 + 40 * i), "black text only, a grey line below", fill=(0, 0, 0))
        draw.line((20, 40 + 40 * i, 380, 40 + 40 * i), fill=(128, 128, 128), width=3)
    out = io.BytesIO()
    page.save(out, "JPEG")
    return out.getvalue()


def _gif() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (10, 10), (255, 0, 0)).save(out, "GIF")
    return out.getvalue()


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "empty"),
        (b"%PDF-1.7 not an image at all", "not a PNG or JPEG"),
        (_gif(), "not a PNG or JPEG"),
        (
            render_seal(SealKind.OFFICIAL, name=NAME, uscc=USCC, legal_representative="")[:5000],
            "corrupt or truncated",
        ),
        (_png(100_000, 100_000, zlib.compress(b"\0" * 4)), "too large"),  # Pillow's own bomb guard
        (_png(7_000, 7_000, zlib.compress(b"\0" * 4)), "pixels"),  # over our limit
        (_png(3, 3, b"garbage, not deflate"), "corrupt or truncated"),
        (_no_red(), "no red seal found"),
        (Image.new("RGB", (1, 1)).tobytes(), "not a PNG or JPEG"),
    ],
    ids=["empty", "pdf", "gif", "truncated", "bomb", "oversized", "bad-deflate", "no-red", "raw"],
)
def test_clean_scan_refuses(data: bytes, message: str) -> None:
    with pytest.raises(InvalidImage) as info:
        clean_scan(data)
    assert info.value.code == "invalid_image"
    assert message in info.value.detail


def test_clean_scan_max_pixels() -> None:
    data, _ = _scan((255, 255, 255))
    with pytest.raises(InvalidImage, match="at most 100,000 pixels"):
        clean_scan(data, max_pixels=100_000)
