"""Regenerate the sample seal images in this directory.

Run from the repository root with the project's environment::

    python docs/seals/make_samples.py

The seals are drawn at 190 dpi, so a 40 mm seal is about 300 px wide and all samples share one
scale (the 20 mm legal representative's seal is half as wide as the 40 mm ones).  The scan pair
shows :func:`seals.images.clean_scan` at work on a synthetic scan: the seal on cream paper with
noise and black text, saved as JPEG.
"""

from __future__ import annotations

import io
import random
import sys
from pathlib import Path

from PIL import Image, ImageDraw, ImageFilter

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent.parent))

from seals.images import clean_scan, render_seal  # noqa: E402
from seals.kinds import SealKind  # noqa: E402

NAME = "北京字节跳动网络技术有限公司"
USCC = "91110108551385082Q"
PERSON = "张一鸣"
LONG_NAME = "中国石油天然气股份有限公司北京销售分公司第三十二加油站管理处"
DPI = 190


def _save(name: str, png: bytes) -> None:
    (HERE / name).write_bytes(png)
    print(f"{name}: {len(png):,} bytes")


def _scan() -> bytes:
    """The official seal, scanned at 300 dpi on cream paper (deterministic noise)."""
    seal = Image.open(
        io.BytesIO(
            render_seal(SealKind.OFFICIAL, name=NAME, uscc=USCC, legal_representative="", dpi=300)
        )
    )
    width, height = 900, 700
    page = Image.new("RGB", (width, height), (243, 235, 212))
    rng = random.Random(20110107)
    noise = Image.frombytes("L", (width, height), rng.randbytes(width * height)).convert("RGB")
    page = Image.blend(page, noise, 0.08)
    draw = ImageDraw.Draw(page)
    for i in range(7):
        y = 40 + i * 85
        draw.text(
            (40, y),
            f"Contract No. 2024-{i:03d}   Party A / Party B   signed and sealed",
            fill=(30, 30, 30),
        )
        draw.line((40, y + 30, 860, y + 30), fill=(110, 110, 110), width=2)
    ink = Image.new("RGBA", seal.size, (186, 28, 44, 0))
    ink.putalpha(seal.getchannel("A").point(lambda v: v * 85 // 100))
    ink = ink.rotate(9, resample=Image.Resampling.BICUBIC, expand=True)
    ink = ink.filter(ImageFilter.GaussianBlur(0.8))
    page.paste(ink, (360, 60), ink)
    out = io.BytesIO()
    page.save(out, "JPEG", quality=82)
    return out.getvalue()


def main() -> None:
    for kind in SealKind:
        _save(
            f"{kind.value}.png",
            render_seal(kind, name=NAME, uscc=USCC, legal_representative=PERSON, dpi=DPI),
        )
    _save(
        "legal_rep_two_chars.png",
        render_seal(
            SealKind.LEGAL_REP, name="王伟", uscc=USCC, legal_representative="王伟", dpi=DPI
        ),
    )
    _save(
        "official_two_chars.png",
        render_seal(
            SealKind.OFFICIAL, name="王伟", uscc=USCC, legal_representative="王伟", dpi=DPI
        ),
    )
    for kind in (SealKind.CONTRACT, SealKind.INVOICE):
        _save(
            f"{kind.value}_long_name.png",
            render_seal(kind, name=LONG_NAME, uscc=USCC, legal_representative=PERSON, dpi=DPI),
        )
    scan = _scan()
    before = Image.open(io.BytesIO(scan))
    small = before.resize((before.width // 2, before.height // 2), Image.Resampling.LANCZOS)
    out = io.BytesIO()
    small.save(out, "JPEG", quality=80)
    _save("scan_before.jpg", out.getvalue())
    cleaned = Image.open(io.BytesIO(clean_scan(scan)))
    factor = 300 / max(cleaned.size)
    cleaned = cleaned.resize(
        (round(cleaned.width * factor), round(cleaned.height * factor)), Image.Resampling.LANCZOS
    )
    out = io.BytesIO()
    cleaned.save(out, "PNG")
    _save("scan_after.png", out.getvalue())


if __name__ == "__main__":
    main()
