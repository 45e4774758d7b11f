"""How a visible seal is drawn: a transparent seal image in a signature field's widgets.

The appearance of each widget is a form XObject that draws the seal image — colour plus its
alpha channel as a soft mask (``/SMask``), no background, no border, no text — so the text
beneath the seal shows through it.  Three layers of objects:

1. the **image XObject** (RGB, 8 bits, Flate) with its **soft mask** (the alpha channel);
2. the **seal form**: ``/BBox [0 0 W H]`` in points, drawing the image at W x H, upright;
3. one **widget form** per widget: ``/BBox`` the size of the widget's ``/Rect``, drawing the
   seal form through :meth:`signer.widgets.WidgetBox.appearance_matrix`, which picks the
   slice of the seal the widget shows (all of it, or one strip of a cross-page seal) and
   counter-rotates it for the page's ``/Rotate`` so that the reader sees it upright.

What is cached: :class:`SealAppearance` decodes the PNG, splits colour from alpha and
compresses both **once per seal image**; it is immutable and safe to share between threads
and documents (keep one per seal version, keyed by its SHA-256).  Per document only the
already-compressed bytes are wrapped in new stream objects (no decoding, no compression),
and the image is embedded once however many widgets show it.

A seal on one page is one signature field merged with its widget annotation, the form
every reader knows.  One signature, several widgets (the cross-page seal, 骑缝章):
:func:`add_seal_field` creates one signature field whose ``/Kids`` are N widget annotations,
one per page, each with its own strip of the seal, so the single signature value ``/V``
covers every strip.  pyHanko
0.38 can sign such a field, with one catch: ``PdfCMSEmbedder`` looks up "the" widget of the
field to draw its appearance and refuses a field with more than one kid.  So the field is
created with its first widget only, and the other widgets are attached to ``/Kids`` and to
their pages' ``/Annots`` by the stamp style pyHanko calls at that very moment
(:attr:`SealField.stamp_style`) — still inside the same incremental update, before the
document is hashed.  The signer therefore signs with::

    field = add_seal_field(writer, name, widgets, seal)
    pdf_signer = PdfSigner(PdfSignatureMetadata(field_name=field.name, ...), signer,
                           stamp_style=field.stamp_style)
    await pdf_signer.async_sign_pdf(writer, existing_fields_only=True, ...)

The style also keeps pyHanko from replacing the seal appearance with its default text stamp,
so it is needed for one-page seals too.  pyHanko's validator and difference analysis accept
the N-widget field, also when a later revision adds one.  Poppler's form parser before its
"pure widget" fix (22.12 among them) does not: it takes widget kids that carry ``/Parent``
for sub-fields and reports N unsigned signatures; see ``widget_parent``.
"""

from __future__ import annotations

import hashlib
import io
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from PIL import Image, UnidentifiedImageError
from pyhanko.pdf_utils import generic, layout
from pyhanko.pdf_utils.generic import pdf_name
from pyhanko.pdf_utils.writer import BasePdfFileWriter
from pyhanko.sign.fields import SigFieldSpec, append_signature_field, enumerate_sig_fields
from pyhanko.stamp import BaseStampStyle

from seals.errors import InvalidImage

from .errors import InvalidPlacement
from .widgets import WidgetBox

__all__ = [
    "SealAppearance",
    "SealField",
    "SealFieldStyle",
    "add_seal_field",
    "widget_form",
    "widget_form_content",
]

#: Largest seal image accepted, in pixels (a 40 mm seal at 1200 dpi is ~3.6 MP).
MAX_PIXELS = 16_000_000
#: Widget annotation flags: Print (4) and Locked (128), as pyHanko sets them.
_WIDGET_FLAGS = 0b10000100
_POINTS_PER_INCH = 72.0


def _num(value: float) -> bytes:
    """A PDF number: short, no exponent, no ``-0``."""
    text = f"{value:.5f}".rstrip("0").rstrip(".")
    if text in ("-0", ""):
        text = "0"
    return text.encode("ascii")


def _nums(*values: float) -> bytes:
    return b" ".join(_num(v) for v in values)


