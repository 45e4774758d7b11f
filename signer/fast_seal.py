"""A sealing fast path for our own keys: the incremental update written directly.

pyHanko's ``PdfSigner`` builds a seal's update through its object model and writes it with its
generic writer: the seal image and the forms are wrapped in new PDF objects and serialised again
for every document, the document's XMP metadata is parsed and rewritten, and the signature is
embedded through several passes over the output.  For the common case -- one seal of our own key
(:class:`keystore.signers.LoadedKeySigner`) in a new field on one page, PAdES B-B or B-T -- this
module writes the same update itself:

* the objects the document already has and the update changes (the page's ``/Annots``, the
  interactive form's ``/Fields``, the catalogue's extensions) are changed through pyHanko's
  writer, exactly as its signer changes them, and serialised by pyHanko;
* the new objects (the field with its widget, the signature dictionary, the seal image and its
  soft mask, the seal form, the widget's form) are written from bytes: the image streams and
  the seal form are encoded once per seal version (:class:`SealAppearance`);
* the cross-reference section (a table after a table, a stream after a stream) and the trailer
  are written directly; the ``/ByteRange`` and ``/Contents`` are filled in place, and the CMS is
  joined from the signer's cached encodings (:meth:`LoadedKeySigner.pades_cms`).

What the update leaves out that pyHanko's adds: the ``/Info`` dictionary's ``/Producer`` and
``/ModDate``, the XMP metadata stream, and the empty appearance stream pyHanko leaves behind.

Anything else takes pyHanko's path (:func:`takes_fast_path` decides before any change is made
to the document; :func:`fits` after the placement is known): certification and fields filled or
made for others, B-LT and above, SM2 and other signers, cross-page seals, encrypted documents,
hybrid cross-reference files, documents with ``/Perms`` (certified, usage rights), documents
larger than the in-memory limit.  ``tests/signer/test_fast_path_sealing.py`` seals the same
documents both ways and validates every fast-path output with pyHanko, ``pdfsig``, endesive,
``qpdf --check`` and eseal's own verifier.
"""

from __future__ import annotations

import codecs
import hashlib
import io
import os
import struct
import weakref
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any, BinaryIO

from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.generic import pdf_name
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.sign.general import SigningError
from pyhanko.sign.signers import pdf_signer
from pyhanko.sign.timestamps import TimeStamper
from pyhanko.sign.timestamps.common_utils import TimestampRequestError

from keystore.signers import LoadedKeySigner
from keystore.tsa import TsaUnavailable

from .appearance import SealAppearance, widget_form_content
from .errors import SignerError
from .levels import PadesLevel
from .pdf_io import SPOOL_BYTES, short_text
from .widgets import WidgetBox

__all__ = ["FAST_LEVELS", "fits", "seal_fast", "signing_failures", "takes_fast_path"]

#: the levels the fast path makes (B-LT and B-LTA embed validation data: pyHanko's path)
FAST_LEVELS = frozenset({PadesLevel.B_B, PadesLevel.B_T})
#: widget annotation flags: Print (4) and Locked (128), as pyHanko sets them
_WIDGET_FLAGS = 132
#: room for the ``[0 a b c]`` of ``/ByteRange`` (four numbers of up to 10 digits)
_BYTE_RANGE_ROOM = 48


def takes_fast_path(
    signer: Any,
    level: PadesLevel,
    *,
    certify: bool,
    others: bool,
    exists: bool,
    fill: bool,
) -> bool:
    """Whether a seal may take the fast path as far as the request goes (the document and the
    placement are checked by :func:`fits`)."""
    return (
        type(signer) is LoadedKeySigner
        and level in FAST_LEVELS
        and not (certify or others or exists or fill)
        and signer.signed_attr_prov_spec is None
        and signer.unsigned_attr_prov_spec is None
        and not signer.attribute_certs
        and signer.signing_cert is not None
    )


