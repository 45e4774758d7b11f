"""X.509 name comparisons remembered by their DER, installed into asn1crypto at import.

asn1crypto compares two names (RFC 5280 7.1) by running every attribute value through LDAP
string preparation (RFC 4518: Unicode normalisation, case folding, prohibited characters),
caching the result in the name object only.  pyHanko compares the issuer of every certificate
a signature carries with the signer identifiers and the ``signingCertificateV2`` attribute,
and builds its certificate registry by name, so each verification prepares the same few
names again in new objects: a fifth of a 2-seal verification's time.

Both :meth:`asn1crypto.x509.Name.__eq__` and :attr:`~asn1crypto.x509.Name.hashable` are
functions of the names' DER alone, so their results are kept by DER (a bounded table): the
first comparison of two encodings runs asn1crypto's own code, later ones look the result up.
An exception asn1crypto raises (a prohibited character, say) is never kept, so it is raised
again each time, as before.  ``tests/signer/test_verify_cache_names.py`` compares the two.
"""

from __future__ import annotations

from typing import Any

from asn1crypto import x509

__all__ = ["ORIGINAL_EQ", "ORIGINAL_HASHABLE", "install"]

ORIGINAL_EQ = x509.Name.__eq__
ORIGINAL_HASHABLE: property = x509.Name.hashable
#: entries kept at most (each a pair of encodings or one): then the table starts afresh
_MAX = 8192
_equal: dict[tuple[bytes, bytes], bool] = {}
_hashable: dict[bytes, str] = {}


def _eq(self: x509.Name, other: Any) -> bool:
    if not isinstance(other, x509.Name):
        return False
    key = (self.dump(), other.dump())
    found = _equal.get(key)
    if found is None:
        found = bool(ORIGINAL_EQ(self, other))
        if len(_equal) >= _MAX:
            _equal.clear()
        _equal[key] = found
    return found


def _ne(self: x509.Name, other: Any) -> bool:
    return not _eq(self, other)


def _hash_key(self: x509.Name) -> str:
    der = self.dump()
    found = _hashable.get(der)
    if found is None:
        found = ORIGINAL_HASHABLE.fget(self)  # type: ignore[misc]
        if len(_hashable) >= _MAX:
            _hashable.clear()
        _hashable[der] = found
    return found


def install() -> None:
    """Route name comparisons through the tables (idempotent)."""
    x509.Name.__eq__ = _eq
    x509.Name.__ne__ = _ne
    x509.Name.hashable = property(_hash_key)
