"""The 数电票 OFD (the tax platform's 版式文件): the invoice's values as the page shows them.

A 数电票 OFD says what it shows in two places, both read here:

1. **custom tags** (GB/T 33190 §16): ``Document.xml``'s ``CustomTags`` names
   ``Tags/CustomTags.xml``, whose ``CustomTag`` (``TypeID``, ``FileLoc``) names the tag file,
   ``Tags/CustomTag.xml``.  Its elements name invoice fields and hold ``ObjectRef``
   (``PageRef`` = the page's ID, text = a ``TextObject``'s ID); the value is the text of those
   objects' ``TextCode`` s, joined in order.  Amounts have two references, the ``¥`` and the
   digits; a long name may be split over several objects.  These are the values a person sees
   on the page, so they are the OFD's values for the check.
2. **metadata**: ``OFD.xml``'s ``DocInfo/CustomDatas/CustomData`` with Chinese names.  Used
   for a field the tags do not give; a value that differs from the tagged one is reported as
   ``source_inconsistent`` (the page and the file's metadata disagree).

Field by field, the tag element (local name, anywhere in the tag file) and the CustomData Name:

* number: ``InvoiceNo``; 发票号码
* issue_date: ``IssueDate`` (``2025年01月06日``); 开票日期
* buyer_name, buyer_tax_id: ``Buyer/BuyerName``, ``Buyer/BuyerTaxID``; 购买方名称,
  购买方纳税人识别号
* seller_name, seller_tax_id: ``Seller/SellerName``, ``Seller/SellerTaxID``; 销售方名称,
  销售方纳税人识别号
* amount_without_tax: ``TaxExclusiveTotalAmount``; 合计金额
* tax: ``TaxTotalAmount``; 合计税额
* total_with_tax: ``TaxInclusiveTotalAmount``; 价税合计

Sources that fixed these names (public repositories read through the code search):

* a real platform OFD's ``OFD.xml``, quoted in a Rust invoice reader (Creator nuonuo,
  ``native-producer`` SuwellFormSDK): CustomData 发票号码 (20 digits), 合计税额, 合计金额,
  开票日期 ``2025年01月06日``, 购买方纳税人识别号, 销售方纳税人识别号;
* ``hqbobo/cntax`` (``def.go``): the same CustomData names from ``OFD.xml``, page values by
  ``TextObject`` ID in ``Doc_0/Pages/Page_0/Content.xml`` (6924 buyer name, 6927 seller name,
  6936 the total), the kind 电子发票（普通发票） in ``Doc_0/Tpls/Tpl_0/Content.xml``;
* three independent OFD invoice parsers (Python) whose fixtures and comments describe
  ``Doc_0/Tags/CustomTag.xml``: root ``ofd:root`` in the OFD namespace, ``InvoiceNo``,
  ``IssueDate``, ``Buyer/BuyerName``, ``Buyer/BuyerTaxID``, ``Seller/SellerName``,
  ``Seller/SellerTaxID``, ``TaxExclusiveTotalAmount``, ``TaxTotalAmount``,
  ``TaxInclusiveTotalAmount``, ``TaxScheme``, ``Item``; ``ObjectRef PageRef="..."`` with IDs
  6922, 6923, 6924, 6926, 6927, 6928, 6930, 6932, 6936 (the same numbering as cntax); "the
  first reference of an amount is the ¥ sign"; item names split over two objects;
  the alias 价税合计 for CustomData;
* ``ofdrw/ofdrw`` ``CustomTag.java`` (``TypeID`` required, ``FileLoc`` required,
  ``SchemaLoc`` optional) and its ``TagsTest`` (``TypeID`` eInvoice, ``FileLoc``
  CustomTag.xml); ``swpudp/OfdSharp`` ``InvoiceInfoBuilder.cs``: the older 增值税电子发票 tag
  file, root ``eInvoice`` in ``http://www.edrm.org.cn/schema/e-invoice/2019`` with the same
  ``InvoiceNo``/``Buyer``/``Seller`` names — read by local name, so it reads too.

Named leniencies: tag and page elements are matched by local name, whatever their namespace;
when ``Document.xml`` has no ``CustomTags`` entry, ``Tags/CustomTag.xml`` beside it is read (the
path every parser above assumes); a reference whose ``PageRef`` does not name a page is looked
up among all pages' and templates' objects (IDs are unique in a document, §7.5).

Signatures: ``OFD.xml``'s ``Signatures`` names ``Signatures.xml``; each ``Signature``
(``ID``, ``Type`` Seal|Sign, ``BaseLoc``) is reported; a verifier may be asked about each
(:mod:`signer.invoice.check`).
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import InvalidInvoice, InvalidOfd
from ..ofd.package import OfdPackage
from .fields import FieldsBuilder
from .model import InvoiceFields
from .xmlparts import Element, children, iter_named, local, text_of

__all__ = ["TAG_FIELDS", "OfdSignatureRef", "ofd_signatures", "parse_invoice_ofd"]

#: tag element -> field
TAG_FIELDS: dict[str, str] = {
    "InvoiceNo": "number",
    "IssueDate": "issue_date",
    "BuyerName": "buyer_name",
    "BuyerTaxID": "buyer_tax_id",
    "SellerName": "seller_name",
    "SellerTaxID": "seller_tax_id",
    "TaxExclusiveTotalAmount": "amount_without_tax",
    "TaxTotalAmount": "tax",
    "TaxInclusiveTotalAmount": "total_with_tax",
}
#: OFD.xml CustomData Name -> field
DATA_FIELDS: dict[str, str] = {
    "发票号码": "number",
    "开票日期": "issue_date",
    "购买方名称": "buyer_name",
    "购买方纳税人识别号": "buyer_tax_id",
    "销售方名称": "seller_name",
    "销售方纳税人识别号": "seller_tax_id",
    "合计金额": "amount_without_tax",
    "合计税额": "tax",
    "价税合计": "total_with_tax",
}


@dataclass(frozen=True)
class OfdSignatureRef:
    """One entry of ``Signatures.xml``."""

    id: str | None
    type: str
    #: the package name of its ``Signature.xml``; None when the package does not hold it
    location: str | None
    #: ``BaseLoc`` as written
    base_loc: str


def parse_invoice_ofd(package: OfdPackage) -> InvoiceFields:
    """The invoice fields of a 数电票 OFD (read with :func:`signer.ofd.package.read_package`).

    :raises InvalidInvoice: the OFD carries no invoice number in its tags nor its metadata, or
        its tags give a field twice.
    :raises InvalidOfd: a part the document names is missing or unreadable.
    """
    fields = FieldsBuilder("ofd")
    document = package.xml(package.doc_root)
    texts = _Texts(package, document)
    for tag_file in _tag_files(package, document):
        _read_tags(package.xml(tag_file), texts, fields)
    _read_custom_datas(package.xml("OFD.xml"), fields)
    if not fields.has("number"):
        raise InvalidInvoice(
            "the OFD is not a 数电票: it carries no invoice number (no custom tag InvoiceNo, "
            "no CustomData 发票号码)"
        )
    return fields.build()


def ofd_signatures(package: OfdPackage) -> list[OfdSignatureRef]:
    """The entries of the signature list that ``OFD.xml`` names (none if it names none).

    :raises InvalidOfd: ``OFD.xml`` names a signature list the package does not hold (the
        signatures were taken out: refused rather than reported as "unsigned").
    """
    if package.signatures is None:
        return []
    if package.signatures not in package:
        raise InvalidOfd("the signature list that OFD.xml names is not in the package")
    root = package.xml(package.signatures)
    found = []
    for entry in children(root, "Signature"):
        base = (entry.get("BaseLoc") or "").strip()
        location = package.locate(base, package.signatures) if base else None
        found.append(
            OfdSignatureRef(
                id=entry.get("ID"),
                type=entry.get("Type") or "Seal",
                location=location,
                base_loc=base,
            )
        )
    return found


class _Texts:
    """The text of every ``TextObject`` of the document's pages and templates, by ID."""

    def __init__(self, package: OfdPackage, document: Element) -> None:
        self.by_page: dict[str, dict[str, str]] = {}
        self.anywhere: dict[str, str] = {}
        for holder, name in (("CommonData", "TemplatePage"), ("Pages", "Page")):
            for section in children(document, holder):
                for page in children(section, name):
                    base = (page.get("BaseLoc") or "").strip()
                    if not base:
                        continue
                    content = package.locate(base, package.doc_root)
                    if content is None:
                        raise InvalidOfd(f"a {name} that Document.xml lists is not in the package")
                    objects = self._objects(package.xml(content))
                    if name == "Page" and page.get("ID"):
                        self.by_page[str(page.get("ID"))] = objects
                    for oid, text in objects.items():
                        self.anywhere.setdefault(oid, text)

    @staticmethod
    def _objects(content: Element) -> dict[str, str]:
        found: dict[str, str] = {}
        for obj in iter_named(content, frozenset({"TextObject"})):
            oid = (obj.get("ID") or "").strip()
            if oid:
                found.setdefault(oid, "".join(c.text or "" for c in children(obj, "TextCode")))
        return found

    def text(self, ref: Element) -> str | None:
        oid = (ref.text or "").strip()
        page = self.by_page.get((ref.get("PageRef") or "").strip())
        if page is not None and oid in page:
            return page[oid]
        return self.anywhere.get(oid)


