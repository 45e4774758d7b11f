"""The direct scan for object headers finds exactly what the regular expression it replaced
found (the rule a viewer's cross-reference rebuild follows), on made-up and real files."""

from __future__ import annotations

import random
import re
from pathlib import Path

import pytest

from pdfs import simple_pdf
from signer.changes import object_headers

#: the regular expression the scan replaced: the reference definition of a header
_REFERENCE = re.compile(
    rb"(?:\A|(?<=[\r\n]))[ \t\f\x00]*(\d{1,10})[ \t\f\r\n\x00]+(\d{1,5})[ \t\f\r\n\x00]+obj"
    rb"(?![A-Za-z0-9])"
)
_CORPUS = Path(__file__).resolve().parent.parent / "fuzz" / "corpus"


def _reference(pdf: bytes) -> list[tuple[int, int]]:
    return [(m.start(0), m.start(1)) for m in _REFERENCE.finditer(pdf)]


_PIECES = [
    b"obj",
    b"endobj",
    b"objx",
    b"obj1",
    b"1",
    b"12",
    b"0",
    b"12345",
    b"123456",
    b"1234567890",
    b"12345678901",
    b" ",
    b"  ",
    b"\t",
    b"\f",
    b"\x00",
    b"\r",
    b"\n",
    b"\r\n",
    b"x",
    b"%",
    b"<<",
    b">>",
    b"stream",
]


@pytest.mark.parametrize("seed", range(40))
def test_random_token_soup(seed: int) -> None:
    rng = random.Random(seed)
    for _ in range(50):
        data = b"".join(rng.choice(_PIECES) for _ in range(rng.randint(0, 60)))
        assert object_headers(data) == _reference(data), data


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"obj",
        b"1 0 obj",
        b"  1 0 obj",
        b"\n1 0 obj",
        b"x\n \t1\n0\r\nobj<<>>",
        b"x 1 0 obj",
        b"1 0 objx\n2 0 obj",
        b"12345678901 0 obj",
        b"1 123456 obj",
        b"1 12345 obj\r2 0 obj\n",
        b"1 0obj",
        b"10 obj",
        b"\n\n\x00 7 0 obj",
        b"1 0 endobj\n3 0 obj",
    ],
)
def test_edge_cases(data: bytes) -> None:
    assert object_headers(data) == _reference(data)


def test_real_and_hostile_files() -> None:
    files = [simple_pdf(1), simple_pdf(30)] + [p.read_bytes() for p in _CORPUS.glob("*.pdf")]
    assert len(files) > 3
    for data in files:
        assert object_headers(data) == _reference(data)
    assert object_headers(simple_pdf(1))  # a real file has headers
