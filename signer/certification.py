"""Certified documents and the signature fields reserved in them for later seals.

A certification signature with DocMDP P=2 (the level eseal certifies with) allows a later
revision to fill form fields and to *sign the signature fields that exist*; it does not allow
new signature fields with a visible widget (ISO 32000-1, 12.8.2.2; pyHanko's difference
analysis and every verifier that follows it report such a field as a DocMDP violation).  P=3
adds annotations but still no new signature fields, and P=1 allows no change at all.  So a
contract certified by one party can be sealed by a counter-party only in a field the
certifier made, empty, in the certifying revision:

* a certifying request *reserves* fields (:class:`Reservation`): each is an empty signature
  field with the nominal size of the seal kind it waits for, named
  ``eseal-reserved-<kind>-<n>``, its kind and label also written in the field dictionary
  under ``/EsealReservation`` and the label as the field's ``/TU``;
* sealing a certified document fills such a field (:func:`choose_fields`), found by reading the
  document itself (:func:`signature_fields`): a field of the seal's kind, or any empty
  signature field the request names, whoever made it;
* anything else is refused before any work with :class:`DocumentCertified` (409), which names
  the certification level and the free reserved fields.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.generic import pdf_name
from pyhanko.pdf_utils.rw_common import PdfHandler
from pyhanko.pdf_utils.writer import BasePdfFileWriter
from pyhanko.sign.fields import SigFieldSpec, append_signature_field, enumerate_sig_fields

from keystore.errors import ErrorKind
from seals.kinds import SealKind

from .appearance import SealAppearance, widget_form
from .errors import InvalidPlacement, SignerError
from .geometry import Rect
from .pages import PageGeometry, iter_pages
from .placement_kinds import Placement
from .resolution import resolve_in
from .widgets import WidgetBox

__all__ = [
    "RESERVATION_KEY",
    "Certification",
    "DocumentCertified",
    "Reservation",
    "ReservedFieldNotFound",
    "SignatureField",
    "choose_fields",
    "fill_box",
    "read_certification",
    "reserve_field",
    "reserved_name",
    "show_seal",
    "signature_fields",
]

#: the key of the field dictionary that records what a reserved field waits for
RESERVATION_KEY = "/EsealReservation"
_RESERVED_NAME = re.compile(r"^eseal-reserved-([a-z_]+)-\d+$")
_LEVELS = {
    1: "no changes allowed",
    2: "form filling and signing of existing fields allowed",
    3: "form filling, signing of existing fields and annotations allowed",
}


@dataclass(frozen=True)
class Reservation:
    """An empty signature field for a party who seals later, made in the certifying revision."""

    #: the seal kind id the field waits for (``contract``)
    kind: str
    #: where its centre goes, like a seal's (keyword or page and point)
    placement: Placement
    #: the field's size in points: the nominal size of a seal of that kind
    width: float
    height: float
    #: who seals there, e.g. 乙方 (shown as the field's tooltip)
    label: str | None = None


@dataclass(frozen=True)
class Certification:
    """The certification signature's DocMDP permission level (1, 2 or 3)."""

    level: int

    def describe(self) -> str:
        return f"P={self.level}: {_LEVELS.get(self.level, 'unknown permissions')}"


@dataclass(frozen=True)
class SignatureField:
    """A signature field of a document as the document itself describes it."""

    #: fully qualified field name
    name: str
    #: the seal kind it is reserved for, when the document says (eseal's reservations)
    kind: str | None
    label: str | None
    #: whether it holds a signature already
    signed: bool
    #: page number from 1 (None: no single widget listed in a page's ``/Annots``) and the
    #: widget's ``/Rect``
    page: int | None
    rect: Rect | None
    #: the widget annotation dictionary (the field itself when they are merged)
    widget: generic.DictionaryObject | None = None
    widget_ref: generic.IndirectObject | None = None

    @property
    def usable(self) -> bool:
        """Empty, with one widget of some size on a page: a seal can be drawn in it."""
        return not self.signed and self.widget is not None and self.page is not None

    def to_json(self) -> dict[str, object]:
        return {"name": self.name, "kind": self.kind, "label": self.label, "page": self.page}


class DocumentCertified(SignerError):
    """The document is certified and the request cannot fill a free reserved field."""

    code = "document_certified"
    kind = ErrorKind.CONFLICT
    title = "Document is certified"

    def __init__(self, detail: str, *, level: int, free: Sequence[SignatureField]) -> None:
        super().__init__(detail)
        self.level = level
        self.free = list(free)

    def to_problem(self) -> dict[str, object]:
        return {
            **super().to_problem(),
            "certification_level": self.level,
            "free_fields": [f.to_json() for f in self.free],
        }


class ReservedFieldNotFound(SignerError):
    """The request names a signature field the document does not have free."""

    code = "field_not_found"
    kind = ErrorKind.INVALID
    title = "Signature field not found"


def _deref(value: Any) -> Any:
    return value.get_object() if isinstance(value, generic.IndirectObject) else value


