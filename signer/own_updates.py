"""A fast path of the difference analysis for later seals added the way eseal adds them.

pyHanko's default policy (``DEFAULT_DIFF_POLICY``) reviews what came after a signature by
reading every object of the signed revision and every way each is reached, to be sure an
overwritten or new object is used nowhere it should not be: a third of a 2-seal verification.
Most documents eseal verifies are eseal's own, where what came after the first seal is the
next seals, each an update of one shape.  :class:`OwnUpdatesPolicy` recognises exactly that
shape and answers as pyHanko does for it (``FORM_FILLING``, the new signature fields by name);
for anything else, or anything it is not sure of, it hands the file to pyHanko's policy.

An update has that shape when (each checked against the revision before it):

* it frees no object, uses no object stream, has no hybrid section, the file is not
  encrypted and no revision of it uses object streams (so every reference in the file is
  written out as text: see the last point);
* the trailer keeps its ``/Root`` and ``/Info``;
* its new objects are signature fields, each a widget of a page (``/FT /Sig``, the keys
  eseal writes and no ``/Parent``, ``/Kids`` or ``/Lock``) with a new signature dictionary as
  its value (no ``/Reference``: no certification, no field locking) and a new appearance
  ``/AP << /N ... >>``, the new objects these reach, the update's own xref stream, and
  orphans (objects nothing refers to: pyHanko's signer leaves an empty appearance behind,
  and pyHanko's policy ignores orphans); what a field reaches refers only to new objects of
  the update and to objects that existed;
* the objects it writes again are unchanged (pyHanko ignores such rewrites too), or are the
  interactive form (``/AcroForm``, indirect) with only the new fields appended to ``/Fields``,
  or a page with only its new widgets appended to ``/Annots``; every new field is in both;
* the field names are new;
* no object written before refers to any object number the updates introduce.  pyHanko
  finds such a reference (a "dangling" one made live later) by reading the whole old
  revision; here the file's text is searched for references to those numbers (whatever the
  generation, leading zeros, comments between the tokens) and their count must equal the
  count in the objects the updates wrote.  One more anywhere (an old object, a trailer, a
  string, a comment, an object no table lists, bytes inside a stream) sends the file to
  pyHanko.

``tests/signer/test_verify_cache_diff.py`` compares both answers on documents with one to
four seals, and on hand-made updates the fast path must refuse.
"""

from __future__ import annotations

import io
import logging
import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.reader import HistoricalResolver, PdfFileReader
from pyhanko.sign.diff_analysis import (
    DEFAULT_DIFF_POLICY,
    DiffPolicy,
    DiffResult,
    ModificationLevel,
    SuspiciousModification,
)
from pyhanko.sign.diff_analysis.rules.metadata_rules import MetadataUpdateRule

__all__ = ["OWN_UPDATES_POLICY", "OwnUpdatesPolicy", "later_seals"]

log = logging.getLogger(__name__)

#: the keys eseal's sealing writes in a signature field with its widget
_WIDGET_KEYS = frozenset(
    {"/FT", "/T", "/Type", "/Subtype", "/F", "/Rect", "/P", "/TU", "/AP", "/V"}
)
#: the keys a signature dictionary may hold here (no /Reference: no DocMDP, no FieldMDP)
_SIG_KEYS = frozenset(
    {
        "/Type",
        "/Filter",
        "/SubFilter",
        "/Contents",
        "/ByteRange",
        "/M",
        "/Reason",
        "/Location",
        "/ContactInfo",
        "/Name",
        "/Prop_Build",
    }
)
_SEP = rb"(?:[\x00\t\n\f\r ]|%[^\r\n]*+)"
#: ``N G R`` written out, with white space or comments between the tokens (conservative:
#: counts some text that is no reference, never misses one); possessive, as a tokeniser
#: reads: a number is all its digits
_REFERENCE = re.compile(rb"(?<![0-9])([0-9]++)" + _SEP + rb"++[0-9]++" + _SEP + rb"*+R")
#: a walk through one new object's dependencies stops here (a hostile file)
_MAX_NODES = 20_000


