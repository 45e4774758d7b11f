"""What a signature covers and what changed after it: the ``integrity`` of a report entry.

``ok``: intact, covers a whole revision, and whatever came after it changes nothing a reader
sees beyond further seals (validation data, document timestamps, later signatures with their
appearances).  ``suspicious``: later changes that can alter what is seen, such as filling other
form fields, annotations, objects no cross-reference section lists (a viewer that rebuilds the
table shows them: shadow attacks), anything pyHanko's difference analysis cannot explain, or
changes a certification does not allow.  ``broken``: the signed bytes or the signature value do
not verify, or the bytes signed are not a whole revision.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from typing import Any

from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.diff_analysis import ModificationLevel
from pyhanko.sign.validation import EmbeddedPdfSignature
from pyhanko.sign.validation.status import SignatureCoverageLevel

from seals.codes import ProblemCode
from seals.verdict import ProblemItem
from seals.vocab import Coverage, Integrity, Modifications

__all__ = ["IntegrityFindings", "assess", "object_headers", "unlisted_objects"]

_COVERAGE = {
    SignatureCoverageLevel.ENTIRE_FILE: Coverage.ENTIRE_FILE,
    SignatureCoverageLevel.ENTIRE_REVISION: Coverage.EARLIER_REVISION,
}


@dataclass
class IntegrityFindings:
    """The integrity part of one signature's report entry."""

    integrity: Integrity
    intact: bool
    coverage: Coverage
    modifications: Modifications
    problems: list[ProblemItem] = field(default_factory=list)

    def add(self, code: ProblemCode, message: str) -> None:
        self.problems.append(ProblemItem(code=code, message=message))


def assess(
    reader: PdfFileReader,
    sig: EmbeddedPdfSignature,
    status: Any,
    *,
    unlisted: list[int],
    certified: bool,
) -> IntegrityFindings:
    """Integrity, coverage and later changes of ``sig`` from pyHanko's ``status``.

    ``unlisted``: offsets of objects no cross-reference section lists
    (:func:`unlisted_objects`); ``certified``: the document carries a certification."""
    coverage = status.coverage
    found = IntegrityFindings(
        Integrity.OK,
        bool(status.intact and status.valid),
        _COVERAGE.get(coverage, Coverage.PARTIAL),
        Modifications.NONE,
    )
    if not status.intact:
        found.integrity = Integrity.BROKEN
        found.add(ProblemCode.DIGEST_MISMATCH, "the signed bytes do not match the signature")
    elif not status.valid:
        found.integrity = Integrity.BROKEN
        found.add(ProblemCode.SIGNATURE_INVALID, "the signature value does not verify")
    if coverage not in _COVERAGE:
        found.integrity = Integrity.BROKEN
        found.add(
            ProblemCode.PARTIAL_COVERAGE,
            "the signature does not cover a whole revision of the file",
        )
    if coverage is SignatureCoverageLevel.ENTIRE_REVISION and found.integrity is Integrity.OK:
        found.modifications, why = _modifications(reader, status, sig.signed_revision)
        if why is not None:
            found.integrity = Integrity.SUSPICIOUS
            found.add(
                ProblemCode.MODIFIED_AFTER_SIGNING,
                f"the document was changed after signing ({found.modifications.value}) in a "
                f"way that can alter what a reader sees: {why}",
            )
    signed_end = int(sig.byte_range[2]) + int(sig.byte_range[3])
    if found.integrity is Integrity.OK and any(offset >= signed_end for offset in unlisted):
        found.integrity, found.modifications = Integrity.SUSPICIOUS, Modifications.OTHER
        found.add(
            ProblemCode.MODIFIED_AFTER_SIGNING,
            "objects were written after signing that no cross-reference section lists: "
            "a reader that rebuilds the cross-reference table would show them",
        )
    if certified and getattr(status, "docmdp_ok", None) is False:
        if found.integrity is Integrity.OK:
            found.integrity = Integrity.SUSPICIOUS
        found.add(
            ProblemCode.DOCMDP_VIOLATION,
            "changes after a certification signature that it does not allow",
        )
    return found