class SealAppearance:
    """A seal image ready to be embedded: decoded, split and compressed once.

    ``width`` and ``height`` are the seal's physical size in points (a 40 mm seal is
    113.39 pt); when omitted they come from the PNG's resolution (``pHYs``).  Giving only
    one keeps the image's aspect ratio.

    :raises seals.errors.InvalidImage: not a PNG, too large, or no way to know its size.
    """

    def __init__(self, png: bytes, *, width: float | None = None, height: float | None = None):
        self.sha256 = hashlib.sha256(png).hexdigest()
        try:
            with Image.open(io.BytesIO(png)) as img:
                if img.format != "PNG":
                    raise InvalidImage("the seal image must be a PNG")
                if img.width * img.height > MAX_PIXELS:
                    raise InvalidImage(f"the seal image has more than {MAX_PIXELS} pixels")
                dpi = img.info.get("dpi")
                rgba = img.convert("RGBA")
        except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError) as exc:
            raise InvalidImage("the seal image cannot be read as a PNG") from exc
        self.pixel_width, self.pixel_height = rgba.size
        self.width, self.height = self._size(width, height, dpi)

        red, green, blue, alpha = rgba.split()
        colour = Image.merge("RGB", (red, green, blue))
        self._colour = zlib.compress(colour.tobytes(), 9)
        lowest = alpha.getextrema()[0]
        self._alpha = None if lowest == 255 else zlib.compress(alpha.tobytes(), 9)
        self._encoded = self._encode_objects()

    def _size(self, width: float | None, height: float | None, dpi: Any) -> tuple[float, float]:
        aspect = self.pixel_height / self.pixel_width
        if width is None and height is None:
            try:
                dx, dy = (float(v) for v in dpi)
            except (TypeError, ValueError):
                dx = dy = 0.0
            if not (dx > 0 and dy > 0):
                raise InvalidImage(
                    "the seal image has no resolution; give its physical width and height"
                )
            width = self.pixel_width / dx * _POINTS_PER_INCH
            height = self.pixel_height / dy * _POINTS_PER_INCH
        elif width is None:
            assert height is not None
            width = height / aspect
        elif height is None:
            height = width * aspect
        if not (width > 0 and height > 0):
            raise InvalidImage("the seal size must be positive")
        return float(width), float(height)

    @classmethod
    def from_png(
        cls, png: bytes, *, width: float | None = None, height: float | None = None
    ) -> SealAppearance:
        """Same as the constructor; reads better at call sites."""
        return cls(png, width=width, height=height)

    @property
    def has_alpha(self) -> bool:
        return self._alpha is not None

    def _encode_objects(self) -> tuple[bytes, bytes, bytes, bytes, bytes]:
        """The bytes of the image, its mask and the seal form, as :meth:`seal_objects` joins
        them with the object numbers of a document (the same values :meth:`seal_form` adds)."""
        common = b"/Type /XObject /Subtype /Image /Width %d /Height %d /BitsPerComponent 8 " % (
            self.pixel_width,
            self.pixel_height,
        )
        common += b"/Filter /FlateDecode /Interpolate true"
        image = b"<<" + common + b" /ColorSpace /DeviceRGB"
        image_tail = b" /Length %d>>\nstream\n" % len(self._colour)
        mask = b""
        if self._alpha is not None:
            mask = (
                b"<<"
                + common
                + b" /ColorSpace /DeviceGray /Length %d>>\nstream\n" % len(self._alpha)
            )
        content = zlib.compress(
            b"q " + _nums(self.width, 0, 0, self.height, 0, 0) + b" cm /Seal Do Q"
        )
        form = (
            b"<</Type /XObject /Subtype /Form /BBox ["
            + _nums(0, 0, self.width, self.height)
            + b"] /Resources <</XObject <</Seal "
        )
        form_tail = (
            b" 0 R>>>> /Filter /FlateDecode /Length %d>>\nstream\n" % len(content)
            + content
            + b"\nendstream"
        )
        return image, image_tail, mask, form, form_tail

    def seal_objects(
        self, form: int, image: int, mask: int | None
    ) -> list[tuple[int, tuple[bytes, ...]]]:
        """The seal form, the image and its soft mask as the bodies of objects ``form``,
        ``image`` and ``mask`` (``None`` when the image has no alpha channel): the bytes
        :meth:`seal_form` would have a writer write, encoded once per seal."""
        image_head, image_tail, mask_head, form_head, form_tail = self._encoded
        end = b"\nendstream"
        out: list[tuple[int, tuple[bytes, ...]]] = [(form, (form_head, b"%d" % image, form_tail))]
        if self._alpha is not None and mask is not None:
            smask = b" /SMask %d 0 R" % mask
            out.append((image, (image_head, smask, image_tail, self._colour, end)))
            out.append((mask, (mask_head, self._alpha, end)))
        else:
            out.append((image, (image_head, image_tail, self._colour, end)))
        return out

    @staticmethod
    def widget_form_object(content: bytes, width: float, height: float, form: int) -> bytes:
        """A widget's form XObject drawing the seal form (object ``form``) with ``content``
        (:func:`widget_form_content`), ``/BBox [0 0 width height]``."""
        return b"".join(
            [
                b"<</Type /XObject /Subtype /Form /BBox [",
                _nums(0, 0, width, height),
                b"] /Resources <</XObject <</SealForm %d 0 R>>>> /Length %d>>\nstream\n"
                % (form, len(content)),
                content,
                b"\nendstream",
            ]
        )

    # ----------------------------------------------------------------- per document

    def image_xobject(self, writer: BasePdfFileWriter) -> generic.IndirectObject:
        """Add the image XObject (and its soft mask) to ``writer``; no re-encoding."""
        common = {
            pdf_name("/Type"): pdf_name("/XObject"),
            pdf_name("/Subtype"): pdf_name("/Image"),
            pdf_name("/Width"): generic.NumberObject(self.pixel_width),
            pdf_name("/Height"): generic.NumberObject(self.pixel_height),
            pdf_name("/BitsPerComponent"): generic.NumberObject(8),
            pdf_name("/Filter"): pdf_name("/FlateDecode"),
            pdf_name("/Interpolate"): generic.BooleanObject(True),
        }
        image = generic.DictionaryObject(
            {**common, pdf_name("/ColorSpace"): pdf_name("/DeviceRGB")}
        )
        if self._alpha is not None:
            mask = generic.StreamObject(
                generic.DictionaryObject(
                    {**common, pdf_name("/ColorSpace"): pdf_name("/DeviceGray")}
                ),
                encoded_data=self._alpha,
            )
            image[pdf_name("/SMask")] = writer.add_object(mask)
        return writer.add_object(generic.StreamObject(image, encoded_data=self._colour))

    def seal_form(self, writer: BasePdfFileWriter) -> generic.IndirectObject:
        """Add a form XObject that draws the whole seal upright at W x H points."""
        image_ref = self.image_xobject(writer)
        content = b"q " + _nums(self.width, 0, 0, self.height, 0, 0) + b" cm /Seal Do Q"
        return writer.add_object(
            _form(
                content,
                (0.0, 0.0, self.width, self.height),
                {pdf_name("/Seal"): image_ref},
            )
        )