class _NotOurs(Exception):
    """The update is not of the shape this fast path knows."""


class OwnUpdatesPolicy(DiffPolicy):
    """pyHanko's default difference analysis, answered at once for eseal's later seals."""

    def __init__(self, fallback: DiffPolicy = DEFAULT_DIFF_POLICY) -> None:
        self._fallback = fallback

    def apply(
        self,
        old: HistoricalResolver,
        new: HistoricalResolver,
        field_mdp_spec: Any = None,
        doc_mdp: Any = None,
    ) -> DiffResult:
        return self._fallback.apply(old, new, field_mdp_spec, doc_mdp)

    def review_file(
        self,
        reader: PdfFileReader,
        base_revision: int | HistoricalResolver,
        field_mdp_spec: Any = None,
        doc_mdp: Any = None,
    ) -> DiffResult | SuspiciousModification:
        if isinstance(base_revision, int) and field_mdp_spec is None and doc_mdp is None:
            names = later_seals(reader, base_revision)
            if names is not None:
                return DiffResult(ModificationLevel.FORM_FILLING, names)
        return self._fallback.review_file(reader, base_revision, field_mdp_spec, doc_mdp)


#: shared by every verification (it keeps nothing)
OWN_UPDATES_POLICY = OwnUpdatesPolicy()


def later_seals(reader: PdfFileReader, base: int) -> set[str] | None:
    """The names of the signature fields the updates after revision ``base`` add, if every
    one of them is an update of eseal's shape (see the module's docstring); else None."""
    try:
        return _later_seals(reader, base)
    except _NotOurs as why:
        log.debug("full difference analysis: %s", why)
        return None
    except Exception:  # anything odd about the file: pyHanko's analysis decides
        log.debug("full difference analysis", exc_info=True)
        return None


@dataclass
class _Update:
    """What one update introduced."""

    new: set[int] = field(default_factory=set)
    names: set[str] = field(default_factory=set)
    #: new objects nothing in the update refers to (pyHanko ignores orphans)
    orphans: set[int] = field(default_factory=set)


def _later_seals(reader: PdfFileReader, base: int) -> set[str]:
    xrefs = reader.xrefs
    total = xrefs.total_revisions
    if not 0 <= base < total - 1:
        raise _NotOurs("no later revision")
    if reader.encrypted or xrefs.hybrid_xrefs_present:
        raise _NotOurs("encrypted, or hybrid cross-reference sections")
    for revision in range(total):
        if xrefs.get_xref_data(revision).obj_streams_used:
            raise _NotOurs("object streams")
    if not isinstance(reader.stream, io.BytesIO):
        raise _NotOurs("not read from memory")
    names: set[str] = set()
    introduced: set[int] = set()
    orphans: set[int] = set()
    written: Counter[int] = Counter()
    for revision in range(base + 1, total):
        update = _check_update(reader, revision, base, names)
        names |= update.names
        introduced |= update.new
        orphans |= update.orphans
    # every reference to an introduced number the updates wrote, by number
    for revision in range(base + 1, total):
        resolve = _resolver(reader, revision)
        for ref in xrefs.explicit_refs_in_revision(revision):
            for target in _references(resolve(ref)):
                if target.idnum in introduced:
                    written[target.idnum] += 1
    text = _count_references(reader.stream.getvalue(), introduced)
    if text != written:
        raise _NotOurs("an introduced object number is referred to elsewhere")
    if any(text[number] for number in orphans):
        raise _NotOurs("an object taken for an orphan is referred to")
    # the updates only append fields: a name used before would now be there twice
    final = Counter(_field_names(reader))
    if any(count != 1 for count in final.values()) or not names <= set(final):
        raise _NotOurs("a field name is used twice")
    _check_globals(reader, base)
    return names


