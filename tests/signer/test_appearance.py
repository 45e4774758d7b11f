"""The seal appearance: a transparent image in one signature field, on one page or across pages.

Signed files are checked with pyHanko's validator (intact, valid, what later revisions
changed), with ``qpdf --check`` and poppler's ``pdfsig`` where installed, and rendered with
``pdftoppm`` to see the seal and what lies under it.
"""

from __future__ import annotations

import datetime
import io
import math
import shutil
import subprocess
from pathlib import Path

import pytest
from asn1crypto import keys as asn1_keys
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from PIL import Image, ImageDraw
from pyhanko.pdf_utils import generic, layout
from pyhanko.pdf_utils.generic import pdf_name
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.misc import PdfWriteError
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.pdf_utils.writer import PageObject, PdfFileWriter
from pyhanko.sign import signers
from pyhanko.sign.diff_analysis import ModificationLevel
from pyhanko.sign.signers.pdf_signer import PdfSignatureMetadata, PdfSigner
from pyhanko.sign.validation import async_validate_pdf_signature
from pyhanko_certvalidator import ValidationContext
from pyhanko_certvalidator.registry import SimpleCertificateStore

from seals.errors import InvalidImage
from signer.appearance import SealAppearance, SealField, add_seal_field, widget_form
from signer.errors import InvalidPlacement
from signer.placement import (
    MM,
    AtPoint,
    CrossPage,
    PageGeometry,
    Placement,
    resolve,
    resolve_in,
)

DPI = 50
PX = DPI / 72
SEAL_40MM = 40 * MM  # 113.39 pt


# --------------------------------------------------------------------------- helpers


