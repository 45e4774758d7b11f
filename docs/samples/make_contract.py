"""Seal a three-page Chinese contract the way a contract system would, and show it.

    .venv/bin/python docs/samples/make_contract.py

Writes ``contract-signed.pdf`` (B-LTA: contract seal on 甲方（盖章）, the legal
representative's seal beside it, and a cross-page seal over all pages), ``contract.png``
(the pages rendered by poppler's pdftoppm), and ``evidence.txt`` (what pdfsig, endesive and
``openssl ts -verify`` say about the file) into this folder.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from PIL import Image  # noqa: E402
from pyhanko.pdf_utils.reader import PdfFileReader  # noqa: E402

from api.container import build, initialise  # noqa: E402
from api.settings import Settings  # noqa: E402
from pdfs import cjk_contract, extract_cjk_face  # noqa: E402
from seals.kinds import SealKind  # noqa: E402
from seals.license import parse_license  # noqa: E402
from signer.keyword import find_keyword  # noqa: E402
from signer.levels import PadesLevel  # noqa: E402
from signer.placement import AtKeyword, AtPoint, CrossPage  # noqa: E402
from signer.service import DocumentType, SealingOptions, SealOrder  # noqa: E402


def run(*cmd: str) -> str:
    out = subprocess.run(cmd, capture_output=True, text=True)
    return (out.stdout + out.stderr).strip()


async def main() -> None:
    work = Path(tempfile.mkdtemp())
    settings = Settings(data_dir=work / "data")
    initialise(settings)
    c = build(settings)
    import json

    license = parse_license(json.loads((ROOT / "examples" / "license.json").read_text()))
    c.seals.register(license)
    pdf = cjk_contract(extract_cjk_face(work), pages=3)
    (hit,) = find_keyword(pdf, "甲方（盖章）")
    cx, cy = hit.center
    options = SealingOptions(
        seals=[
            SealOrder(SealKind.CONTRACT, AtKeyword("甲方（盖章）")),
            SealOrder(SealKind.LEGAL_REP, AtPoint(page=hit.page, x=cx + 110, y=cy)),
            SealOrder(SealKind.CONTRACT, CrossPage()),
        ],
        document_type=DocumentType.CONTRACT,
        level=PadesLevel.B_LTA,
        reason="合同签署",
        location="北京",
    )
    signed, _ = await c.sealing.seal(license.uscc, pdf, options)
    out = HERE / "contract-signed.pdf"
    out.write_bytes(signed)

    run("pdftoppm", "-r", "45", "-png", str(out), str(work / "page"))
    pages = [Image.open(p) for p in sorted(work.glob("page-*.png"))]
    sheet = Image.new(
        "RGB",
        (sum(p.width for p in pages) + 10 * (len(pages) + 1), max(p.height for p in pages) + 20),
        (120, 120, 120),
    )
    x = 10
    for p in pages:
        sheet.paste(p, (x, 10))
        x += p.width + 10
    sheet.save(HERE / "contract.png", optimize=True)

    pki = settings.pki_dir
    evidence = [f"$ pdfsig contract-signed.pdf\n{run('pdfsig', str(out))}"]
    evidence.append(
        "$ python tests/endesive_verify.py contract-signed.pdf root.pem issuing.pem\n"
        + run(
            sys.executable,
            str(ROOT / "tests" / "endesive_verify.py"),
            str(out),
            str(pki / "root.pem"),
            str(pki / "issuing.pem"),
        )
    )
    sig = PdfFileReader(io.BytesIO(signed), strict=False).embedded_signatures[0]
    token = next(
        a["values"][0]
        for a in sig.signer_info["unsigned_attrs"]
        if a["type"].native == "signature_time_stamp_token"
    )
    (work / "token.der").write_bytes(token.dump())
    (work / "chain.pem").write_bytes(
        (pki / "tsa.pem").read_bytes() + (pki / "issuing.pem").read_bytes()
    )
    imprint = hashlib.sha256(sig.signer_info["signature"].native).hexdigest()
    evidence.append(
        "$ openssl ts -verify -token_in -in token.der -digest <sha256 of signature 1> "
        "-CAfile root.pem -untrusted tsa+issuing.pem\n"
        + run(
            "openssl",
            "ts",
            "-verify",
            "-token_in",
            "-in",
            str(work / "token.der"),
            "-digest",
            imprint,
            "-CAfile",
            str(pki / "root.pem"),
            "-untrusted",
            str(work / "chain.pem"),
        )
    )
    evidence.append(f"$ qpdf --check contract-signed.pdf\n{run('qpdf', '--check', str(out))}")
    report = await c.verifier.verify(signed, license.uscc)
    evidence.append(
        "$ eseal verify contract-signed.pdf --expect-uscc 91110108551385082Q\n"
        f"valid: {report['valid']}\n"
        + "\n".join(
            f"- {s['field']}: valid={s['valid']} integrity={s['integrity']} level={s.get('level')}"
            for s in report["signatures"]
        )
    )
    text = "\n\n".join(evidence) + "\n"
    for path, name in (
        (str(work), "<tmp>"),
        (str(HERE) + "/", ""),
        (str(ROOT) + "/", ""),
        ("/usr/lib/ssl/openssl.cnf", "the system openssl.cnf"),
    ):
        text = text.replace(path, name)  # no machine paths in the committed evidence
    (HERE / "evidence.txt").write_text(text, encoding="utf-8")
    c.close()


if __name__ == "__main__":
    asyncio.run(main())