#: bytes a PDF reader takes for white space around an object header's numbers
_WHITE = frozenset(b" \t\f\r\n\x00")
#: the same within one line (before the object number)
_BLANK = frozenset(b" \t\f\x00")
_EOL = frozenset(b"\r\n")
_DIGITS = frozenset(b"0123456789")
_WORD = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789")


def _back(pdf: bytes, end: int, chars: frozenset[int], most: int | None = None) -> int:
    """The start of the run of ``chars`` that ends at ``end``; with ``most``, looking at no
    more than ``most + 1`` bytes (a run found longer than ``most`` is longer than that)."""
    start = end
    stop = 0 if most is None else max(0, end - most - 1)
    while start > stop and pdf[start - 1] in chars:
        start -= 1
    return start


def object_headers(pdf: bytes) -> list[tuple[int, int]]:
    """(line start, object number start) of every object header ``N G obj`` that begins a
    line: at the start of the file or after CR or LF, then spaces, tabs, form feeds or NULs,
    1 to 10 digits, white space (line ends too), 1 to 5 digits, white space, ``obj`` not
    followed by a letter or digit.

    A direct scan from each ``obj`` backwards: C-speed ``bytes.find`` does the searching, and
    only the few bytes before each ``obj`` are looked at.  Each header is found once, as a
    left-to-right regular-expression scan would (they cannot overlap: a header holds no
    letter but its ``obj``)."""
    out: list[tuple[int, int]] = []
    size = len(pdf)
    find = pdf.find
    at = find(b"obj")
    while at != -1:
        following = at + 3
        if following >= size or pdf[following] not in _WORD:
            header = _header_before(pdf, at)
            if header is not None:
                out.append(header)
        at = find(b"obj", following)
    return out


def _header_before(pdf: bytes, obj: int) -> tuple[int, int] | None:
    """(line start, number start) of the header whose ``obj`` is at ``obj``, if it is one."""
    gen_end = _back(pdf, obj, _WHITE)
    if gen_end == obj:
        return None
    gen = _back(pdf, gen_end, _DIGITS, 5)
    if gen == gen_end or gen_end - gen > 5:
        return None
    num_end = _back(pdf, gen, _WHITE)
    if num_end == gen:
        return None
    num = _back(pdf, num_end, _DIGITS, 10)
    if num == num_end or num_end - num > 10:
        return None
    line = _back(pdf, num, _BLANK)
    if line != 0 and pdf[line - 1] not in _EOL:
        return None
    return line, num


def unlisted_objects(reader: PdfFileReader, pdf: bytes) -> list[int]:
    """Offsets of object headers that no cross-reference section of the file points at.

    pyHanko reads a revision through its cross-reference section; a viewer that finds that
    section broken rebuilds it by scanning for ``N G obj`` and shows what it finds.  Objects
    after a signature that only such a scan sees are changes pyHanko's difference analysis
    cannot judge.
    """
    listed: set[int] = set()
    xrefs = reader.xrefs
    try:
        for revision in range(xrefs.total_revisions):
            data = xrefs.get_xref_data(revision)
            sections = [data]
            hybrid = data.hybrid
            if hybrid is not None:
                sections.append(hybrid.xref_data)
            for section in sections:
                listed |= {int(offset) for _gen, offset in section.standard_xrefs.values()}
    except Exception:  # unreadable bookkeeping: nothing to compare with
        return []
    return [start for line, start in object_headers(pdf) if not ({start, line, line - 1} & listed)]


#: keys that lead from a form field to the page and the rest of the form, not to its value
_UP_LINKS = frozenset({"/P", "/Parent"})
_MAX_WALK = 5_000


