"""Where the seals of a request waiting for approval will go, and a picture of it.

:func:`placements` resolves the request's placements on the uploaded document exactly as
sealing does (the same resolution code, the same errors: a keyword that is not there fails the
request at once rather than after its approvals); :func:`render` draws a page as a PNG with a
box where each seal goes, numbered in the order the seals are applied.

A PDF page is rendered by poppler's ``pdftoppm`` (its crop box, turned by ``/Rotate``: the
page as a reader sees it, in the "visible" coordinates the boxes are given in).  Without
``pdftoppm`` — and for OFD, which it does not read — the page is drawn as a blank sheet of its
size with the same boxes: the picture still says where each seal goes.

Placements are JSON (kept with the request): ``{n, kind, page, rect: [x0, y0, x1, y1], unit,
origin, cross_page}``; a PDF's in points from the bottom-left corner of the visible page, an
OFD's in millimetres from the page's top-left corner (as each format measures).  A seal that
fills a named signature field has ``field`` and no ``rect``.
"""

from __future__ import annotations

import io
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw, ImageFont

from seals.vocab import DocumentFormat
from signer import ofd
from signer.errors import PageOutOfRange
from signer.pages import open_pdf, page_geometries
from signer.placement import MM
from signer.placement_kinds import AtKeyword, AtPoint, CrossPage
from signer.resolution import resolve_in
from signer.service import SealingOptions, SealOrder, default_kind

__all__ = ["PREVIEW_PIXELS", "page_count", "placements", "render"]

#: the long side of a preview, in pixels
PREVIEW_PIXELS = 1200
_RED = (220, 0, 0)


def _orders(options: SealingOptions, pages: int) -> list[SealOrder]:
    """The seals sealing will apply, in order: as :meth:`SealingService.sealed` and
    :meth:`NationalSealer.seal_ofd` decide (an automatic cross-page seal is left out of a
    one-page document; with nothing left, the document type's default seal)."""
    orders = [
        o
        for o in options.seals
        if not (isinstance(o.placement, CrossPage) and o.placement.auto and pages == 1)
    ]
    return orders or [SealOrder(default_kind(options.document_type))]


def page_count(data: bytes, fmt: DocumentFormat) -> int:
    if fmt is DocumentFormat.OFD:
        return len(ofd.open_document(data).pages)
    return len(page_geometries(data))


def placements(data: bytes, fmt: DocumentFormat, options: SealingOptions) -> list[dict[str, Any]]:
    """Where each seal of ``options`` goes on the document (one entry per widget or stamp).

    :raises PlacementError, InvalidPdf, InvalidOfd: as sealing would."""
    if fmt is DocumentFormat.OFD:
        return _ofd_placements(data, options)
    handler = open_pdf(data)
    count = len(page_geometries(handler))
    out: list[dict[str, Any]] = []
    for n, order in enumerate(_orders(options, count), start=1):
        info = order.kind.info
        if order.field is not None:
            out.append(_entry(n, order, None, None, None, field=order.field))
            continue
        boxes = resolve_in(handler, order.placement, info.width_mm * MM, info.height_mm * MM)
        for box in boxes:
            out.append(_entry(n, order, box.page, box.visible_rect, "pt"))
    return out


def _entry(
    n: int,
    order: SealOrder,
    page: int | None,
    rect: Sequence[float] | None,
    unit: str | None,
    *,
    field: str | None = None,
) -> dict[str, Any]:
    """One placement as JSON: every key always there."""
    return {
        "n": n,
        "kind": order.kind.value,
        "page": page,
        "rect": [round(v, 2) for v in rect] if rect is not None else None,
        "unit": unit,
        "origin": {"pt": "bottom-left", "mm": "top-left"}.get(unit or ""),
        "cross_page": isinstance(order.placement, CrossPage),
        "field": field,
    }


def _ofd_placement(order: SealOrder) -> ofd.Placement:
    """The OFD placement of an order, as :mod:`signer.national_sealing` makes it."""
    where = order.placement
    if isinstance(where, AtPoint):
        return ofd.AtPoint(page=where.page, x=where.x, y=where.y)
    if isinstance(where, AtKeyword):
        return where
    if isinstance(where, CrossPage):
        return ofd.CrossPage(y=where.y, position=where.position)
    return ofd.DefaultPlacement()