def _check_globals(reader: PdfFileReader, base: int) -> None:
    """What pyHanko's global rules check of every later revision whatever it changed: the
    document information dictionary is indirect and no stream, the XMP metadata indirect,
    well-formed XML, without entities, an ``x:xmpmeta`` (``DocInfoRule``,
    ``MetadataUpdateRule``), and there is no DSS (``DSSCompareRule``: pyHanko's)."""
    for revision in {base, *range(base + 1, reader.xrefs.total_revisions)}:
        resolver = reader.get_historical_resolver(revision)
        trailer = resolver.trailer_view
        if "/Info" in trailer:
            info = trailer.raw_get("/Info")
            if not isinstance(info, generic.IndirectObject) or isinstance(
                info.get_object(), generic.StreamObject
            ):
                raise _NotOurs("an odd document information dictionary")
        root = resolver.root
        if "/DSS" in root:
            raise _NotOurs("a DSS")
        if "/Metadata" in root:
            metadata = root.raw_get("/Metadata")
            if not isinstance(metadata, generic.IndirectObject):
                raise _NotOurs("direct metadata")
            try:
                MetadataUpdateRule.is_well_formed_xml(metadata.reference)
            except SuspiciousModification as why:
                raise _NotOurs("metadata pyHanko refuses") from why


_WHITE = frozenset(b"\x00\t\n\f\r ")
_EOL = frozenset(b"\r\n")
_DIGITS = frozenset(b"0123456789")


class _Unsure(Exception):
    """A comment may stand between the tokens: the regular expression decides."""


def _count_references(data: bytes, numbers: set[int]) -> Counter[int]:
    """How many times ``N G R`` is written in ``data`` for each ``N`` in ``numbers``.

    From each ``R`` backwards (``bytes.find`` does the searching); where a comment may lie
    between the tokens (see :func:`_skip_white`), the whole file is read by
    :data:`_REFERENCE` instead, which knows comments."""
    counted: Counter[int] = Counter()
    try:
        at = data.find(b"R")
        while at != -1:
            number = _reference_before(data, at)
            if number is not None and number in numbers:
                counted[number] += 1
            at = data.find(b"R", at + 1)
    except _Unsure:
        counted = Counter()
        for match in _REFERENCE.finditer(data):
            number = int(match.group(1))
            if number in numbers:
                counted[number] += 1
    return counted


def _reference_before(data: bytes, r: int) -> int | None:
    """The object number of the reference ``N G R`` whose ``R`` is at ``r``, if one is."""
    i = _skip_white(data, r)
    end = i
    while i > 0 and data[i - 1] in _DIGITS:
        i -= 1
    if i == end:
        return None
    gen_start = i
    i = _skip_white(data, i)
    if i == gen_start:
        return None
    end = i
    while i > 0 and data[i - 1] in _DIGITS:
        i -= 1
    if i == end:
        return None
    return int(data[i:end])


def _skip_white(data: bytes, i: int) -> int:
    """Back over white space from ``i``; :class:`_Unsure` where the line it crosses into
    may end in a comment after a number or after nothing but white space (a ``%`` there:
    whichever ``%`` begins the comment, if any does)."""
    while i > 0 and data[i - 1] in _WHITE:
        i -= 1
        if data[i] in _EOL:
            line = max(data.rfind(b"\n", 0, i), data.rfind(b"\r", 0, i)) + 1
            percent = data.find(b"%", line, i)
            while percent != -1:
                before = percent
                while before > line and data[before - 1] in _WHITE:
                    before -= 1
                if before == line or data[before - 1] in _DIGITS:
                    raise _Unsure
                percent = data.find(b"%", percent + 1, i)
    return i


