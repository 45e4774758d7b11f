"""Reading a PDF for an incremental update, safely, and the temporary files sealing writes to.

Hostile input is refused before pyHanko walks it: a cross-reference section cannot list more
objects than the file has bytes.  Documents up to :data:`SPOOL_BYTES` stay in memory while
they are sealed; larger ones go to temporary files.
"""

from __future__ import annotations

import io
import re
import tempfile
from collections.abc import Iterator
from typing import BinaryIO, cast

from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter

from keystore.errors import EsealError

from .errors import InvalidPdf

__all__ = ["SPOOL_BYTES", "open_reader", "short_text", "spooled"]


_SIZE_CLAIM = re.compile(rb"/Size\s+(\d{1,20})")
_INDEX_CLAIM = re.compile(rb"/Index\s*\[([\d\s]{0,2000})\]")
_SUBSECTION_CLAIM = re.compile(rb"xref\s+\d{1,20}\s+(\d{1,20})")
#: documents up to this size stay in memory while they are sealed; larger ones go to a
#: temporary file, so sealing a 100 MB document does not hold several copies of it in memory
SPOOL_BYTES = 8 * 1024 * 1024
_SCAN_CHUNK = 1024 * 1024
_SCAN_OVERLAP = 4096  # longer than any match of the claim patterns


def spooled() -> BinaryIO:
    """A temporary binary file: in memory while small, on disk when it grows."""
    return cast(BinaryIO, tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES))


def _size_of(stream: BinaryIO) -> int:
    stream.seek(0, io.SEEK_END)
    size = stream.tell()
    stream.seek(0)
    return size


def _claims(stream: BinaryIO) -> Iterator[int]:
    """Object counts the cross-reference sections claim, scanned in overlapping chunks."""
    stream.seek(0)
    tail = b""
    while True:
        chunk = stream.read(_SCAN_CHUNK)
        window = tail + chunk
        for match in _SIZE_CLAIM.finditer(window):
            yield int(match.group(1))
        for match in _SUBSECTION_CLAIM.finditer(window):
            yield int(match.group(1))
        for match in _INDEX_CLAIM.finditer(window):
            numbers = [int(n) for n in match.group(1).split()]
            yield sum(numbers[1::2])
        if not chunk:
            return
        tail = window[-_SCAN_OVERLAP:]


def open_reader(pdf: bytes | BinaryIO) -> IncrementalPdfFileWriter:
    """Open a PDF (bytes or a seekable binary file) for an incremental update.

    Any failure to read it is ``invalid_pdf``.
    """
    stream: BinaryIO = io.BytesIO(pdf) if isinstance(pdf, bytes | bytearray) else pdf
    size = _size_of(stream)
    if not stream.read(1024).lstrip()[:5].startswith(b"%PDF-"):
        raise InvalidPdf("the file is not a PDF (it does not start with %PDF-)")
    # A cross-reference section cannot list more objects than the file has bytes; pyHanko
    # would walk every claimed entry (minutes for /Size 2147483648 in a 458-byte file).
    for claim in _claims(stream):
        if claim > size:
            raise InvalidPdf(
                f"a cross-reference section claims {claim} objects in a file of {size} bytes"
            )
    stream.seek(0)
    try:
        writer = IncrementalPdfFileWriter(stream, strict=False)
        if writer.prev.encrypted:
            raise InvalidPdf(
                "the PDF is encrypted; decrypt it before sealing", code="pdf_encrypted"
            )
        writer.root["/Pages"]
    except EsealError:
        raise
    except Exception as exc:  # pyHanko's reader raises many kinds on hostile input
        raise InvalidPdf(f"the PDF cannot be read: {short_text(exc)}") from None
    return writer


def short_text(exc: BaseException) -> str:
    """An exception's text for an error message: its type when it has none, cut at 200."""
    text = str(exc) or type(exc).__name__
    return text if len(text) <= 200 else text[:200] + "…"