def _ofd_placements(data: bytes, options: SealingOptions) -> list[dict[str, Any]]:
    doc = ofd.open_document(data)
    out: list[dict[str, Any]] = []
    for n, order in enumerate(_orders(options, len(doc.pages)), start=1):
        info = order.kind.info
        placement = _ofd_placement(order)
        for stamp in ofd.resolve_stamps(doc, placement, info.width_mm, info.height_mm):
            x, y, w, h = stamp.boundary
            if stamp.clip is not None:  # the strip of a cross-page seal on this page
                cx, cy, cw, ch = stamp.clip
                x, y, w, h = x + cx, y + cy, cw, ch
            out.append(_entry(n, order, stamp.page.number, (x, y, x + w, y + h), "mm"))
    return out


def _pdftoppm(data: bytes, page: int, timeout: float) -> Image.Image | None:
    """Page ``page`` as poppler renders it (crop box, rotated), or None without poppler."""
    tool = shutil.which("pdftoppm")
    if tool is None:
        return None
    with tempfile.TemporaryDirectory(prefix="eseal-preview-") as tmp:
        src = Path(tmp) / "in.pdf"
        src.write_bytes(data)
        out = Path(tmp) / "page"
        try:
            subprocess.run(
                [
                    tool,
                    "-f",
                    str(page),
                    "-l",
                    str(page),
                    "-cropbox",
                    "-png",
                    "-scale-to",
                    str(PREVIEW_PIXELS),
                    "-singlefile",
                    str(src),
                    str(out),
                ],
                check=True,
                capture_output=True,
                timeout=timeout,
            )
            with Image.open(out.with_suffix(".png")) as image:
                return image.convert("RGB")
        except (OSError, subprocess.SubprocessError):
            return None  # an unreadable page: the blank sheet below still shows the boxes


def _sheet(width: float, height: float) -> Image.Image:
    scale = PREVIEW_PIXELS / max(width, height, 1.0)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    image = Image.new("RGB", size, "white")
    ImageDraw.Draw(image).rectangle((0, 0, size[0] - 1, size[1] - 1), outline=(160, 160, 160))
    return image


def render(
    data: bytes,
    fmt: DocumentFormat,
    boxes: list[dict[str, Any]],
    page: int,
    *,
    timeout: float = 60.0,
) -> bytes:
    """Page ``page`` (from 1) as a PNG with a numbered red box where each seal goes.

    :raises PageOutOfRange: no such page."""
    if fmt is DocumentFormat.OFD:
        doc = ofd.open_document(data)
        the_page = doc.page(page)
        _, _, width, height = the_page.box
        image = _sheet(width, height)
        sx, sy = image.width / width, image.height / height

        def to_pixels(rect: list[float]) -> tuple[float, float, float, float]:
            x0, y0, x1, y1 = rect
            return x0 * sx, y0 * sy, x1 * sx, y1 * sy

    else:
        geometries = page_geometries(data)
        if not 1 <= page <= len(geometries):
            raise PageOutOfRange(
                f"page {page} is not in the document, which has {len(geometries)} page(s)",
                page=page,
                pages=len(geometries),
            )
        geometry = geometries[page - 1]
        width, height = geometry.visible_width, geometry.visible_height
        image = _pdftoppm(data, page, timeout) or _sheet(width, height)
        sx, sy = image.width / width, image.height / height

        def to_pixels(rect: list[float]) -> tuple[float, float, float, float]:
            x0, y0, x1, y1 = rect
            return x0 * sx, (height - y1) * sy, x1 * sx, (height - y0) * sy

    overlay = Image.new("RGBA", image.size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(overlay)
    font = ImageFont.load_default(size=max(12, image.width // 60))
    for box in boxes:
        if box.get("page") != page or box.get("rect") is None:
            continue
        x0, y0, x1, y1 = to_pixels(box["rect"])
        draw.rectangle((x0, y0, x1, y1), fill=(*_RED, 48), outline=(*_RED, 255), width=3)
        draw.text((x0 + 4, y0 + 2), f"{box['n']} {box['kind']}", fill=(*_RED, 255), font=font)
    image = Image.alpha_composite(image.convert("RGBA"), overlay).convert("RGB")
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()
