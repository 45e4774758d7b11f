"""Enterprise A seals a PDF, enterprise B seals the same PDF at B-LT or B-LTA.

A long-term file must carry the validation data of every signature in it, not only of the
last: B's sealing adds A's chain and A's OCSP responses to the DSS too, and the verifier does
not let a DSS that lacks one signature's data make that signature untrusted (for our own
certificates our responder is authoritative at the present).  A bank verifying the file
(``POST /v1/verify``), pyHanko's own validation on the file's DSS alone (offline) and poppler's
``pdfsig`` all find both seals valid.
"""

from __future__ import annotations

import asyncio
import io
import json
import re
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from asn1crypto import pem
from asn1crypto import x509 as asn1_x509
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.validation import DocumentSecurityStore, async_validate_pdf_signature

from helpers import OTHER_USCC, USCC, Api, require_tool
from pdfs import simple_pdf

pytestmark = pytest.mark.slow

A_SEAL = {"kind": "contract", "page": 1, "x": 150, "y": 150}
B_SEAL = {"kind": "contract", "page": 1, "x": 420, "y": 150}


def sign(api: Api, who: str, pdf: bytes, level: str, seal: dict[str, Any]) -> bytes:
    r = api.client.post(
        "/v1/sign",
        headers=api.headers(who),
        files={"file": ("c.pdf", pdf, "application/pdf")},
        data={"options": json.dumps({"seals": [seal], "level": level})},
    )
    assert r.status_code == 200, r.text
    return r.content


def verify(api: Api, pdf: bytes) -> dict[str, Any]:
    r = api.client.post(
        "/v1/verify",
        headers=api.headers("verifier"),
        files={"file": ("c.pdf", pdf, "application/pdf")},
    )
    assert r.status_code == 200, r.text
    report: dict[str, Any] = r.json()
    return report


def root_cert(api: Api) -> asn1_x509.Certificate:
    der = pem.unarmor((api.container.settings.pki_dir / "root.pem").read_bytes())[2]
    return asn1_x509.Certificate.load(der)


def pyhanko_trusted(api: Api, pdf: bytes) -> list[bool]:
    """pyHanko's verdict on each seal with our root and the file's DSS only, offline."""
    reader = PdfFileReader(io.BytesIO(pdf), strict=False)

    async def run() -> list[bool]:
        out = []
        for sig in reader.embedded_regular_signatures:
            context = DocumentSecurityStore.read_dss(reader).as_validation_context(
                {"trust_roots": [root_cert(api)], "allow_fetching": False}
            )
            status = await async_validate_pdf_signature(sig, context, context)
            out.append(bool(status.intact and status.valid and status.trusted))
        return out

    return asyncio.run(run())


def pdfsig(path: Path) -> list[str]:
    out = subprocess.run(["pdfsig", str(path)], capture_output=True, text=True, timeout=60)
    return re.split(r"^Signature #\d+:$", out.stdout, flags=re.M)[1:]


def seals_of(report: dict[str, Any]) -> list[dict[str, Any]]:
    return [s for s in report["signatures"] if s["type"] == "signature"]


def wait_past_timestamp(api: Api, pdf: bytes) -> None:
    """Until the first seal's timestamp (whole seconds, ±1 s) lies in the past: a revocation
    after that counts as after the signature."""
    stamped = datetime.fromisoformat(seals_of(verify(api, pdf))[0]["timestamp"]["time"])
    wait = (stamped + timedelta(seconds=1.05) - datetime.now(UTC)).total_seconds()
    if wait > 0:
        asyncio.run(asyncio.sleep(wait))


@pytest.mark.parametrize("b_level", ["B-LT", "B-LTA"])
@pytest.mark.parametrize("a_level", ["B-B", "B-T", "B-LT"])
def test_counter_seal_at_a_long_term_level_keeps_both_seals_valid(
    api: Api, a_level: str, b_level: str, tmp_path: Path
) -> None:
    first = sign(api, "own", simple_pdf(1), a_level, A_SEAL)
    both = sign(api, "other", first, b_level, B_SEAL)

    report = verify(api, both)
    a, b = seals_of(report)
    assert report["valid"] is True, report
    assert [a["enterprise"]["uscc"], b["enterprise"]["uscc"]] == [USCC, OTHER_USCC]
    for entry in (a, b):
        assert entry["trusted"] is True and entry["integrity"] == "ok", entry
        assert entry["problems"] == [], entry
    # the level of A's seal now reflects the validation data B's sealing embedded for it
    if a_level != "B-B":
        assert a["level"] == b["level"] == b_level
    assert b["level"] == b_level

    # pyHanko on the file alone: B wrote A's validation data as well
    assert pyhanko_trusted(api, both) == [True, True]

    require_tool("pdfsig")
    path = tmp_path / "both.pdf"
    path.write_bytes(both)
    blocks = pdfsig(path)
    assert len(blocks) >= 2
    for block in blocks[:2]:
        assert "Signature Validation: Signature is Valid." in block, block


