"""A status change made by another process (the CLI) is seen by a running server at once.

The server keeps its OCSP responses for a minute (signer/revocation.py).  A seal revoked with
``eseal seal revoke`` in another process must not stay "good" for that minute in what the
server extends and verifies: the registry's revision, raised in the change's transaction,
tells the server's cache (api/revocation.py) at its next look-up.  No sleep, no expiry here.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

import pytest
from asn1crypto import ocsp as asn1_ocsp
from asn1crypto import pem
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509 import ocsp

from api.container import build
from api.settings import Settings
from helpers import READY_TIMEOUT_S, ROOT, USCC, Api
from pdfs import simple_pdf
from seals.kinds import SealKind
from seals.license import LicenseStatus


def _cli(settings: Settings, *args: str) -> dict[str, Any]:
    """``eseal ARGS`` in a process of its own, on the server's data dir and database."""
    env = {**os.environ, "ESEAL_DATA_DIR": str(settings.data_dir)}
    env.pop("ESEAL_MASTER_KEY", None)
    r = subprocess.run(
        [sys.executable, "-m", "api.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=READY_TIMEOUT_S,
        cwd=ROOT,
    )
    assert r.returncode == 0, r.stderr
    out: dict[str, Any] = json.loads(r.stdout)
    return out


def _certificate(api: Api, kind: SealKind) -> asn1_x509.Certificate:
    seal = api.container.seals.seal(USCC, kind)
    return asn1_x509.Certificate.load(pem.unarmor(seal.certificate_pem.encode())[2])


def _cached_status(api: Api, cert: asn1_x509.Certificate) -> str:
    """What the server's cached responder says about ``cert`` (signer and verifier use it)."""
    response: asn1_ocsp.OCSPResponse = api.container.revocation.ocsp_for(cert)
    basic = response["response_bytes"]["response"].parsed
    return str(basic["tbs_response_data"]["responses"][0]["cert_status"].name)


def _http_status(api: Api, cert: asn1_x509.Certificate) -> str:
    """What ``POST /v1/pki/ocsp`` says about ``cert``."""
    issuing = api.container.pki.issuing
    request = (
        ocsp.OCSPRequestBuilder()
        .add_certificate(x509.load_der_x509_certificate(cert.dump()), issuing, hashes.SHA256())
        .build()
    )
    r = api.client.post(
        "/v1/pki/ocsp",
        content=request.public_bytes(serialization.Encoding.DER),
        headers={"Content-Type": "application/ocsp-request"},
    )
    assert r.status_code == 200
    return ocsp.load_der_ocsp_response(r.content).certificate_status.name.lower()


def _extend(api: Api, pdf: bytes) -> Any:
    return api.client.post(
        "/v1/extend",
        headers=api.headers("own"),
        files={"file": ("b.pdf", pdf, "application/pdf")},
        data={"level": "B-LT"},
    )


@pytest.mark.slow
def test_a_seal_revoked_with_the_cli_is_revoked_for_the_running_server_at_once(
    api: Api, settings: Settings
) -> None:
    r = api.client.post(
        "/v1/sign",
        headers=api.headers("own"),
        files={"file": ("c.pdf", simple_pdf(), "application/pdf")},
        data={"options": json.dumps({"seals": [{"kind": "contract"}], "level": "B-B"})},
    )
    assert r.status_code == 200, r.text
    pdf = r.content
    cert = _certificate(api, SealKind.CONTRACT)
    # the server answers about the seal: good, and now cached
    assert _extend(api, pdf).status_code == 200
    assert _cached_status(api, cert) == "good"
    assert _http_status(api, cert) == "good"

    out = _cli(settings, "seal", "revoke", USCC, "contract", "--reason", "U 盾遗失")
    assert out["status"] == "revoked"

    # the next requests, at once: a B-B signature of a revoked seal cannot be extended
    refused = _extend(api, pdf)
    assert refused.status_code == 409, refused.headers.get("content-type")
    assert refused.json()["code"] == "extend_refused"
    assert _http_status(api, cert) == "revoked"
    assert _cached_status(api, cert) == "revoked"


def test_changes_by_another_service_instance_reach_the_cache_both_ways(
    api: Api, settings: Settings
) -> None:
    """Another process's service (here: a second container on the same data dir) suspends,
    resumes, then revokes the license: the app's cache follows each step."""
    other = build(settings)
    try:
        certs = {kind: _certificate(api, kind) for kind in SealKind}
        for cert in certs.values():
            assert _cached_status(api, cert) == "good"

        other.seals.suspend_seal(USCC, SealKind.FINANCE, "保管人休假")
        assert _cached_status(api, certs[SealKind.FINANCE]) == "revoked"  # certificate_hold
        assert _cached_status(api, certs[SealKind.OFFICIAL]) == "good"

        other.seals.resume_seal(USCC, SealKind.FINANCE, "回来了")
        assert _cached_status(api, certs[SealKind.FINANCE]) == "good"

        other.seals.change_status(USCC, LicenseStatus.REVOKED, "吊销")
        assert {kind: _cached_status(api, cert) for kind, cert in certs.items()} == dict.fromkeys(
            SealKind, "revoked"
        )
    finally:
        other.close()
