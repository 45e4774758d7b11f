"""Cleaning a scan of a physical seal into a seal image.

An enterprise may replace the rendered image with a scan or photo of its physical seal
(PNG or JPEG, red ink on white or paper-coloured ground).  We keep the red, make everything
else transparent, paint the ink in :data:`SEAL_RED`, and crop to the seal.

Redness is ``R - max(G, B)``: near zero for white, grey, black and cream paper, large for red
ink.  The paper's own redness is estimated from the median pixel (the paper dominates a
scan) so that beige or yellowed paper does not come through; alpha then ramps from that
level up to the typical ink level, which keeps anti-aliased stroke edges smooth and gives
faded ink full opacity.
"""

from __future__ import annotations

import io
import warnings
from collections.abc import Sequence

from PIL import Image, ImageChops, ImageFilter, ImageOps

from seals.errors import InvalidImage

from .render import SEAL_RED

__all__ = ["clean_scan"]

#: Largest side of the cleaned image; bigger crops are scaled down (dpi metadata adjusted).
MAX_OUTPUT_SIDE = 2400
_FORMATS = ("PNG", "JPEG")


def clean_scan(data: bytes, *, max_pixels: int = 40_000_000) -> bytes:
    """A scan (PNG or JPEG bytes) → a PNG of the red seal on a transparent background.

    Raises :class:`~seals.errors.InvalidImage` for anything that is not a readable PNG or
    JPEG, for images over ``max_pixels`` pixels, and when no red seal is found.
    """
    image, dpi = _decode(data, max_pixels)
    red = _redness(image)
    alpha = _alpha(red)
    box = _seal_box(alpha)
    if box is None:
        raise InvalidImage("no red seal found in the image")
    alpha = alpha.crop(box)
    if max(alpha.size) > MAX_OUTPUT_SIDE:
        factor = MAX_OUTPUT_SIDE / max(alpha.size)
        size = (max(1, round(alpha.width * factor)), max(1, round(alpha.height * factor)))
        alpha = alpha.resize(size, Image.Resampling.LANCZOS)
        if dpi is not None:
            dpi = (dpi[0] * factor, dpi[1] * factor)
    out = Image.new("RGBA", alpha.size, (*SEAL_RED, 0))
    out.putalpha(alpha)
    buf = io.BytesIO()
    if dpi is not None:
        out.save(buf, "PNG", dpi=dpi)
    else:
        out.save(buf, "PNG")
    return buf.getvalue()


def _decode(data: bytes, max_pixels: int) -> tuple[Image.Image, tuple[float, float] | None]:
    if not data:
        raise InvalidImage("the image is empty")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image: Image.Image = Image.open(io.BytesIO(data), formats=_FORMATS)
            width, height = image.size
            if width <= 0 or height <= 0:
                raise InvalidImage("the image has no pixels")
            if width * height > max_pixels:
                raise InvalidImage(
                    f"the image is {width}×{height} pixels; at most {max_pixels:,} pixels "
                    "are accepted (scan at 300-600 dpi)"
                )
            image.load()
            image = ImageOps.exif_transpose(image)
    except InvalidImage:
        raise
    except Image.UnidentifiedImageError:
        raise InvalidImage("not a PNG or JPEG image") from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise InvalidImage(f"the image is too large; at most {max_pixels:,} pixels") from None
    except MemoryError:
        raise InvalidImage("the image is too large to decode") from None
    except Exception as exc:  # truncated or corrupt data surfaces as many exception types
        raise InvalidImage(f"the image is corrupt or truncated ({exc})") from None
    dpi = _dpi(image.info.get("dpi"))
    return _to_rgb(image), dpi


def _dpi(value: object) -> tuple[float, float] | None:
    if isinstance(value, Sequence) and len(value) == 2:
        try:
            x, y = float(value[0]), float(value[1])
        except (TypeError, ValueError):
            return None
        if 50 <= x <= 10_000 and 50 <= y <= 10_000:
            return (x, y)
    return None


def _to_rgb(image: Image.Image) -> Image.Image:
    """RGB, with any transparency flattened onto white (paper)."""
    if image.mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in image.info:
        rgba = image.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert("RGB")
    if image.mode.startswith("I;16") or image.mode in ("I", "F"):
        # 16-bit or float greyscale: nothing red in it, but scale rather than clip
        return image.convert("I").point(lambda v: v / 256).convert("L").convert("RGB")
    return image.convert("RGB")


def _redness(image: Image.Image) -> Image.Image:
    """``R - max(G, B)``, clamped at 0, as an 8-bit greyscale image."""
    r, g, b = image.split()
    return ImageChops.subtract(r, ImageChops.lighter(g, b))


def _percentile(histogram: Sequence[int], fraction: float, start: int = 0) -> int:
    total = sum(histogram[start:])
    target = fraction * total
    seen = 0
    for value in range(start, len(histogram)):
        seen += histogram[value]
        if seen >= target:
            return value
    return len(histogram) - 1


def _alpha(red: Image.Image) -> Image.Image:
    """Opacity from redness: 0 at the paper's level, 255 at typical ink."""
    hist = red.histogram()
    paper = _percentile(hist, 0.5)
    low = max(25, paper + 25)
    ink_pixels = sum(hist[low:])
    if ink_pixels < max(30, red.width * red.height // 20_000):
        raise InvalidImage("no red seal found in the image")
    ink = _percentile(hist, 0.9, start=low)
    high = min(255, low + max(20, round(0.7 * (ink - low))))
    span = max(1, high - low)
    lut = [0 if v <= low else min(255, round((v - low) * 255 / span)) for v in range(256)]
    return red.point(lut)


def _seal_box(alpha: Image.Image) -> tuple[int, int, int, int] | None:
    """The bounding box of the ink, ignoring isolated specks, with a small margin.

    Works on a reduced copy (about a megapixel) so that large scans stay fast; specks far
    from the ink are also cleared from ``alpha`` in place.
    """
    block = max(1, round((alpha.width * alpha.height / 1_000_000) ** 0.5))
    small = alpha.reduce(block) if block > 1 else alpha.copy()
    solid = small.point([0 if v < 64 else 255 for v in range(256)]).filter(
        ImageFilter.MedianFilter(3)
    )
    box = solid.getbbox()
    if box is None:
        return None
    # clear specks that are far from the seal's ink
    near = solid.filter(ImageFilter.MaxFilter(7)).resize(alpha.size, Image.Resampling.NEAREST)
    alpha.paste(ImageChops.multiply(alpha, near))
    left, top, right, bottom = (v * block for v in box)
    right, bottom = min(right, alpha.width), min(bottom, alpha.height)
    margin = max(2, round(0.02 * max(right - left, bottom - top)))
    return (
        max(0, left - margin),
        max(0, top - margin),
        min(alpha.width, right + margin),
        min(alpha.height, bottom + margin),
    )