def _form(
    content: bytes, bbox: tuple[float, float, float, float], xobjects: dict[Any, Any]
) -> generic.StreamObject:
    stream = generic.StreamObject(
        {
            pdf_name("/Type"): pdf_name("/XObject"),
            pdf_name("/Subtype"): pdf_name("/Form"),
            pdf_name("/BBox"): generic.ArrayObject(generic.FloatObject(v) for v in bbox),
            pdf_name("/Resources"): generic.DictionaryObject(
                {pdf_name("/XObject"): generic.DictionaryObject(xobjects)}
            ),
        },
        stream_data=content,
    )
    stream.compress()
    return stream


def widget_form(widget: WidgetBox, seal_form_ref: generic.IndirectObject) -> generic.StreamObject:
    """The appearance stream of one widget: its slice of the seal, upright for the reader.

    The form's ``/BBox`` is ``[0 0 w h]`` with ``w x h`` the size of ``widget.rect``, and its
    ``/Matrix`` is the identity, so viewers map it onto ``/Rect`` without scaling; the
    rotation and the strip offset are in the content (``cm``), the most widely supported
    place, and the content is clipped to the box as well.
    """
    w, h = widget.size
    content = widget_form_content(widget)
    return _form(content, (0.0, 0.0, w, h), {pdf_name("/SealForm"): seal_form_ref})


def widget_form_content(widget: WidgetBox) -> bytes:
    """The content of a widget's form: clipped to its box, the seal form drawn through
    :meth:`WidgetBox.appearance_matrix`."""
    w, h = widget.size
    return b"".join(
        [
            b"q 0 0 ",
            _nums(w, h),
            b" re W n ",
            _nums(*widget.appearance_matrix()),
            b" cm /SealForm Do Q",
        ]
    )


# --------------------------------------------------------------------------- the field


@dataclass(frozen=True)
class SealFieldStyle(BaseStampStyle):
    """The stamp style to sign a :class:`SealField` with.

    pyHanko asks its stamp style for an appearance right after it has found the field's
    (single) widget.  This style draws nothing — the widgets already have their seal
    appearances — and uses the moment to attach the field's other widgets.
    """

    field: SealField | None = None
    border_width: int = 0

    def create_stamp(
        self, writer: BasePdfFileWriter, box: layout.BoxConstraints, text_params: dict
    ) -> None:
        if self.field is not None:
            self.field.attach_widgets()
        return None


