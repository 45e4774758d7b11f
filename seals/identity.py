"""Who a certificate says it is: the USCC and the seal kind, read from certificates of any CA.

Chinese CAs put the 统一社会信用代码 in different places.  We try, in order: our extension
``1.2.156.10260.4.1.4``, the legacy ``1.2.86.11.7.4``, OU, organizationIdentifier (without
``NTRCN-``), serialNumber, and a CN of the form ``name@uscc``.  A value counts only if its
check character is right (DESIGN.md 1).
"""

from __future__ import annotations

from dataclasses import dataclass

from asn1crypto import core
from asn1crypto import x509 as asn1_x509

from .kinds import SealKind
from .uscc import is_valid_uscc

__all__ = ["CertificateIdentity", "identity_of", "uscc_of"]

OID_USCC = "1.2.156.10260.4.1.4"
OID_USCC_LEGACY = "1.2.86.11.7.4"


@dataclass(frozen=True)
class CertificateIdentity:
    uscc: str | None
    #: where the USCC was found (``extension``, ``legacy_extension``, ``ou``, ...)
    uscc_source: str | None
    organisation: str | None
    common_name: str | None
    title: str | None
    kind: SealKind | None
    #: the person, for the legal representative's seal
    person: str | None


def _ext_text(value: bytes) -> str | None:
    """The text of an extension value: a DER string of any kind, or raw UTF-8."""
    try:
        parsed = core.Asn1Value.load(value)
        native = parsed.native
        if isinstance(native, bytes):
            native = native.decode("utf-8")
        if isinstance(native, str):
            return native.strip()
    except (ValueError, TypeError, UnicodeDecodeError, AttributeError):
        # AttributeError: asn1crypto's REAL (and a few others) have no ``native``; another
        # CA's extension may hold anything, and holds no USCC then
        pass
    try:
        return value.decode("utf-8").strip()
    except UnicodeDecodeError:
        return None


def _name_values(name: asn1_x509.Name, attr: str) -> list[str]:
    out = []
    for rdn in name.chosen:
        for ava in rdn:
            if ava["type"].native == attr or ava["type"].dotted == attr:
                try:
                    value = ava["value"].native
                except (ValueError, TypeError, AttributeError):  # not a string of any kind
                    continue
                if isinstance(value, str):
                    out.append(value.strip())
    return out


def _candidates(cert: asn1_x509.Certificate) -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    exts = {
        e["extn_id"].dotted: e["extn_value"].contents
        for e in cert["tbs_certificate"]["extensions"] or []
    }
    for oid, source in ((OID_USCC, "extension"), (OID_USCC_LEGACY, "legacy_extension")):
        if oid in exts:
            text = _ext_text(exts[oid])
            if text:
                found.append((text, source))
    subject = cert.subject
    found += [(v, "ou") for v in _name_values(subject, "organizational_unit_name")]
    found += [
        (v.removeprefix("NTRCN-"), "organization_identifier")
        for v in _name_values(subject, "2.5.4.97")
    ]
    found += [(v, "serial_number") for v in _name_values(subject, "serial_number")]
    found += [
        (v.rsplit("@", 1)[1], "common_name")
        for v in _name_values(subject, "common_name")
        if "@" in v
    ]
    return found


def uscc_of(cert: asn1_x509.Certificate) -> tuple[str, str] | None:
    """The first valid USCC in the certificate and where it was found, or None."""
    for value, source in _candidates(cert):
        if is_valid_uscc(value):
            return value, source
    return None


_BY_TITLE = {kind.label: kind for kind in SealKind}
_BY_TITLE["法定代表人"] = SealKind.LEGAL_REP


def identity_of(cert: asn1_x509.Certificate) -> CertificateIdentity:
    found = uscc_of(cert)
    subject = cert.subject
    titles = _name_values(subject, "title")
    title = titles[0] if titles else None
    orgs = _name_values(subject, "organization_name")
    cns = _name_values(subject, "common_name")
    org = orgs[0] if orgs else None
    cn = cns[0] if cns else None
    kind = _BY_TITLE.get(title or "")
    if kind is None and cn:
        kind = next((k for label, k in _BY_TITLE.items() if cn.endswith(label)), None)
    return CertificateIdentity(
        uscc=found[0] if found else None,
        uscc_source=found[1] if found else None,
        organisation=org,
        common_name=cn,
        title=title,
        kind=kind,
        person=cn if kind is SealKind.LEGAL_REP else None,
    )