def fits(writer: IncrementalPdfFileWriter, source: BinaryIO, widgets: Iterable[WidgetBox]) -> bool:
    """Whether the document and the placement are of the kind the fast path writes: one
    widget, an unencrypted file of the in-memory size whose last update is a plain table or a
    stream, no ``/Perms``, a form (if any) with an array of fields, and no change to the
    document made yet beyond its catalogue's version."""
    if len(list(widgets)) != 1:
        return False
    try:
        prev = writer.prev
        if prev.encrypted or prev.xrefs.hybrid_xrefs_present:
            return False
        if not isinstance(prev.last_startxref, int):
            return False
        if "/Encrypt" in writer.trailer:
            return False
        position = source.tell()
        size = source.seek(0, io.SEEK_END)
        source.seek(position)
        if size + (1 << 20) > SPOOL_BYTES:
            return False
        root = writer.root
        if "/Perms" in root:
            return False
        root_ref = writer.trailer.raw_get("/Root")
        if not isinstance(root_ref, generic.IndirectObject):
            return False
        if any(idnum != root_ref.idnum for _, idnum in writer.objects):
            return False
        if "/AcroForm" in root:
            form = root["/AcroForm"]
            if not isinstance(form, generic.DictionaryObject) or "/XFA" in form:
                return False
            if "/Fields" in form and not isinstance(form["/Fields"], generic.ArrayObject):
                return False
        return True
    except Exception:  # anything odd: pyHanko's path reads it and says what is wrong
        return False


def _document_bytes(source: BinaryIO) -> bytes:
    if isinstance(source, io.BytesIO):
        return source.getvalue()
    position = source.tell()
    source.seek(0)
    data = source.read()
    source.seek(position)
    return data


#: per signer: whether its signatures declare ISO 32002 (ECDSA on a curve it names)
_ISO32002: weakref.WeakKeyDictionary[LoadedKeySigner, bool] = weakref.WeakKeyDictionary()


def _register_extensions(writer: IncrementalPdfFileWriter, signer: LoadedKeySigner) -> None:
    """The catalogue's version and developer extensions, as pyHanko's signer sets them for a
    PAdES signature (``PdfSigner.register_extensions``)."""
    pdf_signer._ensure_esic_ext(writer)
    iso32002 = _ISO32002.get(signer)
    if iso32002 is None:
        mechanism = signer.get_signature_mechanism_for_digest("sha256").signature_algo
        cert = signer.signing_cert
        iso32002 = _ISO32002[signer] = bool(
            mechanism == "ecdsa"
            and cert is not None
            and pdf_signer._is_iso32002_curve(cert.public_key)
        )
    if iso32002:
        pdf_signer._ensure_iso32002_ext(writer)


def _pdf(obj: generic.PdfObject) -> bytes:
    out = io.BytesIO()
    obj.write_to_stream(out, None)
    return out.getvalue()


def _text(value: str) -> bytes:
    """A PDF text string in hex: printable ASCII as itself (PDFDocEncoding agrees with ASCII
    there), anything else as UTF-16BE after its byte order mark."""
    if value.isascii() and value.isprintable():
        raw = value.encode("ascii")
    else:
        raw = codecs.BOM_UTF16_BE + value.encode("utf-16-be")
    return b"<" + raw.hex().upper().encode("ascii") + b">"


def _ref(idnum: int, generation: int = 0) -> bytes:
    return b"%d %d R" % (idnum, generation)


def _pdf_date(when: datetime) -> bytes:
    return when.astimezone(UTC).strftime("(D:%Y%m%d%H%M%SZ)").encode("ascii")