def _check_update(reader: PdfFileReader, revision: int, base: int, taken: set[str]) -> _Update:
    xrefs = reader.xrefs
    data = xrefs.get_xref_data(revision)
    if data.freed or data.hybrid is not None:
        raise _NotOurs("freed objects or a hybrid section")
    old = reader.get_historical_resolver(revision - 1)
    view = reader.get_historical_resolver(revision)
    new = _resolver(reader, revision)
    if _trailer_ref(old, "/Root") != _trailer_ref(view, "/Root") or _trailer_ref(
        old, "/Info"
    ) != _trailer_ref(view, "/Info"):
        raise _NotOurs("the trailer changed")
    if "/Encrypt" in view.trailer_view:
        raise _NotOurs("encrypted")
    xref_stream = xrefs.get_xref_container_info(revision).stream_ref
    refs = xrefs.explicit_refs_in_revision(revision)
    fresh = {
        ref
        for ref in refs
        if ref != xref_stream and xrefs.get_historical_ref(ref, revision - 1) is None
    }
    rewritten = [ref for ref in refs if ref != xref_stream and ref not in fresh]
    if xref_stream is not None and xrefs.get_historical_ref(xref_stream, revision - 1) is not None:
        raise _NotOurs("the xref stream overwrites an object")

    update = _Update(new={ref.idnum for ref in fresh})
    if xref_stream is not None:
        update.new.add(xref_stream.idnum)
        stream = new(xref_stream)
        if not isinstance(stream, generic.StreamObject) or stream.get("/Type") != "/XRef":
            raise _NotOurs("the xref stream is not one")

    # the new signature fields and everything they reach
    widgets: dict[generic.Reference, generic.Reference] = {}  # widget -> its page
    covered: set[generic.Reference] = set()
    for ref in fresh:
        obj = new(ref)
        if isinstance(obj, generic.DictionaryObject) and obj.get("/FT") == "/Sig":
            widgets[ref] = _check_widget(ref, obj, new, fresh, xrefs, revision, covered)
    if not widgets or not covered <= fresh:
        raise _NotOurs("no new signature field")
    # the rest must be orphans: no reference to them is written anywhere (checked at the end)
    update.orphans = {ref.idnum for ref in fresh - covered}
    for ref in widgets:
        name = str(new(ref)["/T"])
        if name in taken or name in update.names or "." in name:
            raise _NotOurs("a field name is used already, or names a kid")
        update.names.add(name)

    # what was written again
    root = old.root
    form_ref = root.raw_get("/AcroForm") if "/AcroForm" in root else None
    if not isinstance(form_ref, generic.IndirectObject):
        raise _NotOurs("no indirect interactive form before the update")
    appended_fields: list[generic.Reference] = []
    annotated: dict[generic.Reference, generic.Reference] = {}  # widget -> page listing it
    info = _trailer_ref(old, "/Info")
    metadata = root.raw_get("/Metadata") if "/Metadata" in root else None
    metadata_ref = metadata.reference if isinstance(metadata, generic.IndirectObject) else None
    at_base = reader.get_historical_resolver(base)
    for ref in rewritten:
        before, after = old(ref), new(ref)
        if info is not None and (ref.idnum, ref.generation) == info:
            continue  # pyHanko's DocInfoRule takes any information dictionary
        if ref == metadata_ref:
            continue  # well-formed XMP (checked at the end): MetadataUpdateRule takes it
        if _same(before, after):
            # pyHanko compares with the signed revision: the same as there too
            if revision - 1 != base and not _same(at_base(ref), after):
                raise _NotOurs(f"object {ref.idnum} rewritten, but changed since signing")
            continue
        if ref == form_ref.reference:
            appended_fields = _appended(before, after, "/Fields")
        elif isinstance(before, generic.DictionaryObject) and before.get("/Type") == "/Page":
            for widget in _appended(before, after, "/Annots"):
                if widget in annotated:
                    raise _NotOurs("a widget listed twice")
                annotated[widget] = ref
        else:
            raise _NotOurs(f"object {ref.idnum} changed")
    if sorted(appended_fields, key=_order) != sorted(widgets, key=_order) or len(
        set(appended_fields)
    ) != len(appended_fields):
        raise _NotOurs("the new fields are not exactly those appended to /Fields")
    if annotated != widgets:
        raise _NotOurs("the new widgets are not exactly those appended to their pages")
    return update


def _order(ref: generic.Reference) -> tuple[int, int]:
    return ref.idnum, ref.generation


