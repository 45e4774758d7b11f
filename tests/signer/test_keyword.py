"""Keyword search in contracts: CJK text in CID fonts with ToUnicode maps, however it is cut up.

The test contracts are written here with pyHanko and the Noto Sans CJK SC face (an embedded
CID-keyed CFF font, ``/Identity-H``, with a ``/ToUnicode`` map), as real contract producers
do; a few hand-written fonts exercise CMap features pyHanko does not emit.  Positions are
checked against where the text was written and, on rotated pages, against poppler's
``pdftotext -bbox``.
"""

from __future__ import annotations

import io
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.generic import pdf_name
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.pdf_utils.writer import PageObject, PdfFileWriter

from keystore.errors import ErrorKind
from pdfs import NOTO_TTC, SIZE, Contract, extract_cjk_face
from signer.errors import InvalidPlacement, KeywordNotFound
from signer.keyword import Hit, find_keyword, page_glyphs
from signer.placement import AtKeyword, PageGeometry, iter_pages, open_pdf, resolve_in

ODD_BOX = (100.0, 100.0, 712.0, 892.0)


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="session")
def cjk_font(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The Simplified Chinese face of Noto Sans CJK, as a single OpenType file."""
    if not NOTO_TTC.exists():
        pytest.skip("fonts-noto-cjk is not installed")
    return extract_cjk_face(tmp_path_factory.mktemp("fonts"))


@pytest.fixture(scope="session")
def metrics(cjk_font: Path) -> tuple[float, float]:
    """Ascent and descent of the face per unit of font size, as pyHanko declares them."""
    from fontTools.ttLib import TTFont

    font = TTFont(str(cjk_font), lazy=True)
    upem = font["head"].unitsPerEm
    return font["hhea"].ascent / upem, font["hhea"].descent / upem


def expected(x: float, y: float, chars: int, metrics: tuple[float, float], size: float = SIZE):
    """The box of ``chars`` full-width glyphs written at baseline origin (x, y)."""
    ascent, descent = metrics
    return pytest.approx((x, y + descent * size, x + chars * size, y + ascent * size), abs=2)


def box(hit: Hit) -> tuple[float, float, float, float]:
    return (hit.x0, hit.y0, hit.x1, hit.y1)


@pytest.fixture(scope="module")
def contract(cjk_font: Path) -> bytes:
    """Page 1: the signing block of a two-party contract; page 2: 甲方 signs again, twice."""
    doc = Contract(cjk_font)
    doc.page(
        doc.line("采购合同", 250, 780, 18)
        + doc.line("本合同由甲乙双方协商一致，自双方盖章之日起生效。", 72, 700)
        + doc.line("甲方（盖章）：", 72, 200)
        + doc.line("乙方（盖章）：", 330, 200)
        + doc.line("日期：2025年3月1日", 72, 170)
    )
    doc.page(doc.line("补充条款，甲方（盖章）：", 72, 600) + doc.line("甲方（盖章）：", 300, 100))
    return doc.pdf()


# --------------------------------------------------------------------------- positions


def test_hits_are_where_the_text_was_written(contract: bytes, metrics) -> None:
    (hit,) = find_keyword(contract, "甲方（盖章）", pages=[1])
    assert hit.page == 1
    assert box(hit) == expected(72, 200, 6, metrics)
    (hit,) = find_keyword(contract, "乙方（盖章）：")
    assert box(hit) == expected(330, 200, 7, metrics)


def test_every_occurrence_in_reading_order(contract: bytes, metrics) -> None:
    hits = find_keyword(contract, "（盖章）")
    assert [h.page for h in hits] == [1, 1, 2, 2]
    assert box(hits[0]) == expected(72 + 2 * SIZE, 200, 4, metrics)  # 甲方 left of 乙方
    assert box(hits[1]) == expected(330 + 2 * SIZE, 200, 4, metrics)
    assert hits[2].y0 > hits[3].y0  # page 2: top line first
    assert find_keyword(contract, "甲方（盖章）", pages=[2])[0].x0 == pytest.approx(
        72 + 5 * SIZE, abs=2
    )


def test_whitespace_and_width_forms_are_ignored(contract: bytes) -> None:
    (reference,) = find_keyword(contract, "甲方（盖章）", pages=[1])
    for variant in ["甲方 （盖章）", " 甲 方（ 盖 章 ）\n", "甲方(盖章)", "甲方（盖章)"]:
        assert find_keyword(contract, variant, pages=[1]) == [reference], variant
    # a year typed with full-width digits matches the ASCII digits of the text
    assert len(find_keyword(contract, "２０２５年")) == 1


def test_text_cut_into_one_glyph_per_tj_element(cjk_font: Path, metrics) -> None:
    doc = Contract(cjk_font)
    codes = doc.codes("甲方（盖章）：")
    # zero adjustments between glyphs, then a 500/1000 em gap before the colon
    parts = b" 0 ".join(codes[:-1]) + b" -500 " + codes[-1]
    doc.page(b"BT /F1 12 Tf 100 400 Td [" + parts + b"] TJ ET")
    pdf = doc.pdf()
    (hit,) = find_keyword(pdf, "甲方（盖章）")
    assert box(hit) == expected(100, 400, 6, metrics)
    (hit,) = find_keyword(pdf, "章）：")
    assert hit.x1 == pytest.approx(100 + 7.5 * SIZE, abs=1)


def test_text_split_across_operators_and_blocks(cjk_font: Path, metrics) -> None:
    doc = Contract(cjk_font)
    jia, fang, *rest = doc.codes("甲方（盖章）")
    # 甲 and 方 in two Tj, the bracket part in a later block with other text drawn between
    content = (
        b"BT /F1 12 Tf 100 400 Td "
        + jia
        + b" Tj "
        + fang
        + b" Tj ET\n"
        + doc.line("无关文字", 300, 600)
        + b"BT /F1 12 Tf 124 400 Td <"
        + b"".join(code[1:-1] for code in rest)
        + b"> Tj ET\n"
    )
    doc.page(content)
    (hit,) = find_keyword(doc.pdf(), "甲方（盖章）")
    assert box(hit) == expected(100, 400, 6, metrics)


def test_text_drawn_out_of_order_is_found_in_reading_order(cjk_font: Path, metrics) -> None:
    doc = Contract(cjk_font)
    doc.page(doc.line("（盖章）：", 124, 300) + doc.line("乙方", 100, 300))
    (hit,) = find_keyword(doc.pdf(), "乙方（盖章）")
    assert box(hit) == expected(100, 300, 6, metrics)


def test_text_state_operators_are_followed(cjk_font: Path) -> None:
    doc = Contract(cjk_font)
    # char spacing 1 pt and 50 % horizontal scaling: each glyph advances (12 + 1) * 0.5
    doc.page(b"BT /F1 12 Tf 1 Tc 50 Tz 100 400 Td " + doc.ops("甲方（盖章）") + b" ET")
    (hit,) = find_keyword(doc.pdf(), "甲方（盖章）")
    assert hit.x0 == pytest.approx(100, abs=0.5)
    assert hit.x1 == pytest.approx(100 + 5 * 6.5 + 6, abs=0.5)


def test_text_in_a_form_xobject_under_a_cm(cjk_font: Path, metrics) -> None:
    doc = Contract(cjk_font)
    inner = doc.line("甲方（盖章）：", 10, 20)
    form = doc.form(inner, (1, 0, 0, 1, 50, 0))
    doc.page(b"q 2 0 0 2 30 40 cm /Fm1 Do Q", Fm1=form)
    (hit,) = find_keyword(doc.pdf(), "甲方（盖章）")
    # ((10 + 50) * 2 + 30, 20 * 2 + 40) at twice the size
    assert box(hit) == expected(150, 80, 6, metrics, size=2 * SIZE)


def test_fake_bold_counts_once(cjk_font: Path) -> None:
    doc = Contract(cjk_font)
    doc.page(doc.line("甲方（盖章）：", 100, 300) + doc.line("甲方（盖章）：", 100.3, 300))
    assert len(find_keyword(doc.pdf(), "甲方（盖章）")) == 1


@pytest.mark.parametrize("rotate", [0, 90, 180, 270])
def test_rotated_pages_with_an_odd_media_box(cjk_font: Path, metrics, rotate: int) -> None:
    doc = Contract(cjk_font)
    doc.page(doc.line("甲方（盖章）：", 200, 300), media=ODD_BOX, rotate=rotate)
    pdf = doc.pdf()
    (hit,) = find_keyword(pdf, "甲方（盖章）：")
    geometry = PageGeometry(ODD_BOX, rotate=rotate)
    ascent, descent = metrics
    written = (200, 300 + descent * SIZE, 200 + 7 * SIZE, 300 + ascent * SIZE)
    assert box(hit) == pytest.approx(geometry.rect_to_visible(written), abs=2)
    if shutil.which("pdftotext"):
        # poppler's word box, top-left origin in the displayed page
        (x0, y0, x1, y1) = poppler_word_box(pdf, "甲方（盖章）：")
        height = geometry.visible_height
        assert box(hit) == pytest.approx((x0, height - y1, x1, height - y0), abs=2)


def poppler_word_box(pdf: bytes, word: str) -> tuple[float, ...]:
    out = subprocess.run(
        ["pdftotext", "-bbox", "-", "-"], input=pdf, capture_output=True, check=True
    ).stdout.decode()
    for m in re.finditer(
        r'<word xMin="([\d.]+)" yMin="([\d.]+)" xMax="([\d.]+)" yMax="([\d.]+)">([^<]*)</word>', out
    ):
        if m.group(5) == word:
            return tuple(float(v) for v in m.groups()[:4])
    raise AssertionError(f"poppler did not find {word!r}")


# --------------------------------------------------------------------------- fonts by hand


def hand_made(font: generic.DictionaryObject, content: bytes) -> bytes:
    writer = PdfFileWriter()
    font_ref = writer.add_object(font)
    stream = writer.add_object(generic.StreamObject(stream_data=content))
    resources = generic.DictionaryObject(
        {pdf_name("/Font"): generic.DictionaryObject({pdf_name("/F1"): font_ref})}
    )
    writer.insert_page(PageObject(contents=stream, media_box=(0, 0, 595, 842), resources=resources))
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def cmap_stream(body: bytes) -> generic.StreamObject:
    return generic.StreamObject(
        stream_data=b"/CIDInit /ProcSet findresource begin 12 dict begin begincmap\n"
        b"/CMapName /Test-UCS def /CMapType 2 def\n"
        b"1 begincodespacerange <0000> <FFFF> endcodespacerange\n" + body + b"\nendcmap end end"
    )


def test_hand_written_cmap_with_ranges_and_kangxi_radicals() -> None:
    # 方 is mapped to the Kangxi radical ⽅ (U+2F45), as some producers do; digits by a range
    to_unicode = cmap_stream(
        b"2 beginbfrange\n<0001> <0002> [<7532> <2F45>]\n<0010> <0019> <0030>\nendbfrange\n"
        b"4 beginbfchar\n<0003> <FF08>\n<0004> <76D6>\n<0005> <7AE0>\n<0006> <FF09>\nendbfchar"
    )
    font = generic.DictionaryObject(
        {
            pdf_name("/Type"): pdf_name("/Font"),
            pdf_name("/Subtype"): pdf_name("/Type0"),
            pdf_name("/BaseFont"): pdf_name("/Hand"),
            pdf_name("/Encoding"): pdf_name("/Identity-H"),
            pdf_name("/ToUnicode"): to_unicode,
            pdf_name("/DescendantFonts"): generic.ArrayObject(
                [
                    generic.DictionaryObject(
                        {
                            pdf_name("/Type"): pdf_name("/Font"),
                            pdf_name("/Subtype"): pdf_name("/CIDFontType2"),
                            pdf_name("/BaseFont"): pdf_name("/Hand"),
                            pdf_name("/DW"): generic.NumberObject(1000),
                            # digits are half width: CIDs 16..25 (format "first last width")
                            pdf_name("/W"): generic.ArrayObject(
                                [generic.NumberObject(v) for v in (16, 25, 500)]
                            ),
                        }
                    )
                ]
            ),
        }
    )
    content = (
        b"BT /F1 10 Tf 100 500 Td <000100020003000400050006> Tj ET\n"
        b"BT /F1 10 Tf 100 400 Td <0012001000120015> Tj ET"
    )
    pdf = hand_made(font, content)
    (hit,) = find_keyword(pdf, "甲方（盖章）")
    assert (hit.x0, hit.x1) == pytest.approx((100, 160))
    assert (hit.y0, hit.y1) == pytest.approx((500 - 1.2, 500 + 8.8))  # default ascent/descent
    (year,) = find_keyword(pdf, "2025")
    assert (year.x0, year.x1) == pytest.approx((100, 120))


def test_vertical_writing() -> None:
    # 竖排 (Identity-V): glyphs run downwards from the origin, each a 1 em cell under it
    to_unicode = cmap_stream(
        b"4 beginbfchar\n<0001> <7532>\n<0002> <65B9>\n<0003> <76D6>\n<0004> <7AE0>\nendbfchar"
    )
    font = generic.DictionaryObject(
        {
            pdf_name("/Type"): pdf_name("/Font"),
            pdf_name("/Subtype"): pdf_name("/Type0"),
            pdf_name("/BaseFont"): pdf_name("/HandV"),
            pdf_name("/Encoding"): pdf_name("/Identity-V"),
            pdf_name("/ToUnicode"): to_unicode,
            pdf_name("/DescendantFonts"): generic.ArrayObject(
                [
                    generic.DictionaryObject(
                        {
                            pdf_name("/Type"): pdf_name("/Font"),
                            pdf_name("/Subtype"): pdf_name("/CIDFontType0"),
                            pdf_name("/BaseFont"): pdf_name("/HandV"),
                        }
                    )
                ]
            ),
        }
    )
    pdf = hand_made(font, b"BT /F1 10 Tf 100 500 Td <0001000200030004> Tj ET")
    (hit,) = find_keyword(pdf, "甲方盖章")
    assert box(hit) == pytest.approx((95, 460, 105, 500))
    (hit,) = find_keyword(pdf, "盖章")
    assert box(hit) == pytest.approx((95, 460, 105, 480))


def test_latin_keyword_in_a_standard_font() -> None:
    font = generic.DictionaryObject(
        {
            pdf_name("/Type"): pdf_name("/Font"),
            pdf_name("/Subtype"): pdf_name("/Type1"),
            pdf_name("/BaseFont"): pdf_name("/Helvetica"),
            pdf_name("/Encoding"): pdf_name("/WinAnsiEncoding"),
        }
    )
    pdf = hand_made(font, b"BT /F1 10 Tf 72 300 Td (Party A \\(Seal\\):) Tj ET")
    (hit,) = find_keyword(pdf, "PartyA(Seal)")
    assert hit.x0 == pytest.approx(72)
    assert hit.y0 < 300 < hit.y1


def test_inline_images_comments_and_junk_do_not_derail_the_parser(cjk_font: Path, metrics) -> None:
    doc = Contract(cjk_font)
    junk = (
        b"% a comment with (unbalanced parens and ] brackets\n"
        b"q 2 0 0 2 0 0 cm BI /W 4 /H 1 /BPC 8 /CS /G ID \x00EI\xffTj) ]\n EI Q\n"
        b"] ) 1 2 3 Tz0\n"
    )
    doc.page(junk + doc.line("甲方（盖章）：", 100, 300))
    (hit,) = find_keyword(doc.pdf(), "甲方（盖章）")
    assert box(hit) == expected(100, 300, 6, metrics)


# --------------------------------------------------------------------------- interfaces


def test_reader_writer_and_bytes_give_the_same_hits(contract: bytes) -> None:
    from_bytes = find_keyword(contract, "乙方（盖章）")
    reader = PdfFileReader(io.BytesIO(contract))
    writer = IncrementalPdfFileWriter(io.BytesIO(contract))
    assert find_keyword(reader, "乙方（盖章）") == from_bytes
    assert find_keyword(writer, "乙方（盖章）") == from_bytes


def test_page_glyphs_exposes_the_decoded_text(contract: bytes) -> None:
    page = next(iter(iter_pages(open_pdf(contract))))
    text = "".join(g.text for g in page_glyphs(page))
    assert "甲方（盖章）：" in text and "乙方（盖章）：" in text


def test_missing_keyword_is_a_clear_error_without_document_text(contract: bytes) -> None:
    with pytest.raises(KeywordNotFound) as caught:
        find_keyword(contract, "丙方（盖章）")
    err = caught.value
    assert err.code == "keyword_not_found"
    assert err.kind is ErrorKind.INVALID
    assert "丙方（盖章）" in err.detail
    assert "乙方" not in err.detail and "采购" not in err.detail
    assert find_keyword(contract, "丙方（盖章）", missing_ok=True) == []


def test_empty_keyword_is_refused(contract: bytes) -> None:
    with pytest.raises(InvalidPlacement):
        find_keyword(contract, " \n")


def test_resolve_in_centres_the_seal_on_the_keyword(contract: bytes, metrics) -> None:
    (widget,) = resolve_in(contract, AtKeyword("乙方（盖章）"), 113.4, 113.4)
    ascent, descent = metrics
    centre = ((330 + 330 + 6 * SIZE) / 2, 200 + (ascent + descent) / 2 * SIZE)
    x0, y0, x1, y1 = widget.visible_rect
    assert ((x0 + x1) / 2, (y0 + y1) / 2) == pytest.approx(centre, abs=2)
    (last,) = resolve_in(contract, AtKeyword("甲方（盖章）", occurrence=-1), 40, 40)
    assert last.page_index == 1
    with pytest.raises(KeywordNotFound):
        resolve_in(contract, AtKeyword("乙方（盖章）", page=2), 40, 40)


# --------------------------------------------------------------------------- another producer


def cairo_contract(path: Path) -> bool:
    """Write a contract with the system's cairo (through ctypes), as Linux producers do.

    Cairo writes an upside-down page matrix, a 1 pt font scaled by the text matrix, and the
    font as a CID-keyed CFF subset with its own ToUnicode map: an independent producer.
    """
    import ctypes
    import ctypes.util

    name = ctypes.util.find_library("cairo")
    if name is None:
        return False
    cairo = ctypes.CDLL(name)
    ptr, dbl, txt = ctypes.c_void_p, ctypes.c_double, ctypes.c_char_p
    signatures = {
        "cairo_pdf_surface_create": ([txt, dbl, dbl], ptr),
        "cairo_create": ([ptr], ptr),
        "cairo_select_font_face": ([ptr, txt, ctypes.c_int, ctypes.c_int], None),
        "cairo_set_font_size": ([ptr, dbl], None),
        "cairo_move_to": ([ptr, dbl, dbl], None),
        "cairo_show_text": ([ptr, txt], None),
        "cairo_show_page": ([ptr], None),
        "cairo_destroy": ([ptr], None),
        "cairo_surface_finish": ([ptr], None),
        "cairo_surface_destroy": ([ptr], None),
    }
    for fn, (args, result) in signatures.items():
        getattr(cairo, fn).argtypes = args
        getattr(cairo, fn).restype = result
    surface = cairo.cairo_pdf_surface_create(str(path).encode(), 595.0, 842.0)
    cr = cairo.cairo_create(surface)
    cairo.cairo_select_font_face(cr, b"Noto Sans CJK SC", 0, 0)
    cairo.cairo_set_font_size(cr, SIZE)
    for text, x, y_from_top in [("甲方（盖章）：", 72.0, 642.0), ("乙方（盖章）：", 330.0, 642.0)]:
        cairo.cairo_move_to(cr, x, y_from_top)
        cairo.cairo_show_text(cr, text.encode())
    cairo.cairo_show_page(cr)
    cairo.cairo_destroy(cr)
    cairo.cairo_surface_finish(surface)
    cairo.cairo_surface_destroy(surface)
    return path.exists()


def test_contract_written_by_cairo(tmp_path: Path, cjk_font: Path, metrics) -> None:
    path = tmp_path / "cairo.pdf"
    if not cairo_contract(path):
        pytest.skip("libcairo is not available")
    pdf = path.read_bytes()
    if b"Noto" not in pdf:
        pytest.skip("cairo did not find the Noto CJK font")
    (hit,) = find_keyword(pdf, "乙方（盖章）")
    assert box(hit) == expected(330, 842 - 642, 6, metrics)
    assert [h.x0 for h in find_keyword(pdf, "（盖章）")] == pytest.approx([96, 354], abs=2)
