"""Test OFD documents made on the spot (imported as ``ofds``), laid out as real producers do.

:func:`simple_ofd` writes a small document the way a contract system's OFD export looks:
``OFD.xml`` → ``Doc_0/Document.xml`` (``CommonData`` with ``PageArea``/``PhysicalBox``
210 x 297 mm, ``PublicRes.xml`` with a 宋体 font resource), ``Doc_0/Pages/Page_N/Content.xml``
with one ``TextObject`` per line: ``Boundary`` on the page, a ``TextCode`` with ``X``/``Y``
and a ``DeltaX`` that uses the ``g`` repeat syntax for runs of equal advances.  Full-width
characters advance by the font size, others by half of it.

:func:`unzip_ofd` and :func:`zip_ofd` take a package apart and put it back, for tests that
tamper with one file; :class:`SesSealer` seals with a real GB/T 38540 seal and signature.
"""

from __future__ import annotations

import base64
import io
import unicodedata
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from xml.sax.saxutils import escape, quoteattr

from asn1crypto import core
from asn1crypto import x509 as asn1_x509
from ses_pki import SesWorld

from keystore import sm2
from signer.ses import make_ses_signature

__all__ = [
    "CONTRACT_LINES",
    "NS",
    "SesSealer",
    "advances",
    "delta_x",
    "simple_ofd",
    "unzip_ofd",
    "zip_ofd",
]

NS = "http://www.ofdspec.org/2016"
HEAD = '<?xml version="1.0" encoding="UTF-8"?>\n'

#: The lines of a contract page; page N's first line is 合同 第 N 页.
CONTRACT_LINES = (
    "买卖合同",
    "甲方（盖章）：北京某某科技有限公司",
    "乙方（盖章）：上海某某贸易有限公司",
    "合同金额：人民币 100,000.00 元",
)


def _wide(ch: str) -> bool:
    return unicodedata.east_asian_width(ch) in ("W", "F")


def advances(text: str, size: float) -> list[float]:
    """The advance of each character: the font size for full-width ones, half for others."""
    return [size if _wide(ch) else size / 2 for ch in text]


def delta_x(values: Sequence[float]) -> str:
    """A ``DeltaX`` value, with runs of three or more equal advances as ``g N value``."""
    out: list[str] = []
    i = 0
    while i < len(values):
        j = i
        while j < len(values) and values[j] == values[i]:
            j += 1
        run = j - i
        if run >= 3:
            out.append(f"g {run} {values[i]:g}")
        else:
            out.extend(f"{v:g}" for v in values[i:j])
        i = j
    return " ".join(out)


def _text_object(uid: int, text: str, x: float, baseline: float, size: float) -> str:
    steps = advances(text, size)
    width = sum(steps)
    deltas = delta_x(steps[:-1])
    delta_attr = f" DeltaX={quoteattr(deltas)}" if deltas else ""
    return (
        f'<ofd:TextObject ID="{uid}" Boundary="{x:g} {baseline - size:g} {width:g} {size * 1.4:g}"'
        f' Font="2" Size="{size:g}"><ofd:FillColor Value="0 0 0"/>'
        f'<ofd:TextCode X="0" Y="{size:g}"{delta_attr}>{escape(text)}</ofd:TextCode>'
        "</ofd:TextObject>"
    )


def _page(lines: Sequence[str], uid: int, size: float, page_box: str | None) -> tuple[str, int]:
    objects = []
    for k, line in enumerate(lines):
        objects.append(_text_object(uid, line, 25.0, 40.0 + 12.0 * k, size))
        uid += 1
    area = f"<ofd:Area><ofd:PhysicalBox>{page_box}</ofd:PhysicalBox></ofd:Area>" if page_box else ""
    body = (
        f'{HEAD}<ofd:Page xmlns:ofd="{NS}">{area}'
        f'<ofd:Content><ofd:Layer ID="{uid}">{"".join(objects)}</ofd:Layer></ofd:Content>'
        "</ofd:Page>"
    )
    return body, uid + 1