def _tag_files(package: OfdPackage, document: Element) -> list[str]:
    index = text_of(_first(document, "CustomTags"))
    if index is None:
        # leniency: the conventional place, beside Document.xml
        fallback = package.locate("Tags/CustomTag.xml", package.doc_root)
        return [fallback] if fallback else []
    index_name = package.locate(index, package.doc_root)
    if index_name is None:
        return []
    files = []
    for tag in children(package.xml(index_name), "CustomTag"):
        loc = text_of(_first(tag, "FileLoc"))
        name = package.locate(loc, index_name) if loc else None
        if name is not None and name not in files:
            files.append(name)
    return files


def _read_tags(root: Element, texts: _Texts, fields: FieldsBuilder) -> None:
    seen: set[str] = set()
    for element in iter_named(root, frozenset(TAG_FIELDS)):
        tag = local(element)
        refs = children(element, "ObjectRef")
        if not refs:
            continue
        if tag in seen:
            raise InvalidInvoice(f"the OFD's custom tags give {tag} more than once")
        seen.add(tag)
        parts = [texts.text(ref) for ref in refs]
        where = f"CustomTag {tag}"
        if all(p is None for p in parts):
            fields.unreadable(TAG_FIELDS[tag], where)
            continue
        fields.add(TAG_FIELDS[tag], "".join(p or "" for p in parts), where)


def _read_custom_datas(ofd_xml: Element, fields: FieldsBuilder) -> None:
    body = _first(ofd_xml, "DocBody")
    datas = _first(_first(body, "DocInfo"), "CustomDatas")
    if datas is None:
        return
    for data in children(datas, "CustomData"):
        name = (data.get("Name") or "").strip()
        if name in DATA_FIELDS:
            fields.add(DATA_FIELDS[name], data.text, f"OFD.xml CustomData {name}")


def _first(element: Element | None, name: str) -> Element | None:
    if element is None:
        return None
    found = children(element, name)
    return found[0] if found else None
