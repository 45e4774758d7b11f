"""The font-free upright check answers only where the full text reader would answer 0 or None.

A seal's placement asks which way a page's text stands.  Pages whose every string stands
upright are answered from their content stream alone, without parsing a font; any other page
still goes through :func:`signer.pages.text_rotation`.  The two must never disagree on where a
seal goes.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.generic import pdf_name
from pyhanko.pdf_utils.writer import PageObject, PdfFileWriter

from signer.pages import PageGeometry, _all_text_upright, iter_pages, open_pdf, text_rotation


def _font(writer: PdfFileWriter) -> generic.IndirectObject:
    return writer.add_object(
        generic.DictionaryObject(
            {
                pdf_name("/Type"): pdf_name("/Font"),
                pdf_name("/Subtype"): pdf_name("/Type1"),
                pdf_name("/BaseFont"): pdf_name("/Helvetica"),
            }
        )
    )


def _turn(turn: int) -> str:
    cos, sin = round(math.cos(math.radians(turn))), round(math.sin(math.radians(turn)))
    return f"{cos} {sin} {-sin} {cos}"


def _page(writer: PdfFileWriter, content: bytes, rotate: int = 0, **forms: bytes) -> None:
    font = _font(writer)
    resources = generic.DictionaryObject(
        {pdf_name("/Font"): generic.DictionaryObject({pdf_name("/F1"): font})}
    )
    if forms:
        xobjects = generic.DictionaryObject()
        for name, data in forms.items():
            form = generic.StreamObject(
                {
                    pdf_name("/Type"): pdf_name("/XObject"),
                    pdf_name("/Subtype"): pdf_name("/Form"),
                    pdf_name("/BBox"): generic.ArrayObject(
                        generic.NumberObject(v) for v in (0, 0, 600, 800)
                    ),
                    pdf_name("/Resources"): resources,
                },
                stream_data=data,
            )
            xobjects[pdf_name("/" + name)] = writer.add_object(form)
        resources = generic.DictionaryObject({**resources, pdf_name("/XObject"): xobjects})
    page = PageObject(
        contents=writer.add_object(generic.StreamObject(stream_data=content)),
        media_box=(0, 0, 595, 842),
        resources=resources,
    )
    if rotate:
        page[pdf_name("/Rotate")] = generic.NumberObject(rotate)
    writer.insert_page(page)


def _pages() -> list[tuple[str, generic.DictionaryObject]]:
    import io

    writer = PdfFileWriter()
    cases = {
        "upright": b"BT /F1 12 Tf 72 700 Td (Party A) Tj 0 -20 Td (Party B) Tj ET",
        "no text": b"0 0 m 100 100 l S",
        "upright, page turned": b"BT /F1 12 Tf 72 700 Td (Party A) Tj ET",
        "turned 90 by Tm": f"BT /F1 12 Tf {_turn(90)} 300 300 Tm (Party A seal) Tj ET".encode(),
        "turned 180 by cm": f"q {_turn(180)} 500 700 cm BT /F1 12 Tf (Party A) Tj ET Q".encode(),
        "turned 270 in a form": b"q /Fm1 Do Q",
        "upright blanks, turned text": (
            b"BT /F1 12 Tf 72 700 Td (   ) Tj ET "
            + f"BT /F1 12 Tf {_turn(90)} 300 300 Tm (Party A seal here) Tj ET".encode()
        ),
        "slanted": b"BT /F1 12 Tf 1 0.2 0 1 72 700 Tm (Party A) Tj ET",
        "upright after a turned q/Q": (
            f"q {_turn(90)} 300 300 cm Q BT /F1 12 Tf 72 700 Td (Party A) Tj ET".encode()
        ),
    }
    for name, content in cases.items():
        if name == "turned 270 in a form":
            turned = f"q {_turn(270)} 300 500 cm BT /F1 12 Tf (Party A) Tj ET Q".encode()
            _page(writer, content, Fm1=turned)
        else:
            _page(writer, content, rotate=90 if "page turned" in name else 0)
    out = io.BytesIO()
    writer.write(out)
    pages = list(iter_pages(open_pdf(out.getvalue())))
    return list(zip(cases, pages, strict=True))


@pytest.mark.parametrize("index", range(9))
def test_upright_check_agrees_with_the_text_reader(index: int) -> None:
    name, page = _pages()[index]
    full = text_rotation(page)
    if _all_text_upright(page):
        assert full in (0, None), name
    geometry = PageGeometry.from_page(page, text=True)
    assert geometry.seal_rotation == (full or 0), name


def test_turned_pages_are_left_to_the_text_reader() -> None:
    checked = {name: _all_text_upright(page) for name, page in _pages()}
    assert checked["upright"] and checked["no text"] and checked["upright, page turned"]
    assert checked["slanted"] and checked["upright after a turned q/Q"]
    for name in (
        "turned 90 by Tm",
        "turned 180 by cm",
        "turned 270 in a form",
        "upright blanks, turned text",
    ):
        assert not checked[name], name


def test_a_multi_font_contract_is_answered_without_its_fonts(tmp_path: Path) -> None:
    from contract_docs import multi_font_contract

    pdf = multi_font_contract(tmp_path, pages=2)
    for page in iter_pages(open_pdf(pdf)):
        assert _all_text_upright(page)
        assert text_rotation(page) == 0


@pytest.mark.parametrize(
    ("content", "plain"),
    [
        (b"BT /F1 12 Tf 72 700 Td (x) Tj ET", True),
        (b"q 2 0 0 2 5 5 cm BT 1 0 0 1 3 3 Tm (x) Tj ET Q", True),
        (b"/cm1 gs BT /F1 9 Tf (x) Tj ET", True),  # a name, not the operator
        (b"q 0 1 -1 0 0 0 cm BT (x) Tj ET Q", False),
        (b"-1 0 0 -1 0 0 cm BT (x) Tj ET", False),  # turned by 180
        (b"1 0.2 0 1 0 0 cm BT (x) Tj ET", False),
        (b"q /Fm1 Do Q", False),  # a form may turn its text: the interpreter reads it
        (b"BI /W 1 /H 1 ID \x00 0 1 -1 0 0 0 cm EI", False),
        (b"BT (30 cm) Tj ET", False),  # unsure: the interpreter decides
        (b"1 0 %c\n0 1 0 0 cm BT (x) Tj ET", False),
        (b"[0 1 -1 0 0 0 cm] BT (x) Tj ET", False),
    ],
)
def test_the_byte_scan_is_sure_only_of_upright_text(content: bytes, plain: bool) -> None:
    from signer.pages import _plainly_upright

    assert _plainly_upright(content) is plain
    writer = PdfFileWriter()
    _page(writer, content)
    import io

    out = io.BytesIO()
    writer.write(out)
    (page,) = iter_pages(open_pdf(out.getvalue()))
    if plain:
        assert text_rotation(page) in (0, None)
