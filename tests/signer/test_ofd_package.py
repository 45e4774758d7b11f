"""Reading OFD packages: a real document opens; anything unsafe or incomplete is refused with
``invalid_ofd`` and a message that says what is wrong."""

from __future__ import annotations

import io
import warnings
import zipfile

import pytest

from ofds import NS, simple_ofd, unzip_ofd, zip_ofd
from signer.errors import InvalidOfd
from signer.ofd.package import RATIO_FLOOR, is_ofd, read_package


def _refused(data: bytes, fragment: str, **limits: int) -> InvalidOfd:
    with pytest.raises(InvalidOfd) as caught:
        read_package(data, **limits)
    assert caught.value.code == "invalid_ofd"
    assert caught.value.to_problem()["code"] == "invalid_ofd"
    assert fragment in caught.value.detail
    return caught.value


def _raw_zip(entries: list[tuple[str, bytes]]) -> bytes:
    """A ZIP written without zipfile's own name checks (duplicates and odd names included)."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in entries:
            info = zipfile.ZipInfo(name)
            info.compress_type = zipfile.ZIP_DEFLATED
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # zipfile warns of a duplicate name
                archive.writestr(info, content)
    return out.getvalue()


def test_a_document_opens_with_its_files_and_paths() -> None:
    package = read_package(simple_ofd(2))
    assert package.names[0] == "OFD.xml"
    assert "Doc_0/Pages/Page_1/Content.xml" in package
    assert package.doc_root == "Doc_0/Document.xml"
    assert package.signatures is None
    assert package.xml("Doc_0/Document.xml").tag == f"{{{NS}}}Document"
    assert package.read("/Doc_0/PublicRes.xml").startswith(b"<?xml")


def test_paths_resolve_relative_to_the_referring_file_or_from_the_root() -> None:
    package = read_package(simple_ofd())
    doc = "Doc_0/Document.xml"
    assert package.resolve("Pages/Page_0/Content.xml", doc) == "Doc_0/Pages/Page_0/Content.xml"
    assert package.resolve("/Doc_0/Signs/Signatures.xml", doc) == "Doc_0/Signs/Signatures.xml"
    assert package.resolve("./Res/../PublicRes.xml", doc) == "Doc_0/PublicRes.xml"
    assert package.resolve("../../Document.xml", "Doc_0/Signs/Sign_0/Signature.xml") == doc
    # written from the root inside Doc_0 (a producer quirk): found where it exists
    assert package.locate("Doc_0/Pages/Page_0/Content.xml", doc) == "Doc_0/Pages/Page_0/Content.xml"
    assert package.locate("Pages/Page_9/Content.xml", doc) is None
    with pytest.raises(InvalidOfd, match="out of the package"):
        package.resolve("../../etc/passwd", doc)
    with pytest.raises(InvalidOfd):
        package.resolve("Pages\\Page_0\\Content.xml", doc)


def test_is_ofd_detects_by_content() -> None:
    assert is_ofd(simple_ofd())
    assert not is_ofd(b"%PDF-1.7\n")
    assert not is_ofd(zip_ofd({"OFD.xml": b"<notofd/>"}))
    assert not is_ofd(zip_ofd({"word/document.xml": b"<w/>"}))
    assert not is_ofd(simple_ofd()[:200])
    assert not is_ofd(b"")


def test_not_a_zip_is_refused() -> None:
    _refused(b"%PDF-1.7\n1 0 obj\n", "not a ZIP")
    _refused(b"", "not a ZIP")


def test_a_broken_zip_is_refused() -> None:
    data = simple_ofd()
    _refused(data[: len(data) // 2], "not a readable ZIP")


def test_a_damaged_member_is_refused() -> None:
    data = bytearray(simple_ofd())
    # flip bytes inside the first member's deflated data: the CRC check or inflate fails
    start = data.index(b"OFD.xml") + len(b"OFD.xml")
    for i in range(start + 5, start + 25):
        data[i] ^= 0x5A
    _refused(bytes(data), "damaged")


def test_a_zip_bomb_is_refused_while_inflating() -> None:
    files = unzip_ofd(simple_ofd())
    files["Doc_0/Res/bomb.bin"] = b"\0" * (RATIO_FLOOR * 3)
    bomb = zip_ofd(files)
    assert len(bomb) < RATIO_FLOOR // 100
    _refused(bomb, "ZIP bomb")
    # and the absolute limit, whatever the ratio
    _refused(simple_ofd(), "more than 1000 bytes", max_total=1000)


def test_a_bomb_that_lies_about_its_sizes_is_still_caught() -> None:
    files = unzip_ofd(simple_ofd())
    files["Doc_0/Res/bomb.bin"] = b"\0" * (RATIO_FLOOR * 3)
    data = bytearray(zip_ofd(files))
    # claim 10 bytes uncompressed in the central directory (offset 24 of each 46-byte header)
    cd = data.rindex(b"PK\x01\x02")
    data[cd + 24 : cd + 28] = (10).to_bytes(4, "little")
    with pytest.raises(InvalidOfd):
        read_package(bytes(data))


def test_too_many_files_are_refused() -> None:
    files = unzip_ofd(simple_ofd())
    files.update({f"Doc_0/Res/{i}.txt": b"x" for i in range(20)})
    _refused(zip_ofd(files), "more than 10 files", max_files=10)


@pytest.mark.parametrize(
    "name",
    ["../evil.xml", "Doc_0/../../evil.xml", "/etc/evil.xml", "Doc_0\\evil.xml", "C:/evil.xml"],
)
def test_unsafe_paths_are_refused(name: str) -> None:
    entries = [*unzip_ofd(simple_ofd()).items(), (name, b"<x/>")]
    _refused(_raw_zip(entries), "unsafe path")


def test_duplicate_names_are_refused_even_when_they_differ_in_case() -> None:
    files = list(unzip_ofd(simple_ofd()).items())
    _refused(_raw_zip([*files, files[1]]), "twice")
    _refused(_raw_zip([*files, ("doc_0/document.xml", files[1][1])]), "twice")


def test_external_entities_and_doctypes_are_refused() -> None:
    files = unzip_ofd(simple_ofd())
    files["Doc_0/Document.xml"] = (
        b'<?xml version="1.0"?><!DOCTYPE d [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
        + files["Doc_0/Document.xml"].split(b"?>", 1)[1].replace(b"<ofd:Pages>", b"&x;<ofd:Pages>")
    )
    _refused(zip_ofd(files), "DOCTYPE")
    files = unzip_ofd(simple_ofd())
    laughs = b'<!DOCTYPE l [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;&a;">]>'
    files["OFD.xml"] = laughs + files["OFD.xml"].split(b"?>", 1)[1]
    _refused(zip_ofd(files), "DOCTYPE")


def test_malformed_xml_is_refused() -> None:
    files = unzip_ofd(simple_ofd())
    files["OFD.xml"] = files["OFD.xml"][:-20]
    _refused(zip_ofd(files), "not well-formed")


def test_a_package_without_ofd_xml_is_refused() -> None:
    files = unzip_ofd(simple_ofd())
    del files["OFD.xml"]
    _refused(zip_ofd(files), "no OFD.xml")


def test_an_ofd_xml_of_another_format_is_refused() -> None:
    files = unzip_ofd(simple_ofd())
    files["OFD.xml"] = files["OFD.xml"].replace(NS.encode(), b"urn:other")
    _refused(zip_ofd(files), "not an ofd:OFD")


def test_no_docbody_or_docroot_is_refused() -> None:
    files = unzip_ofd(simple_ofd())
    files["OFD.xml"] = f'<ofd:OFD xmlns:ofd="{NS}" Version="1.0"/>'.encode()
    _refused(zip_ofd(files), "no DocBody")
    files["OFD.xml"] = f'<ofd:OFD xmlns:ofd="{NS}"><ofd:DocBody/></ofd:OFD>'.encode()
    _refused(zip_ofd(files), "no DocRoot")


def test_no_document_is_refused() -> None:
    files = unzip_ofd(simple_ofd())
    del files["Doc_0/Document.xml"]
    _refused(zip_ofd(files), "not in the package")
    files = unzip_ofd(simple_ofd())
    files["Doc_0/Document.xml"] = f'<ofd:Res xmlns:ofd="{NS}"/>'.encode()
    _refused(zip_ofd(files), "not an ofd:Document")


def test_a_missing_file_reads_as_invalid_ofd() -> None:
    package = read_package(simple_ofd())
    with pytest.raises(InvalidOfd, match=r"no file 'Doc_0/Nothing\.xml'"):
        package.read("Doc_0/Nothing.xml")
