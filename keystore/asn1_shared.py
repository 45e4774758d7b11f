"""asn1crypto values that several threads may read at once.

asn1crypto parses lazily and caches what it parsed *in place*: the first read of a SEQUENCE
sets ``children = []`` and then appends one child after the other
(``asn1crypto.core.Sequence._parse_children``), and ``Certificate._set_extensions`` rebuilds
the set of critical extensions the same way.  A second thread that reads the same value in
the meantime sees a half-filled list and gets ``KeyError: No field numbered 2 is present in
this asn1crypto.x509.Extension`` (or a critical-extension set with holes).  Under concurrent
verification that surfaced as ``422 invalid_pdf`` for valid documents.

Every asn1crypto object that is kept and handed to more than one thread (trust anchors, CA
and TSA certificates, a seal's signing certificate, cached OCSP responses and CRLs) therefore
goes through :func:`fully_parsed` *before* it is published: after that, reading it only
returns what is already there.
"""

from __future__ import annotations

from typing import TypeVar

from asn1crypto import core

__all__ = ["fully_parsed"]

T = TypeVar("T", bound=core.Asn1Value)

#: a bound on the walk (a certificate has a few hundred nodes, a CRL one per entry and more)
_MAX_NODES = 1_000_000


_PROPERTIES: dict[type, tuple[str, ...]] = {}


def _properties(cls: type) -> tuple[str, ...]:
    """The public properties of ``cls`` (computed once per class; a race only repeats it)."""
    found = _PROPERTIES.get(cls)
    if found is not None:
        return found
    names: list[str] = []
    for klass in cls.__mro__:
        for name, attr in vars(klass).items():
            if isinstance(attr, property) and not name.startswith("_") and name not in names:
                names.append(name)
    _PROPERTIES[cls] = tuple(names)
    return _PROPERTIES[cls]


def fully_parsed(value: T) -> T:
    """``value`` with every lazily parsed part parsed and every cached property computed.

    Walks the whole tree (sequences, choices, parsable octet strings, ``ANY`` values) and reads
    each public property once (``native``, ``hashable``, ``key_identifier``,
    ``critical_extensions``, ``sha256``, ...), so that later reads from any thread find the
    caches filled.  Properties that raise for this value (an RSA key's ``curve``, say) are
    skipped: they cache nothing.  Returns ``value`` itself.
    """
    todo: list[core.Asn1Value] = [value]
    seen: set[int] = set()
    while todo and len(seen) < _MAX_NODES:
        node = todo.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        for name in _properties(type(node)):
            try:
                found = getattr(node, name)
            except Exception:  # not applicable to this value: nothing cached
                continue
            if isinstance(found, core.Asn1Value):
                todo.append(found)
        if isinstance(node, core.Sequence | core.SequenceOf):
            for index in range(len(node)):
                try:
                    todo.append(node[index])
                except (KeyError, IndexError, ValueError):  # an absent optional field
                    continue
        elif isinstance(node, core.Choice | core.Any | core.ParsableOctetString):
            try:
                todo.append(node.parsed if not isinstance(node, core.Choice) else node.chosen)
            except Exception:  # contents that parse to nothing
                continue
    return value
