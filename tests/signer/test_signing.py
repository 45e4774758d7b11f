"""Sealing PDFs end to end: PAdES levels, independent verifiers, bad input.

Each signed file is checked by pyHanko's validator and by poppler's ``pdfsig``; timestamps
by ``openssl ts -verify``; structure by ``qpdf --check``.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from asn1crypto import pem
from asn1crypto import x509 as asn1_x509
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.validation import DocumentSecurityStore, async_validate_pdf_signature
from pyhanko_certvalidator import ValidationContext

from api.container import Container, build
from api.settings import Settings
from helpers import READY_TIMEOUT_S, USCC, license_data, require_tool
from keystore.base import KeyAlgorithm
from pdfs import simple_pdf
from seals.kinds import SealKind
from seals.license import parse_license
from signer.levels import PadesLevel
from signer.placement import AtPoint
from signer.service import DocumentType, SealingOptions, SealOrder


@pytest.fixture
def sealing(container: Container) -> Iterator[Container]:
    container.seals.register(parse_license(license_data()))
    yield container


@pytest.fixture(params=[KeyAlgorithm.EC_P256, KeyAlgorithm.RSA_2048], ids=["ecdsa", "rsa"])
def sealing_any_key(request: pytest.FixtureRequest, settings: Settings) -> Iterator[Container]:
    c = build(settings.model_copy(update={"key_algorithm": request.param}))
    c.seals.register(parse_license(license_data()))
    yield c
    c.close()


def endesive(path: Path, pki: Path) -> list[dict[str, object]]:
    """endesive's verifier, in a subprocess (see tests/endesive_verify.py)."""
    out = subprocess.run(
        [
            sys.executable,
            str(Path(__file__).parent.parent / "endesive_verify.py"),
            str(path),
            str(pki / "root.pem"),
            str(pki / "issuing.pem"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    return [json.loads(line) for line in out.stdout.splitlines()]


def _root(c: Container) -> asn1_x509.Certificate:
    der = pem.unarmor((c.settings.pki_dir / "root.pem").read_bytes())[2]
    return asn1_x509.Certificate.load(der)


def offline_context(reader: PdfFileReader, root: asn1_x509.Certificate) -> ValidationContext:
    """Only what the file carries: DSS data, no fetching, hard-fail revocation checking."""
    return DocumentSecurityStore.read_dss(reader).as_validation_context(
        {"trust_roots": [root], "allow_fetching": False, "revocation_mode": "hard-fail"}
    )


def pdfsig(path: Path) -> list[str]:
    require_tool("pdfsig")
    out = subprocess.run(["pdfsig", str(path)], capture_output=True, text=True, timeout=60)
    blocks = re.split(r"^Signature #\d+:$", out.stdout, flags=re.M)[1:]
    return blocks


async def _seal(
    c: Container,
    pdf: bytes,
    level: PadesLevel,
    kinds: tuple[SealKind, ...] = (SealKind.CONTRACT, SealKind.LEGAL_REP),
) -> bytes:
    out, used = await c.sealing.seal(
        USCC, pdf, SealingOptions(seals=[SealOrder(k) for k in kinds], level=level)
    )
    assert [s.kind for s in used] == list(kinds)
    return out


@pytest.mark.slow
@pytest.mark.parametrize("level", list(PadesLevel))
async def test_every_level_validates_in_pyhanko_poppler_and_endesive(
    sealing_any_key: Container, level: PadesLevel, tmp_path: Path
) -> None:
    require_tool("pdfsig", "qpdf")
    sealing = sealing_any_key
    signed = await _seal(sealing, simple_pdf(2), level)
    path = tmp_path / "signed.pdf"
    path.write_bytes(signed)
    reader = PdfFileReader(io.BytesIO(signed), strict=False)
    sigs = reader.embedded_signatures
    seals = [s for s in sigs if s.sig_object.get("/Type") == "/Sig"]
    assert len(seals) == 2
    doc_ts = [s for s in sigs if s.sig_object.get("/Type") == "/DocTimeStamp"]
    assert len(doc_ts) == (1 if level is PadesLevel.B_LTA else 0)
    root = _root(sealing)
    for sig in seals:
        if level >= PadesLevel.B_LT:
            # offline, hard-fail revocation checking: the file carries what it needs
            status = await async_validate_pdf_signature(sig, offline_context(reader, root))
        else:
            status = await async_validate_pdf_signature(sig, ValidationContext(trust_roots=[root]))
        assert status.intact and status.valid and status.trusted, status.pretty_print_details()
        assert (status.timestamp_validity is not None) == (level >= PadesLevel.B_T)
        if status.timestamp_validity is not None:
            assert status.timestamp_validity.intact and status.timestamp_validity.trusted
    if level >= PadesLevel.B_LT:
        assert "/DSS" in reader.root
    blocks = pdfsig(path)
    assert len(blocks) == len(sigs)
    for block in blocks[: len(seals)]:
        assert "Signature Validation: Signature is Valid." in block, block
        assert "Signature Type: ETSI.CAdES.detached" in block
    assert "合同专用章" in blocks[0] and "91110108551385082Q" in blocks[0]
    results = endesive(path, sealing.settings.pki_dir)
    assert [r["kind"] for r in results] == ["signature"] * 2 + ["timestamp"] * len(doc_ts)
    for r in results[:2]:
        assert r["hash_ok"] is True and r["signature_ok"] is True and r["cert_ok"] is True, r
    check = subprocess.run(["qpdf", "--check", str(path)], capture_output=True, text=True)
    assert check.returncode == 0 and "No syntax or stream encoding errors" in check.stdout


async def test_timestamp_token_verifies_with_openssl(sealing: Container, tmp_path: Path) -> None:
    require_tool("openssl")
    signed = await _seal(sealing, simple_pdf(1), PadesLevel.B_T, (SealKind.OFFICIAL,))
    sig = PdfFileReader(io.BytesIO(signed), strict=False).embedded_signatures[0]
    attrs = sig.signer_info["unsigned_attrs"]
    token = next(a["values"][0] for a in attrs if a["type"].native == "signature_time_stamp_token")
    (tmp_path / "token.der").write_bytes(token.dump())
    imprint = hashlib.sha256(sig.signer_info["signature"].native).hexdigest()
    pki = sealing.settings.pki_dir
    (tmp_path / "chain.pem").write_bytes(
        (pki / "tsa.pem").read_bytes() + (pki / "issuing.pem").read_bytes()
    )
    out = subprocess.run(
        [
            "openssl",
            "ts",
            "-verify",
            "-token_in",
            "-in",
            str(tmp_path / "token.der"),
            "-digest",
            imprint,
            "-CAfile",
            str(pki / "root.pem"),
            "-untrusted",
            str(tmp_path / "chain.pem"),
        ],
        capture_output=True,
        text=True,
    )
    assert "Verification: OK" in out.stdout, out.stdout + out.stderr


@pytest.mark.slow
async def test_extend_b_t_to_lt_and_lta(sealing: Container) -> None:
    signed = await _seal(sealing, simple_pdf(1), PadesLevel.B_T, (SealKind.CONTRACT,))
    signer = sealing.sealing.document_signer
    lt = await signer.extend(signed, PadesLevel.B_LT)
    lta = await signer.extend(lt, PadesLevel.B_LTA)
    assert lt.startswith(signed) and lta.startswith(lt)  # incremental: nothing rewritten
    reader = PdfFileReader(io.BytesIO(lta), strict=False)
    assert "/DSS" in reader.root
    assert [s.sig_object["/Type"] for s in reader.embedded_signatures] == ["/Sig", "/DocTimeStamp"]
    status = await async_validate_pdf_signature(
        reader.embedded_signatures[0], offline_context(reader, _root(sealing))
    )
    assert status.intact and status.valid and status.trusted


async def test_unreachable_tsa_fails_and_never_downgrades(sealing: Container) -> None:
    from pyhanko.sign.timestamps import HTTPTimeStamper

    from signer.core import DocumentSigner, SignRequest

    dead = DocumentSigner(sealing.revocation, HTTPTimeStamper("http://127.0.0.1:9/tsa", timeout=2))
    app = sealing.sealing.plan(USCC, SealingOptions(seals=[SealOrder(SealKind.CONTRACT)]))[0][1]
    with pytest.raises(Exception) as info:
        await dead.sign(simple_pdf(1), [app], SignRequest(level=PadesLevel.B_T))
    assert getattr(info.value, "code", None) == "tsa_unavailable"
    out = await dead.sign(simple_pdf(1), [app], SignRequest(level=PadesLevel.B_B))
    assert out.startswith(b"%PDF")  # B-B needs no TSA


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (b"hello, not a pdf", "invalid_pdf"),
        (b"", "invalid_pdf"),
        (None, "invalid_pdf"),  # truncated
    ],
)
async def test_bad_input_is_refused_with_a_code(
    sealing: Container, data: bytes | None, code: str
) -> None:
    if data is None:
        data = simple_pdf(1)[:200]
    with pytest.raises(Exception) as info:
        await sealing.sealing.seal(USCC, data, SealingOptions())
    assert getattr(info.value, "code", None) == code


async def test_page_out_of_range_and_inactive_seal(sealing: Container) -> None:
    with pytest.raises(Exception) as info:
        await sealing.sealing.seal(
            USCC,
            simple_pdf(1),
            SealingOptions(seals=[SealOrder(SealKind.CONTRACT, AtPoint(page=3, x=100, y=100))]),
        )
    assert getattr(info.value, "code", None) == "page_out_of_range"
    sealing.seals.suspend_seal(USCC, SealKind.CONTRACT, "audit")
    with pytest.raises(Exception) as info:
        await sealing.sealing.seal(
            USCC, simple_pdf(1), SealingOptions(seals=[SealOrder(SealKind.CONTRACT)])
        )
    assert getattr(info.value, "code", None) == "seal_suspended"


async def test_invoice_rules(sealing: Container) -> None:
    _, used = await sealing.sealing.seal(
        USCC, simple_pdf(1), SealingOptions(document_type=DocumentType.INVOICE)
    )
    assert [s.kind for s in used] == [SealKind.INVOICE]
    with pytest.raises(Exception) as info:
        await sealing.sealing.seal(
            USCC,
            simple_pdf(1),
            SealingOptions(
                document_type=DocumentType.CONTRACT, seals=[SealOrder(SealKind.INVOICE)]
            ),
        )
    assert getattr(info.value, "code", None) == "invoice_seal_on_contract"
    _, used = await sealing.sealing.seal(
        USCC,
        simple_pdf(1),
        SealingOptions(
            document_type=DocumentType.CONTRACT,
            seals=[SealOrder(SealKind.INVOICE)],
            allow_invoice_seal_on_contract=True,
        ),
    )
    assert [s.kind for s in used] == [SealKind.INVOICE]


async def test_external_tsa_by_url(sealing: Container) -> None:
    """ESEAL_TSA_URL: an RFC 3161 TSA over HTTP (our own, served on a loopback port)."""
    import asyncio as aio
    import http.server
    import threading

    from pyhanko.sign.timestamps import HTTPTimeStamper

    from signer.core import DocumentSigner, SignRequest

    tsa = sealing.tsa
    seen: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            seen.append(self.headers.get("Content-Type", ""))
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            reply = aio.run(tsa.respond(body))
            self.send_response(200)
            self.send_header("Content-Type", "application/timestamp-reply")
            self.send_header("Content-Length", str(len(reply)))
            self.end_headers()
            self.wfile.write(reply)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/tsa"
        external = DocumentSigner(sealing.revocation, HTTPTimeStamper(url, timeout=READY_TIMEOUT_S))
        app = sealing.sealing.plan(USCC, SealingOptions(seals=[SealOrder(SealKind.CONTRACT)]))
        out = await external.sign(simple_pdf(1), [app[0][1]], SignRequest(level=PadesLevel.B_T))
    finally:
        server.shutdown()
    assert seen == ["application/timestamp-query"]
    report = await sealing.verifier.verify(out, USCC)
    assert report["valid"] is True
    assert report["signatures"][0]["timestamp"]["valid"] is True
    assert report["signatures"][0]["level"] == "B-T"
