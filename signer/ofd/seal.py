"""Sealing an OFD document (GB/T 33190-2016 §18) with a GB/T 38540 seal, as ofdrw's
``OFDSigner`` and the national readers lay it out.

One seal adds, next to the document (``Doc_0/`` is the directory of ``Document.xml``):

* ``Doc_0/Signs/Signatures.xml``: the signature list, created on the first seal (and named
  from ``OFD.xml``'s ``DocBody`` as ``ofd:Signatures``), extended by later ones; ``MaxSignId``
  is the largest ID handed out, signatures and stamp annotations alike (``s001``, ``s002``…;
  a document whose producer numbers plainly, ``1``, ``2``…, keeps its style);
* ``Doc_0/Signs/Sign_N/Seal.esl``: the seal (SESeal DER), ``N`` one past the largest there;
* ``Doc_0/Signs/Sign_N/Signature.xml``: ``SignedInfo`` (``Provider``, ``SignatureMethod``
  SM2-with-SM3, ``SignatureDateTime`` in UTC as ``YYYYMMDDHHMMSSZ``, ``References`` with the
  SM3 ``CheckValue`` of every protected file, the ``StampAnnot`` boxes, ``Seal/BaseLoc``) and
  ``SignedValue``, the path of
* ``Doc_0/Signs/Sign_N/SignedValue.dat``: the SES_Signature that ``sign_ses`` returns for the
  exact bytes of ``Signature.xml``.

**What a seal protects.**  ofdrw digests every file of the package as it stands just before
``Signature.xml`` is written: the updated ``OFD.xml``, every earlier signature's files, and the
new ``Seal.esl``; not the new ``Signature.xml`` and ``SignedValue.dat`` (they do not exist
yet).  ``Signatures.xml`` is the one choice: ofdrw's default (*whole-protected*) digests it
too, and then refuses any later seal (adding one would change a protected file); its
*continue* mode leaves it out so that seals can follow.  A contract is sealed by each party
in turn, so eseal always seals in continue mode.  A document whose earlier signature protects
``Signatures.xml`` is refused (``signature_list_protected``): any seal added would break it.

Every path eseal writes is absolute from the package root (``/Doc_0/...``), as ofdrw does.
The seal's picture is not drawn into the pages: a reader draws the ``picture`` of the
``Seal.esl`` into each ``StampAnnot``'s box (clipped by its ``Clip``), so the pages'
content is untouched.
"""

from __future__ import annotations

import base64
import io
import posixpath
import re
import zipfile
from collections.abc import Callable
from datetime import UTC, datetime
from xml.etree import ElementTree
from xml.etree.ElementTree import Element
from xml.sax.saxutils import escape, quoteattr

from keystore.sm2 import sm3
from seals.esl import parse_seseal

from ..errors import RequestRefused, SignerError
from .document import Box, OfdDocument
from .package import DEFAULT_MAX_TOTAL, OFD_NS, OfdPackage, ofd_tag, read_package
from .placement import Placement, Stamp, resolve_stamps
from .signatures import (
    OID_SM2_WITH_SM3,
    OID_SM3,
    Provider,
    SignatureFile,
    SignatureList,
    parse_sign_id,
    read_signature,
    read_signature_list,
)

__all__ = ["SIGNATURES_FILE", "next_signature_path", "seal_ofd"]

#: Name of the signature list that a first seal creates beside ``Document.xml``.
SIGNATURES_FILE = "Signs/Signatures.xml"
_SIGN_DIR = re.compile(r"^Sign_(\d{1,9})$")
_HEAD = '<?xml version="1.0" encoding="UTF-8"?>\n'


def _number(value: float) -> str:
    """A length for an XML attribute: at most three decimals, no trailing zeros."""
    text = f"{value:.3f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def _box(box: Box) -> str:
    return " ".join(_number(v) for v in box)


def _serialise(root: Element) -> bytes:
    # keep the ofd: prefix that readers expect (idempotent, process-wide registration)
    ElementTree.register_namespace("ofd", OFD_NS)
    return ElementTree.tostring(root, encoding="UTF-8", xml_declaration=True)


class _Ids:
    """Hands out signature and stamp IDs after the largest the document holds."""

    def __init__(self, signatures: SignatureList | None, files: list[SignatureFile]) -> None:
        numbers = [0]
        plain = False
        if signatures is not None:
            numbers.append(parse_sign_id(signatures.max_sign_id) or 0)
            numbers += [parse_sign_id(e.id) or 0 for e in signatures.entries]
            plain = bool(signatures.max_sign_id and signatures.max_sign_id.strip().isdigit())
        numbers += [parse_sign_id(s.id) or 0 for f in files for s in f.stamps]
        self.current = max(numbers)
        self.plain = plain

    def next(self) -> str:
        self.current += 1
        return self.format(self.current)

    def format(self, number: int) -> str:
        return str(number) if self.plain else f"s{number:03d}"


