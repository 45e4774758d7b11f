"""Regenerate the example contracts the README uses (run from the repository root):

    .venv/bin/python examples/make_examples.py

``contract.pdf``: a two-page purchase contract in Chinese (the signing block, 甲方（盖章） and
乙方（盖章）, on page 2), for sealing by keyword with a cross-page seal; ``contract-1page.pdf``:
the same on one page (a cross-page seal needs two pages, so it is refused there).  The text is
in Noto Sans CJK SC (Debian's ``fonts-noto-cjk``), embedded as a CID font, as contract
generators write it.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent / "tests")]

from pdfs import cjk_contract, extract_cjk_face  # noqa: E402


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        font = extract_cjk_face(Path(tmp))
        (HERE / "contract.pdf").write_bytes(cjk_contract(font, pages=2))
        (HERE / "contract-1page.pdf").write_bytes(cjk_contract(font, pages=1))


if __name__ == "__main__":
    main()