def _modifications(
    reader: PdfFileReader, status: Any, revision: int
) -> tuple[Modifications, str | None]:
    """(what changed after signing, why it can change what a reader sees or None)."""
    level = status.modification_level
    diff = status.diff_result
    if level is None or not hasattr(diff, "changed_form_fields"):
        why = str(diff).strip().splitlines()[0][:300] if diff else "unexplained changes"
        return Modifications.OTHER, why
    if level in (ModificationLevel.NONE, ModificationLevel.LTA_UPDATES):
        return Modifications.NONE, None
    if level is ModificationLevel.FORM_FILLING:
        if not diff.changed_form_fields:
            return Modifications.FORM_FILLING, "form changes that name no field"
        fields = _field_refs(reader)
        filled = []
        signed_later = False
        for name in sorted(diff.changed_form_fields):
            ref = fields.get(name)
            if ref is None:
                filled.append(name)
            elif _signed_after(ref, reader, revision):
                signed_later = True
            elif _changed_after(ref, reader, revision):
                filled.append(name)
            # else: pyHanko names the field, but nothing of it was written again
        if filled:
            return Modifications.FORM_FILLING, "form fields filled: " + ", ".join(filled)[:200]
        return (Modifications.LATER_SIGNATURES if signed_later else Modifications.NONE), None
    if level is ModificationLevel.ANNOTATIONS:
        return Modifications.ANNOTATIONS, "annotations added or changed"
    return Modifications.OTHER, "unexplained changes"


def _field_refs(reader: PdfFileReader) -> dict[str, generic.IndirectObject | None]:
    """Every form field by fully qualified name, with its reference (None if direct)."""
    out: dict[str, generic.IndirectObject | None] = {}

    def walk(items: Any, prefix: str, depth: int) -> None:
        if depth > 32 or not isinstance(items, generic.ArrayObject):
            return
        for raw in _raw_items(items):
            obj = raw.get_object()
            if not isinstance(obj, generic.DictionaryObject):
                continue
            part = obj.get("/T")
            name = prefix if part is None else (f"{prefix}.{part}" if prefix else str(part))
            if part is not None:
                out[name] = raw if isinstance(raw, generic.IndirectObject) else None
            walk(obj.get("/Kids"), name, depth + 1)

    with contextlib.suppress(Exception):
        walk(reader.root["/AcroForm"]["/Fields"], "", 0)
    return out


def _raw_items(array: generic.ArrayObject) -> list[Any]:
    return [array.raw_get(i) for i in range(len(array))]


def _signed_after(ref: generic.IndirectObject, reader: PdfFileReader, revision: int) -> bool:
    """Whether the field is a signature field whose value was written after ``revision``."""
    field = ref.get_object()
    if not isinstance(field, generic.DictionaryObject) or field.get("/FT") != "/Sig":
        return False
    try:
        value = field.raw_get("/V")
    except KeyError:
        return False
    if not isinstance(value, generic.IndirectObject):
        return False
    return bool(reader.xrefs.get_last_change(value.reference) > revision)


def _changed_after(ref: generic.IndirectObject, reader: PdfFileReader, revision: int) -> bool:
    """Whether the field or anything it holds (value, appearances, kids) was written after
    ``revision``.  Links up to the page and the parent field are not followed."""
    seen: set[Any] = set()
    todo: list[Any] = [ref]
    while todo:
        item = todo.pop()
        if isinstance(item, generic.IndirectObject):
            key = item.reference
            if key in seen:
                continue
            seen.add(key)
            if len(seen) > _MAX_WALK:
                return True
            try:
                if reader.xrefs.get_last_change(key) > revision:
                    return True
            except Exception:
                return True
            item = item.get_object()
        if isinstance(item, generic.DictionaryObject):  # streams too
            todo.extend(item.raw_get(k) for k in item if k not in _UP_LINKS)
        elif isinstance(item, generic.ArrayObject):
            todo.extend(_raw_items(item))
    return False
