"""Regenerate docs/report.png and docs/report-invalid.png: the human verification report.

Builds a throw-away eseal instance, registers examples/license.json, seals a two-page PDF
with the contract seal and the legal representative's seal (B-LTA), verifies it, then
changes the first page's text in an incremental update and verifies that too.  Each report
is rendered by ``api.report_html.render_report`` and photographed with headless Chromium.

Run from the repository root: ``python docs/make_report_png.py [--html-only]``.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import logging
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from pyhanko.pdf_utils import generic  # noqa: E402
from pyhanko.pdf_utils.generic import pdf_name  # noqa: E402
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter  # noqa: E402

import pdfs  # noqa: E402  (tests/pdfs.py)
import seals.kinds  # noqa: E402
import seals.license  # noqa: E402
import signer.levels  # noqa: E402
import signer.service  # noqa: E402
from api.container import Container, build, initialise  # noqa: E402
from api.report_html import render_report, seal_image_lookup  # noqa: E402
from api.settings import Settings  # noqa: E402


def tamper_first_page(signed: bytes) -> bytes:
    """An incremental update that rewrites the first page's text (incremental saving attack)."""
    w = IncrementalPdfFileWriter(io.BytesIO(signed))
    page = w.root["/Pages"]["/Kids"][0]
    contents = page.raw_get("/Contents")
    stream = contents.get_object()
    data = stream.data
    index = data.index(b"(") + 1  # first byte of the first shown string
    changed = data[:index] + bytes([data[index] ^ 0x01]) + data[index + 1 :]
    new = generic.StreamObject(stream_data=changed)
    new_ref = w.add_object(new)
    page[pdf_name("/Contents")] = new_ref
    w.update_container(page)
    out = io.BytesIO()
    w.write(out)
    return out.getvalue()


async def make_reports(c: Container) -> tuple[dict[str, Any], dict[str, Any]]:
    license = seals.license.parse_license(
        json.loads((ROOT / "examples" / "license.json").read_text(encoding="utf-8"))
    )
    c.seals.register(license)
    kinds = seals.kinds.SealKind
    options = signer.service.SealingOptions(
        seals=[signer.service.SealOrder(kinds.CONTRACT), signer.service.SealOrder(kinds.LEGAL_REP)],
        level=signer.levels.PadesLevel.B_LTA,
    )
    signed, _ = await c.sealing.seal(license.uscc, pdfs.simple_pdf(2), options)
    valid = await c.verifier.verify(signed, license.uscc)
    invalid = await c.verifier.verify(tamper_first_page(signed), license.uscc)
    return valid, invalid


def crop_to_content(png: Path, margin: int = 24) -> None:
    """Cut the page background below the content (the window is taller than needed) and
    store the PNG with a 256-colour palette (a third of the size, text stays sharp)."""
    from PIL import Image, ImageChops

    with Image.open(png) as image:
        rgb = image.convert("RGB")
    background = Image.new("RGB", rgb.size, rgb.getpixel((rgb.width - 1, rgb.height - 1)))
    box = ImageChops.difference(rgb, background).getbbox()
    if box is not None:
        rgb = rgb.crop((0, 0, rgb.width, min(rgb.height, box[3] + margin)))
    palette = rgb.quantize(colors=256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
    palette.save(png, optimize=True)


def screenshot(html: Path, png: Path, height: int) -> None:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        raise SystemExit("chromium not found (Debian: apt-get install chromium)")
    with tempfile.TemporaryDirectory() as profile:
        subprocess.run(
            [
                chromium,
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--hide-scrollbars",
                f"--user-data-dir={profile}",
                f"--screenshot={png}",
                f"--window-size=1200,{height}",
                html.as_uri(),
            ],
            check=True,
            capture_output=True,
            timeout=120,
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs")
    parser.add_argument("--html-only", action="store_true", help="write the HTML, no PNG")
    parser.add_argument("--json", action="store_true", help="also write the JSON reports")
    parser.add_argument(
        "--height", type=int, default=4000, help="window height; the PNG is cropped to the content"
    )
    args = parser.parse_args()
    # pyHanko logs the difference analysis of the tampered file with tracebacks: expected here
    logging.getLogger("pyhanko").setLevel(logging.CRITICAL)
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(data_dir=Path(tmp) / "data")
        initialise(settings)
        c = build(settings)
        try:
            reports = asyncio.run(make_reports(c))
            for name, report in zip(("report", "report-invalid"), reports, strict=True):
                html = Path(tmp) / f"{name}.html"
                page = render_report(report, seal_image_lookup(c.seals, report))
                html.write_text(page, encoding="utf-8")
                if args.json:
                    (args.out / f"{name}.json").write_text(
                        json.dumps(report, ensure_ascii=False, indent=2), encoding="utf-8"
                    )
                if args.html_only:
                    shutil.copy(html, args.out / f"{name}.html")
                else:
                    screenshot(html, args.out / f"{name}.png", args.height)
                    crop_to_content(args.out / f"{name}.png")
                print(args.out / f"{name}.png", "valid" if report["valid"] else "not valid")
        finally:
            c.close()


if __name__ == "__main__":
    main()