def read_certification(handler: PdfHandler) -> Certification | None:
    """The document's certification (``/Perms /DocMDP``), or None if it is not certified.

    A certification whose transform parameters name no level is P=2, the default of
    ISO 32000-1 Table 254.
    """
    try:
        perms = _deref(handler.root.get("/Perms"))
        if not isinstance(perms, generic.DictionaryObject) or "/DocMDP" not in perms:
            return None
        sig = _deref(perms.get("/DocMDP"))
    except Exception:  # an unreadable catalog entry: treat it as a certification, strictly
        return Certification(1)
    level = 2
    try:
        for ref in _deref(sig.get("/Reference")) or ():
            ref = _deref(ref)
            if _deref(ref.get("/TransformMethod")) == "/DocMDP":
                params = _deref(ref.get("/TransformParams")) or generic.DictionaryObject()
                level = int(_deref(params.get("/P", 2)))
                break
    except Exception:
        return Certification(1)
    return Certification(level if level in _LEVELS else 1)


def _text(value: Any) -> str | None:
    value = _deref(value)
    if isinstance(value, generic.NameObject):
        return str(value)[1:]
    if isinstance(value, (generic.TextStringObject, generic.ByteStringObject, str)):
        return str(value)
    return None


def _rect(value: Any) -> Rect | None:
    value = _deref(value)
    if not isinstance(value, generic.ArrayObject) or len(value) != 4:
        return None
    try:
        x0, y0, x1, y1 = (float(_deref(v)) for v in value)
    except (TypeError, ValueError):
        return None
    rect = (min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1))
    return rect if rect[2] - rect[0] > 0 and rect[3] - rect[1] > 0 else None


def signature_fields(handler: PdfHandler) -> list[SignatureField]:
    """Every signature field of the document, in the form's order, with what it waits for."""
    pages = list(iter_pages(handler))
    page_of: dict[tuple[int, int], int] = {}
    for number, page in enumerate(pages):
        annots = _deref(page.get("/Annots"))
        if isinstance(annots, generic.ArrayObject):
            for i in range(len(annots)):
                raw = annots.raw_get(i)
                if isinstance(raw, generic.IndirectObject):
                    page_of.setdefault((raw.idnum, raw.generation), number)
    out = []
    for name, value, field_ref in enumerate_sig_fields(handler):
        field = _deref(field_ref)
        if not isinstance(field, generic.DictionaryObject):
            continue
        marker = _deref(field.get(RESERVATION_KEY))
        kind = label = None
        if isinstance(marker, generic.DictionaryObject):
            kind, label = _text(marker.get("/Kind")), _text(marker.get("/Label"))
        elif (match := _RESERVED_NAME.match(name)) is not None:
            kind = match.group(1)
        kids = _deref(field.get("/Kids"))
        widget_ref: Any = field_ref
        if isinstance(kids, generic.ArrayObject):
            widget_ref = kids.raw_get(0) if len(kids) == 1 else None
        widget = _deref(widget_ref) if widget_ref is not None else None
        index: int | None = None
        rect: Rect | None = None
        if isinstance(widget, generic.DictionaryObject):
            rect = _rect(widget.get("/Rect"))
            if isinstance(widget_ref, generic.IndirectObject):
                index = page_of.get((widget_ref.idnum, widget_ref.generation))
        else:
            widget = None
        # a widget that no page lists in /Annots is never shown: a seal there would not be
        usable = rect is not None and index is not None
        out.append(
            SignatureField(
                name=name,
                kind=kind,
                label=label,
                signed=value is not None,
                page=index + 1 if usable and index is not None else None,
                rect=rect,
                widget=widget if usable else None,
                widget_ref=widget_ref if usable else None,
            )
        )
    return out


def reserved_name(kind: str, taken: set[str]) -> str:
    """``eseal-reserved-<kind>-<n>``, the lowest ``n`` from 1 not in ``taken``."""
    n = 1
    while f"eseal-reserved-{kind}-{n}" in taken:
        n += 1
    return f"eseal-reserved-{kind}-{n}"


def reserve_field(writer: BasePdfFileWriter, reservation: Reservation, taken: set[str]) -> str:
    """Make the empty signature field of ``reservation``; returns its name.

    :raises PlacementError: the placement does not fit the document (keyword not found...).
    """
    widgets = resolve_in(writer, reservation.placement, reservation.width, reservation.height)
    if len(widgets) != 1:
        raise InvalidPlacement("a reserved field is on one page")
    name = reserved_name(reservation.kind, taken)
    try:
        seal_label = SealKind(reservation.kind).label
    except ValueError:
        seal_label = reservation.kind
    readable = f"{reservation.label}（{seal_label}）" if reservation.label else seal_label
    append_signature_field(
        writer,
        SigFieldSpec(
            sig_field_name=name,
            on_page=widgets[0].page_index,
            box=widgets[0].rect,  # type: ignore[arg-type]  # hinted int, floats work
            readable_field_name=readable,
        ),
    )
    field_ref = next(
        ref for found, _, ref in enumerate_sig_fields(writer, with_name=name) if found == name
    )
    _mark(field_ref.get_object(), reservation)
    return name