def _paths(package: OfdPackage, existing: SignatureList | None) -> tuple[str, str]:
    """The signature list's package name and the new ``Sign_N`` directory's."""
    if existing is not None:
        list_path = existing.path
    else:
        list_path = posixpath.join(posixpath.dirname(package.doc_root), SIGNATURES_FILE)
    return list_path, _sign_dir(package, posixpath.dirname(list_path))


def next_signature_path(data: bytes | OfdPackage) -> str:
    """The absolute path that the next seal's ``Signature.xml`` gets in this document
    (``/Doc_0/Signs/Sign_0/Signature.xml`` for the first).  ofdrw writes it as the
    SES_Signature's ``propertyInfo``; a ``sign_ses`` that does the same asks here first.

    :raises InvalidOfd: not a readable OFD document.
    """
    package = data if isinstance(data, OfdPackage) else read_package(data)
    _, sign_dir = _paths(package, read_signature_list(package))
    return f"/{sign_dir}/Signature.xml"


def _sign_dir(package: OfdPackage, signs_dir: str) -> str:
    taken = [-1]
    prefix = f"{signs_dir}/" if signs_dir else ""
    for name in package.names:
        if name.startswith(prefix):
            head = name[len(prefix) :].split("/", 1)[0]
            match = _SIGN_DIR.match(head)
            if match:
                taken.append(int(match.group(1)))
    return f"{prefix}Sign_{max(taken) + 1}"


def _with_signatures_entry(ofd_xml: Element, loc: str) -> bytes:
    body = ofd_xml.find(ofd_tag("DocBody"))
    assert body is not None  # read_package checked it
    element = Element(ofd_tag("Signatures"))
    element.text = loc
    # schema order: DocInfo, DocRoot, Versions?, Signatures?
    position = len(body)
    for index, child in enumerate(body):
        if child.tag in (ofd_tag("DocInfo"), ofd_tag("DocRoot"), ofd_tag("Versions")):
            position = index + 1
    body.insert(position, element)
    return _serialise(ofd_xml)


def _signature_list(
    package: OfdPackage, existing: SignatureList | None, sid: str, loc: str, max_id: str
) -> bytes:
    entry = f'<ofd:Signature ID={quoteattr(sid)} Type="Seal" BaseLoc={quoteattr(loc)}/>'
    if existing is None:
        return (
            f'{_HEAD}<ofd:Signatures xmlns:ofd="{OFD_NS}">'
            f"<ofd:MaxSignId>{escape(max_id)}</ofd:MaxSignId>{entry}</ofd:Signatures>"
        ).encode()
    root = package.xml(existing.path)
    max_el = root.find(ofd_tag("MaxSignId"))
    if max_el is None:
        max_el = Element(ofd_tag("MaxSignId"))
        root.insert(0, max_el)
    max_el.text = max_id
    root.append(Element(ofd_tag("Signature"), {"ID": sid, "Type": "Seal", "BaseLoc": loc}))
    return _serialise(root)


def _signature_xml(
    *,
    provider: Provider,
    method: str,
    when: str,
    references: list[tuple[str, bytes]],
    stamps: list[tuple[str, Stamp]],
    seal_loc: str,
    signed_value_loc: str,
) -> bytes:
    attrs = f"ProviderName={quoteattr(provider.name)}"
    if provider.company is not None:
        attrs += f" Company={quoteattr(provider.company)}"
    if provider.version is not None:
        attrs += f" Version={quoteattr(provider.version)}"
    lines = [
        f'{_HEAD}<ofd:Signature xmlns:ofd="{OFD_NS}">',
        "<ofd:SignedInfo>",
        f"<ofd:Provider {attrs}/>",
        f"<ofd:SignatureMethod>{escape(method)}</ofd:SignatureMethod>",
        f"<ofd:SignatureDateTime>{escape(when)}</ofd:SignatureDateTime>",
        f'<ofd:References CheckMethod="{OID_SM3}">',
    ]
    for loc, digest in references:
        value = base64.b64encode(digest).decode()
        lines.append(
            f"<ofd:Reference FileRef={quoteattr(loc)}>"
            f"<ofd:CheckValue>{value}</ofd:CheckValue></ofd:Reference>"
        )
    lines.append("</ofd:References>")
    for sid, stamp in stamps:
        clip = f" Clip={quoteattr(_box(stamp.clip))}" if stamp.clip is not None else ""
        lines.append(
            f"<ofd:StampAnnot ID={quoteattr(sid)} PageRef={quoteattr(stamp.page.id)}"
            f" Boundary={quoteattr(_box(stamp.boundary))}{clip}/>"
        )
    lines += [
        f"<ofd:Seal><ofd:BaseLoc>{escape(seal_loc)}</ofd:BaseLoc></ofd:Seal>",
        "</ofd:SignedInfo>",
        f"<ofd:SignedValue>{escape(signed_value_loc)}</ofd:SignedValue>",
        "</ofd:Signature>",
    ]
    return "\n".join(lines).encode()


