"""A contract certified by one party and sealed by the counter-party, through both doors.

Party A (甲方) certifies a contract (DocMDP P=2) and reserves the field 乙方（盖章） for party B;
B seals it; a bank verifies it.  Every verifier must find both seals valid: eseal's own
(``POST /v1/verify``), pyHanko's validator with its difference analysis, poppler's
``pdfsig`` and endesive.  A seal that would break the certification is refused with 409
``document_certified`` before any work, and leaves no archive record and no audit entry.
The same requests go through ``eseal sign --options``.
"""

from __future__ import annotations

import io
import json
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from asn1crypto import pem
from asn1crypto import x509 as asn1_x509
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.diff_analysis import ModificationLevel
from pyhanko.sign.fields import MDPPerm, SigFieldSpec, append_signature_field
from pyhanko.sign.signers import PdfSignatureMetadata, PdfSigner
from pyhanko.sign.validation import async_validate_pdf_signature
from pyhanko_certvalidator import ValidationContext

from api.container import Container
from helpers import OTHER_USCC, ROOT, USCC, Api, license_data
from pdfs import NOTO_TTC, cjk_contract, extract_cjk_face, simple_pdf

B_FIELD = {"kind": "contract", "keyword": "乙方（盖章）", "label": "乙方"}
A_CERTIFIES = {
    "seals": [{"kind": "contract", "keyword": "甲方（盖章）"}],
    "certify": True,
    "document_type": "contract",
    "reserve": [B_FIELD],
}
B_SEALS = {"seals": [{"kind": "contract", "keyword": "乙方（盖章）"}], "document_type": "contract"}


