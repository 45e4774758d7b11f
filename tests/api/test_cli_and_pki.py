"""eseal as a new user runs it: the CLI, then openssl checks the PKI it made.

``openssl verify`` accepts each seal certificate against the CA chain, ``openssl x509 -text``
shows the USCC in OU and in extension 1.2.156.10260.4.1.4, and ``openssl ocsp`` asks the
running server's responder (good, revoked, unknown).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from helpers import READY_TIMEOUT_S, ROOT, USCC, license_data, require_tool, wait_until

pytestmark = pytest.mark.slow


def eseal(data_dir: Path, *args: str, input: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "ESEAL_DATA_DIR": str(data_dir)}
    env.pop("ESEAL_MASTER_KEY", None)
    return subprocess.run(
        [sys.executable, "-m", "api.cli", *args],
        env=env,
        input=input,
        capture_output=True,
        text=True,
        timeout=READY_TIMEOUT_S,
        cwd=ROOT,
    )


def openssl(*args: str) -> str:
    require_tool("openssl")
    out = subprocess.run(
        ["openssl", *args], capture_output=True, text=True, timeout=READY_TIMEOUT_S
    )
    return out.stdout + out.stderr


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    d = tmp_path / "data"
    r = eseal(d, "init")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["pki_created"] is True
    assert oct((d / "master.key").stat().st_mode & 0o777) == "0o600"
    return d


@pytest.fixture
def registered(data_dir: Path, tmp_path: Path) -> dict[str, object]:
    r = eseal(data_dir, "enterprise", "register", str(ROOT / "examples" / "license.json"))
    assert r.returncode == 0, r.stderr
    out: dict[str, object] = json.loads(r.stdout)
    return out


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def server(data_dir: Path, registered: dict[str, object]) -> Iterator[str]:
    port = _free_port()
    env = {
        **os.environ,
        "ESEAL_DATA_DIR": str(data_dir),
        "ESEAL_PUBLIC_URL": f"http://127.0.0.1:{port}",
    }
    log = data_dir.parent / "server.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "api.cli", "serve", "--port", str(port)],
            env=env,
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"

    def healthy() -> bool:
        try:
            return httpx.get(f"{url}/healthz", timeout=READY_TIMEOUT_S).status_code == 200
        except httpx.TransportError:  # not listening yet
            return False

    try:
        wait_until(
            healthy,
            "eseal serve answering /healthz",
            alive=lambda: proc.poll() is None,
            explain=lambda: log.read_text(errors="replace")[-3000:],
        )
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=READY_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def test_init_twice_keeps_the_pki(data_dir: Path) -> None:
    before = (data_dir / "pki" / "root.pem").read_bytes()
    r = eseal(data_dir, "init")
    assert r.returncode == 0 and json.loads(r.stdout)["pki_created"] is False
    assert (data_dir / "pki" / "root.pem").read_bytes() == before


def test_register_prints_license_and_five_seals(registered: dict[str, object]) -> None:
    seals = registered["seals"]
    assert isinstance(seals, list)
    assert [s["kind"] for s in seals] == ["official", "contract", "finance", "invoice", "legal_rep"]
    for s in seals:
        assert {
            "kind",
            "label",
            "status",
            "version",
            "serial",
            "certificate",
            "not_before",
            "not_after",
            "image_sha256",
        } <= set(s)
    lic = registered["license"]
    assert isinstance(lic, dict)
    assert lic["uscc"] == USCC and lic["status_history"][0]["status"] == "active"


def test_openssl_accepts_every_seal_certificate(
    data_dir: Path, registered: dict[str, object], tmp_path: Path
) -> None:
    chain = eseal(data_dir, "pki", "ca").stdout
    assert chain.count("BEGIN CERTIFICATE") == 2
    root, issuing = tmp_path / "root.pem", tmp_path / "issuing.pem"
    root.write_text((data_dir / "pki" / "root.pem").read_text())
    issuing.write_text((data_dir / "pki" / "issuing.pem").read_text())
    seals = registered["seals"]
    assert isinstance(seals, list)
    for seal in seals:
        pem = tmp_path / f"{seal['kind']}.pem"
        pem.write_text(seal["certificate"])
        out = openssl("verify", "-CAfile", str(root), "-untrusted", str(issuing), str(pem))
        assert out.strip() == f"{pem}: OK", out
        text = openssl(
            "x509", "-in", str(pem), "-noout", "-text", "-nameopt", "utf8,sep_comma_plus"
        )
        assert f"OU={USCC}" in text
        ext = text.split("1.2.156.10260.4.1.4:")[1].splitlines()[1]
        assert USCC in ext
        assert "Digital Signature, Non Repudiation" in text
        assert "OCSP - URI:http://127.0.0.1:8000/v1/pki/ocsp" in text
        assert "URI:http://127.0.0.1:8000/v1/pki/crl" in text
    legal = next(s for s in seals if s["kind"] == "legal_rep")["certificate"]
    (tmp_path / "lr.pem").write_text(legal)
    subject = openssl(
        "x509",
        "-in",
        str(tmp_path / "lr.pem"),
        "-noout",
        "-subject",
        "-nameopt",
        "utf8,sep_comma_plus",
    )
    assert "title=法定代表人" in subject and "CN=张利东" in subject


def test_openssl_ocsp_against_the_running_responder(
    server: str, data_dir: Path, registered: dict[str, object], tmp_path: Path
) -> None:
    root, issuing = data_dir / "pki" / "root.pem", data_dir / "pki" / "issuing.pem"
    seals = registered["seals"]
    assert isinstance(seals, list)
    contract = tmp_path / "contract.pem"
    contract.write_text(seals[1]["certificate"])
    ask = ["ocsp", "-issuer", str(issuing), "-url", f"{server}/v1/pki/ocsp", "-CAfile", str(root)]
    out = openssl(*ask, "-cert", str(contract))
    assert "Response verify OK" in out and f"{contract}: good" in out, out
    out = openssl(*ask, "-serial", "0x1234")
    assert "Response verify OK" in out and "0x1234: unknown" in out, out

    r = eseal(data_dir, "seal", "revoke", USCC, "contract", "--reason", "lost")
    assert r.returncode == 0, r.stderr
    out = openssl(*ask, "-cert", str(contract))
    assert f"{contract}: revoked" in out, out

    crl = httpx.get(f"{server}/v1/pki/crl").content
    (tmp_path / "crl.der").write_bytes(crl)
    text = openssl("crl", "-inform", "DER", "-in", str(tmp_path / "crl.der"), "-noout", "-text")
    serial = seals[1]["serial"].upper()
    assert serial.lstrip("0") in text.replace(":", "").upper()


def test_cli_errors_are_problems_with_exit_codes(data_dir: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(license_data(uscc="91110000600037341N")))
    r = eseal(data_dir, "enterprise", "register", str(bad))
    assert r.returncode == 1
    err = json.loads(r.stderr)
    assert err["code"] == "invalid_uscc" and err["status"] == 422 and err["rule"] == "check"
    bad.write_text("{not json")
    r = eseal(data_dir, "enterprise", "register", str(bad))
    assert r.returncode == 1 and json.loads(r.stderr)["code"] == "invalid_license"
    r = eseal(data_dir, "enterprise", "show", USCC)
    assert r.returncode == 1 and json.loads(r.stderr)["code"] == "enterprise_not_found"
    r = eseal(data_dir, "enterprise", "register")
    assert r.returncode == 2
    good = ROOT / "examples" / "license.json"
    assert eseal(data_dir, "enterprise", "register", str(good)).returncode == 0
    r = eseal(data_dir, "enterprise", "register", str(good))
    assert r.returncode == 1 and json.loads(r.stderr)["status"] == 409


def test_wrong_master_key_fails_with_one_clear_error(data_dir: Path) -> None:
    import base64

    env = {
        **os.environ,
        "ESEAL_DATA_DIR": str(data_dir),
        "ESEAL_MASTER_KEY": base64.b64encode(b"w" * 32).decode(),
    }
    r = subprocess.run(
        [sys.executable, "-m", "api.cli", "enterprise", "show", USCC],
        env=env,
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert r.returncode == 1
    err = json.loads(r.stderr)
    assert err["code"] == "master_key_invalid"
    assert env["ESEAL_MASTER_KEY"] not in r.stderr


def test_cli_sign_and_verify_exit_codes(
    data_dir: Path, registered: dict[str, object], tmp_path: Path
) -> None:
    from pdfs import simple_pdf

    src = tmp_path / "in.pdf"
    src.write_bytes(simple_pdf(2))
    out = tmp_path / "out.pdf"
    r = eseal(
        data_dir,
        "sign",
        str(src),
        "-o",
        str(out),
        "--uscc",
        USCC,
        "--seal",
        "contract",
        "--seal",
        "legal_rep",
        "--page",
        "1",
        "--x",
        "300",
        "--y",
        "300",
        "--cross-page",
        "--level",
        "B-LT",
        "--document-type",
        "contract",
    )
    assert r.returncode == 0, r.stderr
    assert [s["kind"] for s in json.loads(r.stdout)["seals"]] == [
        "contract",
        "legal_rep",
        "contract",
    ]
    r = eseal(data_dir, "verify", str(out), "--expect-uscc", USCC, "--json")
    assert r.returncode == 0, r.stdout
    assert json.loads(r.stdout)["valid"] is True
    r = eseal(data_dir, "verify", str(out), "--expect-uscc", "91110000600037341L")
    assert r.returncode == 1 and r.stdout.startswith("NOT VALID")
    r = eseal(data_dir, "verify", str(src))
    assert r.returncode == 1  # unsigned
    # the same seal's SM2 key, with an SM2 timestamp
    sm2_out = tmp_path / "sm2.pdf"
    r = eseal(data_dir, "sign", str(src), "-o", str(sm2_out), "--uscc", USCC, "--algorithm", "sm2")
    assert r.returncode == 0, r.stderr
    r = eseal(data_dir, "verify", str(sm2_out), "--expect-uscc", USCC, "--json")
    assert r.returncode == 0, r.stdout
    (sealed,) = json.loads(r.stdout)["signatures"]
    assert sealed["algorithm"] == "sm2" and sealed["timestamp"]["valid"] is True
    bad = tmp_path / "bad.pdf"
    bad.write_bytes(b"hello")
    r = eseal(data_dir, "verify", str(bad))
    assert r.returncode == 2 and json.loads(r.stderr)["code"] == "invalid_pdf"
    r = eseal(data_dir, "sign", str(src), "-o", str(out), "--uscc", USCC, "--keyword", "没有")
    assert r.returncode == 1 and json.loads(r.stderr)["code"] == "keyword_not_found"
    r = eseal(data_dir, "sign", str(src), "-o", str(out), "--uscc", USCC, "--x", "10")
    assert r.returncode == 1 and json.loads(r.stderr)["code"] == "invalid_options"


def test_cli_sign_archives_and_export(
    data_dir: Path, registered: dict[str, object], tmp_path: Path
) -> None:
    import zipfile

    from pdfs import simple_pdf

    src = tmp_path / "in.pdf"
    src.write_bytes(simple_pdf(1))
    r = eseal(data_dir, "sign", str(src), "-o", str(tmp_path / "o.pdf"), "--uscc", USCC)
    assert r.returncode == 0, r.stderr
    archive_id = json.loads(r.stdout)["archive_id"]
    r = eseal(data_dir, "archive", "check")
    assert r.returncode == 0 and json.loads(r.stdout)["rows"] == 1
    r = eseal(data_dir, "archive", "export", "--uscc", USCC, "-o", str(tmp_path / "a.zip"))
    assert r.returncode == 0, r.stderr
    names = zipfile.ZipFile(tmp_path / "a.zip").namelist()
    assert any(archive_id in n for n in names) and "manifest.json" in names