class _Update:
    """The bytes of the update being written, after the original document."""

    def __init__(self, original: bytes) -> None:
        self.out = io.BytesIO()
        self.out.write(original)
        if original and original[-1:] not in (b"\n", b"\r"):
            self.out.write(b"\n")
        #: object number -> (offset, generation)
        self.positions: dict[int, tuple[int, int]] = {}

    def obj(self, idnum: int, *body: bytes, generation: int = 0) -> int:
        """Write one object (its body in parts); returns the offset of its body."""
        out = self.out
        self.positions[idnum] = (out.tell(), generation)
        out.write(b"%d %d obj\n" % (idnum, generation))
        start = out.tell()
        for part in body:
            out.write(part)
        out.write(b"\nendobj\n")
        return start

    def table(self, trailer: bytes) -> None:
        out = self.out
        at = out.tell()
        lines = [b"xref\n0 1\n0000000000 65535 f \n"]
        for first, run in _runs(self.positions):
            lines.append(b"%d %d\n" % (first, len(run)))
            lines += [b"%010d %05d n \n" % self.positions[n] for n in run]
        lines.append(b"trailer\n<<" + trailer + b">>\nstartxref\n%d\n%%%%EOF\n" % at)
        out.write(b"".join(lines))

    def stream(self, idnum: int, trailer: bytes) -> None:
        out = self.out
        at = out.tell()
        self.positions[idnum] = (at, 0)
        index: list[bytes] = []
        rows = [b"\x00" + b"\x00" * 4 + b"\xff\xff"]
        index.append(b"0 1")
        for first, run in _runs(self.positions):
            index.append(b"%d %d" % (first, len(run)))
            rows += [b"\x01" + struct.pack(">IH", *self.positions[n]) for n in run]
        data = b"".join(rows)
        head = (
            b"<</Type /XRef /W [1 4 2] /Index ["
            + b" ".join(index)
            + b"] "
            + trailer
            + b" /Length %d>>\nstream\n" % len(data)
        )
        out.write(b"%d 0 obj\n" % idnum + head + data + b"\nendstream\nendobj\n")
        out.write(b"startxref\n%d\n%%%%EOF\n" % at)


def _runs(positions: dict[int, tuple[int, int]]) -> list[tuple[int, list[int]]]:
    runs: list[tuple[int, list[int]]] = []
    for n in sorted(positions):
        if runs and runs[-1][1][-1] == n - 1:
            runs[-1][1].append(n)
        else:
            runs.append((n, [n]))
    return runs


async def seal_fast(
    source: BinaryIO,
    writer: IncrementalPdfFileWriter,
    *,
    signer: LoadedKeySigner,
    appearance: SealAppearance,
    widget: WidgetBox,
    name: str,
    label: str | None,
    reason: str | None,
    location: str | None,
    timestamper: TimeStamper | None,
    signature_bytes: int,
) -> BinaryIO:
    """Write ``source`` with one seal in a new field at ``widget``, signed by ``signer``
    (timestamped by ``timestamper`` for B-T): a new in-memory file, rewound."""
    original = _document_bytes(source)
    _register_extensions(writer, signer)
    first = max(int(writer.trailer["/Size"]), getattr(writer, "_lastobj_id", 0) + 1)
    field_n, sig_n, form_n, widget_form_n = first, first + 1, first + 2, first + 3
    image_n = first + 4
    mask_n = first + 5 if appearance.has_alpha else None
    after = first + (6 if appearance.has_alpha else 5)
    field_ref = generic.IndirectObject(field_n, 0, writer)

    # the objects the document has: changed as pyHanko's signer changes them
    page_ref = writer.find_page_for_modification(widget.page_index)[0]
    writer.register_annotation(page_ref, field_ref)
    root = writer.root
    new_form_n = None
    if "/AcroForm" in root:
        form = root["/AcroForm"]
        if "/Fields" not in form:
            form[pdf_name("/Fields")] = generic.ArrayObject([field_ref])
            writer.update_container(form)
        else:
            fields = form["/Fields"]
            fields.append(field_ref)
            writer.update_container(fields)
        if "/SigFlags" not in form or form["/SigFlags"] != 3 or "/NeedAppearances" in form:
            form[pdf_name("/SigFlags")] = generic.NumberObject(3)
            if "/NeedAppearances" in form:
                del form["/NeedAppearances"]
            writer.update_container(form)
    else:
        new_form_n = after
        after += 1
        root[pdf_name("/AcroForm")] = generic.IndirectObject(new_form_n, 0, writer)
        writer.update_root()

    update = _Update(original)
    for (generation, idnum), obj in sorted(writer.objects.items(), key=lambda i: i[0][1]):
        update.obj(idnum, _pdf(obj), generation=generation)
    if new_form_n is not None:
        update.obj(new_form_n, b"<</Fields [" + _ref(field_n) + b"] /SigFlags 3>>")

    # the new field with its widget
    x0, y0, x1, y1 = widget.rect
    field = [
        b"<</FT /Sig /T ",
        _text(name),
        b" /Type /Annot /Subtype /Widget /F %d /Rect [" % _WIDGET_FLAGS,
        _nums(x0, y0, x1, y1),
        b"] /P ",
        _ref(page_ref.idnum, page_ref.generation),
    ]
    if label is not None:
        field += [b" /TU ", _text(label)]
    field += [b" /AP <</N ", _ref(widget_form_n), b">> /V ", _ref(sig_n), b">>"]
    update.obj(field_n, b"".join(field))

    # the signature dictionary, its /ByteRange and /Contents filled in below
    sig = [b"<</Type /Sig /Filter /Adobe.PPKLite /SubFilter /ETSI.CAdES.detached /M "]
    sig.append(_pdf_date(datetime.now(UTC)))
    if reason is not None:
        sig += [b" /Reason ", _text(reason)]
    if location is not None:
        sig += [b" /Location ", _text(location)]
    sig.append(b" /ByteRange ")
    head = b"".join(sig)
    body = head + b" " * _BYTE_RANGE_ROOM + b" /Contents <" + b"0" * signature_bytes + b">>>"
    body_at = update.obj(sig_n, body)
    range_at = body_at + len(head)
    contents_at = range_at + _BYTE_RANGE_ROOM + len(b" /Contents ")
    contents_end = contents_at + signature_bytes + 2

    # the seal's appearance: the image and the seal form encoded once per seal version
    w, h = widget.size
    update.obj(
        widget_form_n,
        appearance.widget_form_object(widget_form_content(widget), w, h, form_n),
    )
    for idnum, parts in appearance.seal_objects(form_n, image_n, mask_n):
        update.obj(idnum, *parts)

    trailer = _trailer(writer)
    if writer.prev.has_xref_stream:
        update.stream(after, trailer + b" /Size %d" % (after + 1))
    else:
        update.table(trailer + b" /Size %d" % after)

    buffer = update.out.getbuffer()
    total = len(buffer)
    byte_range = b"[0 %d %d %d]" % (contents_at, contents_end, total - contents_end)
    buffer[range_at : range_at + len(byte_range)] = byte_range
    md = hashlib.sha256(buffer[:contents_at])
    md.update(buffer[contents_end:])
    del buffer
    cms = await _signed(signer, md.digest(), timestamper)
    digits = cms.hex().upper().encode("ascii")
    if len(digits) > signature_bytes:
        raise SignerError(
            "the signature does not fit the room reserved for it", code="signing_failed"
        )
    update.out.seek(contents_at + 1)
    update.out.write(digits)
    update.out.seek(0)
    return update.out


