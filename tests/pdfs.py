"""Test documents made on the spot (imported as ``pdfs``)."""

from __future__ import annotations

import io
import random
import re
from pathlib import Path

from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.generic import pdf_name
from pyhanko.pdf_utils.writer import PageObject, PdfFileWriter


def simple_pdf(
    pages: int = 1,
    *,
    text: str = "Contract page",
    size: tuple[int, int] = (595, 842),
    rotate: int = 0,
) -> bytes:
    """A plain PDF with ``pages`` A4 pages of Helvetica text."""
    w = PdfFileWriter()
    font = w.add_object(
        generic.DictionaryObject(
            {
                pdf_name("/Type"): pdf_name("/Font"),
                pdf_name("/Subtype"): pdf_name("/Type1"),
                pdf_name("/BaseFont"): pdf_name("/Helvetica"),
            }
        )
    )
    for i in range(pages):
        ops = f"BT /F1 20 Tf 72 760 Td ({text} {i + 1}) Tj ET".encode()
        page = generic.DictionaryObject(
            {
                pdf_name("/Type"): pdf_name("/Page"),
                pdf_name("/MediaBox"): generic.ArrayObject(
                    [generic.NumberObject(v) for v in (0, 0, *size)]
                ),
                pdf_name("/Contents"): w.add_object(generic.StreamObject(stream_data=ops)),
                pdf_name("/Resources"): generic.DictionaryObject(
                    {pdf_name("/Font"): generic.DictionaryObject({pdf_name("/F1"): font})}
                ),
            }
        )
        if rotate:
            page[pdf_name("/Rotate")] = generic.NumberObject(rotate)
        w.insert_page(page)
    out = io.BytesIO()
    w.write(out)
    return out.getvalue()


NOTO_TTC = Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc")
SIZE = 12.0


def extract_cjk_face(directory: Path) -> Path:
    """Noto Sans CJK SC (from Debian's fonts-noto-cjk collection) as a single .otf file."""
    from fontTools.ttLib import TTCollection, TTFont

    collection = TTCollection(str(NOTO_TTC), lazy=True)
    index = next(
        i
        for i, face in enumerate(collection.fonts)
        if face["name"].getDebugName(4) == "Noto Sans CJK SC"
    )
    path = directory / "NotoSansCJKsc-Regular.otf"
    if not path.exists():
        TTFont(str(NOTO_TTC), fontNumber=index, lazy=True).save(str(path))
    return path


class Contract:
    """A PDF written the way contract generators write it: CJK text in an embedded CID font."""

    def __init__(self, font_path: Path) -> None:
        from pyhanko.pdf_utils.font.opentype import GlyphAccumulatorFactory

        self.writer = PdfFileWriter()
        self.font = GlyphAccumulatorFactory(str(font_path), font_size=int(SIZE)).create_font_engine(
            self.writer
        )

    def ops(self, text: str) -> bytes:
        """Shaped text: one TJ per string, as pyHanko (and most producers) write it."""
        return self.font.shape(text, with_actual_text=False).graphics_ops

    def codes(self, text: str) -> list[bytes]:
        """The hex string of each character's glyph, for hand-cut TJ/Tj operators."""
        out = []
        for ch in text:
            (code,) = re.findall(rb"<[0-9a-f]+>", self.ops(ch))
            out.append(code)
        return out

    def line(self, text: str, x: float, y: float, size: float = SIZE) -> bytes:
        return b"BT /F1 %g Tf 1 0 0 1 %g %g Tm %s ET\n" % (size, x, y, self.ops(text))

    def resources(self, **xobjects: generic.PdfObject) -> generic.DictionaryObject:
        res = generic.DictionaryObject(
            {
                pdf_name("/Font"): generic.DictionaryObject(
                    {pdf_name("/F1"): self.font.as_resource()}
                )
            }
        )
        if xobjects:
            res[pdf_name("/XObject")] = generic.DictionaryObject(
                {pdf_name("/" + k): v for k, v in xobjects.items()}
            )
        return res

    def form(self, content: bytes, matrix: tuple[float, ...]) -> generic.IndirectObject:
        stream = generic.StreamObject(
            {
                pdf_name("/Type"): pdf_name("/XObject"),
                pdf_name("/Subtype"): pdf_name("/Form"),
                pdf_name("/BBox"): generic.ArrayObject(
                    generic.FloatObject(v) for v in (0, 0, 500, 500)
                ),
                pdf_name("/Matrix"): generic.ArrayObject(generic.FloatObject(v) for v in matrix),
                pdf_name("/Resources"): self.resources(),
            },
            stream_data=content,
        )
        return self.writer.add_object(stream)

    def page(
        self,
        content: bytes,
        *,
        media: tuple[float, ...] = (0, 0, 595, 842),
        rotate: int = 0,
        **xobjects: generic.PdfObject,
    ) -> None:
        stream = self.writer.add_object(generic.StreamObject(stream_data=content))
        page = PageObject(contents=stream, media_box=media, resources=self.resources(**xobjects))
        if rotate:
            page[pdf_name("/Rotate")] = generic.NumberObject(rotate)
        self.writer.insert_page(page)

    def pdf(self) -> bytes:
        out = io.BytesIO()
        self.writer.write(out)
        return out.getvalue()


