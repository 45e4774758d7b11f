"""The OFD document model: pages in order with their sizes, and text found where a reader
sees it (mm from the page's top-left corner)."""

from __future__ import annotations

import pytest

from ofds import NS, simple_ofd, unzip_ofd, zip_ofd
from signer.errors import InvalidOfd, KeywordNotFound, PageOutOfRange
from signer.ofd.document import open_document, parse_numbers


def test_pages_come_in_document_order_with_ids_and_sizes() -> None:
    doc = open_document(simple_ofd(3, page_sizes=[None, (297.0, 210.0), None]))
    assert [p.number for p in doc.pages] == [1, 2, 3]
    assert [p.path for p in doc.pages] == [f"Doc_0/Pages/Page_{i}/Content.xml" for i in range(3)]
    assert len({p.id for p in doc.pages}) == 3
    # the page's own Area wins over the document's PageArea
    assert (doc.pages[0].width, doc.pages[0].height) == (210.0, 297.0)
    assert (doc.pages[1].width, doc.pages[1].height) == (297.0, 210.0)
    assert doc.page(-1) is doc.pages[2]
    with pytest.raises(PageOutOfRange) as caught:
        doc.page(4)
    assert (caught.value.page, caught.value.pages) == (4, 3)


def test_the_g_repeat_syntax_expands() -> None:
    assert parse_numbers("g 3 5 2.5 g 2 1") == [5, 5, 5, 2.5, 1, 1]
    assert parse_numbers("  1   2\n3 ") == [1, 2, 3]
    for bad in ("g 3", "g x 1", "1 two", "nan"):
        with pytest.raises(InvalidOfd):
            parse_numbers(bad)


def test_a_keyword_is_found_with_its_box_in_mm_from_the_top_left() -> None:
    doc = open_document(simple_ofd(2))
    hits = doc.find_text("甲方（盖章）")
    assert [h.page for h in hits] == [1, 2]
    hit = hits[0]
    # line 3 of the page: baseline 40 + 2 * 12 mm; six full-width glyphs of 5 mm from x = 25
    assert hit.x0 == pytest.approx(25.0)
    assert hit.x1 == pytest.approx(55.0)
    assert hit.y0 < 64.0 < hit.y1
    # half-width digits after full-width text: DeltaX carries both advances
    (amount,) = doc.find_text("100,000.00", pages=[1])
    assert amount.x0 == pytest.approx(25 + 8 * 5 + 2.5)
    assert amount.x1 == pytest.approx(25 + 8 * 5 + 2.5 + 10 * 2.5)
    # whitespace and full-width/half-width forms do not matter
    assert doc.find_text("甲方(盖章)", pages=[2])[0].rect == hits[1].rect
    with pytest.raises(KeywordNotFound):
        doc.find_text("丙方")
    assert doc.find_text("丙方", missing_ok=True) == []


def _with_page(content: str, *, common_extra: str = "", extra_files: dict[str, str] | None = None):
    files = unzip_ofd(simple_ofd(1))
    files["Doc_0/Pages/Page_0/Content.xml"] = (
        f'<ofd:Page xmlns:ofd="{NS}">{content}</ofd:Page>'.encode()
    )
    if common_extra:
        files["Doc_0/Document.xml"] = files["Doc_0/Document.xml"].replace(
            b"</ofd:CommonData>", common_extra.encode() + b"</ofd:CommonData>"
        )
    for name, text in (extra_files or {}).items():
        files[name] = text.encode()
    return open_document(zip_ofd(files))


def test_explicit_deltas_ctm_and_several_text_codes() -> None:
    doc = _with_page(
        '<ofd:Content><ofd:Layer ID="1">'
        # CTM scales the object by 2 and moves it 10 mm right
        '<ofd:TextObject ID="2" Boundary="20 100 100 20" Size="4" CTM="2 0 0 2 10 0">'
        '<ofd:TextCode X="0" Y="4" DeltaX="4 4 10">签章位置</ofd:TextCode>'
        '<ofd:TextCode X="0" Y="9">第二行</ofd:TextCode>'
        "</ofd:TextObject>"
        '<ofd:TextObject ID="3" Boundary="20 200 100 20" Size="4" Visible="false">'
        '<ofd:TextCode X="0" Y="4">隐藏文字</ofd:TextCode></ofd:TextObject>'
        "</ofd:Layer></ofd:Content>"
    )
    (hit,) = doc.find_text("签章")
    assert hit.x0 == pytest.approx(20 + 10)  # boundary x + CTM e
    assert hit.x1 == pytest.approx(20 + 10 + 2 * (4 + 4))
    (far,) = doc.find_text("位置")
    assert far.x0 == pytest.approx(30 + 2 * 8)
    assert far.x1 == pytest.approx(30 + 2 * 22)  # the 10 mm gap before 置
    (second,) = doc.find_text("第二行")
    assert second.y1 > hit.y1
    # invisible text is not what a reader sees
    assert doc.find_text("隐藏", missing_ok=True) == []


def test_template_text_is_on_the_page_and_sizes_come_from_the_template() -> None:
    template = (
        f'<ofd:Page xmlns:ofd="{NS}"><ofd:Area><ofd:PhysicalBox>0 0 240 140</ofd:PhysicalBox>'
        '</ofd:Area><ofd:Content><ofd:Layer ID="1"><ofd:TextObject ID="2" '
        'Boundary="10 10 60 6" Size="5"><ofd:TextCode X="0" Y="5" DeltaX="g 6 5">'
        "电子发票（普通发票）</ofd:TextCode></ofd:TextObject></ofd:Layer></ofd:Content></ofd:Page>"
    )
    doc = _with_page(
        '<ofd:Template TemplateID="90" ZOrder="Background"/><ofd:Content/>',
        common_extra='<ofd:TemplatePage ID="90" BaseLoc="Tpls/Tpl_0/Content.xml"/>',
        extra_files={"Doc_0/Tpls/Tpl_0/Content.xml": template},
    )
    assert (doc.pages[0].width, doc.pages[0].height) == (240.0, 140.0)
    assert doc.find_text("电子发票")[0].x0 == pytest.approx(10.0)


def test_a_page_whose_content_is_missing_is_refused() -> None:
    files = unzip_ofd(simple_ofd(2))
    del files["Doc_0/Pages/Page_1/Content.xml"]
    with pytest.raises(InvalidOfd, match="page 2"):
        open_document(zip_ofd(files))