class SealField:
    """A signature field carrying a seal: one field, one widget per page it appears on."""

    def __init__(
        self,
        writer: BasePdfFileWriter,
        name: str,
        field_ref: generic.IndirectObject,
        widget_refs: Sequence[generic.IndirectObject],
        page_refs: Sequence[generic.IndirectObject],
    ) -> None:
        self.writer = writer
        self.name = name
        self.field_ref = field_ref
        self.widget_refs = tuple(widget_refs)
        self._page_refs = tuple(page_refs)
        self._attached = len(self.widget_refs) <= 1
        self.stamp_style = SealFieldStyle(field=self)

    @property
    def attached(self) -> bool:
        """Whether every widget is in the field's ``/Kids`` and on its page."""
        return self._attached

    def attach_widgets(self) -> None:
        """Put widgets 2..N in the field's ``/Kids`` and their pages' ``/Annots`` (once).

        Signing with :attr:`stamp_style` calls this at the right moment; call it yourself
        only if the field is to be signed by something other than pyHanko's ``PdfSigner``.
        """
        if self._attached:
            return
        field = self.field_ref.get_object()
        kids = field["/Kids"]
        for widget_ref, page_ref in zip(self.widget_refs[1:], self._page_refs[1:], strict=True):
            kids.append(widget_ref)
            self.writer.register_annotation(page_ref, widget_ref)
        self.writer.update_container(kids)
        self._attached = True


def add_seal_field(
    writer: BasePdfFileWriter,
    field_name: str,
    widgets: Sequence[WidgetBox],
    seal: SealAppearance,
    *,
    readable_name: str | None = None,
    defer_extra_widgets: bool = True,
    widget_parent: bool = True,
) -> SealField:
    """Create an empty signature field showing ``seal`` in ``widgets`` (from ``resolve``).

    The field gets one widget annotation per :class:`WidgetBox`, each with its slice of the
    seal as its normal appearance.  With a single widget, field and widget share one
    dictionary (as pyHanko and most producers write them); with several, the widgets are the
    field's ``/Kids``.  With ``defer_extra_widgets`` (the default) widgets 2..N
    are attached only when pyHanko signs the field with :attr:`SealField.stamp_style` (see
    the module documentation); otherwise they are attached at once.

    ``readable_name`` becomes the field's ``/TU`` (e.g. the seal's label, 合同专用章).

    ``widget_parent`` (several widgets only) gives every widget the ``/Parent`` entry that
    ISO 32000-1 (Table 188) requires of a widget that is one of several kids of a field, and
    that Acrobat-style readers use to find a widget's field.  Poppler before the "pure
    widget" fix in its form parser (22.12 among them, so ``pdfsig`` and Evince/Okular) takes
    such kids for sub-fields and reports N unsigned signatures instead of one signed one;
    ``False`` leaves ``/Parent`` out, which those readers handle, at the cost of the letter
    of the standard.  pyHanko validates both.

    :raises InvalidPlacement: no widgets.
    :raises pyhanko.pdf_utils.misc.PdfWriteError: a field of that name exists already.
    """
    if not widgets:
        raise InvalidPlacement("a seal needs at least one widget")
    first = widgets[0]
    append_signature_field(
        writer,
        SigFieldSpec(
            sig_field_name=field_name,
            on_page=first.page_index,
            box=first.rect,  # type: ignore[arg-type]  # hinted int, floats work
            # one widget: field and widget in one dictionary, the form every reader knows
            combine_annotation=len(widgets) == 1,
            readable_field_name=readable_name,
        ),
    )
    field_ref = next(
        ref
        for name, _, ref in enumerate_sig_fields(writer, with_name=field_name)
        if name == field_name
    )
    field = field_ref.get_object()
    seal_form_ref = seal.seal_form(writer)

    widget_refs = []
    page_refs = []
    for index, widget in enumerate(widgets):
        page_ref = writer.find_page_for_modification(widget.page_index)[0]
        appearance = generic.DictionaryObject(
            {pdf_name("/N"): writer.add_object(widget_form(widget, seal_form_ref))}
        )
        if index == 0:
            if len(widgets) == 1:
                widget_ref = field_ref
            else:
                widget_ref = field["/Kids"].raw_get(0)
                if widget_parent:
                    widget_ref.get_object()[pdf_name("/Parent")] = field_ref
            annot = widget_ref.get_object()
            annot[pdf_name("/AP")] = appearance
            annot[pdf_name("/Rect")] = generic.ArrayObject(
                generic.FloatObject(v) for v in widget.rect
            )
        else:
            annot = generic.DictionaryObject(
                {
                    pdf_name("/Type"): pdf_name("/Annot"),
                    pdf_name("/Subtype"): pdf_name("/Widget"),
                    pdf_name("/F"): generic.NumberObject(_WIDGET_FLAGS),
                    pdf_name("/Rect"): generic.ArrayObject(
                        generic.FloatObject(v) for v in widget.rect
                    ),
                    pdf_name("/P"): page_ref,
                    pdf_name("/AP"): appearance,
                }
            )
            if widget_parent:
                annot[pdf_name("/Parent")] = field_ref
            widget_ref = writer.add_object(annot)
        widget_refs.append(widget_ref)
        page_refs.append(page_ref)

    sealed = SealField(writer, field_name, field_ref, widget_refs, page_refs)
    if not defer_extra_widgets:
        sealed.attach_widgets()
    return sealed
