"""Reading an OFD package (GB/T 33190-2016 §7) safely: the ZIP container and its XML files.

An OFD file is a ZIP archive whose entry point is ``OFD.xml`` at the root; its first
``DocBody`` names the document (``DocRoot`` → ``Document.xml``) and, once the document is
signed, the signature list (``Signatures`` → ``Signatures.xml``).  Everything an upload says
about itself is distrusted until checked:

* the archive must be a well-formed ZIP whose members are stored or deflated, unencrypted,
  with plain relative names: no absolute path, no ``..`` or ``.`` segment, no backslash, no
  drive letter, no NUL, and no two names that differ only in case (a reader on a
  case-insensitive file system would see one file where the signature protects another);
* sizes are counted while decompressing, never taken from the headers: the package refuses
  more than ``max_total`` bytes in all, and more than ``max_ratio`` times its own size once
  past :data:`RATIO_FLOOR` (a ZIP bomb inflates far beyond any real document's ratio);
  the CRC of every member is checked by :mod:`zipfile` as it is read;
* XML is parsed by :mod:`defusedxml` with DOCTYPEs, entities and external references
  forbidden, so no entity expansion and no network or file access;
* ``OFD.xml`` must be an ``ofd:OFD`` with a ``DocBody`` whose ``DocRoot`` names an
  ``ofd:Document`` inside the package.

Every refusal is :class:`signer.errors.InvalidOfd` (code ``invalid_ofd``) with a message
that says what is wrong with the package; none quotes the document's text.

Paths inside the package (``ST_Loc``, §7.2) are resolved by :meth:`OfdPackage.resolve`:
absolute from the package root when they start with ``/``, else relative to the directory of
the file that names them.  Package names are returned without a leading ``/``
(``Doc_0/Document.xml``); a path that climbs above the root is refused.
"""

from __future__ import annotations

import io
import re
import zipfile
import zlib
from collections.abc import Iterator
from xml.etree.ElementTree import Element

import defusedxml
import defusedxml.ElementTree as safe_et

from ..errors import InvalidOfd
from ..xml_decl import parsable

__all__ = [
    "DEFAULT_MAX_FILES",
    "DEFAULT_MAX_RATIO",
    "DEFAULT_MAX_TOTAL",
    "OFD_NS",
    "RATIO_FLOOR",
    "OfdPackage",
    "is_ofd",
    "ofd_tag",
    "parse_xml",
    "read_package",
]

#: The namespace of every OFD element (GB/T 33190-2016, Annex A).
OFD_NS = "http://www.ofdspec.org/2016"

#: Largest sum of the members' uncompressed sizes, by default: far above any real contract or
#: invoice (a few MB), well below what would hurt the server.
DEFAULT_MAX_TOTAL = 256 * 1024 * 1024
#: Most members a package may hold, by default (a 500-page document has about 1 500).
DEFAULT_MAX_FILES = 10_000
#: Most the package may inflate to, as a multiple of its own size, once past RATIO_FLOOR.
#: OFD XML deflates about 5-20 times; a ZIP bomb about 1 000 times.
DEFAULT_MAX_RATIO = 200
#: Below this many uncompressed bytes the ratio is not checked: a small package of
#: repetitive XML may legitimately deflate well beyond DEFAULT_MAX_RATIO.
RATIO_FLOOR = 4 * 1024 * 1024

_CHUNK = 64 * 1024
_DRIVE = re.compile(r"^[A-Za-z]:")
_METHODS = (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED)


def ofd_tag(name: str) -> str:
    """The ElementTree tag of an OFD element: ``ofd_tag("Page")`` → ``{http://...}Page``."""
    return f"{{{OFD_NS}}}{name}"


def parse_xml(data: bytes, name: str) -> Element:
    """Parse one XML file of a package without DTDs, entities or external references.

    :raises InvalidOfd: the file is not well-formed XML or declares a DOCTYPE or entities.
    """
    try:
        root: Element = safe_et.fromstring(
            parsable(data), forbid_dtd=True, forbid_entities=True, forbid_external=True
        )
    except defusedxml.DefusedXmlException as ex:
        raise InvalidOfd(
            f"{name} declares a DOCTYPE, entities or external references, which an OFD "
            "package may not use"
        ) from ex
    except safe_et.ParseError as ex:
        raise InvalidOfd(f"{name} is not well-formed XML ({ex})") from ex
    except ValueError as ex:  # an encoding nobody can read, or bytes not in the declared one
        raise InvalidOfd(f"{name} cannot be decoded ({type(ex).__name__})") from ex
    return root