def _mark(field: generic.DictionaryObject, reservation: Reservation) -> None:
    """Record on the field what it waits for: kind and label."""
    marker = generic.DictionaryObject(
        {pdf_name("/Kind"): generic.TextStringObject(reservation.kind)}
    )
    if reservation.label:
        marker[pdf_name("/Label")] = generic.TextStringObject(reservation.label)
    field[pdf_name(RESERVATION_KEY)] = marker


def _free_list(fields: Sequence[SignatureField]) -> str:
    free = [f for f in fields if f.usable]
    if not free:
        return "it has no free reserved signature field"
    parts = []
    for f in free:
        what = ", ".join(x for x in (f.kind, f.label) if x) or "any seal"
        parts.append(f"{f.name} ({what}, page {f.page})")
    return "free reserved signature fields: " + "; ".join(parts)


def choose_fields(
    handler: PdfHandler, wanted: Sequence[tuple[str, str | None]], *, cross_page: Sequence[bool]
) -> list[SignatureField | None]:
    """The field each seal of a request fills, or None where it makes its own.

    ``wanted`` is ``(kind, named field or None)`` per seal, in order; ``cross_page`` says which
    of them are cross-page seals.  On a certified document every seal must fill a free field:
    the one it names, else the first free field reserved for its kind.  On other documents
    only a seal that names a field fills one.

    :raises DocumentCertified: certified with P=1, or a seal finds no free field.
    :raises ReservedFieldNotFound: a named field is not an empty signature field here.
    """
    certification = read_certification(handler)
    if certification is None and not any(name for _, name in wanted):
        return [None] * len(wanted)
    fields = signature_fields(handler)
    by_name = {f.name: f for f in fields}
    taken: set[str] = set()
    out: list[SignatureField | None] = []

    def refuse(why: str) -> DocumentCertified:
        assert certification is not None
        free = [f for f in fields if f.usable]
        return DocumentCertified(
            f"the document is certified (DocMDP {certification.describe()}), so a seal can "
            f"only fill an empty signature field that the certifier reserved; {why}; "
            f"{_free_list(fields)}",
            level=certification.level,
            free=free,
        )

    if certification is not None and certification.level == 1:
        raise refuse("this certification allows no seal after it")
    for (kind, name), crossing in zip(wanted, cross_page, strict=True):
        if name is not None:
            found = by_name.get(name)
            why = None
            if found is None:
                why = "there is no signature field of that name"
            elif found.signed:
                why = "it is signed already"
            elif name in taken:
                why = "an earlier seal of this request fills it"
            elif not found.usable:
                why = "it has no single visible widget on a page"
            if why is not None:
                if certification is not None:
                    raise refuse(f"the field {name!r} cannot be filled: {why}")
                raise ReservedFieldNotFound(
                    f"the field {name!r} cannot be filled: {why}; {_free_list(fields)}"
                )
            assert found is not None
            taken.add(name)
            out.append(found)
            continue
        if certification is None:
            out.append(None)
            continue
        if crossing:
            raise refuse("a cross-page seal (骑缝章) needs a new field on every page")
        match = next(
            (f for f in fields if f.usable and f.kind == kind and f.name not in taken), None
        )
        if match is None:
            raise refuse(f"there is no free field reserved for the {kind} seal")
        taken.add(match.name)
        out.append(match)
    return out


def fill_box(handler: PdfHandler, field: SignatureField, appearance: SealAppearance) -> WidgetBox:
    """Where a seal filling ``field`` is drawn: its widget's ``/Rect``, the seal at its own
    size centred in it (cut to the rectangle if the field is smaller than the seal) and
    upright with the page's text (see :mod:`signer.placement`)."""
    assert field.page is not None and field.rect is not None
    page = next(p for i, p in enumerate(iter_pages(handler)) if i == field.page - 1)
    geometry = PageGeometry.from_page(page, text=True)
    in_text = geometry.text_frame.rect_to_visible(field.rect)  # as the page's text reads
    vw, vh = in_text[2] - in_text[0], in_text[3] - in_text[1]  # points
    w, h = appearance.width, appearance.height
    crop = ((w - vw) / 2, (h - vh) / 2, (w + vw) / 2, (h + vh) / 2)
    return WidgetBox(
        page_index=field.page - 1,
        rect=field.rect,
        rotation=geometry.seal_rotation,
        crop=crop,
        visible_rect=geometry.rect_to_visible(field.rect),
        user_unit=geometry.user_unit,
    )


def show_seal(
    writer: BasePdfFileWriter, field: SignatureField, box: WidgetBox, appearance: SealAppearance
) -> None:
    """Give the (empty) field's widget the seal as its appearance, in the signing revision."""
    assert field.widget_ref is not None
    widget = field.widget_ref.get_object()
    form = writer.add_object(widget_form(box, appearance.seal_form(writer)))
    widget[pdf_name("/AP")] = generic.DictionaryObject({pdf_name("/N"): form})
    writer.update_container(widget)
