"""Seal images: the default rendering of the five seals, and cleaning of uploaded scans."""

from .clean import clean_scan
from .fonts import FontMissing, find_cjk_font
from .render import SEAL_RED, render_seal, seal_layout

__all__ = ["SEAL_RED", "FontMissing", "clean_scan", "find_cjk_font", "render_seal", "seal_layout"]
