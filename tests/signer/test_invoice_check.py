"""数电票 checks: one verdict on an invoice's OFD and XML (signer.invoice.check_invoice).

The files come from ``tests/invoices.py``, shaped like the tax platform's.  Each test asserts
what a relying party reads in the verdict: whether the files agree, which field does not, and
why an upload is refused.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

import pytest

from invoices import (
    OFD_NS,
    Invoice,
    invoice,
    invoice_ofd,
    invoice_xml,
    replace,
    signature_digests_hold,
)
from keystore.errors import EsealError
from ofds import simple_ofd, unzip_ofd, zip_ofd
from seals.codes import InvoiceNoticeCode, InvoiceProblemCode
from signer.errors import InvalidInvoice, InvalidOfd
from signer.invoice import (
    ComparedField,
    InvoiceVerdict,
    OfdSignatureRef,
    SignatureCheck,
    check_invoice,
    parse_invoice_ofd,
    parse_invoice_xml,
)
from signer.ofd.package import OfdPackage, read_package

P = InvoiceProblemCode
N = InvoiceNoticeCode
F = ComparedField


def _problems(verdict: InvoiceVerdict) -> set[tuple[P, F | None, str | None]]:
    return {(p.code, p.field, p.source) for p in verdict.problems}


def _notices(verdict: InvoiceVerdict) -> list[N]:
    return [n.code for n in verdict.notices]


def _digests(package: OfdPackage, ref: OfdSignatureRef) -> SignatureCheck:
    """The test verifier: what can be checked without the tax bureau's key, the SM3 of every
    file the signature protects."""
    assert ref.location is not None
    changed = signature_digests_hold(package.read, package.read(ref.location))
    return SignatureCheck(valid=not changed, detail=", ".join(changed) or "digests hold")


# -- agreement ------------------------------------------------------------------------------


def test_the_two_files_of_one_invoice_agree() -> None:
    inv = invoice()
    verdict = check_invoice(invoice_ofd(inv), invoice_xml(inv))

    assert verdict.consistent and verdict.problems == []
    assert verdict.sources == ["xml", "ofd"]
    assert [c.field for c in verdict.comparisons] == list(ComparedField)
    assert all(c.agree for c in verdict.comparisons)
    for fields in (verdict.xml, verdict.ofd):
        assert fields is not None
        assert fields.number == "25442000000123456789"
        assert fields.issue_date == date(2025, 3, 18)
        assert (fields.seller_name, fields.seller_tax_id) == (
            "深圳市前海数智科技有限公司",
            "914403001922038216",
        )
        assert (fields.buyer_name, fields.buyer_tax_id) == (
            "北京京东世纪贸易有限公司",
            "91110108551385082Q",
        )
        assert (fields.amount_without_tax, fields.tax, fields.total_with_tax) == (
            Decimal("1130.00"),
            Decimal("90.90"),
            Decimal("1220.90"),
        )
    assert verdict.xml is not None and verdict.ofd is not None
    assert verdict.xml.invoice_type == "增值税专用发票"
    assert verdict.xml.tax_bureau_code == "14403000000"
    # the OFD's values are the ones its page shows, found through the custom tags
    assert verdict.ofd.where["total_with_tax"] == "CustomTag TaxInclusiveTotalAmount"
    assert verdict.xml.where["number"] == "TaxSupervisionInfo/InvoiceNumber"
    # the XML's TaxBureauSignature and the OFD's seal, neither verified without a verifier
    assert verdict.signature_count == 2
    assert [(s.source, s.type) for s in verdict.signatures] == [("xml", None), ("ofd", "Seal")]
    assert verdict.signatures[1].location == "Doc_0/Signs/Sign_0/Signature.xml"
    assert all(s.verified is None for s in verdict.signatures)
    assert _notices(verdict) == [N.SIGNATURES_NOT_VERIFIED]


def test_the_verdict_is_json_a_client_can_read() -> None:
    inv = invoice()
    body: dict[str, Any] = check_invoice(invoice_ofd(inv), invoice_xml(inv)).model_dump(mode="json")
    assert body["consistent"] is True
    assert body["xml"]["total_with_tax"] == "1220.90"  # amounts as strings: no float rounding
    assert body["ofd"]["issue_date"] == "2025-03-18"
    assert body["comparisons"][0] == {
        "field": "number",
        "xml": "25442000000123456789",
        "ofd": "25442000000123456789",
        "agree": True,
    }
    assert "unreadable" not in body["xml"] and "inconsistent" not in body["ofd"]


# -- each compared field, changed in the OFD --------------------------------------------------

_TOTALS = (P.TOTALS_DO_NOT_ADD_UP, F.TOTAL_WITH_TAX, "ofd")
_SAME_TOTAL = {"total_with_tax": Decimal("1220.90")}

CHANGES: list[tuple[F, dict[str, Any], set[tuple[P, F | None, str | None]]]] = [
    (F.NUMBER, {"number": "25442000000123456780"}, set()),
    (F.ISSUE_DATE, {"issue_date": date(2025, 3, 19)}, set()),
    (F.SELLER_TAX_ID, {"seller_tax_id": "91110000600037341L"}, set()),
    (F.BUYER_TAX_ID, {"buyer_tax_id": "9144030071526726XG"}, set()),
    # an amount changed alone no longer adds up in the OFD: both are reported
    (F.AMOUNT_WITHOUT_TAX, {"amount_without_tax": Decimal("1131.00"), **_SAME_TOTAL}, {_TOTALS}),
    (F.TAX, {"tax": Decimal("99.90"), **_SAME_TOTAL}, {_TOTALS}),
    (F.TOTAL_WITH_TAX, {"total_with_tax": Decimal("1229.90")}, {_TOTALS}),
]


@pytest.mark.parametrize(("field", "change", "also"), CHANGES, ids=[c[0].value for c in CHANGES])
def test_each_field_that_differs_is_caught(
    field: F, change: dict[str, Any], also: set[tuple[P, F | None, str | None]]
) -> None:
    inv = invoice()
    verdict = check_invoice(invoice_ofd(replace(inv, **change)), invoice_xml(inv))

    assert not verdict.consistent
    assert _problems(verdict) == {(P.FIELD_MISMATCH, field, None), *also}
    assert [c.field for c in verdict.comparisons if not c.agree] == [field]
    compared = next(c for c in verdict.comparisons if c.field is field)
    assert compared.xml != compared.ofd


def test_a_buyer_without_tax_id_agrees_but_one_file_lacking_it_does_not() -> None:
    person = invoice(buyer_name="张伟", buyer_tax_id=None, special=False)
    verdict = check_invoice(invoice_ofd(person), invoice_xml(person))
    assert verdict.consistent
    assert verdict.xml is not None and verdict.xml.buyer_tax_id is None

    verdict = check_invoice(invoice_ofd(person), invoice_xml(invoice()))
    assert (P.FIELD_MISSING, F.BUYER_TAX_ID, None) in _problems(verdict)
    assert "the XML gives the buyer's tax id, the OFD does not" in [
        p.message for p in verdict.problems
    ]


# -- how values are written -----------------------------------------------------------------


def test_amounts_compare_as_numbers_whatever_their_grouping_and_zeros() -> None:
    """Decided: 1,130.00 and 1130 are the same amount (README); each is shown as written."""
    inv = invoice()
    ofd = invoice_ofd(inv, amount=lambda d: f"{d:,.2f}")  # the page: ¥ 1,130.00
    xml = invoice_xml(inv, amount=lambda d: f"{d:f}".rstrip("0").rstrip("."))  # 1130, 90.9
    verdict = check_invoice(ofd, xml)

    assert verdict.consistent, verdict.problems
    total = next(c for c in verdict.comparisons if c.field is F.TOTAL_WITH_TAX)
    assert (total.xml, total.ofd, total.agree) == ("1220.9", "1220.90", True)
    without = next(c for c in verdict.comparisons if c.field is F.AMOUNT_WITHOUT_TAX)
    assert (without.xml, without.ofd) == ("1130", "1130.00")


def test_an_amount_that_is_not_a_number_is_unreadable_not_zero() -> None:
    inv = invoice()
    verdict = check_invoice(
        invoice_ofd(inv, amount=lambda d: "11,30.00" if d == inv.without else f"{d:.2f}"),
        invoice_xml(inv),
    )
    assert _problems(verdict) == {(P.FIELD_UNREADABLE, F.AMOUNT_WITHOUT_TAX, "ofd")}
    assert verdict.ofd is not None and verdict.ofd.amount_without_tax is None
    assert not verdict.consistent


def test_an_issue_time_and_a_chinese_date_name_the_same_day() -> None:
    inv = invoice()
    verdict = check_invoice(invoice_ofd(inv), invoice_xml(inv, issue_time="2025-03-18 10:21:07"))
    assert verdict.consistent
    date_ = next(c for c in verdict.comparisons if c.field is F.ISSUE_DATE)
    assert date_.xml == date_.ofd == "2025-03-18"


def test_an_xml_that_does_not_add_up_is_reported() -> None:
    inv = invoice(total_with_tax=Decimal("1230.90"))
    verdict = check_invoice(None, invoice_xml(inv))
    assert _problems(verdict) == {(P.TOTALS_DO_NOT_ADD_UP, F.TOTAL_WITH_TAX, "xml")}


def test_the_variant_spelling_of_the_total_is_read() -> None:
    fields = parse_invoice_xml(invoice_xml(invoice(), total_tag="TotalTaxIncludedAmount"))
    assert fields.total_with_tax == Decimal("1220.90")
    assert fields.where["total_with_tax"].endswith("TotalTaxIncludedAmount")


# -- one file contradicting itself ----------------------------------------------------------


def test_an_ofd_whose_page_and_metadata_disagree_is_reported() -> None:
    inv = invoice()
    verdict = check_invoice(
        invoice_ofd(inv, custom_datas={"合计金额": "9130.00"}), invoice_xml(inv)
    )
    assert _problems(verdict) == {(P.SOURCE_INCONSISTENT, F.AMOUNT_WITHOUT_TAX, "ofd")}
    # the page wins: it is what a person sees
    assert verdict.ofd is not None and verdict.ofd.amount_without_tax == Decimal("1130.00")


def test_an_xml_whose_eiid_is_not_its_invoice_number_is_reported() -> None:
    inv = invoice()
    verdict = check_invoice(None, invoice_xml(inv, eiid="25442000000999999999"))
    assert _problems(verdict) == {(P.SOURCE_INCONSISTENT, F.NUMBER, "xml")}


# -- one file only --------------------------------------------------------------------------


def test_the_xml_alone() -> None:
    verdict = check_invoice(None, invoice_xml(invoice()))
    assert verdict.consistent and verdict.sources == ["xml"]
    assert verdict.ofd is None and verdict.comparisons == []
    assert _notices(verdict) == [N.SINGLE_SOURCE]
    assert verdict.signature_count == 1


def test_the_ofd_alone() -> None:
    verdict = check_invoice(invoice_ofd(invoice(), signed=False), None)
    assert verdict.consistent and verdict.sources == ["ofd"]
    assert verdict.xml is None and verdict.comparisons == []
    assert verdict.ofd is not None and verdict.ofd.total_with_tax == Decimal("1220.90")
    assert _notices(verdict) == [N.SINGLE_SOURCE, N.NO_SIGNATURE]
    assert verdict.signature_count == 0


def test_an_ofd_without_tags_is_read_from_its_metadata() -> None:
    inv = invoice()
    verdict = check_invoice(invoice_ofd(inv, tags=False), invoice_xml(inv))
    assert verdict.ofd is not None
    assert verdict.ofd.where["number"] == "OFD.xml CustomData 发票号码"
    assert verdict.ofd.issue_date == date(2025, 3, 18)  # 2025年03月18日
    # real metadata has no 价税合计: the total could not be cross-checked, and the verdict says so
    assert verdict.ofd.total_with_tax is None
    assert _problems(verdict) == {(P.FIELD_MISSING, F.TOTAL_WITH_TAX, None)}
    assert [c.field for c in verdict.comparisons if not c.agree] == [F.TOTAL_WITH_TAX]


def test_a_tag_file_without_an_index_is_found_beside_the_document() -> None:
    def drop_index(files: dict[str, bytes]) -> None:
        doc = files["Doc_0/Document.xml"]
        files["Doc_0/Document.xml"] = doc.replace(
            b"<ofd:CustomTags>Tags/CustomTags.xml</ofd:CustomTags>", b""
        )

    fields = parse_invoice_ofd(read_package(invoice_ofd(invoice(), parts=drop_index)))
    assert fields.where["number"] == "CustomTag InvoiceNo"


def test_a_tag_file_in_the_e_invoice_namespace_reads_too() -> None:
    """The older 增值税电子发票 tag file: root eInvoice in the e-invoice namespace."""

    def older(files: dict[str, bytes]) -> None:
        tags = files["Doc_0/Tags/CustomTag.xml"].decode()
        tags = tags.replace(f'<ofd:root xmlns:ofd="{OFD_NS}">', "").replace("</ofd:root>", "")
        tags = tags.replace('<?xml version="1.0" encoding="UTF-8"?>', "")
        tags = tags.replace("<ofd:", "<fp:").replace("</ofd:", "</fp:")
        files["Doc_0/Tags/CustomTag.xml"] = (
            '<fp:eInvoice xmlns:fp="http://www.edrm.org.cn/schema/e-invoice/2019">'
            f"{tags}</fp:eInvoice>"
        ).encode()

    inv = invoice()
    fields = parse_invoice_ofd(read_package(invoice_ofd(inv, parts=older)))
    assert (fields.number, fields.total_with_tax) == (inv.number, Decimal("1220.90"))
    assert fields.where["number"] == "CustomTag InvoiceNo"


# -- signatures -----------------------------------------------------------------------------


def test_a_verifier_is_asked_about_each_ofd_signature() -> None:
    inv = invoice()
    verdict = check_invoice(invoice_ofd(inv), invoice_xml(inv), verify_signature=_digests)
    ofd_sig = verdict.signatures[-1]
    assert (ofd_sig.verified, ofd_sig.detail) == (True, "digests hold")
    assert verdict.consistent
    assert N.SIGNATURES_NOT_VERIFIED not in _notices(verdict)


def test_a_file_changed_after_the_seal_fails_the_verifier() -> None:
    inv = invoice()
    files = unzip_ofd(invoice_ofd(inv))
    files["Doc_0/PublicRes.xml"] = files["Doc_0/PublicRes.xml"].replace("楷体".encode(), b"SimHei")
    verdict = check_invoice(zip_ofd(files), invoice_xml(inv), verify_signature=_digests)

    assert not verdict.consistent  # the fields agree, the seal does not hold
    assert _problems(verdict) == {(P.SIGNATURE_NOT_VALID, None, "ofd")}
    assert verdict.signatures[-1].verified is False
    assert verdict.signatures[-1].detail == "Doc_0/PublicRes.xml"


def test_a_verifier_that_refuses_counts_as_not_verified() -> None:
    class Broken(EsealError):
        code = "malformed_signature"

    def refuse(package: OfdPackage, ref: OfdSignatureRef) -> SignatureCheck:
        raise Broken("the SES_Signature cannot be read")

    inv = invoice()
    verdict = check_invoice(invoice_ofd(inv), None, verify_signature=refuse)
    assert verdict.signatures[-1].verified is False
    assert verdict.signatures[-1].detail == "malformed_signature"
    assert (P.SIGNATURE_NOT_VALID, None, "ofd") in _problems(verdict)


def test_a_signature_whose_file_is_gone_is_not_valid() -> None:
    files = unzip_ofd(invoice_ofd(invoice()))
    del files["Doc_0/Signs/Sign_0/Signature.xml"]
    verdict = check_invoice(zip_ofd(files), None)
    assert verdict.signatures[-1].verified is False
    assert (P.SIGNATURE_NOT_VALID, None, "ofd") in _problems(verdict)


def test_an_ofd_whose_signature_list_was_removed_is_refused() -> None:
    files = unzip_ofd(invoice_ofd(invoice()))
    del files["Doc_0/Signs/Signatures.xml"]
    with pytest.raises(InvalidOfd, match="signature list"):
        check_invoice(zip_ofd(files), None)


# -- refusals -------------------------------------------------------------------------------

LAUGHS = (
    b'<?xml version="1.0"?><!DOCTYPE EInvoice [<!ENTITY a "aaaaaaaaaa">'
    + b"".join(
        f'<!ENTITY {chr(98 + i)} "{("&" + chr(97 + i) + ";") * 10}">'.encode() for i in range(8)
    )
    + b"]><EInvoice><Header><EIid>&i;</EIid></Header></EInvoice>"
)
EXTERNAL = (
    b'<?xml version="1.0"?><!DOCTYPE EInvoice [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
    b"<EInvoice><Header><EIid>&x;</EIid></Header></EInvoice>"
)


@pytest.mark.parametrize(
    ("xml", "says"),
    [
        (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n", "cannot be read"),
        (b"", "empty"),
        (b"<Invoice><InvoiceNumber>1</InvoiceNumber></Invoice>", "root element"),
        (LAUGHS, "DTD or entities"),
        (EXTERNAL, "DTD or entities"),
        (b"<EInvoice><Header><Version>0.32</Version></Header></EInvoice>", "no invoice number"),
        (
            b"<EInvoice><TaxSupervisionInfo><InvoiceNumber>1</InvoiceNumber>"
            b"<InvoiceNumber>2</InvoiceNumber></TaxSupervisionInfo></EInvoice>",
            "more than once",
        ),
    ],
    ids=["pdf", "empty", "other-root", "billion-laughs", "external-entity", "no-number", "twice"],
)
def test_an_xml_that_is_not_an_invoice_is_refused(xml: bytes, says: str) -> None:
    with pytest.raises(InvalidInvoice, match=says) as caught:
        check_invoice(None, xml)
    assert caught.value.code == "invalid_invoice"
    assert "passwd" not in caught.value.detail and "aaaa" not in caught.value.detail


def test_an_ofd_that_is_not_an_invoice_is_refused() -> None:
    with pytest.raises(InvalidInvoice, match="not a 数电票") as caught:
        check_invoice(simple_ofd(), None)  # a contract, not an invoice
    assert caught.value.code == "invalid_invoice"


@pytest.mark.parametrize(
    "ofd",
    [b"%PDF-1.7 not a zip", b"", invoice_xml(Invoice())],
    ids=["pdf", "empty", "an-xml-in-the-ofd-field"],
)
def test_a_file_that_is_not_an_ofd_is_refused(ofd: bytes) -> None:
    with pytest.raises(InvalidOfd) as caught:
        check_invoice(ofd, None)
    assert caught.value.code == "invalid_ofd"


def test_an_ofd_tag_file_with_entities_is_refused() -> None:
    def entities(files: dict[str, bytes]) -> None:
        files["Doc_0/Tags/CustomTag.xml"] = LAUGHS

    with pytest.raises(InvalidOfd, match="DOCTYPE"):
        check_invoice(invoice_ofd(invoice(), parts=entities), None)


def test_an_ofd_tag_given_twice_is_refused() -> None:
    def twice(files: dict[str, bytes]) -> None:
        tags = files["Doc_0/Tags/CustomTag.xml"]
        first = tags.index(b"<ofd:InvoiceNo>")
        end = tags.index(b"</ofd:InvoiceNo>") + len(b"</ofd:InvoiceNo>")
        files["Doc_0/Tags/CustomTag.xml"] = tags[:end] + tags[first:end] + tags[end:]

    with pytest.raises(InvalidInvoice, match="InvoiceNo more than once"):
        check_invoice(invoice_ofd(invoice(), parts=twice), None)


def test_neither_file_is_refused() -> None:
    with pytest.raises(InvalidInvoice, match="OFD, its XML, or both"):
        check_invoice(None, None)
