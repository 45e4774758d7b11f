"""Finding and loading the CJK font the seal images are set in.

Seal text is set in a Song (宋体) style face, as the rules for official seals ask; on Debian
and Ubuntu the package ``fonts-noto-cjk`` provides Noto Serif CJK (a Song face) and Noto Sans
CJK as TrueType collections (``.ttc``) holding one face per region.  We pick the Simplified
Chinese face (``SC``) of a collection.
"""

from __future__ import annotations

import functools
import shutil
import subprocess
from pathlib import Path

from PIL import ImageFont

from seals.errors import DomainError, ErrorKind

__all__ = ["FontMissing", "cjk_face_index", "find_cjk_font", "font_charset", "load_font"]

#: Where distributions install the Noto CJK collections, best first (Bold reads best on a seal).
_NOTO_DIRS = (
    Path("/usr/share/fonts/opentype/noto"),  # Debian, Ubuntu (fonts-noto-cjk)
    Path("/usr/share/fonts/noto-cjk"),  # Arch, Alpine
    Path("/usr/share/fonts/google-noto-cjk"),  # Fedora
    Path("/usr/share/fonts/google-noto-serif-cjk-vf-fonts"),
    Path("/usr/local/share/fonts"),
)
_NOTO_FILES = (
    "NotoSerifCJK-Bold.ttc",
    "NotoSerifCJKsc-Bold.otf",
    "NotoSansCJK-Bold.ttc",
    "NotoSansCJKsc-Bold.otf",
    "NotoSerifCJK-Regular.ttc",
    "NotoSansCJK-Regular.ttc",
)
_HINT = "install fonts-noto-cjk or set ESEAL_FONT_PATH to a font file with Chinese glyphs"
_TEST_CHARS = "印章公司"


class FontMissing(DomainError):
    """No usable CJK font: the seal images cannot be drawn on this installation."""

    code = "font_missing"
    kind = ErrorKind.UNAVAILABLE
    title = "Seal font missing"


def find_cjk_font(configured: Path | None = None) -> Path:
    """The font file to set seal text in.

    A ``configured`` path (``ESEAL_FONT_PATH``) wins and must exist.  Otherwise the Noto CJK
    collections of ``fonts-noto-cjk`` are looked for in the usual places, then fontconfig is
    asked for any font covering Simplified Chinese.  Raises :class:`FontMissing`.
    """
    if configured is not None:
        path = Path(configured)
        if not path.is_file():
            raise FontMissing(f"the configured seal font {str(path)!r} does not exist; {_HINT}")
        _check_usable(path)
        return path
    for directory in _NOTO_DIRS:
        for name in _NOTO_FILES:
            candidate = directory / name
            if candidate.is_file():
                return candidate
    found = _fontconfig_lookup()
    if found is not None:
        return found
    raise FontMissing(f"no font with Chinese glyphs found; {_HINT}")


def _fontconfig_lookup() -> Path | None:
    fc_list = shutil.which("fc-list")
    if fc_list is None:
        return None
    try:
        out = subprocess.run(
            [fc_list, ":lang=zh-cn", "file", "style"],
            capture_output=True,
            text=True,
            timeout=20,
            check=False,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    files: dict[str, str] = {}
    for line in out.splitlines():
        file, _, style = line.partition(":")
        if file.strip():
            files[file.strip()] = files.get(file.strip(), "") + style

    def rank(item: tuple[str, str]) -> tuple[int, int, str]:
        file, style = item
        lowered = file.lower()
        return (
            0 if "bold" in style.lower() or "bold" in lowered else 1,
            0 if "serif" in lowered or "song" in lowered or "ming" in lowered else 1,
            file,
        )

    for file, _style in sorted(files.items(), key=rank):
        path = Path(file)
        if path.is_file() and path.suffix.lower() in {".ttc", ".otc", ".ttf", ".otf"}:
            try:
                _check_usable(path)
            except FontMissing:
                continue
            return path
    return None


def _check_usable(path: Path) -> None:
    try:
        index = cjk_face_index(path)
        charset = font_charset(path, index)
    except OSError as exc:
        raise FontMissing(f"the seal font {str(path)!r} cannot be read ({exc}); {_HINT}") from None
    if charset and not all(ord(c) in charset for c in _TEST_CHARS):
        raise FontMissing(f"the seal font {str(path)!r} has no Chinese glyphs; {_HINT}")


@functools.lru_cache(maxsize=16)
def cjk_face_index(path: Path) -> int:
    """The index of the Simplified Chinese face in a font collection (0 for a single font)."""
    names: list[str] = []
    for index in range(64):
        try:
            family, _style = ImageFont.truetype(str(path), 16, index=index).getname()
        except OSError:
            if index == 0:
                raise
            break
        names.append(family or "")
    for index, family in enumerate(names):
        words = family.replace("-", " ").split()
        if "SC" in words or "CN" in words or "GB" in words:
            return index
    for index, family in enumerate(names):
        if "Simplified" in family or "简" in family:
            return index
    return 0


@functools.lru_cache(maxsize=16)
def font_charset(path: Path, index: int) -> frozenset[int]:
    """The code points the face maps to glyphs; empty if that cannot be told (no fontTools)."""
    try:
        from fontTools.ttLib import TTFont
    except ImportError:  # pragma: no cover - fontTools comes with pyHanko[opentype]
        return frozenset()
    try:
        font = TTFont(str(path), fontNumber=index, lazy=True)
        cmap = font.getBestCmap() or {}
        font.close()
    except Exception as exc:  # fontTools raises a variety of errors on a broken file
        raise OSError(str(exc)) from exc
    return frozenset(cmap)


@functools.lru_cache(maxsize=64)
def load_font(path: Path, size: int) -> ImageFont.FreeTypeFont:
    """The SC face of ``path`` at ``size`` pixels per em, with Pillow's basic layout engine
    (so that the output does not depend on whether libraqm is installed)."""
    return ImageFont.truetype(
        str(path),
        size,
        index=cjk_face_index(path),
        layout_engine=ImageFont.Layout.BASIC,
    )