def _check_member_name(name: str) -> None:
    if not name or "\\" in name or "\x00" in name or name.startswith("/") or _DRIVE.match(name):
        raise InvalidOfd(f"the package holds a file with an unsafe path {name!r}")
    parts = name.rstrip("/").split("/")
    if any(part in ("", ".", "..") for part in parts):
        raise InvalidOfd(f"the package holds a file with an unsafe path {name!r}")


class _Budget:
    """Counts the bytes inflated so far against the package's limits."""

    def __init__(self, size: int, max_total: int, max_ratio: float) -> None:
        self.size = size
        self.max_total = max_total
        self.max_ratio = max_ratio
        self.total = 0

    def take(self, count: int) -> None:
        self.total += count
        if self.total > self.max_total:
            raise InvalidOfd(
                f"the package inflates to more than {self.max_total} bytes, the limit for an "
                "OFD document"
            )
        if self.total > RATIO_FLOOR and self.total > self.max_ratio * self.size:
            raise InvalidOfd(
                f"the package inflates to more than {self.max_ratio:g} times its size: "
                "refused as a ZIP bomb"
            )


def _read_members(
    data: bytes, *, max_total: int, max_files: int, max_ratio: float
) -> dict[str, bytes]:
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, OSError, EOFError) as ex:
        raise InvalidOfd("the file is not an OFD package: it is not a readable ZIP archive") from ex
    with archive:
        infos = archive.infolist()
        if len(infos) > max_files:
            raise InvalidOfd(f"the package holds more than {max_files} files")
        files: dict[str, bytes] = {}
        folded: set[str] = set()
        budget = _Budget(len(data), max_total, max_ratio)
        for info in infos:
            name = info.filename
            _check_member_name(name)
            if name.casefold() in folded:
                raise InvalidOfd(f"the package holds the file {name!r} twice")
            folded.add(name.casefold())
            if info.is_dir():
                continue
            if info.flag_bits & 0x1:
                raise InvalidOfd(f"the package's file {name!r} is encrypted")
            if info.compress_type not in _METHODS:
                raise InvalidOfd(
                    f"the package's file {name!r} uses a compression other than deflate"
                )
            files[name] = _read_member(archive, info, budget)
    return files


def _read_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo, budget: _Budget) -> bytes:
    chunks: list[bytes] = []
    try:
        with archive.open(info) as stream:
            while chunk := stream.read(_CHUNK):
                budget.take(len(chunk))
                chunks.append(chunk)
    except InvalidOfd:
        raise
    except (
        zipfile.BadZipFile,
        zlib.error,
        EOFError,
        OSError,
        ValueError,
        NotImplementedError,
        RuntimeError,
    ) as ex:
        raise InvalidOfd(
            f"the package's file {info.filename!r} is damaged and cannot be inflated"
        ) from ex
    return b"".join(chunks)