def cjk_contract(font_path: Path, pages: int = 3) -> bytes:
    """A purchase contract in Chinese: text on every page, the signing block on the last."""
    doc = Contract(font_path)
    for i in range(1, pages + 1):
        body = doc.line("采购合同" if i == 1 else f"采购合同（续 第{i}页）", 240, 780, 18)
        for n in range(8):
            body += doc.line(
                f"第{(i - 1) * 8 + n + 1}条 双方应按本合同约定履行各自义务，不得擅自变更。",
                72,
                720 - n * 28,
            )
        if i == pages:
            body += doc.line("甲方（盖章）：", 72, 220) + doc.line("乙方（盖章）：", 330, 220)
            body += doc.line("日期：2026年11月22日", 72, 160)
        doc.page(body)
    return doc.pdf()


def _jpeg(seed: int, target: int) -> tuple[bytes, int, int]:
    """A noisy photo-like JPEG of roughly ``target`` bytes (noise does not compress)."""
    from PIL import Image

    rng = random.Random(seed)
    side = 64
    while True:
        img = Image.frombytes("RGB", (side, side), rng.randbytes(side * side * 3))
        buf = io.BytesIO()
        img.save(buf, "JPEG", quality=80)
        if buf.tell() >= target or side > 4096:
            return buf.getvalue(), side, side
        side = int(side * 1.04) + 1


def make_big_pdf(path: Path, pages: int, size_mb: float) -> None:
    """A scanned-looking document of ``pages`` pages (text and a photo each) of about
    ``size_mb`` MiB, written object by object, never holding more than one page's image."""
    per_page = int(size_mb * 1024 * 1024 / pages)
    images = [_jpeg(i, per_page - 600) for i in range(16)]
    offsets: list[int] = []
    with path.open("wb") as f:

        def obj(num: int, body: bytes) -> None:
            offsets.append(f.tell())
            assert len(offsets) == num
            f.write(b"%d 0 obj\n" % num + body + b"\nendobj\n")

        f.write(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
        obj(1, b"<< /Type /Catalog /Pages 2 0 R >>")
        kids = b" ".join(b"%d 0 R" % (4 + 3 * i) for i in range(pages))
        obj(2, b"<< /Type /Pages /Count %d /Kids [%s] >>" % (pages, kids))
        obj(3, b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>")
        for i in range(pages):
            page, content, image = 4 + 3 * i, 5 + 3 * i, 6 + 3 * i
            data, w, h = images[i % len(images)]
            obj(
                page,
                b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] "
                b"/Resources << /Font << /F1 3 0 R >> /XObject << /Im0 %d 0 R >> >> "
                b"/Contents %d 0 R >>" % (image, content),
            )
            ops = (
                b"BT /F1 14 Tf 72 780 Td (Contract annex, page %d of %d) Tj ET "
                b"q 451 0 0 451 72 250 cm /Im0 Do Q" % (i + 1, pages)
            )
            obj(content, b"<< /Length %d >>\nstream\n" % len(ops) + ops + b"\nendstream")
            obj(
                image,
                b"<< /Type /XObject /Subtype /Image /Width %d /Height %d "
                b"/ColorSpace /DeviceRGB /BitsPerComponent 8 /Filter /DCTDecode "
                b"/Length %d >>\nstream\n" % (w, h, len(data)) + data + b"\nendstream",
            )
        xref = f.tell()
        f.write(b"xref\n0 %d\n0000000000 65535 f \n" % (len(offsets) + 1))
        for off in offsets:
            f.write(b"%010d 00000 n \n" % off)
        f.write(
            b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n"
            % (len(offsets) + 1, xref)
        )