async def _signed(signer: LoadedKeySigner, digest: bytes, timestamper: TimeStamper | None) -> bytes:
    with signing_failures():
        return await signer.pades_cms(digest, "sha256", timestamper)


@contextmanager
def signing_failures() -> Iterator[None]:
    """A signer's and a timestamper's failures as ours (``tsa_unavailable``,
    ``signing_failed``)."""
    try:
        yield
    except TimestampRequestError as exc:
        raise TsaUnavailable(
            f"the time-stamping authority did not answer: {short_text(exc)}"
        ) from None
    except SigningError as exc:
        if isinstance(exc.__cause__, TimestampRequestError):
            raise TsaUnavailable("the time-stamping authority did not answer") from None
        raise SignerError(f"signing failed: {short_text(exc)}", code="signing_failed") from exc


def _trailer(writer: IncrementalPdfFileWriter) -> bytes:
    """``/Root``, ``/Info``, ``/ID`` (the first part kept, a new second part) and ``/Prev``."""
    trailer = writer.trailer
    parts = [b"/Root ", _pdf(trailer.raw_get("/Root"))]
    try:
        info = trailer.raw_get("/Info")
    except KeyError:
        info = None
    if info is not None:
        parts += [b" /Info ", _pdf(info)]
    try:
        first = trailer["/ID"][0]
        first_id = bytes(
            first.original_bytes if isinstance(first, generic.TextStringObject) else first
        )
    except (KeyError, IndexError, TypeError):
        first_id = os.urandom(16)
    parts += [
        b" /ID [<",
        first_id.hex().encode("ascii"),
        b"> <",
        os.urandom(16).hex().encode("ascii"),
        b">] /Prev %d" % (writer.prev.last_startxref or 0),
    ]
    return b"".join(parts)


def _nums(*values: float) -> bytes:
    from .appearance import _nums as nums

    return nums(*values)
