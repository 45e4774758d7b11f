"""Safe XML reading shared by the two parsers: defusedxml, no DTD, names without namespaces.

Both files of a 数电票 come from outside.  They are parsed with :mod:`defusedxml` with DTDs
forbidden (no entity, internal or external, can expand or reach the network); real invoice XML
has no DTD.  Elements are matched by local name, so a producer that puts the elements in a
namespace (the OFD parts are in ``http://www.ofdspec.org/2016``; some invoice tag files use the
e-invoice namespace ``http://www.edrm.org.cn/schema/e-invoice/2019``) reads the same as one
that does not: a leniency on purpose, since the element names, not their namespace, carry the
meaning the tax platform gives them.
"""

from __future__ import annotations

from collections.abc import Iterator
from xml.etree.ElementTree import Element, ParseError

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring

from ..xml_decl import parsable

__all__ = [
    "Element",
    "Twice",
    "XmlUnreadable",
    "child",
    "children",
    "iter_named",
    "local",
    "parse",
    "text_of",
]


class XmlUnreadable(ValueError):
    """Not well-formed XML, or XML with a DTD or entities."""


def parse(data: bytes) -> Element:
    try:
        root = fromstring(parsable(data), forbid_dtd=True)
    except (ParseError, DefusedXmlException, ValueError, UnicodeError) as exc:
        # the message names what kind of refusal it is, never the document's content
        kind = "a DTD or entities" if isinstance(exc, DefusedXmlException) else "malformed XML"
        raise XmlUnreadable(kind) from None
    if not isinstance(root, Element):  # pragma: no cover - fromstring returns an Element
        raise XmlUnreadable("malformed XML")
    return root


def local(element: Element) -> str:
    """The element's name without its namespace."""
    tag = element.tag
    return tag.rsplit("}", 1)[-1] if isinstance(tag, str) else ""


def children(element: Element, name: str) -> list[Element]:
    return [c for c in element if local(c) == name]


class Twice(ValueError):
    """An element that must be single appears more than once."""


def child(element: Element | None, *path: str) -> Element | None:
    """The single element at ``path`` below ``element`` (local names), None if absent;
    :class:`Twice` if a step has more than one candidate: two ``InvoiceNumber`` elements would
    let two readers of the same file see two different invoices."""
    for name in path:
        if element is None:
            return None
        found = children(element, name)
        if len(found) > 1:
            raise Twice("/".join(path))
        element = found[0] if found else None
    return element


def text_of(element: Element | None) -> str | None:
    """The element's own text (with the text of any children), stripped; None if empty."""
    if element is None:
        return None
    text = "".join(element.itertext()).strip()
    return text or None


def iter_named(element: Element, names: frozenset[str]) -> Iterator[Element]:
    """Every element below ``element`` (itself included) whose local name is in ``names``."""
    for e in element.iter():
        if local(e) in names:
            yield e