def simple_ofd(
    pages: int = 1,
    *,
    lines: Sequence[str] = CONTRACT_LINES,
    page_lines: Sequence[Sequence[str]] | None = None,
    size: tuple[float, float] = (210.0, 297.0),
    page_sizes: Sequence[tuple[float, float] | None] | None = None,
    font_size: float = 5.0,
    created: datetime | None = None,
) -> bytes:
    """An OFD document of ``pages`` pages of Chinese text.

    Every page holds ``合同 第 N 页`` and then ``lines``, one ``TextObject`` each, from 40 mm
    below the top, 12 mm apart, 25 mm from the left edge; ``page_lines`` gives each page's
    lines instead.  The document's ``PageArea`` is ``size`` (mm); ``page_sizes[i]``, when
    given, puts an ``Area`` of that size on page ``i`` itself.
    """
    uid = 3
    files: dict[str, bytes] = {}
    page_refs = []
    for i in range(pages):
        own = page_lines[i] if page_lines is not None else [f"合同 第 {i + 1} 页", *lines]
        box = None
        if page_sizes is not None and page_sizes[i] is not None:
            w, h = page_sizes[i]  # type: ignore[misc]
            box = f"0 0 {w:g} {h:g}"
        body, next_uid = _page(own, uid + 1, font_size, box)
        files[f"Doc_0/Pages/Page_{i}/Content.xml"] = body.encode()
        page_refs.append(f'<ofd:Page ID="{uid}" BaseLoc="Pages/Page_{i}/Content.xml"/>')
        uid = next_uid
    document = (
        f'{HEAD}<ofd:Document xmlns:ofd="{NS}"><ofd:CommonData>'
        f"<ofd:MaxUnitID>{uid}</ofd:MaxUnitID>"
        f"<ofd:PageArea><ofd:PhysicalBox>0 0 {size[0]:g} {size[1]:g}</ofd:PhysicalBox>"
        "</ofd:PageArea><ofd:PublicRes>PublicRes.xml</ofd:PublicRes></ofd:CommonData>"
        f"<ofd:Pages>{''.join(page_refs)}</ofd:Pages></ofd:Document>"
    )
    public_res = (
        f'{HEAD}<ofd:Res xmlns:ofd="{NS}" BaseLoc="Res"><ofd:Fonts>'
        '<ofd:Font ID="2" FontName="宋体" FamilyName="宋体" Charset="unicode"/>'
        "</ofd:Fonts></ofd:Res>"
    )
    when = (created or datetime(2024, 5, 20, 9, 30, tzinfo=UTC)).strftime("%Y-%m-%d")
    ofd = (
        f'{HEAD}<ofd:OFD xmlns:ofd="{NS}" Version="1.0" DocType="OFD"><ofd:DocBody>'
        "<ofd:DocInfo><ofd:DocID>6c3f6e0a8d3b4d0c9a9a3f1e2b7c5d40</ofd:DocID>"
        f"<ofd:Creator>eseal tests</ofd:Creator><ofd:CreationDate>{when}</ofd:CreationDate>"
        "</ofd:DocInfo><ofd:DocRoot>Doc_0/Document.xml</ofd:DocRoot></ofd:DocBody></ofd:OFD>"
    )
    ordered = {
        "OFD.xml": ofd.encode(),
        "Doc_0/Document.xml": document.encode(),
        "Doc_0/PublicRes.xml": public_res.encode(),
        **files,
    }
    return zip_ofd(ordered)


def unzip_ofd(data: bytes) -> dict[str, bytes]:
    """The files of a package, by name, in archive order."""
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return {i.filename: archive.read(i) for i in archive.infolist() if not i.is_dir()}