def test_a_seal_revoked_before_the_counter_seal_stays_valid_by_its_timestamp(api: Api) -> None:
    """A seals at B-T, A's seal is revoked, B seals at B-LTA: A's seal is valid (its
    timestamp predates the revocation) with the revocation as a notice."""
    first = sign(api, "own", simple_pdf(1), "B-T", A_SEAL)
    wait_past_timestamp(api, first)
    r = api.client.post(
        f"/v1/enterprises/{USCC}/seals/contract/revoke",
        headers=api.headers("admin"),
        json={"reason": "印章遗失"},
    )
    assert r.status_code == 200, r.text

    both = sign(api, "other", first, "B-LTA", B_SEAL)
    report = verify(api, both)
    a, b = seals_of(report)
    assert report["valid"] is True, report
    assert a["trusted"] is True and a["revoked"]["revoked"] is True, a
    assert a["revoked"]["at_signing"] is False
    assert "seal_revoked_since_signing" in [n["code"] for n in report["notices"]]
    assert b["valid"] is True and b["level"] == "B-LTA"


def dss_for_last_seal_only(api: Api, pdf: bytes) -> bytes:
    """What eseal wrote before: a DSS with the last seal's OCSP response and the root's CRL,
    nothing for the earlier seals."""
    reader = PdfFileReader(io.BytesIO(pdf), strict=False)
    last = reader.embedded_regular_signatures[-1]
    revocation = api.container.revocation
    writer = IncrementalPdfFileWriter.from_reader(reader)
    DocumentSecurityStore.supply_dss_in_writer(
        writer,
        None,
        certs=[last.signer_cert, revocation.issuing],
        ocsps=[revocation.ocsp_for(last.signer_cert)],
        crls=[revocation.root_crl()],
    )
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def test_a_dss_without_the_first_seals_data_does_not_make_it_untrusted(api: Api) -> None:
    """The reader's side: another writer's (or an older eseal's) DSS lacks A's data; our
    responder establishes A's status at the present, so the bank still sees both valid."""
    first = sign(api, "own", simple_pdf(1), "B-T", A_SEAL)
    partial = dss_for_last_seal_only(api, sign(api, "other", first, "B-T", B_SEAL))
    # pyHanko on that DSS alone: A's certificate has no matching response
    assert pyhanko_trusted(api, partial) == [False, True]

    report = verify(api, partial)
    a, b = seals_of(report)
    assert report["valid"] is True, report
    assert a["trusted"] is True and a["problems"] == [] and a["level"] == "B-T", a
    assert b["trusted"] is True and b["level"] == "B-LT", b

    # eseal extend gives every signature its data: then pyHanko agrees on the file alone
    extended = api.client.post(
        "/v1/extend",
        headers=api.headers("other"),
        files={"file": ("c.pdf", partial, "application/pdf")},
        data={"level": "B-LTA"},
    )
    assert extended.status_code == 200, extended.text
    assert pyhanko_trusted(api, extended.content) == [True, True]
    assert verify(api, extended.content)["valid"] is True


def test_a_revoked_seal_in_a_dss_without_its_data_needs_extension(api: Api) -> None:
    """Pinned limit: past validation uses the embedded data only, so a seal revoked after its
    timestamp, in a file whose DSS has nothing for it, is not trusted; ``eseal extend``
    (which covers every signature) makes it valid again, with the revocation as a notice."""
    first = sign(api, "own", simple_pdf(1), "B-T", A_SEAL)
    partial = dss_for_last_seal_only(api, sign(api, "other", first, "B-T", B_SEAL))
    wait_past_timestamp(api, partial)
    r = api.client.post(
        f"/v1/enterprises/{USCC}/seals/contract/revoke",
        headers=api.headers("admin"),
        json={"reason": "印章遗失"},
    )
    assert r.status_code == 200, r.text

    a, _ = seals_of(verify(api, partial))
    assert a["trusted"] is False and a["valid"] is False

    extended = api.client.post(
        "/v1/extend",
        headers=api.headers("other"),
        files={"file": ("c.pdf", partial, "application/pdf")},
        data={"level": "B-LTA"},
    )
    assert extended.status_code == 200, extended.text
    report = verify(api, extended.content)
    a, _ = seals_of(report)
    assert report["valid"] is True and a["trusted"] is True, report
    assert "seal_revoked_since_signing" in [n["code"] for n in report["notices"]]