def _check_widget(
    ref: generic.Reference,
    obj: generic.DictionaryObject,
    new: Any,
    fresh: set[generic.Reference],
    xrefs: Any,
    revision: int,
    covered: set[generic.Reference],
) -> generic.Reference:
    """The page of a new signature field with its widget; marks what it reaches."""
    if not set(obj.keys()) <= _WIDGET_KEYS or not {"/T", "/V", "/AP", "/P"} <= set(obj.keys()):
        raise _NotOurs("a signature field with other keys")
    if obj.get("/Subtype") != "/Widget" or obj.get("/Type", "/Annot") != "/Annot":
        raise _NotOurs("a signature field that is not its own widget")
    if not isinstance(obj.raw_get("/T"), generic.TextStringObject | generic.ByteStringObject):
        raise _NotOurs("a field name that is not a string")
    page = obj.raw_get("/P")
    value = obj.raw_get("/V")
    appearance = obj.raw_get("/AP")
    if not (
        isinstance(page, generic.IndirectObject)
        and isinstance(value, generic.IndirectObject)
        and isinstance(appearance, generic.DictionaryObject)
        and set(appearance.keys()) == {"/N"}
        and isinstance(appearance.raw_get("/N"), generic.IndirectObject)
    ):
        raise _NotOurs("a widget of another form")
    if value.reference not in fresh or appearance.raw_get("/N").reference not in fresh:
        raise _NotOurs("a signature field whose value or appearance is not new")
    sig = new(value.reference)
    if (
        not isinstance(sig, generic.DictionaryObject)
        or sig.get("/Type") != "/Sig"
        or not set(sig.keys()) <= _SIG_KEYS
    ):
        raise _NotOurs("a signature value of another form")
    for key in ("/T", "/TU", "/F", "/Rect", "/FT", "/Subtype", "/Type"):
        if key in obj and isinstance(obj.raw_get(key), generic.IndirectObject):
            raise _NotOurs("an indirect widget entry")
    covered.add(ref)
    todo: list[generic.Reference] = [value.reference, appearance.raw_get("/N").reference]
    nodes = 0
    while todo:
        current = todo.pop()
        if current in covered:
            continue
        covered.add(current)
        for target in _references(new(current)):
            nodes += 1
            if nodes > _MAX_NODES:
                raise _NotOurs("too many objects")
            if target in fresh:
                if target in covered or target == ref:
                    continue
                if isinstance(new(target), generic.DictionaryObject) and new(target).get("/FT"):
                    raise _NotOurs("an appearance that reaches a field")
                todo.append(target)
            elif xrefs.get_historical_ref(target, revision - 1) is None:
                raise _NotOurs("a reference to an object that does not exist")
    return page.reference


def _references(obj: Any) -> Iterator[generic.Reference]:
    """Every indirect reference written in ``obj`` (not followed)."""
    todo = [obj]
    while todo:
        item = todo.pop()
        if isinstance(item, generic.IndirectObject):
            yield item.reference
        elif isinstance(item, generic.DictionaryObject):  # streams too
            todo.extend(item.raw_get(k) for k in item)
        elif isinstance(item, generic.ArrayObject):
            todo.extend(item.raw_get(i) for i in range(len(item)))


def _trailer_ref(resolver: HistoricalResolver, key: str) -> tuple[int, int] | None:
    trailer = resolver.trailer_view
    if key not in trailer:
        return None
    value = trailer.raw_get(key)
    if not isinstance(value, generic.IndirectObject):
        raise _NotOurs(f"a direct {key} in the trailer")
    return value.idnum, value.generation


def _resolver(reader: PdfFileReader, revision: int) -> Any:
    """Objects as of ``revision``: the reader's own (and its cache) for the newest."""
    if revision == reader.xrefs.total_revisions - 1:
        return reader.get_object
    return reader.get_historical_resolver(revision)


