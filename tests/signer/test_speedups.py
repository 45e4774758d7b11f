"""The fast hex-string reader accepts and refuses exactly what pyHanko's own does."""

from __future__ import annotations

import io

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from signer.speedups import ORIGINAL_READ_HEX, read_hex_string_from_stream

TAIL = b" /Next 1 0 R"


def _both(data: bytes) -> tuple[object, object]:
    out = []
    for reader in (ORIGINAL_READ_HEX, read_hex_string_from_stream):
        stream = io.BytesIO(data)
        try:
            value = reader(stream)
            out.append(
                (
                    "ok",
                    bytes(value.original_bytes if hasattr(value, "original_bytes") else value),
                    stream.read(),
                )
            )
        except Exception as exc:
            out.append(("error", type(exc).__name__, None))
    return out[0], out[1]


@settings(max_examples=300, deadline=None, derandomize=True)
@given(st.binary(max_size=64), st.sampled_from([b"", b" ", b"\n", b"\r\n\t"]))
def test_same_as_pyhanko_on_hex(raw: bytes, space: bytes) -> None:
    body = space.join(raw.hex().encode()[i : i + 2] for i in range(0, len(raw) * 2, 2))
    a, b = _both(b"<" + body + b">" + TAIL)
    assert a == b


@settings(max_examples=300, deadline=None, derandomize=True)
@given(st.binary(max_size=40))
def test_same_as_pyhanko_on_garbage(body: bytes) -> None:
    a, b = _both(b"<" + body + b">" + TAIL)
    assert a[0] == b[0]
    if a[0] == "ok":
        assert a == b


@pytest.mark.parametrize(
    "data", [b"<41424>", b"<4 1 4 2>", b"<>", b"<4142", b"<41zz>", b"<%\n>", b"<41%>\n42>", b"<41%"]
)
def test_edge_cases(data: bytes) -> None:
    a, b = _both(data + TAIL)
    assert a[0] == b[0] and (a[0] == "error" or a == b)


def test_a_signature_sized_string() -> None:
    data = b"<" + b"ab" * 16384 + b">" + TAIL
    a, b = _both(data)
    assert a == b and a[0] == "ok" and a[1] == b"\xab" * 16384