@pytest.fixture(scope="module")
def contract(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """A two-page purchase contract in Chinese with 甲方（盖章） and 乙方（盖章） on page 2."""
    if not NOTO_TTC.exists():
        pytest.skip("fonts-noto-cjk is not installed")
    return cjk_contract(extract_cjk_face(tmp_path_factory.mktemp("fonts")), pages=2)


def sign(api: Api, who: str, pdf: bytes, options: dict[str, Any]) -> Any:
    return api.client.post(
        "/v1/sign",
        headers=api.headers(who),
        files={"file": ("c.pdf", pdf, "application/pdf")},
        data={"options": json.dumps(options, ensure_ascii=False)},
    )


def verify(api: Api, pdf: bytes, expect: str | None = None) -> dict[str, Any]:
    data = {"expect_uscc": expect} if expect else {}
    r = api.client.post(
        "/v1/verify",
        headers=api.headers("verifier"),
        files={"file": ("s.pdf", pdf, "application/pdf")},
        data=data,
    )
    assert r.status_code == 200, r.text
    report: dict[str, Any] = r.json()
    return report


def traces(api: Api) -> tuple[int, int]:
    """(archive records, audit entries) as the admin sees them."""
    admin = api.headers("admin")
    archives = api.client.get("/v1/archives?limit=500", headers=admin).json()["items"]
    audit = api.client.get("/v1/audit?limit=1000", headers=admin).json()["entries"]
    return len(archives), len(audit)


def codes(report: dict[str, Any]) -> set[str]:
    out = {p["code"] for p in report.get("problems", [])}
    for sig in report["signatures"]:
        out |= {p["code"] for p in sig["problems"]}
    return out


def root_cert(c: Container) -> asn1_x509.Certificate:
    der = pem.unarmor((c.settings.pki_dir / "root.pem").read_bytes())[2]
    return asn1_x509.Certificate.load(der)


def pdfsig_blocks(path: Path) -> list[str]:
    out = subprocess.run(["pdfsig", str(path)], capture_output=True, text=True, timeout=60)
    return re.split(r"^Signature #\d+:$", out.stdout, flags=re.M)[1:]


def endesive(path: Path, pki: Path) -> list[dict[str, object]]:
    out = subprocess.run(
        [
            sys.executable,
            str(ROOT / "tests" / "endesive_verify.py"),
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


def widget_rect(pdf: bytes, name: str, revision: int | None = None) -> list[float]:
    reader = PdfFileReader(io.BytesIO(pdf), strict=False)
    if revision is not None:
        reader = reader.get_historical_resolver(revision)  # type: ignore[assignment]
    for ref in reader.root["/AcroForm"]["/Fields"]:
        field = ref.get_object()
        if field.get("/T") == name:
            return [float(v) for v in field["/Rect"]]
    raise AssertionError(f"no field {name} in revision {revision}")


# --------------------------------------------------------------------------- the story


async def test_certified_contract_sealed_by_the_counter_party_is_valid_everywhere(
    api: Api, contract: bytes, tmp_path: Path
) -> None:
    r = sign(api, "own", contract, A_CERTIFIES)
    assert r.status_code == 200, r.text
    certified = r.content
    # the reserved field is made, empty, in the certifying revision, where A's seal is
    reader = PdfFileReader(io.BytesIO(certified), strict=False)
    (a_sig,) = reader.embedded_signatures
    assert a_sig.docmdp_level is MDPPerm.FILL_FORMS
    reserved = widget_rect(certified, "eseal-reserved-contract-1", a_sig.signed_revision)
    assert round(reserved[2] - reserved[0], 1) == round(40 * 72 / 25.4, 1)  # a contract seal

    r = sign(api, "other", certified, B_SEALS)
    assert r.status_code == 200, r.text
    both = r.content
    path = tmp_path / "both.pdf"
    path.write_bytes(both)
    # B's seal is drawn where A reserved it (A's revision fixed the spot)
    assert widget_rect(both, "eseal-reserved-contract-1") == reserved

    # the bank: eseal's own verification
    report = verify(api, both, expect=OTHER_USCC)
    assert report["valid"] is True, report
    assert "docmdp_violation" not in codes(report)
    a, b = report["signatures"]
    assert (a["enterprise"]["uscc"], b["enterprise"]["uscc"]) == (USCC, OTHER_USCC)
    assert a["integrity"] == b["integrity"] == "ok"
    assert a["modifications"] == "later_signatures"  # only B's signature came after A's
    assert b["modifications"] == "none"
    assert b["field"] == "eseal-reserved-contract-1"

    # pyHanko: intact, trusted, the certification respected, only a signature filled in
    reader = PdfFileReader(io.BytesIO(both), strict=False)
    context = ValidationContext(trust_roots=[root_cert(api.container)])
    a_sig, b_sig = reader.embedded_signatures
    status = await async_validate_pdf_signature(a_sig, context)
    assert status.bottom_line and status.docmdp_ok, status.pretty_print_details()
    assert status.modification_level is ModificationLevel.FORM_FILLING
    assert set(status.diff_result.changed_form_fields) == {"eseal-reserved-contract-1"}
    status = await async_validate_pdf_signature(b_sig, context)
    assert status.bottom_line and status.modification_level is ModificationLevel.NONE

    if shutil.which("pdfsig"):
        blocks = pdfsig_blocks(path)
        assert len(blocks) == 2
        for block in blocks:
            assert "Signature Validation: Signature is Valid." in block, block
        assert "eseal-reserved-contract-1" in blocks[1] and OTHER_USCC in blocks[1]
    results = endesive(path, api.container.settings.pki_dir)
    assert len(results) == 2
    for result in results:
        assert result["hash_ok"] and result["signature_ok"] and result["cert_ok"], result


def test_without_a_reservation_the_counter_party_is_refused_and_nothing_is_kept(
    api: Api, contract: bytes
) -> None:
    r = sign(api, "own", contract, {**A_CERTIFIES, "reserve": []})
    assert r.status_code == 200, r.text
    certified = r.content
    before = traces(api)
    r = sign(api, "other", certified, B_SEALS)
    assert r.status_code == 409, r.text
    problem = r.json()
    assert problem["code"] == "document_certified"
    assert problem["certification_level"] == 2 and problem["free_fields"] == []
    assert "P=2" in problem["detail"] and "no free reserved signature field" in problem["detail"]
    assert r.headers["content-type"].startswith("application/problem+json")
    assert traces(api) == before


def test_refusals_name_the_free_fields(api: Api, contract: bytes) -> None:
    """A field reserved for another kind, a used field, a missing named field and a
    cross-page seal: each 409 lists what is still free, and none leaves a trace."""
    r = sign(
        api,
        "own",
        contract,
        {
            **A_CERTIFIES,
            "reserve": [
                B_FIELD,
                {"kind": "legal_rep", "page": 2, "x": 450, "y": 180, "label": "乙方法定代表人"},
            ],
        },
    )
    assert r.status_code == 200, r.text
    certified = r.content
    before = traces(api)
    free = [
        {"name": "eseal-reserved-contract-1", "kind": "contract", "label": "乙方", "page": 2},
        {
            "name": "eseal-reserved-legal_rep-1",
            "kind": "legal_rep",
            "label": "乙方法定代表人",
            "page": 2,
        },
    ]
    for options in (
        {"seals": [{"kind": "finance"}]},
        {"seals": [{"kind": "contract", "field": "no-such-field"}]},
        {"seals": [{"kind": "contract"}, {"kind": "contract"}]},
        {"seals": [{"kind": "contract"}], "cross_page": True},
    ):
        r = sign(api, "other", certified, options)
        assert r.status_code == 409, (options, r.text)
        assert r.json()["code"] == "document_certified"
        assert r.json()["free_fields"] == free, options
        assert (
            "eseal-reserved-legal_rep-1 (legal_rep, 乙方法定代表人, page 2)" in r.json()["detail"]
        )
    assert traces(api) == before
    # both reserved seals of B in one request fill both fields
    r = sign(api, "other", certified, {"seals": [{"kind": "contract"}, {"kind": "legal_rep"}]})
    assert r.status_code == 200, r.text
    report = verify(api, r.content)
    assert report["valid"] is True, report
    assert [s["field"] for s in report["signatures"][1:]] == [
        "eseal-reserved-contract-1",
        "eseal-reserved-legal_rep-1",
    ]
    # and then nothing is free: a third seal is refused, naming no free field
    r = sign(api, "own", r.content, {"seals": [{"kind": "contract"}]})
    assert r.status_code == 409 and r.json()["free_fields"] == []


async def _certified_elsewhere(permission: MDPPerm) -> tuple[bytes, Any]:
    """A document certified by another tool (pyHanko directly), with an empty field
    ``Signature2`` of its own name made in the certifying revision."""
    signer = _throwaway_signer()
    writer = IncrementalPdfFileWriter(io.BytesIO(simple_pdf(1)))
    append_signature_field(writer, SigFieldSpec("Signature2", on_page=0, box=(300, 100, 420, 220)))
    out = io.BytesIO()
    await PdfSigner(
        PdfSignatureMetadata(field_name="Signature1", certify=True, docmdp_permissions=permission),
        signer=signer,
    ).async_sign_pdf(writer, output=out)
    return out.getvalue(), signer.signing_cert


def _throwaway_signer() -> Any:
    """A self-signed key of some other signing tool (not one of eseal's seals)."""
    from datetime import UTC, datetime, timedelta

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID
    from pyhanko.sign.signers.pdf_cms import SimpleSigner
    from pyhanko_certvalidator.registry import SimpleCertificateStore

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "another signing tool")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=30))
        .sign(key, hashes.SHA256())
    )
    from asn1crypto import keys as asn1_keys

    return SimpleSigner(
        signing_cert=asn1_x509.Certificate.load(cert.public_bytes(serialization.Encoding.DER)),
        signing_key=asn1_keys.PrivateKeyInfo.load(
            key.private_bytes(
                serialization.Encoding.DER,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        ),
        cert_registry=SimpleCertificateStore(),
    )


async def test_a_field_of_any_name_is_filled_when_named(api: Api) -> None:
    """A document certified elsewhere: its empty field is found in the document itself,
    offered in the refusal, and filled when the request names it."""
    certified, their_cert = await _certified_elsewhere(MDPPerm.FILL_FORMS)
    r = sign(api, "own", certified, {"seals": [{"kind": "contract"}]})
    assert r.status_code == 409
    assert r.json()["free_fields"] == [
        {"name": "Signature2", "kind": None, "label": None, "page": 1}
    ]
    r = sign(api, "own", certified, {"seals": [{"kind": "contract", "field": "Signature2"}]})
    assert r.status_code == 200, r.text
    reader = PdfFileReader(io.BytesIO(r.content), strict=False)
    first, ours = reader.embedded_signatures
    assert ours.field_name == "Signature2"
    status = await async_validate_pdf_signature(
        first, ValidationContext(trust_roots=[their_cert], allow_fetching=False)
    )
    assert status.bottom_line and status.docmdp_ok, status.pretty_print_details()
    assert status.modification_level is ModificationLevel.FORM_FILLING
    report = verify(api, r.content)
    assert "docmdp_violation" not in codes(report)
    assert report["signatures"][1]["integrity"] == "ok"
    assert report["signatures"][1]["enterprise"]["uscc"] == USCC


async def test_no_changes_certification_refuses_every_seal(api: Api) -> None:
    certified, _ = await _certified_elsewhere(MDPPerm.NO_CHANGES)
    before = traces(api)
    for options in (
        {"seals": [{"kind": "contract"}]},
        {"seals": [{"kind": "contract", "field": "Signature2"}]},
    ):
        r = sign(api, "own", certified, options)
        assert r.status_code == 409, r.text
        assert r.json()["certification_level"] == 1
        assert "P=1: no changes allowed" in r.json()["detail"]
    assert traces(api) == before


def test_reservation_options_are_checked(api: Api, contract: bytes) -> None:
    before = traces(api)
    cases = [
        ({**A_CERTIFIES, "certify": False}, "invalid_options", "reserve needs certify"),
        ({**A_CERTIFIES, "reserve": [{"kind": "contract"}]}, "invalid_options", "needs a keyword"),
        (
            {**A_CERTIFIES, "reserve": [{"kind": "stamp", "page": 1, "x": 9, "y": 9}]},
            "unknown_seal_kind",
            "unknown seal kind",
        ),
        (
            {**A_CERTIFIES, "reserve": [{"kind": "contract", "keyword": "丙方（盖章）"}]},
            "keyword_not_found",
            "丙方",
        ),
        ({"seals": [{"kind": "contract", "field": "Signature9"}]}, "field_not_found", "Signature9"),
    ]
    for options, code, words in cases:
        r = sign(api, "own", contract, options)
        assert r.status_code == 422, (options, r.text)
        assert r.json()["code"] == code and words in r.json()["detail"], r.json()
    assert traces(api) == before


# --------------------------------------------------------------------------- the CLI


def eseal(data_dir: Path, *args: str, input: str | None = None) -> subprocess.CompletedProcess[str]:
    import os

    env = {**os.environ, "ESEAL_DATA_DIR": str(data_dir)}
    env.pop("ESEAL_MASTER_KEY", None)
    return subprocess.run(
        [sys.executable, "-m", "api.cli", *args],
        env=env,
        input=input,
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
    )


@pytest.fixture
def cli_data(tmp_path: Path, _initialised_template: Path) -> Iterator[Path]:
    """A data dir with both parties registered."""
    data = tmp_path / "data"
    shutil.copytree(_initialised_template, data)
    for uscc, name in ((USCC, None), (OTHER_USCC, "示例贸易有限公司")):
        lic = tmp_path / f"{uscc}.json"
        changes: dict[str, object] = {"uscc": uscc}
        if name:
            changes.update(name=name, legal_representative="李娜")
        lic.write_text(json.dumps(license_data(**changes), ensure_ascii=False), encoding="utf-8")
        r = eseal(data, "enterprise", "register", str(lic))
        assert r.returncode == 0, r.stderr
    yield data


@pytest.mark.slow
def test_cli_takes_the_whole_options_object(
    cli_data: Path, contract: bytes, tmp_path: Path
) -> None:
    src = tmp_path / "contract.pdf"
    src.write_bytes(contract)
    a_options = tmp_path / "a.json"
    # level B-B in the file, B-T on the command line: the flag wins
    a_options.write_text(
        json.dumps({**A_CERTIFIES, "level": "B-B", "reference": "HT-9"}, ensure_ascii=False),
        encoding="utf-8",
    )
    certified = tmp_path / "certified.pdf"
    r = eseal(
        cli_data,
        "sign",
        str(src),
        "-o",
        str(certified),
        "--uscc",
        USCC,
        "--options",
        str(a_options),
        "--level",
        "B-T",
    )
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["level"] == "B-T" and [s["kind"] for s in out["seals"]] == ["contract"]
    reader = PdfFileReader(io.BytesIO(certified.read_bytes()), strict=False)
    assert reader.embedded_signatures[0].docmdp_level is MDPPerm.FILL_FORMS

    # B without the reservation's kind: refused, no file written, exit 1 with the problem
    sealed = tmp_path / "sealed.pdf"
    r = eseal(
        cli_data,
        "sign",
        str(certified),
        "-o",
        str(sealed),
        "--uscc",
        OTHER_USCC,
        "--seal",
        "finance",
    )
    assert r.returncode == 1
    problem = json.loads(r.stderr)
    assert problem["code"] == "document_certified" and problem["status"] == 409
    assert problem["free_fields"][0]["name"] == "eseal-reserved-contract-1"
    assert not sealed.exists()

    # B with its options on stdin
    r = eseal(
        cli_data,
        "sign",
        str(certified),
        "-o",
        str(sealed),
        "--uscc",
        OTHER_USCC,
        "--options",
        "-",
        input=json.dumps(B_SEALS, ensure_ascii=False),
    )
    assert r.returncode == 0, r.stderr
    r = eseal(cli_data, "verify", str(sealed), "--json", "--expect-uscc", OTHER_USCC)
    assert r.returncode == 0, r.stdout
    report = json.loads(r.stdout)
    assert [s["modifications"] for s in report["signatures"]] == ["later_signatures", "none"]


@pytest.mark.slow
def test_cli_options_errors(cli_data: Path, tmp_path: Path) -> None:
    src = tmp_path / "in.pdf"
    src.write_bytes(simple_pdf(1))
    out = tmp_path / "out.pdf"
    bad = tmp_path / "bad.json"
    for text, words in (
        ("{not json", "not valid JSON"),
        ("[1]", "must be a JSON object"),
        ('{"seals": [{"kind": "contract", "colour": "red"}]}', "seals.0.colour"),
        ('{"reserve": [{"kind": "contract", "page": 1, "x": 1, "y": 1}]}', "reserve needs certify"),
    ):
        bad.write_text(text, encoding="utf-8")
        r = eseal(cli_data, "sign", str(src), "-o", str(out), "--uscc", USCC, "--options", str(bad))
        assert r.returncode == 1, (text, r.stderr)
        problem = json.loads(r.stderr)
        assert problem["code"] == "invalid_options" and words in problem["detail"], problem
    r = eseal(
        cli_data,
        "sign",
        str(src),
        "-o",
        str(out),
        "--uscc",
        USCC,
        "--options",
        str(tmp_path / "missing.json"),
    )
    assert r.returncode == 1 and json.loads(r.stderr)["code"] == "file_unreadable"
    # a placement flag replaces the file's seals; the file's other options stay
    bad.write_text(
        json.dumps(
            {"seals": [{"kind": "finance"}], "document_type": "contract", "reference": "R-1"}
        ),
        encoding="utf-8",
    )
    r = eseal(
        cli_data,
        "sign",
        str(src),
        "-o",
        str(out),
        "--uscc",
        USCC,
        "--options",
        str(bad),
        "--page",
        "1",
        "--x",
        "300",
        "--y",
        "300",
    )
    assert r.returncode == 0, r.stderr
    assert [s["kind"] for s in json.loads(r.stdout)["seals"]] == ["contract"]
