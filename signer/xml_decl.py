"""The encoding an XML file declares, made readable for expat.

expat reads UTF-8, UTF-16, ISO-8859-1 and US-ASCII itself and no multi-byte encoding else;
Chinese producers of OFD and invoice files may declare ``GBK``, ``GB2312`` or ``GB18030``
(Java and .NET parsers read them).  :func:`parsable` hands such a file to the parser as text
decoded with Python's codec of that name, so it reads as it was written; the bytes the
signatures protect are not touched.  A name no codec knows, or bytes that are not in the
declared encoding, raise :class:`ValueError`, which the callers turn into their 4xx error.
"""

from __future__ import annotations

import codecs
import re

__all__ = ["parsable"]

_DECLARATION = re.compile(rb"""^\s*<\?xml[^>]*?encoding\s*=\s*["']([A-Za-z0-9._-]{1,40})["']""")
#: what expat decodes on its own
_NATIVE = {"utf_8", "utf_16", "utf_16_le", "utf_16_be", "latin_1", "ascii"}


def parsable(data: bytes) -> bytes | str:
    """``data`` itself, or decoded text when it declares an encoding expat lacks.

    :raises ValueError: the declared encoding is unknown, or the bytes are not in it.
    """
    match = _DECLARATION.match(data[:200])
    if match is None:
        return data
    name = match.group(1).decode("ascii")
    try:
        codec = codecs.lookup(name).name.replace("-", "_")
    except LookupError:
        raise ValueError(f"the XML declares an unknown encoding {name!r}") from None
    if codec in _NATIVE:
        return data
    text = data.decode(codec)  # UnicodeDecodeError is a ValueError
    # the declaration stays: a str fed to expat is read as the text it is
    return text
