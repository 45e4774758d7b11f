"""Files other tools made, over HTTP: ``POST /v1/verify`` answers 200 with a report for
readable foreign OFDs (ofdrw's plain digital signatures included) and 422 ``invalid_ofd``
for XML nobody can decode; ``POST /v1/invoices/check`` reads a GBK invoice XML.  Never 500.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from ses_pki import SesWorld, make_world

from helpers import Api
from invoices import invoice, invoice_ofd, invoice_xml
from ofds import SesSealer, gbt35275, ofdrw_sign, simple_ofd, unzip_ofd, zip_ofd


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> SesWorld:
    return make_world(Path(tmp_path_factory.mktemp("http-foreign-world")))


def _verify(api: Api, data: bytes) -> Any:
    return api.client.post(
        "/v1/verify",
        headers=api.headers("verifier"),
        files={"file": ("d.ofd", data, "application/ofd")},
    )


def test_ofdrw_digital_signatures_get_a_report(api: Api, world: SesWorld) -> None:
    ses = SesSealer.make(world)
    base = unzip_ofd(simple_ofd(1))
    signed = ofdrw_sign(base, lambda xml, _info: gbt35275(ses, xml), sign_type="Sign")
    r = _verify(api, zip_ofd(signed))
    assert r.status_code == 200, r.text
    (entry,) = r.json()["signatures"]
    assert r.json()["format"] == "ofd" and entry["intact"] is True
    assert "untrusted_certificate" in {p["code"] for p in entry["problems"]}

    bare = ofdrw_sign(base, lambda xml, _info: ses.key.sign(xml), sign_type="Sign")
    r = _verify(api, zip_ofd(bare))
    assert r.status_code == 200, r.text
    assert r.json()["valid"] is False
    assert [p["code"] for p in r.json()["signatures"][0]["problems"]] == ["ofd_signer_unknown"]


def test_xml_in_an_unknown_encoding_is_invalid_ofd(api: Api) -> None:
    files = unzip_ofd(simple_ofd(1))
    files["OFD.xml"] = files["OFD.xml"].replace(b'encoding="UTF-8"', b'encoding="UTF-0"')
    files["Doc_0/Document.xml"] = files["Doc_0/Document.xml"].replace(
        b'encoding="UTF-8"', b'encoding="UTF-0"'
    )
    r = _verify(api, zip_ofd(files))
    assert r.status_code == 422, r.text
    assert r.json()["code"] in ("invalid_ofd", "invalid_pdf")


def test_a_gbk_invoice_xml_is_checked(api: Api) -> None:
    inv = invoice()
    xml = invoice_xml(inv).decode("utf-8").replace('encoding="UTF-8"', 'encoding="GBK"')
    r = api.client.post(
        "/v1/invoices/check",
        headers=api.headers("verifier"),
        files={
            "ofd": ("i.ofd", invoice_ofd(inv), "application/ofd"),
            "xml": ("i.xml", xml.encode("gbk"), "application/xml"),
        },
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["xml"]["number"] == "25442000000123456789"
    # the test invoice's OFD carries a stand-in signature; the two files' fields agree
    assert all(c["agree"] for c in body["comparisons"]), body["comparisons"]