class OfdPackage:
    """The files of an OFD package, read and checked by :func:`read_package`.

    Names are package paths without a leading ``/``, in the archive's order.  The package is
    immutable: sealing builds a new one (:mod:`signer.ofd.seal`).
    """

    __slots__ = ("_files", "doc_root", "signatures", "total_size")

    def __init__(self, files: dict[str, bytes]) -> None:
        self._files = dict(files)
        #: sum of the members' uncompressed sizes
        self.total_size = sum(len(v) for v in self._files.values())
        if "OFD.xml" not in self._files:
            raise InvalidOfd("the package has no OFD.xml, the entry point of an OFD document")
        root = self.xml("OFD.xml")
        if root.tag != ofd_tag("OFD"):
            raise InvalidOfd("OFD.xml is not an ofd:OFD document of GB/T 33190")
        body = root.find(ofd_tag("DocBody"))
        if body is None:
            raise InvalidOfd("OFD.xml has no DocBody")
        doc_root = (body.findtext(ofd_tag("DocRoot")) or "").strip()
        if not doc_root:
            raise InvalidOfd("OFD.xml's DocBody has no DocRoot")
        #: the ``Document.xml`` of the first ``DocBody`` (the document every reader shows)
        self.doc_root = self.resolve(doc_root, "OFD.xml")
        if self.doc_root not in self._files:
            raise InvalidOfd("the document that OFD.xml's DocRoot names is not in the package")
        if self.xml(self.doc_root).tag != ofd_tag("Document"):
            raise InvalidOfd("the file that OFD.xml's DocRoot names is not an ofd:Document")
        signatures = (body.findtext(ofd_tag("Signatures")) or "").strip()
        #: the ``Signatures.xml`` that the first ``DocBody`` names, if any (it may be missing
        #: from the package: the verifier reports that)
        self.signatures: str | None = self.resolve(signatures, "OFD.xml") if signatures else None

    @property
    def names(self) -> tuple[str, ...]:
        """Every file of the package (directories left out), in archive order."""
        return tuple(self._files)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lstrip("/") in self._files

    def __iter__(self) -> Iterator[str]:
        return iter(self._files)

    def __len__(self) -> int:
        return len(self._files)

    def read(self, name: str) -> bytes:
        """The bytes of a file, by package name (a leading ``/`` is allowed).

        :raises InvalidOfd: the package has no such file.
        """
        key = name.lstrip("/")
        try:
            return self._files[key]
        except KeyError:
            raise InvalidOfd(f"the package has no file {key!r}, which it refers to") from None

    def xml(self, name: str) -> Element:
        """A file parsed as XML (freshly each call, so callers may change the tree).

        :raises InvalidOfd: no such file, not well-formed, or with a DOCTYPE or entities.
        """
        return parse_xml(self.read(name), name.lstrip("/"))

    def resolve(self, loc: str, base: str | None = None) -> str:
        """The package name that ``loc`` (an ``ST_Loc``) points at.

        ``base`` is the package name of the file in which ``loc`` is written: a relative
        ``loc`` is taken from that file's directory (from the root when ``base`` is
        ``None``); an absolute one (``/Doc_0/...``) from the package root.  The file need
        not exist (see :meth:`locate`).

        :raises InvalidOfd: an empty path, a backslash, or a path that climbs above the root.
        """
        text = loc.strip()
        if not text or "\\" in text or "\x00" in text:
            raise InvalidOfd(f"the package refers to a file by an unusable path {loc!r}")
        if text.startswith("/"):
            stack: list[str] = []
        else:
            stack = base.lstrip("/").split("/")[:-1] if base else []
        for part in text.split("/"):
            if part in ("", "."):
                continue
            if part == "..":
                if not stack:
                    raise InvalidOfd(f"the path {loc!r} leads out of the package")
                stack.pop()
            else:
                stack.append(part)
        if not stack:
            raise InvalidOfd(f"the package refers to a file by an unusable path {loc!r}")
        return "/".join(stack)

    def locate(self, loc: str, base: str | None = None) -> str | None:
        """Like :meth:`resolve`, for a file that must exist: its name, or ``None``.

        One named leniency: some producers write a relative path from the package root even
        in a file below it (``Doc_0/Pages/Page_0/Content.xml`` inside ``Doc_0/Document.xml``);
        when the path does not exist relative to ``base`` but does from the root, the root's
        file is taken.
        """
        name = self.resolve(loc, base)
        if name in self._files:
            return name
        if base is not None and not loc.strip().startswith("/"):
            from_root = self.resolve(loc)
            if from_root in self._files:
                return from_root
        return None


def read_package(
    data: bytes,
    *,
    max_total: int = DEFAULT_MAX_TOTAL,
    max_files: int = DEFAULT_MAX_FILES,
    max_ratio: float = DEFAULT_MAX_RATIO,
) -> OfdPackage:
    """Read and check an OFD package (see the module's docstring for every check).

    :raises InvalidOfd: anything that makes the upload not a safely readable OFD document.
    """
    if not isinstance(data, bytes | bytearray | memoryview):
        raise TypeError("read_package takes the file's bytes")
    data = bytes(data)
    if max_total <= 0 or max_files <= 0 or max_ratio <= 0:
        raise ValueError("the package limits must be positive")
    if not data.startswith(b"PK"):
        raise InvalidOfd("the file is not an OFD package: it is not a ZIP archive")
    files = _read_members(data, max_total=max_total, max_files=max_files, max_ratio=max_ratio)
    return OfdPackage(files)


def is_ofd(data: bytes) -> bool:
    """Whether ``data`` is an OFD document, by content: a ZIP archive holding an ``OFD.xml``
    whose root element is ``ofd:OFD``.  Never raises; reads only ``OFD.xml`` (up to 1 MB)."""
    if not isinstance(data, bytes | bytearray | memoryview) or bytes(data[:4]) != b"PK\x03\x04":
        return False
    try:
        with zipfile.ZipFile(io.BytesIO(bytes(data))) as archive:
            info = archive.getinfo("OFD.xml")
            if info.file_size > 1024 * 1024 or info.compress_type not in _METHODS:
                return False
            with archive.open(info) as stream:
                head = stream.read(1024 * 1024 + 1)
        if len(head) > 1024 * 1024:
            return False
        return parse_xml(head, "OFD.xml").tag == ofd_tag("OFD")
    except (InvalidOfd, KeyError, zipfile.BadZipFile, zipfile.LargeZipFile, zlib.error):
        return False
    except (OSError, ValueError, EOFError, NotImplementedError, RuntimeError):
        return False