def _zip(files: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in files.items():
            archive.writestr(name, content)
    return out.getvalue()


def seal_ofd(
    data: bytes,
    *,
    seal_esl: bytes,
    sign_ses: Callable[[bytes], bytes],
    placement: Placement,
    width_mm: float | None = None,
    height_mm: float | None = None,
    now: datetime,
    provider: Provider | None = None,
    signature_method: str = OID_SM2_WITH_SM3,
    max_total: int = DEFAULT_MAX_TOTAL,
) -> bytes:
    """Seal an OFD document once and return the sealed package.

    ``seal_esl`` is the seal (SESeal DER) stored as ``Seal.esl``; ``sign_ses`` receives the
    exact bytes of the new ``Signature.xml`` and returns the SES_Signature DER for it (the
    caller computes SM3 over those bytes and signs; :func:`next_signature_path` gives the
    path for its ``propertyInfo``); ``width_mm`` x ``height_mm`` is the seal picture's size,
    by default the one the seal declares (``picture.width``/``height``).
    ``now`` (timezone-aware) is written as ``SignatureDateTime``; ``provider`` defaults to
    eseal with its version.  A document that is sealed already gets
    the next ``Sign_N`` (continue mode, see the module's docstring).

    :raises InvalidOfd: the input is not a readable OFD document.
    :raises InvalidSealData: no size given and ``seal_esl`` is not an SESeal.
    :raises InvalidPlacement, PageOutOfRange, KeywordNotFound, PositionOffPage,
        CrossPageNeedsTwoPages: the placement does not fit the document.
    :raises RequestRefused: an earlier signature protects the signature list
        (``signature_list_protected``).
    """
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be timezone-aware")
    if not seal_esl:
        raise ValueError("seal_esl is empty")
    if width_mm is None or height_mm is None:
        picture = parse_seseal(seal_esl)
        width_mm = picture.width_mm if width_mm is None else width_mm
        height_mm = picture.height_mm if height_mm is None else height_mm
    package = read_package(data, max_total=max_total)
    document = OfdDocument(package)
    existing = read_signature_list(package)
    earlier = (
        [read_signature(package, entry.path) for entry in existing.entries] if existing else []
    )
    if existing is not None:
        for signature in earlier:
            if any(ref.path == existing.path for ref in signature.references):
                raise RequestRefused(
                    "an earlier signature of this document protects its signature list "
                    "(Signatures.xml), so no seal can be added without breaking it",
                    code="signature_list_protected",
                )
    stamps = resolve_stamps(
        document,
        placement,
        width_mm,
        height_mm,
        [(s.page_ref, s.boundary, s.clip) for f in earlier for s in f.stamps],
    )

    ids = _Ids(existing, earlier)
    sid = ids.next()
    stamp_ids = [(ids.next(), stamp) for stamp in stamps]
    max_id = ids.format(ids.current)

    list_path, sign_dir = _paths(package, existing)
    seal_path = f"{sign_dir}/Seal.esl"
    signature_path = f"{sign_dir}/Signature.xml"
    value_path = f"{sign_dir}/SignedValue.dat"

    files = {name: package.read(name) for name in package.names}
    if existing is None:
        files["OFD.xml"] = _with_signatures_entry(package.xml("OFD.xml"), "/" + list_path)
    files[list_path] = _signature_list(package, existing, sid, "/" + signature_path, max_id)
    files[seal_path] = bytes(seal_esl)

    references = [
        ("/" + name, sm3(content)) for name, content in files.items() if name != list_path
    ]
    signature_xml = _signature_xml(
        provider=provider or Provider.eseal(),
        method=signature_method,
        when=now.astimezone(UTC).strftime("%Y%m%d%H%M%SZ"),
        references=references,
        stamps=stamp_ids,
        seal_loc="/" + seal_path,
        signed_value_loc="/" + value_path,
    )
    signed_value = sign_ses(signature_xml)
    if not isinstance(signed_value, bytes) or not signed_value:
        raise SignerError("the SES signer returned no signature value")
    files[signature_path] = signature_xml
    files[value_path] = signed_value
    OfdPackage(files)  # the result must read as an OFD package: OFD.xml, DocRoot, document
    return _zip(files)
