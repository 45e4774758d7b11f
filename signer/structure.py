"""The structure of the signature dictionaries, checked before pyHanko reads them.

Universal signature forgery and signature wrapping hide in a signature's ``/ByteRange`` and
``/Contents``: a range that does not start at 0, runs past the file, or leaves out more (or
other bytes) than this signature's own ``/Contents``; contents that are missing, empty, all
zeros or not a CMS SignedData with a signer.  :func:`check_signature_dict` gives each variant
its own problem code (``byte_range_invalid``, ``signature_contents_invalid``,
``malformed_signature``) instead of one generic read error, and :func:`collect` sets such
signatures aside as :func:`broken_entry` reports.
"""

from __future__ import annotations

import re
from typing import Any

from asn1crypto import cms
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.fields import enumerate_sig_fields
from pyhanko.sign.validation import EmbeddedPdfSignature

from seals.codes import ProblemCode
from seals.vocab import Integrity, SignatureType

from .pdf_io import short_text
from .report import ProblemItem, SignatureReport

__all__ = ["BrokenField", "broken_entry", "check_signature_dict", "collect"]

_HEX = re.compile(rb"<([0-9A-Fa-f]*)>")

#: (field name, problem code, message) of a signature that cannot be read
BrokenField = tuple[str, ProblemCode, str]


def check_signature_dict(sig_object: Any, pdf: bytes) -> tuple[ProblemCode, str] | None:
    """(code, message) if the dictionary's /ByteRange or /Contents is unusable."""
    if not isinstance(sig_object, generic.DictionaryObject):
        return ProblemCode.MALFORMED_SIGNATURE, "the signature value is not a dictionary"
    try:
        byte_range = sig_object.raw_get("/ByteRange")
    except KeyError:
        return ProblemCode.BYTE_RANGE_INVALID, "the signature has no /ByteRange"
    if isinstance(byte_range, generic.IndirectObject):
        byte_range = byte_range.get_object()
    numbers = list(byte_range) if isinstance(byte_range, generic.ArrayObject) else []
    if len(numbers) != 4 or not all(
        isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in numbers
    ):
        return ProblemCode.BYTE_RANGE_INVALID, "/ByteRange is not four non-negative integers"
    start1, len1, start2, len2 = (int(v) for v in numbers)
    if start1 != 0 or start2 < len1 or start2 + len2 > len(pdf):
        if start1 == 0 and start2 >= len1 and _rewritten(pdf, _raw_contents(sig_object)):
            return ProblemCode.BYTE_RANGE_INVALID, _REWRITTEN
        return (
            ProblemCode.BYTE_RANGE_INVALID,
            "/ByteRange does not start at the beginning of the file or runs past its end",
        )
    try:
        contents = sig_object.raw_get("/Contents", decrypt=generic.EncryptedObjAccess.RAW)
    except KeyError:
        return ProblemCode.SIGNATURE_CONTENTS_INVALID, "the signature has no /Contents"
    if not isinstance(contents, generic.TextStringObject | generic.ByteStringObject):
        return ProblemCode.SIGNATURE_CONTENTS_INVALID, "/Contents is not a string"
    raw = contents.original_bytes
    if not raw.strip(b"\x00"):
        return ProblemCode.SIGNATURE_CONTENTS_INVALID, "/Contents is empty or all zeros"
    try:
        info = cms.ContentInfo.load(raw)
        if info["content_type"].native not in ("signed_data",):
            raise ValueError(f"content type {info['content_type'].native}")
        if len(info["content"]["signer_infos"]) < 1:
            raise ValueError("no signer")
    except Exception as exc:
        return (
            ProblemCode.SIGNATURE_CONTENTS_INVALID,
            f"/Contents is not a CMS signature: {short_text(exc)}",
        )
    gap = _HEX.fullmatch(pdf[len1:start2])
    if gap is None or bytes.fromhex(gap.group(1).decode()) != raw:
        if _rewritten(pdf, raw):
            return ProblemCode.BYTE_RANGE_INVALID, _REWRITTEN
        return (
            ProblemCode.BYTE_RANGE_INVALID,
            "the bytes the /ByteRange leaves out are not this signature's /Contents",
        )
    return None


_REWRITTEN = (
    "the file was rewritten after signing (re-saved whole by a tool, not updated "
    "incrementally): the signed bytes are no longer where /ByteRange says, so the document "
    "is not the one signed"
)


def _raw_contents(sig_object: generic.DictionaryObject) -> bytes:
    try:
        contents = sig_object.raw_get("/Contents", decrypt=generic.EncryptedObjAccess.RAW)
    except KeyError:
        return b""
    if isinstance(contents, generic.TextStringObject | generic.ByteStringObject):
        return bytes(contents.original_bytes)
    return b""


def _rewritten(pdf: bytes, raw: bytes) -> bool:
    """This signature's /Contents is in the file, just not where /ByteRange leaves its gap:
    what a whole-file re-save (qpdf, a PDF library's full write) does to a signed PDF."""
    digits = raw.rstrip(b"\x00").hex().encode()
    return len(digits) >= 64 and digits in pdf.lower()


def collect(
    reader: PdfFileReader, pdf: bytes
) -> tuple[list[EmbeddedPdfSignature], list[BrokenField]]:
    """The filled signature fields pyHanko can read, by signed revision, and those it cannot
    (or that :func:`check_signature_dict` refuses), in field order."""
    sigs: list[EmbeddedPdfSignature] = []
    broken: list[BrokenField] = []
    for name, _value, field_ref in enumerate_sig_fields(reader, filled_status=True):
        try:
            field = field_ref.get_object()
            found = check_signature_dict(field["/V"], pdf)
            if found is not None:
                broken.append((name, *found))
                continue
            sig = EmbeddedPdfSignature(reader, field, name)
            sig.signed_revision  # noqa: B018 - resolves the signature's revision
            sigs.append(sig)
        except Exception as exc:
            broken.append(
                (
                    name,
                    ProblemCode.MALFORMED_SIGNATURE,
                    f"the signature cannot be read: {type(exc).__name__}: {exc}"[:300],
                )
            )
    sigs.sort(key=lambda s: s.signed_revision)
    return sigs, broken


def broken_entry(name: str, code: ProblemCode, message: str) -> SignatureReport:
    """The report of a signature that cannot be read or validated: only the keys that say
    so (see :mod:`signer.report`)."""
    return SignatureReport(
        field=name,
        type=SignatureType.SIGNATURE,
        integrity=Integrity.BROKEN,
        intact=False,
        trusted=False,
        valid=False,
        problems=[ProblemItem(code=code, message=message)],
    )