def circle_png(px: int = 200, *, dpi: int | None = None, opaque: bool = False) -> bytes:
    """A red ring on a transparent background (or on white, ``opaque``)."""
    img = Image.new("RGBA", (px, px), (255, 255, 255, 255) if opaque else (0, 0, 0, 0))
    draw = ImageDraw.Draw(img)
    draw.ellipse((4, 4, px - 5, px - 5), outline=(220, 0, 0, 255), width=max(px // 20, 2))
    out = io.BytesIO()
    img.save(out, "PNG", **({"dpi": (dpi, dpi)} if dpi else {}))
    return out.getvalue()


def make_pdf(pages: list[dict], *, blue_square: tuple[float, float] | None = None) -> bytes:
    """Pages as dicts (media, rotate, text); a blue 20 x 20 pt square centred at
    ``blue_square``.  ``text``: a line of text turned that far counter-clockwise in user
    space (a page with ``/Rotate`` and text turned to match reads upright on screen)."""
    writer = PdfFileWriter()
    font = writer.add_object(
        generic.DictionaryObject(
            {
                pdf_name("/Type"): pdf_name("/Font"),
                pdf_name("/Subtype"): pdf_name("/Type1"),
                pdf_name("/BaseFont"): pdf_name("/Helvetica"),
            }
        )
    )
    for spec in pages:
        content = b"% blank\n"
        if blue_square is not None:
            x, y = blue_square
            content = b"0 0 1 rg %g %g 20 20 re f" % (x - 10, y - 10)
        if "text" in spec:
            cos = round(math.cos(math.radians(spec["text"])))
            sin = round(math.sin(math.radians(spec["text"])))
            content += b" BT /F1 12 Tf %d %d %d %d 300 400 Tm (Contract text) Tj ET" % (
                cos,
                sin,
                -sin,
                cos,
            )
        stream = writer.add_object(generic.StreamObject(stream_data=content))
        page = PageObject(contents=stream, media_box=spec.get("media", (0, 0, 595, 842)))
        page[pdf_name("/Resources")] = generic.DictionaryObject(
            {pdf_name("/Font"): generic.DictionaryObject({pdf_name("/F1"): font})}
        )
        if spec.get("rotate"):
            page[pdf_name("/Rotate")] = generic.NumberObject(spec["rotate"])
        writer.insert_page(page)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


@pytest.fixture(scope="module")
def identity() -> tuple[signers.SimpleSigner, asn1_x509.Certificate]:
    """A self-signed ECDSA P-256 signer, enough to check the PDF structure."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "测试有限公司"),
            x509.NameAttribute(NameOID.COMMON_NAME, "测试有限公司·合同专用章"),
        ]
    )
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(True, True, False, False, False, True, False, False, False),
            critical=True,
        )
        .sign(key, hashes.SHA256())
    )
    asn1_cert = asn1_x509.Certificate.load(cert.public_bytes(serialization.Encoding.DER))
    asn1_key = asn1_keys.PrivateKeyInfo.load(
        key.private_bytes(
            serialization.Encoding.DER,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    signer = signers.SimpleSigner(
        signing_cert=asn1_cert,
        signing_key=asn1_key,
        cert_registry=SimpleCertificateStore.from_certs([asn1_cert]),
    )
    return signer, asn1_cert


async def seal_and_sign(
    pdf: bytes,
    placement: Placement | None,
    identity,
    *,
    name: str = "Seal-contract",
    png: bytes | None = None,
    **field_options,
) -> bytes:
    """What the signing core does: resolve, add the seal field, sign it with pyHanko."""
    signer, _ = identity
    writer = IncrementalPdfFileWriter(io.BytesIO(pdf))
    seal = SealAppearance(png or circle_png(), width=SEAL_40MM, height=SEAL_40MM)
    widgets = resolve_in(writer, placement, seal.width, seal.height)
    field = add_seal_field(writer, name, widgets, seal, readable_name="合同专用章", **field_options)
    pdf_signer = PdfSigner(
        PdfSignatureMetadata(field_name=field.name),
        signer=signer,
        stamp_style=field.stamp_style,
    )
    out = await pdf_signer.async_sign_pdf(writer, existing_fields_only=True)
    return out.getvalue()


async def validate(pdf: bytes, identity) -> list:
    _, cert = identity
    reader = PdfFileReader(io.BytesIO(pdf))
    return [
        await async_validate_pdf_signature(sig, ValidationContext(trust_roots=[cert]))
        for sig in reader.embedded_signatures
    ]


def render(pdf: bytes, page: int, tmp_path: Path) -> Image.Image:
    src = tmp_path / "in.pdf"
    src.write_bytes(pdf)
    root = tmp_path / f"p{page}"
    subprocess.run(
        [
            "pdftoppm",
            "-r",
            str(DPI),
            "-png",
            "-singlefile",
            "-f",
            str(page),
            "-l",
            str(page),
            str(src),
            str(root),
        ],
        check=True,
        capture_output=True,
    )
    with Image.open(f"{root}.png") as img:
        return img.convert("RGB")


def is_red(p: tuple[int, int, int]) -> bool:
    return p[0] > 150 and p[1] < 110 and p[2] < 110


def is_blue(p: tuple[int, int, int]) -> bool:
    return p[2] > 150 and p[0] < 110 and p[1] < 110


needs = {
    tool: pytest.mark.skipif(shutil.which(tool) is None, reason=f"needs {tool}")
    for tool in ("pdftoppm", "pdfsig", "qpdf")
}


# --------------------------------------------------------------------------- the image


def test_size_is_given_in_points_or_read_from_the_png() -> None:
    seal = SealAppearance(circle_png(), width=SEAL_40MM, height=SEAL_40MM)
    assert (seal.width, seal.height) == pytest.approx((113.386, 113.386), abs=1e-3)
    assert (seal.pixel_width, seal.pixel_height) == (200, 200)
    assert len(seal.sha256) == 64
    # 200 px at 300 dpi is 2/3 inch
    assert SealAppearance(circle_png(dpi=300)).width == pytest.approx(48, abs=0.1)
    # one side given: the aspect ratio gives the other
    wide = Image.new("RGBA", (300, 150), (255, 0, 0, 128))
    buf = io.BytesIO()
    wide.save(buf, "PNG")
    assert SealAppearance.from_png(buf.getvalue(), width=40 * MM).height == pytest.approx(20 * MM)


@pytest.mark.parametrize(
    "data",
    [b"not an image", b"\x89PNG\r\n\x1a\n truncated", "jpeg"],
)
def test_unreadable_images_are_refused(data) -> None:
    if data == "jpeg":
        buf = io.BytesIO()
        Image.new("RGB", (10, 10), "red").save(buf, "JPEG")
        data = buf.getvalue()
    with pytest.raises(InvalidImage) as caught:
        SealAppearance(data, width=10, height=10)
    assert caught.value.code == "invalid_image"


def test_an_image_of_unknown_size_is_refused() -> None:
    with pytest.raises(InvalidImage, match="physical width"):
        SealAppearance(circle_png())


def test_image_xobject_keeps_the_alpha_as_a_soft_mask() -> None:
    seal = SealAppearance(circle_png(), width=100, height=100)
    writer = PdfFileWriter()
    image = seal.image_xobject(writer).get_object()
    assert image["/Subtype"] == "/Image"
    assert image["/ColorSpace"] == "/DeviceRGB"
    assert (image["/Width"], image["/Height"]) == (200, 200)
    mask = image["/SMask"]
    assert mask["/ColorSpace"] == "/DeviceGray"
    alpha = Image.frombytes("L", (200, 200), mask.data)
    assert alpha.getpixel((100, 100)) == 0  # the middle of the ring is transparent
    assert alpha.getpixel((100, 7)) == 255  # the ring is opaque
    assert seal.has_alpha


def test_an_opaque_png_has_no_soft_mask() -> None:
    seal = SealAppearance(circle_png(opaque=True), width=100, height=100)
    assert not seal.has_alpha
    assert "/SMask" not in seal.image_xobject(PdfFileWriter()).get_object()


def test_compressed_image_is_made_once_and_shared_by_documents() -> None:
    seal = SealAppearance(circle_png(), width=100, height=100)
    first = seal.image_xobject(PdfFileWriter()).get_object()
    second = seal.image_xobject(PdfFileWriter()).get_object()
    assert first.encoded_data is second.encoded_data
    assert first["/SMask"].encoded_data is second["/SMask"].encoded_data


def test_widget_form_draws_only_the_image() -> None:
    writer = PdfFileWriter()
    seal = SealAppearance(circle_png(), width=100, height=100)
    form_ref = seal.seal_form(writer)
    form = form_ref.get_object()
    assert [float(v) for v in form["/BBox"]] == [0, 0, 100, 100]
    # a page whose text is turned with its /Rotate 90: the seal is turned with the text
    page = PageGeometry((0, 0, 595, 842), rotate=90, text_rotate=90)
    (widget,) = resolve(AtPoint(1, 300, 300), [page], 100, 60)
    appearance = widget_form(widget, form_ref)
    assert [float(v) for v in appearance["/BBox"]] == pytest.approx([0, 0, 60, 100])
    ops = appearance.data.split()
    # a clip to the box, the turn for /Rotate 90, the seal: no fill, no stroke, no text
    assert b"W" in ops and b"cm" in ops and b"Do" in ops
    assert not {b"f", b"F", b"f*", b"S", b"s", b"B", b"b", b"Tj", b"TJ"} & set(ops)
    assert b"0 1 -1 0 60 0 cm" in appearance.data


# --------------------------------------------------------------------------- the field


def test_one_widget_field_is_combined_and_keeps_the_seal(identity) -> None:
    writer = IncrementalPdfFileWriter(io.BytesIO(make_pdf([{}])))
    seal = SealAppearance(circle_png(), width=SEAL_40MM, height=SEAL_40MM)
    widgets = resolve_in(writer, AtPoint(1, 300, 400), seal.width, seal.height)
    field = add_seal_field(writer, "Seal1", widgets, seal, readable_name="合同专用章")
    obj = field.field_ref.get_object()
    assert obj["/FT"] == "/Sig" and obj["/Subtype"] == "/Widget"
    assert "/Kids" not in obj
    assert obj["/TU"] == "合同专用章"
    assert [float(v) for v in obj["/Rect"]] == pytest.approx(widgets[0].rect)
    assert "/SealForm" in obj["/AP"]["/N"]["/Resources"]["/XObject"]
    assert field.attached and field.widget_refs == (field.field_ref,)


async def test_signed_single_seal_validates_and_keeps_its_appearance(identity, tmp_path) -> None:
    pdf = await seal_and_sign(make_pdf([{}, {}]), AtPoint(2, 300, 400), identity)
    (status,) = await validate(pdf, identity)
    assert status.intact and status.valid and status.bottom_line
    reader = PdfFileReader(io.BytesIO(pdf))
    (sig,) = reader.embedded_signatures
    assert "/SealForm" in sig.sig_field["/AP"]["/N"]["/Resources"]["/XObject"]
    assert sig.sig_field["/P"].get_object() is reader.root["/Pages"]["/Kids"][1]
    await external_checks(pdf, tmp_path, signatures=1)


async def test_cross_page_seal_is_one_signature_with_a_widget_per_page(identity) -> None:
    pages = [{}, {"media": (100, 100, 712, 892), "rotate": 90}, {"rotate": 180}, {}]
    pdf = await seal_and_sign(make_pdf(pages), CrossPage(), identity)
    (status,) = await validate(pdf, identity)
    assert status.intact and status.valid and status.bottom_line
    assert status.modification_level == ModificationLevel.NONE
    reader = PdfFileReader(io.BytesIO(pdf))
    (sig,) = reader.embedded_signatures
    kids = [k.get_object() for k in sig.sig_field["/Kids"]]
    assert len(kids) == 4
    page_refs = [reader.root["/Pages"]["/Kids"].raw_get(i) for i in range(4)]
    for index, (kid, kid_ref) in enumerate(zip(kids, sig.sig_field["/Kids"], strict=True)):
        page = page_refs[index].get_object()
        assert kid["/Subtype"] == "/Widget"
        assert kid["/P"].get_object() is page
        assert kid["/Parent"].get_object() is sig.sig_field
        assert kid_ref.get_object() in [a.get_object() for a in page["/Annots"]]
        assert "/SealForm" in kid["/AP"]["/N"]["/Resources"]["/XObject"]
    # one image for all strips
    forms = {id(k["/AP"]["/N"]["/Resources"]["/XObject"]["/SealForm"]) for k in kids}
    assert len(forms) == 1


@needs["pdfsig"]
async def test_cross_page_seal_without_widget_parent_for_old_poppler(identity, tmp_path) -> None:
    pdf = await seal_and_sign(
        make_pdf([{}, {"rotate": 90}, {}]), CrossPage(), identity, widget_parent=False
    )
    (status,) = await validate(pdf, identity)
    assert status.intact and status.valid
    reader = PdfFileReader(io.BytesIO(pdf))
    (sig,) = reader.embedded_signatures
    assert all("/Parent" not in k.get_object() for k in sig.sig_field["/Kids"])
    await external_checks(pdf, tmp_path, signatures=1)


async def external_checks(pdf: bytes, tmp_path: Path, *, signatures: int) -> None:
    path = tmp_path / "signed.pdf"
    path.write_bytes(pdf)
    if shutil.which("qpdf"):
        check = subprocess.run(["qpdf", "--check", str(path)], capture_output=True, text=True)
        assert check.returncode == 0, check.stdout + check.stderr
        assert "No syntax or stream encoding errors" in check.stdout
    if shutil.which("pdfsig"):
        out = subprocess.run(["pdfsig", str(path)], capture_output=True, text=True).stdout
        assert out.count("Signature is Valid.") == signatures, out
        assert "not signed" not in out


def test_extra_widgets_wait_for_pyhanko(identity) -> None:
    writer = IncrementalPdfFileWriter(io.BytesIO(make_pdf([{}, {}, {}])))
    seal = SealAppearance(circle_png(), width=SEAL_40MM, height=SEAL_40MM)
    widgets = resolve_in(writer, CrossPage(), seal.width, seal.height)
    field = add_seal_field(writer, "Seal1", widgets, seal)
    obj = field.field_ref.get_object()
    # pyHanko's embedder insists on exactly one widget when it looks for the appearance
    assert len(obj["/Kids"]) == 1 and not field.attached
    assert "/Annots" not in writer.find_page_for_modification(2)[0].get_object()
    assert field.stamp_style.create_stamp(writer, layout.BoxConstraints(10, 10), {}) is None
    assert len(obj["/Kids"]) == 3 and field.attached
    field.attach_widgets()  # idempotent
    assert len(obj["/Kids"]) == 3
    assert len(writer.find_page_for_modification(2)[0].get_object()["/Annots"]) == 1


def test_extra_widgets_can_be_attached_at_once() -> None:
    writer = IncrementalPdfFileWriter(io.BytesIO(make_pdf([{}, {}])))
    seal = SealAppearance(circle_png(), width=50, height=50)
    widgets = resolve_in(writer, CrossPage(), seal.width, seal.height)
    field = add_seal_field(writer, "Seal1", widgets, seal, defer_extra_widgets=False)
    assert isinstance(field, SealField) and field.attached
    assert len(field.field_ref.get_object()["/Kids"]) == 2


def test_field_names_are_unique_and_widgets_required() -> None:
    writer = IncrementalPdfFileWriter(io.BytesIO(make_pdf([{}])))
    seal = SealAppearance(circle_png(), width=50, height=50)
    widgets = resolve_in(writer, AtPoint(1, 100, 100), seal.width, seal.height)
    add_seal_field(writer, "Seal1", widgets, seal)
    with pytest.raises(PdfWriteError):
        add_seal_field(writer, "Seal1", widgets, seal)
    with pytest.raises(InvalidPlacement):
        add_seal_field(writer, "Seal2", [], seal)


async def test_a_later_seal_keeps_the_earlier_signature_valid(identity) -> None:
    pdf = await seal_and_sign(make_pdf([{}, {}]), AtPoint(1, 300, 300), identity, name="A")
    pdf = await seal_and_sign(pdf, CrossPage(), identity, name="B")
    first, second = await validate(pdf, identity)
    assert first.intact and first.valid and first.docmdp_ok
    assert first.modification_level <= ModificationLevel.FORM_FILLING
    assert second.intact and second.valid
    assert second.modification_level == ModificationLevel.NONE


# --------------------------------------------------------------------------- rendered


@needs["pdftoppm"]
async def test_text_under_the_seal_shows_through(identity, tmp_path) -> None:
    # a blue square where the middle of the ring will be, and one under the ring itself
    centre = (300.0, 400.0)
    pdf = make_pdf([{}], blue_square=centre)
    sealed = await seal_and_sign(pdf, AtPoint(1, *centre), identity)
    img = render(sealed, 1, tmp_path)
    cx, cy = round(centre[0] * PX), round((842 - centre[1]) * PX)
    assert is_blue(img.getpixel((cx, cy))), "the transparent middle of the seal hides the page"
    ring_top = round((842 - centre[1] - SEAL_40MM / 2 + 3) * PX)
    assert is_red(img.getpixel((cx, ring_top))), "the ring is not drawn"
    # nothing but the ring: no background box, no border around the widget
    corner = (round((centre[0] - SEAL_40MM / 2 + 2) * PX), round((842 - centre[1] - 55) * PX))
    assert img.getpixel(corner) == (255, 255, 255)


@needs["pdftoppm"]
async def test_an_opaque_seal_covers_what_is_under_it(identity, tmp_path) -> None:
    centre = (300.0, 400.0)
    sealed = await seal_and_sign(
        make_pdf([{}], blue_square=centre),
        AtPoint(1, *centre),
        identity,
        png=circle_png(opaque=True),
    )
    img = render(sealed, 1, tmp_path)
    assert img.getpixel((round(centre[0] * PX), round((842 - centre[1]) * PX))) == (255, 255, 255)


@needs["pdftoppm"]
async def test_rendered_cross_page_strips_line_up(identity, tmp_path) -> None:
    # text turned with each page's /Rotate: it reads upright on screen, the strips follow it
    pages = [{}, {"rotate": 90, "text": 90}, {"rotate": 270, "text": 270}]
    sealed = await seal_and_sign(make_pdf(pages), CrossPage(y=300), identity)
    rows = []
    for page in (1, 2, 3):
        img = render(sealed, page, tmp_path)
        w, h = img.size
        reds = [
            (x, y)
            for y in range(h)
            for x in range(w - round(SEAL_40MM * PX), w)
            if is_red(img.getpixel((x, y)))
        ]
        assert reds, f"page {page}: no strip"
        assert max(x for x, _ in reds) >= w - 4  # flush right, give or take antialiasing
        assert min(x for x, _ in reds) >= w - 1 - round(SEAL_40MM / 3 * PX) - 1
        top = min(y for _, y in reds)
        rows.append((h - top) / PX)  # the ring's top in points from the bottom of the page
    # the middle strip holds the top of the ring; the outer two, symmetric, sit a bit lower
    assert rows[1] == pytest.approx(300 + SEAL_40MM / 2, abs=3)
    assert rows[0] == pytest.approx(rows[2], abs=1.5)
    assert rows[0] < rows[1]