def _field_names(reader: PdfFileReader) -> list[str]:
    """The names of the form's fields, each as often as it occurs; every one must be a
    signature field eseal's way (indirect, a string name without a period, no kids or
    parent): then pyHanko's reading of the field tree finds nothing to object to."""
    names: list[str] = []
    try:
        form = reader.root["/AcroForm"]  # resolved (``get`` would not resolve it)
    except KeyError:
        return names
    if not isinstance(form, generic.DictionaryObject) or "/Fields" not in form:
        return names
    fields = form["/Fields"]
    if not isinstance(fields, generic.ArrayObject):
        return names
    for item in (fields.raw_get(i) for i in range(len(fields))):
        if not isinstance(item, generic.IndirectObject):
            raise _NotOurs("a direct field")
        field_obj = item.get_object()
        if (
            not isinstance(field_obj, generic.DictionaryObject)
            or field_obj.get("/FT") != "/Sig"
            or "/Kids" in field_obj
            or "/Parent" in field_obj
            or not isinstance(
                field_obj.raw_get("/T") if "/T" in field_obj else None,
                generic.TextStringObject | generic.ByteStringObject,
            )
            or "." in str(field_obj["/T"])
        ):
            raise _NotOurs("a form field that is not one of eseal's signature fields")
        names.append(str(field_obj["/T"]))
    return names


def _appended(before: Any, after: Any, key: str) -> list[generic.Reference]:
    """The references appended to the direct array ``key`` of a dictionary that is otherwise
    unchanged (an absent array counts as empty before)."""
    if not (
        isinstance(before, generic.DictionaryObject)
        and not isinstance(before, generic.StreamObject)
        and isinstance(after, generic.DictionaryObject)
        and not isinstance(after, generic.StreamObject)
    ):
        raise _NotOurs("not a dictionary")
    if set(before.keys()) - {key} != set(after.keys()) - {key} or key not in after:
        raise _NotOurs(f"keys other than {key} changed")
    for k in before:
        if k != key and not _same(before.raw_get(k), after.raw_get(k)):
            raise _NotOurs(f"{k} changed")
    old_items = before.raw_get(key) if key in before else generic.ArrayObject()
    new_items = after.raw_get(key)
    if not isinstance(old_items, generic.ArrayObject) or not isinstance(
        new_items, generic.ArrayObject
    ):
        raise _NotOurs(f"an indirect {key}")
    if len(new_items) <= len(old_items):
        raise _NotOurs(f"nothing appended to {key}")
    for i in range(len(old_items)):
        if not _same(old_items.raw_get(i), new_items.raw_get(i)):
            raise _NotOurs(f"{key} changed")
    added = [new_items.raw_get(i) for i in range(len(old_items), len(new_items))]
    if not all(isinstance(a, generic.IndirectObject) for a in added):
        raise _NotOurs(f"a direct entry appended to {key}")
    return [a.reference for a in added]


def _same(a: Any, b: Any) -> bool:
    """The same PDF value, written the same way (pyHanko's test for a no-op rewrite, kept
    strict: anything it does not know is different)."""
    if isinstance(a, generic.IndirectObject):
        return isinstance(b, generic.IndirectObject) and a.reference == b.reference
    if isinstance(a, generic.TextStringObject | generic.ByteStringObject):
        return (
            isinstance(b, generic.TextStringObject | generic.ByteStringObject)
            and a.original_bytes == b.original_bytes
        )
    if isinstance(a, generic.BooleanObject | generic.NullObject):
        return type(a) is type(b) and a == b
    if isinstance(a, generic.NumberObject | generic.FloatObject | generic.NameObject):
        return type(a) is type(b) and a == b
    if isinstance(a, generic.ArrayObject):
        return (
            isinstance(b, generic.ArrayObject)
            and len(a) == len(b)
            and all(_same(a.raw_get(i), b.raw_get(i)) for i in range(len(a)))
        )
    if isinstance(a, generic.DictionaryObject):
        if isinstance(a, generic.StreamObject) != isinstance(b, generic.StreamObject):
            return False
        if isinstance(a, generic.StreamObject) and a.encoded_data != b.encoded_data:
            return False
        return (
            isinstance(b, generic.DictionaryObject)
            and set(a.keys()) == set(b.keys())
            and all(_same(a.raw_get(k), b.raw_get(k)) for k in a)
        )
    return False
