"""The faster token readers and the name writer do exactly what pyHanko's own do.

Each replacement is run beside pyHanko's original on the same generated input: the value
returned (or the error raised), where the stream is left, and what is written must match.
"""

from __future__ import annotations

import io
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pyhanko.pdf_utils import generic

from signer.speedups import (
    ORIGINAL_DECODE_NAME,
    ORIGINAL_READ_NON_WHITESPACE,
    ORIGINAL_READ_UNTIL_DELIMITER,
    ORIGINAL_WRITE_NAME,
    decode_name,
    read_non_whitespace,
    read_until_delimiter,
    write_name,
)

#: bytes that matter to the readers: white space, delimiters, comment marks, line ends
PDF_BYTES = st.binary(max_size=200) | st.lists(
    st.sampled_from(
        [
            *(b" ", b"\n", b"\r", b"\r\n", b"\t", b"\x00", b"\x0c", b"%", b"% c\n", b"/"),
            *(b"(", b")", b"<", b">", b"[", b"]", b"{", b"}", b"a", b"Tf", b"1", b"#", b"\xe4"),
            b"\x0b",
        ]
    ),
    max_size=150,
).map(b"".join)


def _run(function: Any, data: bytes, start: int, **kwargs: Any) -> tuple[object, ...]:
    stream = io.BytesIO(data)
    stream.seek(min(start, len(data)))
    try:
        value = function(stream, **kwargs)
    except Exception as exc:
        return ("error", type(exc).__name__, str(exc), stream.tell())
    return ("ok", value, stream.tell())


@settings(max_examples=1500, deadline=None, derandomize=True)
@given(PDF_BYTES, st.integers(0, 40), st.booleans(), st.booleans())
def test_read_non_whitespace(data: bytes, start: int, seek_back: bool, allow_eof: bool) -> None:
    kwargs = {"seek_back": seek_back, "allow_eof": allow_eof}
    assert _run(read_non_whitespace, data, start, **kwargs) == _run(
        ORIGINAL_READ_NON_WHITESPACE, data, start, **kwargs
    )


@settings(max_examples=1500, deadline=None, derandomize=True)
@given(PDF_BYTES, st.integers(0, 40))
def test_read_until_delimiter(data: bytes, start: int) -> None:
    assert _run(read_until_delimiter, data, start) == _run(
        ORIGINAL_READ_UNTIL_DELIMITER, data, start
    )


def test_long_runs_cross_the_read_chunks() -> None:
    for data in (b" " * 1000 + b"x", b"\n" * 130 + b"%c\n" * 70 + b"/Name", b"a" * 999 + b" "):
        for start in (0, 1, 63, 64, 65):
            for seek_back in (False, True):
                assert _run(read_non_whitespace, data, start, seek_back=seek_back) == _run(
                    ORIGINAL_READ_NON_WHITESPACE, data, start, seek_back=seek_back
                )
            assert _run(read_until_delimiter, data, start) == _run(
                ORIGINAL_READ_UNTIL_DELIMITER, data, start
            )


def _write(function: Any, name: str) -> tuple[object, ...]:
    out = io.BytesIO()
    try:
        function(generic.NameObject(name), out)
    except BaseException as exc:  # the original raises StopIteration on an empty name
        return ("error", type(exc).__name__, str(exc), out.getvalue())
    return ("ok", out.getvalue())


@settings(max_examples=1500, deadline=None, derandomize=True)
@given(st.text(max_size=30) | st.text(max_size=30).map(lambda t: "/" + t))
def test_write_name(name: str) -> None:
    assert _write(write_name, name) == _write(ORIGINAL_WRITE_NAME, name)
    assert _write(write_name, name) == _write(ORIGINAL_WRITE_NAME, name)  # remembered


def _decode(function: Any, raw: bytes) -> tuple[object, ...]:
    try:
        value = function(raw)
    except Exception as exc:
        return ("error", type(exc).__name__, str(exc))
    return ("ok", type(value), str(value))


@settings(max_examples=1500, deadline=None, derandomize=True)
@given(
    st.binary(max_size=20)
    | st.lists(st.sampled_from([b"A", b"#20", b"#2", b"#zz", b"#E4", b"\xe4", b"."])).map(b"".join)
)
def test_decode_name(raw: bytes) -> None:
    assert _decode(decode_name, raw) == _decode(ORIGINAL_DECODE_NAME, raw)
    assert _decode(decode_name, raw) == _decode(ORIGINAL_DECODE_NAME, raw)  # remembered


def test_decoded_names_are_fresh_objects() -> None:
    first, second = decode_name(b"Type"), decode_name(b"Type")
    assert first == second == "/Type" and first is not second
    assert isinstance(first, generic.NameObject)


@pytest.mark.parametrize(
    "data",
    [
        b"<< /Type /Page /MediaBox [0 0 595 842] /Resources << /Font << /F1 4 0 R >> >> >>",
        b"<</A#20B (x)/C[1 2.5 -3]/D<</E true/F null>>>>",
        b"<< % comment\n /K /V\r\n>>",
        b"[ /a#2Fb /c ]",
    ],
)
def test_objects_read_as_before(data: bytes) -> None:
    """Whole objects through pyHanko's reader with the replacements installed and without."""
    from pyhanko.pdf_utils import misc

    def read() -> object:
        stream = io.BytesIO(data)
        return generic.read_object(stream, generic.TrailerReference(None))  # type: ignore[arg-type]

    fast = read()
    saved = (generic.read_non_whitespace, generic.read_until_delimiter, generic._decode_name)
    try:
        generic.read_non_whitespace = ORIGINAL_READ_NON_WHITESPACE  # type: ignore[assignment]
        generic.read_until_delimiter = ORIGINAL_READ_UNTIL_DELIMITER  # type: ignore[assignment]
        generic._decode_name = ORIGINAL_DECODE_NAME
        misc.read_non_whitespace = ORIGINAL_READ_NON_WHITESPACE
        slow = read()
    finally:
        generic.read_non_whitespace, generic.read_until_delimiter, generic._decode_name = saved
        misc.read_non_whitespace = saved[0]
    assert fast == slow
