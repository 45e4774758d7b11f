"""Bands of cross-page seals (骑缝章): a later seal's strips keep clear of the earlier ones,
found in the document itself; ``y`` or ``position`` choose a band; overlaps are reported.

The second party's strips are checked on the rendered pages too: two separate red runs
along the right edge, not one.
"""

from __future__ import annotations

import io
import itertools
import shutil
import subprocess
from pathlib import Path

import pytest
from PIL import Image, ImageDraw
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter

from pdfs import simple_pdf
from signer.appearance import SealAppearance, add_seal_field
from signer.placement import (
    BAND_GAP,
    BAND_MARGIN,
    MM,
    AtPoint,
    CrossPage,
    PageGeometry,
    collect_notices,
    iter_pages,
    open_pdf,
    resolve,
    resolve_in,
    seal_widget_rects,
)

SEAL = 40 * MM
DPI = 50
PX = DPI / 72


def disc_png(px: int = 120) -> bytes:
    img = Image.new("RGBA", (px, px), (0, 0, 0, 0))
    ImageDraw.Draw(img).ellipse((0, 0, px - 1, px - 1), fill=(230, 0, 0, 255))
    out = io.BytesIO()
    img.save(out, "PNG")
    return out.getvalue()


def add_seal(pdf: bytes, placement: object, name: str) -> bytes:
    writer = IncrementalPdfFileWriter(io.BytesIO(pdf))
    seal = SealAppearance(disc_png(), width=SEAL, height=SEAL)
    boxes = resolve_in(writer, placement, seal.width, seal.height)  # type: ignore[arg-type]
    add_seal_field(writer, name, boxes, seal, defer_extra_widgets=False)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def bands(pdf: bytes, page: int) -> list[tuple[float, float]]:
    pages = list(iter_pages(open_pdf(pdf)))
    return sorted((r[1], r[3]) for r in seal_widget_rects(pages[page - 1]))


def test_second_and_third_cross_page_seals_take_the_next_free_bands() -> None:
    pdf = simple_pdf(4)
    first = add_seal(pdf, CrossPage(), "A")
    second = add_seal(first, CrossPage(), "B")
    third = add_seal(second, CrossPage(), "C")
    middle = 842 / 2
    for page in range(1, 5):
        found = bands(third, page)
        assert len(found) == 3
        # the first in the middle, the second just below it, the third just above it
        assert found[1] == pytest.approx((middle - SEAL / 2, middle + SEAL / 2), abs=0.01)
        assert found[0][1] + BAND_GAP == pytest.approx(found[1][0], abs=0.01)
        assert found[1][1] + BAND_GAP == pytest.approx(found[2][0], abs=0.01)


def test_bands_come_from_the_document_not_from_a_record() -> None:
    """A strip another tool put on the edge counts like ours: any signature widget there."""
    pages = [PageGeometry((0, 0, 595, 842))] * 2
    taken = [[(585.0, 400.0, 595.0, 500.0)], []]
    (a, _) = resolve(CrossPage(), pages, 100, 100, existing=taken)
    assert a.visible_rect[3] + BAND_GAP == pytest.approx(400)
    # a widget away from the edge does not take a band
    (b, _) = resolve(CrossPage(), pages, 100, 100, existing=[[(100.0, 371.0, 200.0, 471.0)], []])
    assert (b.visible_rect[1] + b.visible_rect[3]) / 2 == pytest.approx(421)


def test_position_and_y_choose_the_band() -> None:
    pages = [PageGeometry((0, 0, 595, 842)), PageGeometry((0, 0, 842, 595))]
    top = resolve(CrossPage(position="top"), pages, 100, 100)
    assert all(b.visible_rect[3] == pytest.approx(595 - BAND_MARGIN) for b in top)
    bottom = resolve(CrossPage(position="bottom"), pages, 100, 100)
    assert all(b.visible_rect[1] == pytest.approx(BAND_MARGIN) for b in bottom)
    middle = resolve(CrossPage(position="middle"), pages, 100, 100)
    assert all(b.visible_rect[1] == pytest.approx(595 / 2 - 50) for b in middle)
    at = resolve(CrossPage(y=120), pages, 100, 100)
    assert all(b.visible_rect[1] == pytest.approx(70) for b in at)


def test_a_band_chosen_over_an_existing_strip_is_used_and_reported() -> None:
    pages = [PageGeometry((0, 0, 595, 842))] * 2
    taken = [[(585.0, 371.0, 595.0, 471.0)], [(585.0, 371.0, 595.0, 471.0)]]
    with collect_notices() as notices:
        boxes = resolve(CrossPage(y=421), pages, 100, 100, existing=taken)
    assert all(b.visible_rect[1] == pytest.approx(371) for b in boxes)
    assert [n.code for n in notices] == ["overlaps_seal"]
    assert "page 1" in notices[0].message


def test_a_full_edge_falls_back_to_the_middle_with_a_notice() -> None:
    pages = [PageGeometry((0, 0, 595, 300))] * 2
    taken = [[(585.0, 0.0, 595.0, 300.0)], []]
    with collect_notices() as notices:
        boxes = resolve(CrossPage(), pages, 100, 100, existing=taken)
    assert boxes[0].visible_rect[1] == pytest.approx(100)
    assert [n.code for n in notices] == ["overlaps_seal"]


def test_no_notice_without_a_collector_and_none_for_a_clear_place() -> None:
    pages = [PageGeometry((0, 0, 595, 842))]
    resolve(AtPoint(1, 100, 100), pages, 50, 50, existing=[[(90.0, 90.0, 110.0, 110.0)]])
    with collect_notices() as notices:
        resolve(AtPoint(1, 300, 300), pages, 50, 50, existing=[[(90.0, 90.0, 110.0, 110.0)]])
    assert notices == []


@pytest.mark.skipif(shutil.which("pdftoppm") is None, reason="needs pdftoppm")
def test_rendered_two_parties_strips_are_apart(tmp_path: Path) -> None:
    sealed = add_seal(add_seal(simple_pdf(2), CrossPage(), "A"), CrossPage(), "B")
    src = tmp_path / "s.pdf"
    src.write_bytes(sealed)
    subprocess.run(
        [
            "pdftoppm",
            "-r",
            str(DPI),
            "-png",
            "-singlefile",
            "-f",
            "2",
            "-l",
            "2",
            str(src),
            str(tmp_path / "p"),
        ],
        check=True,
        capture_output=True,
    )
    with Image.open(tmp_path / "p.png") as img:
        rgb = img.convert("RGB")
    w, h = rgb.size
    strip = round(SEAL / 2 * PX)  # two pages: each shows half of the seal

    def is_red(p: tuple[int, int, int]) -> bool:
        return p[0] > 150 and p[1] < 110 and p[2] < 110

    rows = [y for y in range(h) if any(is_red(rgb.getpixel((x, y))) for x in range(w - strip, w))]
    runs = 1 + sum(1 for a, b in itertools.pairwise(rows) if b - a > 1)
    assert runs == 2, "the two seals' strips run into each other"
    assert max(rows) - min(rows) == pytest.approx((2 * SEAL + BAND_GAP) * PX, abs=4)