def zip_ofd(files: dict[str, bytes]) -> bytes:
    """A package of these files (deflated), in the given order."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in files.items():
            archive.writestr(name, content)
    return out.getvalue()


# -- real GB/T 38540 seals and signatures -------------------------------------------------


@dataclass(frozen=True)
class SesSealer:
    """A seal of a test enterprise in a :class:`ses_pki.SesWorld`: its SM2 key and seal
    certificate, the SESeal the platform's seal maker made for it (what goes into
    ``Seal.esl``), and :meth:`sign`, the ``sign_ses`` that :func:`signer.ofd.seal.seal_ofd`
    takes: a real SES_Signature over the exact bytes of ``Signature.xml``, signed now."""

    key: sm2.Sm2PrivateKey
    certificate: bytes
    seal_esl: bytes

    @classmethod
    def make(cls, world: SesWorld, name: str = "合同专用章", **seal: Any) -> SesSealer:
        key = sm2.Sm2PrivateKey.generate()
        certificate = world.seal_certificate(key, title=name)
        return cls(key, bytes(certificate.dump()), world.make_seal(certificate, name=name, **seal))

    def sign(self, signature_xml: bytes, property_info: str = "Signature.xml") -> bytes:
        return make_ses_signature(
            seal_der=self.seal_esl,
            data_hash=sm2.sm3(signature_xml),
            property_info=property_info,
            signer_certificate=self.certificate,
            sign=self.key.sign,
            time=datetime.now(UTC).replace(microsecond=0),
            timestamp=None,
        )


# -- packages as ofdrw's OFDSigner lays them out (ofdrw-sign) ------------------------------

#: where ofdrw keeps the signature list
OFDRW_LIST = "Doc_0/Signs/Signatures.xml"
GB_SIGNED_DATA = "1.2.156.10197.6.1.4.2.2"
GB_DATA = "1.2.156.10197.6.1.4.2.1"


def _tlv(tag: int, content: bytes) -> bytes:
    n = len(content)
    length = (
        bytes([n])
        if n < 128
        else bytes([0x80 | ((n.bit_length() + 7) // 8)])
        + (n.to_bytes((n.bit_length() + 7) // 8, "big"))
    )
    return bytes([tag]) + length + content


def _seq(*parts: bytes) -> bytes:
    return _tlv(0x30, b"".join(parts))


def _algorithm(oid: str) -> bytes:
    return _seq(core.ObjectIdentifier(oid).dump())  # ofdrw: no parameters


def gbt35275(ses: SesSealer, signature_xml: bytes) -> bytes:
    """What ofdrw's ``GBT35275DSContainer`` writes (``SignedDataBuilder.signedData``): the SM3
    of Signature.xml as the content, signed SM3withSM2 by the key, SM2-1 as the algorithm."""
    cert = asn1_x509.Certificate.load(ses.certificate)
    plaintext = sm2.sm3(signature_xml)
    signer = _seq(
        core.Integer(1).dump(),
        _seq(cert.issuer.dump(), core.Integer(cert.serial_number).dump()),
        _algorithm(sm2.OID_SM3),
        _algorithm(sm2.OID_SM2_SIGN),
        core.OctetString(ses.key.sign(plaintext)).dump(),
    )
    signed_data = _seq(
        core.Integer(1).dump(),
        _tlv(0x31, _algorithm(sm2.OID_SM3)),
        _seq(core.ObjectIdentifier(GB_DATA).dump(), _tlv(0xA0, core.OctetString(plaintext).dump())),
        _tlv(0xA0, ses.certificate),
        _tlv(0x31, signer),
    )
    return _seq(core.ObjectIdentifier(GB_SIGNED_DATA).dump(), _tlv(0xA0, signed_data))


def ofdrw_sign(
    files: dict[str, bytes],
    value: Callable[[bytes, str], bytes],
    *,
    sign_type: str = "Seal",
    seal_esl: bytes | None = None,
    continue_mode: bool = False,
    relative_base_loc: bool = False,
    check_method: str = "SM3",
) -> dict[str, bytes]:
    """``files`` signed once more as ofdrw's ``OFDSigner.exeSign`` does; ``value(xml,
    property_info)`` makes ``SignedValue.dat`` from the exact bytes of ``Signature.xml``."""
    files = dict(files)
    ofd = files["OFD.xml"].decode()
    if "<ofd:Signatures>" not in ofd:
        ofd = ofd.replace(
            "</ofd:DocRoot>", f"</ofd:DocRoot><ofd:Signatures>/{OFDRW_LIST}</ofd:Signatures>"
        )
        files["OFD.xml"] = ofd.encode()
    n = sum(1 for name in files if name.endswith("/Signature.xml"))
    sign_dir = f"/Doc_0/Signs/Sign_{n}"
    entries = "".join(
        f'<ofd:Signature ID="{i + 1}" Type="{t}" BaseLoc="/Doc_0/Signs/Sign_{i}/Signature.xml"/>'
        for i, t in enumerate(_types(files))
    )
    loc = f"Sign_{n}/Signature.xml" if relative_base_loc else f"{sign_dir}/Signature.xml"
    entries += f'<ofd:Signature ID="{n + 1}" Type="{sign_type}" BaseLoc="{loc}"/>'
    files[OFDRW_LIST] = (
        f'{HEAD.strip()}<ofd:Signatures xmlns:ofd="{NS}"><ofd:MaxSignId>{n + 1}</ofd:MaxSignId>'
        f"{entries}</ofd:Signatures>"
    ).encode()
    seal = ""
    if seal_esl is not None:
        files[f"{sign_dir[1:]}/Seal.esl"] = seal_esl
        seal = f"<ofd:Seal><ofd:BaseLoc>{sign_dir}/Seal.esl</ofd:BaseLoc></ofd:Seal>"
    references = "".join(
        f'<ofd:Reference FileRef="/{name}"><ofd:CheckValue>'
        f"{base64.b64encode(sm2.sm3(data)).decode()}</ofd:CheckValue></ofd:Reference>"
        for name, data in files.items()
        if not (continue_mode and name == OFDRW_LIST)
    )
    xml = (
        f'{HEAD.strip()}<ofd:Signature xmlns:ofd="{NS}"><ofd:SignedInfo>'
        '<ofd:Provider ProviderName="ofdrw-sign" Company="ofdrw" Version="2.3.5"/>'
        "<ofd:SignatureMethod>1.2.156.10197.1.501</ofd:SignatureMethod>"
        "<ofd:SignatureDateTime>2026-03-01 12:00:00</ofd:SignatureDateTime>"
        f'<ofd:References CheckMethod="{check_method}">{references}</ofd:References>'
        f'<ofd:StampAnnot ID="{n + 2}" PageRef="3" Boundary="100 100 40 40"/>{seal}'
        f"</ofd:SignedInfo><ofd:SignedValue>{sign_dir}/SignedValue.dat</ofd:SignedValue>"
        "</ofd:Signature>"
    ).encode()
    files[f"{sign_dir[1:]}/Signature.xml"] = xml
    files[f"{sign_dir[1:]}/SignedValue.dat"] = value(xml, f"{sign_dir}/Signature.xml")
    return files


def _types(files: dict[str, bytes]) -> list[str]:
    listing = files.get(OFDRW_LIST, b"").decode()
    return [part.split('"')[0] for part in listing.split('Type="')[1:]]


def gbt35275_pkcs9(ses: SesSealer, signature_xml: bytes) -> bytes:
    """What ofdrw's ``GBT35275PKCS9DSContainer`` writes (``PKCS9SignedDataBuilder``): no
    content, authenticated attributes {contentType data, signingTime, messageDigest = SM3 of
    Signature.xml}, the SM2 signature over their DER as a SET."""
    cert = asn1_x509.Certificate.load(ses.certificate)

    def attribute(oid: str, value: bytes) -> bytes:
        return _seq(core.ObjectIdentifier(oid).dump(), _tlv(0x31, value))

    attributes = sorted(
        [
            attribute("1.2.840.113549.1.9.3", core.ObjectIdentifier(GB_DATA).dump()),
            attribute(
                "1.2.840.113549.1.9.5", core.UTCTime(datetime(2026, 3, 1, tzinfo=UTC)).dump()
            ),
            attribute("1.2.840.113549.1.9.4", core.OctetString(sm2.sm3(signature_xml)).dump()),
        ]
    )  # DER orders a SET OF by its encodings
    body = b"".join(attributes)
    signer = _seq(
        core.Integer(1).dump(),
        _seq(cert.issuer.dump(), core.Integer(cert.serial_number).dump()),
        _algorithm(sm2.OID_SM3),
        _tlv(0xA0, body),
        _algorithm(sm2.OID_SM2_SIGN),
        core.OctetString(ses.key.sign(_tlv(0x31, body))).dump(),
    )
    signed_data = _seq(
        core.Integer(1).dump(),
        _tlv(0x31, _algorithm(sm2.OID_SM3)),
        _seq(core.ObjectIdentifier(GB_DATA).dump()),
        _tlv(0xA0, ses.certificate),
        _tlv(0x31, signer),
    )
    return _seq(core.ObjectIdentifier(GB_SIGNED_DATA).dump(), _tlv(0xA0, signed_data))
