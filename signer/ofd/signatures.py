"""The signature files of an OFD document (GB/T 33190-2016 §18), read into plain values.

``OFD.xml``'s ``DocBody/Signatures`` names the signature list (``Signatures.xml``)::

    Signatures { MaxSignId?, Signature{ID, Type = Seal | Sign, BaseLoc}* }

and each entry's ``BaseLoc`` a signature file (``Sign_N/Signature.xml``)::

    Signature {
      SignedInfo {
        Provider{ProviderName, Company?, Version?}, SignatureMethod?, SignatureDateTime?,
        References{CheckMethod?} { Reference{FileRef} { CheckValue (base64) }* },
        StampAnnot{ID, PageRef, Boundary, Clip?}*, Seal { BaseLoc }?
      }
      SignedValue (the path of SignedValue.dat: an SES_Signature over Signature.xml's bytes)
    }

Paths in ``Signatures.xml`` are taken from its directory, paths in a ``Signature.xml`` from
that file's directory, absolute ones from the package root (ofdrw and the national readers
write them absolute, ``/Doc_0/Signs/Sign_0/Seal.esl``).

:mod:`signer.ofd.seal` writes these files and :mod:`signer.ofd.verify` checks them.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass
from importlib import metadata

from ..errors import InvalidOfd
from .document import Box, parse_box
from .package import OfdPackage, ofd_tag

__all__ = [
    "OID_SM2_WITH_SM3",
    "OID_SM3",
    "Provider",
    "Reference",
    "SignatureEntry",
    "SignatureFile",
    "SignatureList",
    "StampAnnot",
    "parse_sign_id",
    "read_signature",
    "read_signature_list",
]

#: ``SignatureMethod`` of an SM2 signature with SM3 (GB/T 33560).
OID_SM2_WITH_SM3 = "1.2.156.10197.1.501"
#: ``References/@CheckMethod`` for SM3; ofdrw writes the name ``SM3``, both are read.
OID_SM3 = "1.2.156.10197.1.401"

_SIGN_ID = re.compile(r"^\s*s?0*(\d{1,9})\s*$")


def parse_sign_id(value: str | None) -> int | None:
    """The number of a signature or stamp ID: ``s001`` (the standard's recommended form) and
    ``1`` (what many producers write) are both 1; anything else is ``None``."""
    if value is None:
        return None
    match = _SIGN_ID.match(value)
    return int(match.group(1)) if match else None


@dataclass(frozen=True)
class Provider:
    """The signing component that made a signature (``SignedInfo/Provider``)."""

    name: str
    company: str | None = None
    version: str | None = None

    @classmethod
    def eseal(cls) -> Provider:
        """eseal itself, with the installed version."""
        try:
            version = metadata.version("eseal")
        except metadata.PackageNotFoundError:  # pragma: no cover - running from a checkout
            version = None
        return cls("eseal", "eseal", version)


@dataclass(frozen=True)
class SignatureEntry:
    """One ``Signature`` of the signature list."""

    id: str
    #: ``Seal`` (an electronic seal) or ``Sign`` (a plain digital signature); ``Seal`` when absent
    type: str
    #: package name of the entry's ``Signature.xml``
    path: str


@dataclass(frozen=True)
class SignatureList:
    """``Signatures.xml``: the document's signatures in order."""

    path: str
    max_sign_id: str | None
    entries: tuple[SignatureEntry, ...]


@dataclass(frozen=True)
class Reference:
    """One protected file: its path as written, its package name, and its SM3 digest."""

    file_ref: str
    path: str
    check_value: bytes


@dataclass(frozen=True)
class StampAnnot:
    """One appearance of a seal: a box on a page, and the part of the seal it shows."""

    id: str
    page_ref: str
    #: where the whole seal lies on the page (mm, from the top-left)
    boundary: Box
    #: the part of the seal shown, in the seal's own box (a strip of a cross-page seal)
    clip: Box | None


@dataclass(frozen=True)
class SignatureFile:
    """One ``Signature.xml``, as written (nothing checked beyond its shape)."""

    path: str
    provider: Provider | None
    signature_method: str | None
    signature_date_time: str | None
    check_method: str | None
    references: tuple[Reference, ...]
    stamps: tuple[StampAnnot, ...]
    #: package name of the ``Seal.esl`` that ``Seal/BaseLoc`` names, if any
    seal_path: str | None
    #: package name of ``SignedValue.dat``
    signed_value_path: str


def read_signature_list(package: OfdPackage) -> SignatureList | None:
    """The signature list that ``OFD.xml`` names, or ``None`` for an unsigned document.

    :raises InvalidOfd: the list is named but missing, or malformed.
    """
    if package.signatures is None:
        return None
    path = package.signatures
    if path not in package:
        raise InvalidOfd("the signature list (Signatures.xml) that OFD.xml names is missing")
    root = package.xml(path)
    if root.tag != ofd_tag("Signatures"):
        raise InvalidOfd("the signature list is not an ofd:Signatures document")
    entries = []
    for number, element in enumerate(root.findall(ofd_tag("Signature")), start=1):
        sid, loc = element.get("ID"), element.get("BaseLoc")
        if not sid or not loc:
            raise InvalidOfd(f"signature {number} of the signature list has no ID or BaseLoc")
        entries.append(
            SignatureEntry(
                sid.strip(), (element.get("Type") or "Seal").strip(), package.resolve(loc, path)
            )
        )
    max_id = root.findtext(ofd_tag("MaxSignId"))
    return SignatureList(path, max_id.strip() if max_id else None, tuple(entries))


def _decode(text: str | None, where: str) -> bytes:
    try:
        return base64.b64decode("".join((text or "").split()), validate=True)
    except (binascii.Error, ValueError) as ex:
        raise InvalidOfd(f"a CheckValue of {where} is not base64") from ex


def read_signature(package: OfdPackage, path: str) -> SignatureFile:
    """A ``Signature.xml`` of the package, by package name.

    :raises InvalidOfd: missing, not an ``ofd:Signature``, or without the parts §18 requires
        (``SignedInfo``, ``References``, ``SignedValue``), or with a malformed value.
    """
    root = package.xml(path)
    if root.tag != ofd_tag("Signature"):
        raise InvalidOfd(f"{path} is not an ofd:Signature document")
    info = root.find(ofd_tag("SignedInfo"))
    if info is None:
        raise InvalidOfd(f"{path} has no SignedInfo")
    provider_el = info.find(ofd_tag("Provider"))
    provider = (
        None
        if provider_el is None
        else Provider(
            provider_el.get("ProviderName") or "",
            provider_el.get("Company"),
            provider_el.get("Version"),
        )
    )
    refs_el = info.find(ofd_tag("References"))
    if refs_el is None:
        raise InvalidOfd(f"{path} has no References")
    references = []
    for ref in refs_el.findall(ofd_tag("Reference")):
        file_ref = (ref.get("FileRef") or "").strip()
        if not file_ref:
            raise InvalidOfd(f"a Reference of {path} has no FileRef")
        target = package.locate(file_ref, path) or package.resolve(file_ref, path)
        references.append(
            Reference(file_ref, target, _decode(ref.findtext(ofd_tag("CheckValue")), path))
        )
    stamps = []
    for stamp in info.findall(ofd_tag("StampAnnot")):
        clip = stamp.get("Clip")
        stamps.append(
            StampAnnot(
                (stamp.get("ID") or "").strip(),
                (stamp.get("PageRef") or "").strip(),
                parse_box(stamp.get("Boundary"), f"a StampAnnot's Boundary in {path}"),
                parse_box(clip, f"a StampAnnot's Clip in {path}") if clip else None,
            )
        )
    seal_loc = info.findtext(f"{ofd_tag('Seal')}/{ofd_tag('BaseLoc')}")
    signed_value = (root.findtext(ofd_tag("SignedValue")) or "").strip()
    if not signed_value:
        raise InvalidOfd(f"{path} has no SignedValue")

    def where(loc: str) -> str:
        return package.locate(loc, path) or package.resolve(loc, path)

    def text(name: str) -> str | None:
        value = info.findtext(ofd_tag(name))
        return value.strip() if value is not None else None

    return SignatureFile(
        path=path,
        provider=provider,
        signature_method=text("SignatureMethod"),
        signature_date_time=text("SignatureDateTime"),
        check_method=refs_el.get("CheckMethod"),
        references=tuple(references),
        stamps=tuple(stamps),
        seal_path=where(seal_loc.strip()) if seal_loc and seal_loc.strip() else None,
        signed_value_path=where(signed_value),
    )
