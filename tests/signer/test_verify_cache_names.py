"""Name comparisons remembered by DER (signer/asn1_names.py) answer as asn1crypto does."""

from __future__ import annotations

import itertools

import pytest
from asn1crypto import x509

import signer.trust  # noqa: F401 - installs the tables
from signer.asn1_names import ORIGINAL_EQ, ORIGINAL_HASHABLE


def _name(*rdns: list[tuple[str, str, type]]) -> x509.Name:
    """A name from RDNs of (attribute, value, string type), parsed back from DER as a
    document's would be."""
    seq = x509.RDNSequence(
        [
            x509.RelativeDistinguishedName(
                [
                    x509.NameTypeAndValue(
                        {"type": t, "value": x509.DirectoryString(name=kind, value=v)}
                    )
                    if kind in ("utf8_string", "printable_string")
                    else x509.NameTypeAndValue({"type": t, "value": x509.PrintableString(v)})
                    for t, v, kind in rdn
                ]
            )
            for rdn in rdns
        ]
    )
    return x509.Name.load(x509.Name(name="", value=seq).dump())


NAMES = [
    _name([("common_name", "Seal CA", "utf8_string")]),
    _name([("common_name", "seal  ca", "utf8_string")]),
    _name([("common_name", "Seal CA", "printable_string")]),
    _name([("common_name", " Seal CA ", "printable_string")]),
    _name([("common_name", "Seal CB", "utf8_string")]),
    _name([("country_name", "CN", "x")], [("organization_name", "某某有限公司", "utf8_string")]),
    _name([("organization_name", "某某有限公司", "utf8_string")], [("country_name", "CN", "x")]),
    _name([("country_name", "CN", "x"), ("organization_name", "某某有限公司", "utf8_string")]),
    _name([("organization_name", "某某有限公司", "utf8_string"), ("country_name", "CN", "x")]),
    _name([("country_name", "cn", "x")], [("organization_name", "某某有限公司", "utf8_string")]),
    _name(),
]


def test_equality_and_keys_are_asn1cryptos() -> None:
    for a, b in itertools.product(NAMES, repeat=2):
        for _ in range(2):  # the second time from the table
            assert (a == b) == ORIGINAL_EQ(a, b), (a.native, b.native)
            assert (a != b) == (not ORIGINAL_EQ(a, b))
    for n in NAMES:
        assert n.hashable == ORIGINAL_HASHABLE.fget(n)
        assert n.hashable == ORIGINAL_HASHABLE.fget(n)
    assert NAMES[0] == NAMES[1] == NAMES[2] and NAMES[0] != NAMES[4]
    assert (NAMES[0] == "Seal CA") is False


def test_an_exception_is_raised_every_time() -> None:
    bad = _name([("common_name", "a\ue000b", "utf8_string")])  # private use: refused
    with pytest.raises(ValueError):
        ORIGINAL_EQ(bad, NAMES[0])
    for _ in range(2):
        with pytest.raises(ValueError):
            _ = bad == NAMES[0]
        with pytest.raises(ValueError):
            _ = bad.hashable
