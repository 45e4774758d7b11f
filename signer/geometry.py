"""Points, rectangles and matrices in PDF points: the plane that the page, text and placement
modules share, with no PDF object in it.

A rectangle is ``(x0, y0, x1, y1)``; a matrix is PDF's ``[a b c d e f]`` (ISO 32000-1, 8.3.3).
"""

from __future__ import annotations

import math

__all__ = [
    "MM",
    "Matrix",
    "Rect",
    "finite",
    "intersection_area",
    "normalise_rect",
    "overlap",
    "rect_area",
]

#: One millimetre in PDF points.
MM = 72.0 / 25.4

#: ``(x0, y0, x1, y1)`` with ``x0 <= x1`` and ``y0 <= y1``.
Rect = tuple[float, float, float, float]
#: A PDF matrix ``[a b c d e f]``: ``x' = a*x + c*y + e``, ``y' = b*x + d*y + f``.
Matrix = tuple[float, float, float, float, float, float]


def normalise_rect(x0: float, y0: float, x1: float, y1: float) -> Rect:
    """The rectangle with these corners, smaller coordinates first."""
    return (min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1))


def finite(*values: float) -> bool:
    """Whether every value is a finite number (a value that is no number is not)."""
    try:
        return all(math.isfinite(float(v)) for v in values)
    except (TypeError, ValueError):
        return False


def rect_area(rect: Rect) -> float:
    """The area of a rectangle; 0 for an empty or inverted one."""
    return max(rect[2] - rect[0], 0.0) * max(rect[3] - rect[1], 0.0)


def intersection_area(a: Rect, b: Rect) -> float:
    """The area two rectangles share."""
    return rect_area((max(a[0], b[0]), max(a[1], b[1]), min(a[2], b[2]), min(a[3], b[3])))


def overlap(a: Rect, b: Rect) -> float:
    """Intersection over the smaller area (0 when either box is empty)."""
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    if w <= 0 or h <= 0:
        return 0.0
    area = min((a[2] - a[0]) * (a[3] - a[1]), (b[2] - b[0]) * (b[3] - b[1]))
    return (w * h) / area if area > 0 else 0.0
