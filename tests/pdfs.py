"""Test documents made on the spot (imported as ``pdfs``)."""

from __future__ import annotations

import io

from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.generic import pdf_name
from pyhanko.pdf_utils.writer import PdfFileWriter


def simple_pdf(pages: int = 1, *, text: str = "Contract page", size: tuple[int, int] = (595, 842),
               rotate: int = 0) -> bytes:
    """A plain PDF with ``pages`` A4 pages of Helvetica text."""
    w = PdfFileWriter()
    font = w.add_object(generic.DictionaryObject({
        pdf_name("/Type"): pdf_name("/Font"),
        pdf_name("/Subtype"): pdf_name("/Type1"),
        pdf_name("/BaseFont"): pdf_name("/Helvetica"),
    }))
    for i in range(pages):
        ops = f"BT /F1 20 Tf 72 760 Td ({text} {i + 1}) Tj ET".encode()
        page = generic.DictionaryObject({
            pdf_name("/Type"): pdf_name("/Page"),
            pdf_name("/MediaBox"): generic.ArrayObject(
                [generic.NumberObject(v) for v in (0, 0, *size)]),
            pdf_name("/Contents"): w.add_object(generic.StreamObject(stream_data=ops)),
            pdf_name("/Resources"): generic.DictionaryObject(
                {pdf_name("/Font"): generic.DictionaryObject({pdf_name("/F1"): font})}),
        })
        if rotate:
            page[pdf_name("/Rotate")] = generic.NumberObject(rotate)
        w.insert_page(page)
    out = io.BytesIO()
    w.write(out)
    return out.getvalue()
