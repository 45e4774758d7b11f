"""数电票 made on the spot: the XML 数据文件 and the OFD 版式文件 of one invoice (imported as
``invoices``).

Both are shaped like the tax platform's files as public parsers of real ones show them (see
``signer/invoice/xml_invoice.py`` and ``ofd_invoice.py`` for the sources):

* the XML: ``EInvoice`` without namespace, ``Header`` (``EIid``, ``EInvoiceTag``, ``Version``,
  ``InherentLabel``), ``EInvoiceData`` (seller, buyer, ``BasicInformation`` with
  ``TotalTax-includedAmount``, one ``IssuItemInformation`` per line), ``TaxSupervisionInfo``;
* the OFD: ``OFD.xml`` with ``DocInfo/CustomDatas`` (发票号码, 开票日期 as 2025年01月06日, ...);
  ``Doc_0/Document.xml`` with a template page (the printed labels) and one page (the values,
  text objects numbered from 6922 as real files number them); ``Tags/CustomTags.xml`` →
  ``Tags/CustomTag.xml`` whose elements (``InvoiceNo``, ``Buyer/BuyerTaxID``,
  ``TaxInclusiveTotalAmount``...) point at those objects, amounts through two references, the
  ``¥`` and the digits, as real ones do; optionally ``Signs/Signatures.xml`` with one seal whose
  ``Signature.xml`` lists the SM3 of the files it protects.

The seal's ``SignedValue.dat`` is not an SES_Signature (no tax bureau key is at hand): a test
that verifies signatures checks what it can here, the SM3 digests of the protected files.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import date
from decimal import Decimal
from xml.sax.saxutils import escape, quoteattr

from defusedxml.ElementTree import fromstring

from keystore.sm2 import sm3
from ofds import zip_ofd

__all__ = [
    "OFD_NS",
    "Invoice",
    "Item",
    "invoice",
    "invoice_ofd",
    "invoice_xml",
    "replace",
    "signature_digests_hold",
]

OFD_NS = "http://www.ofdspec.org/2016"
_HEAD = '<?xml version="1.0" encoding="UTF-8"?>'


@dataclass(frozen=True)
class Item:
    name: str
    spec: str
    unit: str
    quantity: Decimal
    price: Decimal
    rate: Decimal

    @property
    def amount(self) -> Decimal:
        return (self.quantity * self.price).quantize(Decimal("0.01"))

    @property
    def tax(self) -> Decimal:
        return (self.amount * self.rate).quantize(Decimal("0.01"))


_6, _13 = Decimal("0.06"), Decimal("0.13")


@dataclass(frozen=True)
class Invoice:
    """One invoice; the amounts are the items' unless given (to make an invoice that does
    not add up)."""

    number: str = "25442000000123456789"
    issue_date: date = date(2025, 3, 18)
    seller_name: str = "深圳市前海数智科技有限公司"
    seller_tax_id: str = "914403001922038216"
    buyer_name: str = "北京京东世纪贸易有限公司"
    buyer_tax_id: str | None = "91110108551385082Q"
    special: bool = True  #: 增值税专用发票, else 普通发票
    drawer: str = "王丽"
    items: tuple[Item, ...] = field(
        default_factory=lambda: (
            Item("*信息技术服务*软件开发服务", "V2.0", "项", Decimal(1), Decimal(800), _6),
            Item("*计算机配套产品*固态硬盘", "1TB", "块", Decimal(2), Decimal(165), _13),
        )
    )
    amount_without_tax: Decimal | None = None
    tax: Decimal | None = None
    total_with_tax: Decimal | None = None

    @property
    def without(self) -> Decimal:
        if self.amount_without_tax is not None:
            return self.amount_without_tax
        return sum((i.amount for i in self.items), Decimal("0.00"))

    @property
    def tax_sum(self) -> Decimal:
        if self.tax is not None:
            return self.tax
        return sum((i.tax for i in self.items), Decimal("0.00"))

    @property
    def total(self) -> Decimal:
        if self.total_with_tax is not None:
            return self.total_with_tax
        return self.without + self.tax_sum

    @property
    def kind(self) -> str:
        return "增值税专用发票" if self.special else "普通发票"


def invoice(**changes: object) -> Invoice:
    """The default invoice (two lines: 1130.00 without tax, 90.90 tax, 1220.90 in all), with
    ``changes``."""
    return replace(Invoice(), **changes)  # type: ignore[arg-type]


def _rate(rate: Decimal) -> str:
    return f"{rate * 100:.0f}%"


def _cn_amount(value: Decimal) -> str:
    """价税合计（大写）: enough of the rules for the amounts the tests use."""
    digits = "零壹贰叁肆伍陆柒捌玖"
    units = ["", "拾", "佰", "仟"]
    yuan = int(value)
    fen = int((value - yuan) * 100)
    text = ""
    s = str(yuan)
    for i, ch in enumerate(s):
        d = int(ch)
        pos = len(s) - 1 - i
        if d:
            text += digits[d] + units[pos % 4]
        elif not text.endswith("零") and pos:
            text += "零"
        if pos == 4:
            text = text.rstrip("零") + "万"
    text = text.rstrip("零") + "圆"
    if fen == 0:
        return text + "整"
    jiao, f = divmod(fen, 10)
    return text + (digits[jiao] + "角" if jiao else "零") + (digits[f] + "分" if f else "")


# -- the XML --------------------------------------------------------------------------------


def invoice_xml(
    inv: Invoice,
    *,
    total_tag: str = "TotalTax-includedAmount",
    amount: Callable[[Decimal], str] = lambda d: f"{d:.2f}",
    issue_time: str | None = None,
    eiid: str | None = None,
    signed: bool = True,
) -> bytes:
    """The XML 数据文件 of ``inv``.  ``amount`` writes the totals; ``issue_time`` replaces the
    ``IssueTime`` text; ``eiid`` the ``Header/EIid`` (default: the number)."""
    label = "01" if inv.special else "02"
    buyer_id = f"<BuyerIdNum>{escape(inv.buyer_tax_id)}</BuyerIdNum>" if inv.buyer_tax_id else ""
    lines = "".join(
        "<IssuItemInformation>"
        f"<ItemName>{escape(i.name)}</ItemName><SpecMod>{escape(i.spec)}</SpecMod>"
        f"<MeaUnits>{escape(i.unit)}</MeaUnits><Quantity>{i.quantity}</Quantity>"
        f"<UnPrice>{i.price}</UnPrice><Amount>{i.amount:.2f}</Amount>"
        f"<TaxRate>{i.rate}</TaxRate><ComTaxAm>{i.tax:.2f}</ComTaxAm>"
        f"<TotaltaxIncludedAmount>{i.amount + i.tax:.2f}</TotaltaxIncludedAmount>"
        "<TaxClassificationCode>3040201010000000000</TaxClassificationCode>"
        "</IssuItemInformation>"
        for i in inv.items
    )
    signature = (
        "<TaxBureauSignature><Reference>EInvoiceData</Reference>"
        "<SignatureAlgorithm>SM2</SignatureAlgorithm><SignatureFormat>GB/T 38540</SignatureFormat>"
        f"<SignatureTime>{inv.issue_date:%Y-%m-%d} 10:21:07</SignatureTime>"
        f"<SignatureValue>{base64.b64encode(sm3(inv.number.encode())).decode()}</SignatureValue>"
        "</TaxBureauSignature>"
        if signed
        else ""
    )
    text = (
        f"{_HEAD}<EInvoice>"
        "<Header>"
        f"<EIid>{escape(eiid if eiid is not None else inv.number)}</EIid>"
        "<EInvoiceTag>SWEI4400</EInvoiceTag><Version>0.32</Version>"
        "<InherentLabel>"
        "<InIssuType><LabelCode>Y</LabelCode><LabelName>是否蓝字发票标志</LabelName></InIssuType>"
        "<EInvoiceType><LabelCode>02</LabelCode><LabelName>电子发票</LabelName></EInvoiceType>"
        f"<GeneralOrSpecialVAT><LabelCode>{label}</LabelCode>"
        f"<LabelName>{inv.kind}</LabelName></GeneralOrSpecialVAT>"
        "</InherentLabel></Header>"
        "<EInvoiceData>"
        "<SellerInformation>"
        f"<SellerIdNum>{escape(inv.seller_tax_id)}</SellerIdNum>"
        f"<SellerName>{escape(inv.seller_name)}</SellerName>"
        "<SellerAddr>深圳市前海深港合作区南山街道梦海大道5035号</SellerAddr>"
        "<SellerTelNum>0755-86000000</SellerTelNum>"
        "<SellerBankName>招商银行深圳分行营业部</SellerBankName>"
        "<SellerBankAccNum>755912345610801</SellerBankAccNum>"
        "</SellerInformation>"
        f"<BuyerInformation>{buyer_id}<BuyerName>{escape(inv.buyer_name)}</BuyerName>"
        "</BuyerInformation>"
        "<BasicInformation>"
        f"<TotalAmWithoutTax>{amount(inv.without)}</TotalAmWithoutTax>"
        f"<TotalTaxAm>{amount(inv.tax_sum)}</TotalTaxAm>"
        f"<{total_tag}>{amount(inv.total)}</{total_tag}>"
        f"<TotalTax-includedAmountInChinese>{_cn_amount(inv.total)}"
        "</TotalTax-includedAmountInChinese>"
        f"<Drawer>{escape(inv.drawer)}</Drawer>"
        f"<RequestTime>{inv.issue_date:%Y-%m-%d} 10:21:05</RequestTime>"
        "</BasicInformation>"
        f"{lines}"
        "</EInvoiceData>"
        "<TaxSupervisionInfo>"
        f"<InvoiceNumber>{escape(inv.number)}</InvoiceNumber>"
        f"<IssueTime>{escape(issue_time or f'{inv.issue_date:%Y-%m-%d}')}</IssueTime>"
        "<TaxBureauCode>14403000000</TaxBureauCode>"
        "<TaxBureauName>国家税务总局深圳市税务局</TaxBureauName>"
        "</TaxSupervisionInfo>"
        f"{signature}"
        "</EInvoice>"
    )
    return text.encode("utf-8")


# -- the OFD --------------------------------------------------------------------------------


def _o(tag: str, body: str = "", **attrs: str) -> str:
    a = "".join(f" {k}={quoteattr(v)}" for k, v in attrs.items())
    return f"<ofd:{tag}{a}>{body}</ofd:{tag}>" if body or not attrs else f"<ofd:{tag}{a}/>"


def _doc(root: str, body: str, **attrs: str) -> bytes:
    return (_HEAD + _o(root, body, **{"xmlns:ofd": OFD_NS, **attrs})).encode("utf-8")


@dataclass
class _Page:
    """The page being written: text objects with their IDs, from 6922 as in real files."""

    next_id: int = 6922
    objects: list[str] = field(default_factory=list)

    def text(self, value: str, x: float, y: float, size: float = 3.175) -> str:
        oid = str(self.next_id)
        self.next_id += 1
        self.objects.append(
            _o(
                "TextObject",
                _o("FillColor", Value="0 0 0")
                + _o("TextCode", escape(value), X="0", Y=f"{size * 0.86:.3f}"),
                ID=oid,
                Boundary=f"{x} {y} {max(len(value), 1) * size:.2f} {size * 1.5:.2f}",
                Font="4",
                Size=f"{size}",
            )
        )
        return oid


def _ref(*ids: str) -> str:
    return "".join(_o("ObjectRef", oid, PageRef="1") for oid in ids)


def invoice_ofd(
    inv: Invoice,
    *,
    amount: Callable[[Decimal], str] = lambda d: f"{d:.2f}",
    custom_datas: dict[str, str] | None = None,
    tags: bool = True,
    signed: bool = True,
    parts: Callable[[dict[str, bytes]], None] | None = None,
) -> bytes:
    """The OFD 版式文件 of ``inv``.

    ``amount`` writes the amounts shown (after a separate ``¥``); ``custom_datas`` replaces
    entries of ``OFD.xml``'s CustomDatas (an empty value removes one); ``tags=False`` leaves
    the custom tags out; ``signed`` adds one seal over every other file; ``parts`` may change
    the files before they are signed and zipped.
    """
    p = _Page()
    tpl = _Page(next_id=3)
    title = f"电子发票（{inv.kind}）"
    for text, x, y in (
        (title, 56.0, 8.0),
        ("发票号码：", 142.0, 10.9),
        ("开票日期：", 142.0, 16.7),
        ("购买方信息", 6.0, 30.0),
        ("销售方信息", 106.0, 30.0),
        ("名称：", 12.0, 30.5),
        ("统一社会信用代码/纳税人识别号：", 12.0, 40.0),
        ("项目名称", 12.0, 52.0),
        ("金额", 110.0, 52.0),
        ("税率/征收率", 130.0, 52.0),
        ("税额", 170.0, 52.0),
        ("合计", 20.0, 92.0),
        ("价税合计（大写）", 20.0, 100.0),
        ("（小写）", 140.0, 100.0),
        ("开票人：", 12.0, 132.0),
    ):
        tpl.text(text, x, y)
    number = p.text(inv.number, 165.0, 10.9)
    issued = p.text(f"{inv.issue_date:%Y年%m月%d日}", 165.0, 16.7)
    buyer_name = p.text(inv.buyer_name, 24.0, 30.5)
    buyer_id = p.text(inv.buyer_tax_id, 60.0, 40.0) if inv.buyer_tax_id else None
    seller_name = p.text(inv.seller_name, 124.0, 30.5)
    seller_id = p.text(inv.seller_tax_id, 160.0, 40.0)
    item_tags = []
    for n, item in enumerate(inv.items):
        y = 58.0 + 5 * n
        item_tags.append(
            _o("Item", _ref(p.text(item.name, 12.0, y)))
            + _o("Specification", _ref(p.text(item.spec, 50.0, y)))
            + _o("MeasurementDimension", _ref(p.text(item.unit, 70.0, y)))
            + _o("Quantity", _ref(p.text(str(item.quantity), 80.0, y)))
            + _o("Price", _ref(p.text(str(item.price), 92.0, y)))
            + _o("Amount", _ref(p.text(f"{item.amount:.2f}", 110.0, y)))
            + _o("TaxScheme", _ref(p.text(_rate(item.rate), 130.0, y)))
            + _o("TaxAmount", _ref(p.text(f"{item.tax:.2f}", 170.0, y)))
        )
    yuan_without = p.text("¥", 106.0, 92.0)
    without = p.text(amount(inv.without), 109.0, 92.0)
    yuan_tax = p.text("¥", 166.0, 92.0)
    tax = p.text(amount(inv.tax_sum), 169.0, 92.0)
    cn = p.text(_cn_amount(inv.total), 60.0, 100.0)
    yuan_total = p.text("¥", 152.0, 100.0)
    total = p.text(amount(inv.total), 155.0, 100.0)
    clerk = p.text(inv.drawer, 28.0, 132.0)

    buyer = _o("BuyerName", _ref(buyer_name)) + (
        _o("BuyerTaxID", _ref(buyer_id)) if buyer_id else ""
    )
    custom_tag = _doc(
        "root",
        _o("InvoiceNo", _ref(number))
        + _o("IssueDate", _ref(issued))
        + _o("Buyer", buyer)
        + _o("Seller", _o("SellerName", _ref(seller_name)) + _o("SellerTaxID", _ref(seller_id)))
        + "".join(item_tags)
        + _o("TaxExclusiveTotalAmount", _ref(yuan_without, without))
        + _o("TaxTotalAmount", _ref(yuan_tax, tax))
        + _o("TaxInclusiveTotalAmountWithWords", _ref(cn))
        + _o("TaxInclusiveTotalAmount", _ref(yuan_total, total))
        + _o("InvoiceClerk", _ref(clerk)),
    )
    datas = {
        "native-producer": "SuwellFormSDK",
        "producer-version": "1.1.22.0112",
        "发票号码": inv.number,
        "合计税额": f"{inv.tax_sum:.2f}",
        "合计金额": f"{inv.without:.2f}",
        "开票日期": f"{inv.issue_date:%Y年%m月%d日}",
        "购买方纳税人识别号": inv.buyer_tax_id or "",
        "销售方纳税人识别号": inv.seller_tax_id,
    }
    datas.update(custom_datas or {})
    custom = "".join(_o("CustomData", escape(v), Name=k) for k, v in datas.items() if v)
    ofd_xml = _doc(
        "OFD",
        _o(
            "DocBody",
            _o(
                "DocInfo",
                _o("DocID", "2195d5df959c419cb575dab5eeabb065")
                + _o("Title", title)
                + _o("CreationDate", f"{inv.issue_date:%Y-%m-%d}")
                + _o("Creator", "国家税务总局全国统一电子发票服务平台")
                + _o("CustomDatas", custom),
            )
            + _o("DocRoot", "Doc_0/Document.xml")
            + (_o("Signatures", "Doc_0/Signs/Signatures.xml") if signed else ""),
        ),
        Version="1.1",
        DocType="OFD",
    )
    document = _doc(
        "Document",
        _o(
            "CommonData",
            _o("MaxUnitID", str(p.next_id))
            + _o("PageArea", _o("PhysicalBox", "0 0 210 140"))
            + _o("PublicRes", "PublicRes.xml")
            + _o("TemplatePage", ID="2", BaseLoc="Tpls/Tpl_0/Content.xml"),
        )
        + _o("Pages", _o("Page", ID="1", BaseLoc="Pages/Page_0/Content.xml"))
        + (_o("CustomTags", "Tags/CustomTags.xml") if tags else ""),
    )
    files: dict[str, bytes] = {
        "OFD.xml": ofd_xml,
        "Doc_0/Document.xml": document,
        "Doc_0/PublicRes.xml": _doc(
            "Res",
            _o("Fonts", _o("Font", ID="4", FontName="楷体", FamilyName="楷体")),
            BaseLoc="Res",
        ),
        "Doc_0/Tpls/Tpl_0/Content.xml": _doc(
            "Page", _o("Content", _o("Layer", "".join(tpl.objects), ID="2"))
        ),
        "Doc_0/Pages/Page_0/Content.xml": _doc(
            "Page",
            _o("Template", TemplateID="2", ZOrder="Background")
            + _o("Content", _o("Layer", "".join(p.objects), ID="6921")),
        ),
    }
    if tags:
        files["Doc_0/Tags/CustomTags.xml"] = _doc(
            "CustomTags", _o("CustomTag", _o("FileLoc", "CustomTag.xml"), TypeID="eInvoice")
        )
        files["Doc_0/Tags/CustomTag.xml"] = custom_tag
    if parts is not None:
        parts(files)
    if signed:
        _sign(files)
    return zip_ofd(files)


def _sign(files: dict[str, bytes]) -> None:
    """One seal (Signatures.xml, Sign_0/Signature.xml) whose References carry the SM3 of every
    file present, as GB/T 33190 §18 lays them out."""
    refs = "".join(
        _o(
            "Reference",
            _o("CheckValue", base64.b64encode(sm3(data)).decode()),
            FileRef=f"/{name}",
        )
        for name, data in sorted(files.items())
    )
    files["Doc_0/Signs/Signatures.xml"] = _doc(
        "Signatures",
        _o("MaxSignId", "1")
        + _o("Signature", ID="1", Type="Seal", BaseLoc="/Doc_0/Signs/Sign_0/Signature.xml"),
    )
    files["Doc_0/Signs/Sign_0/Signature.xml"] = _doc(
        "Signature",
        _o(
            "SignedInfo",
            _o("Provider", ProviderName="国家税务总局", Version="1.0", Company="国家税务总局")
            + _o("SignatureMethod", "1.2.156.10197.1.501")
            + _o("SignatureDateTime", "20250318102107.000Z")
            + _o("References", refs, CheckMethod="1.2.156.10197.1.401")
            + _o("StampAnnot", ID="1", PageRef="1", Boundary="85 4 40 26")
            + _o("Seal", _o("BaseLoc", "/Doc_0/Signs/Sign_0/Seal.esl")),
        )
        + _o("SignedValue", "/Doc_0/Signs/Sign_0/SignedValue.dat"),
    )
    files["Doc_0/Signs/Sign_0/Seal.esl"] = b"0\x03\x02\x01\x04"
    files["Doc_0/Signs/Sign_0/SignedValue.dat"] = b"0\x03\x02\x01\x04"


def signature_digests_hold(read: Callable[[str], bytes], signature_xml: bytes) -> list[str]:
    """The files a ``Signature.xml`` protects whose SM3 no longer matches (empty: all hold).

    Only what can be checked without the tax bureau's key; the test verifier uses it."""
    root = fromstring(signature_xml, forbid_dtd=True)
    changed = []
    for ref in root.iter(f"{{{OFD_NS}}}Reference"):
        name = ref.get("FileRef", "").lstrip("/")
        check = ref.find(f"{{{OFD_NS}}}CheckValue")
        expected = base64.b64decode((check.text or "") if check is not None else "")
        try:
            actual = sm3(read(name))
        except KeyError:
            changed.append(name)
            continue
        if actual != expected:
            changed.append(name)
    return changed
