"""A multi-font Chinese contract of about 80 KB, the document the sealing benchmarks time.

Written the way office suites export contracts: several embedded font subsets (a sans CJK face
for the body, a bold serif CJK face for headings, a Latin face for figures and references), a
Flate-compressed content stream per page, a classic cross-reference table.  The text varies from
clause to clause, so the font subsets hold several hundred glyphs, as a real contract's do.
"""

from __future__ import annotations

import io
from pathlib import Path

from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.font.opentype import GlyphAccumulatorFactory
from pyhanko.pdf_utils.generic import pdf_name
from pyhanko.pdf_utils.writer import PageObject, PdfFileWriter

__all__ = ["contract_fonts", "multi_font_contract"]

NOTO_SANS = Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc")
NOTO_SERIF_BOLD = Path("/usr/share/fonts/opentype/noto/NotoSerifCJK-Bold.ttc")
DEJAVU = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")

_CLAUSES = [
    "甲方向乙方采购下列货物，乙方保证所供货物为全新、未使用过的合格产品，并符合国家标准。",
    "货物的名称、规格型号、数量、单价及总价详见本合同附件一《供货清单》，附件与本合同具有同等效力。",
    "乙方应于合同生效后三十日内将货物运至甲方指定地点，运输费用、保险费用及装卸费用由乙方承担。",
    "甲方收到货物后应在七个工作日内组织验收；验收不合格的，乙方应在十日内无偿更换或者修理。",
    "合同总价款为人民币壹佰贰拾捌万陆仟元整，其中包含增值税，税率按照国家现行规定执行。",
    "付款方式：合同签订后甲方支付预付款百分之三十，货物验收合格后支付百分之六十，余款作为质量保证金。",
    "质量保证期为验收合格之日起二十四个月，保证期内因产品质量问题造成的损失由乙方负责赔偿。",
    "乙方逾期交货的，每逾期一日应按合同总价的千分之五向甲方支付违约金，但违约金总额不超过合同总价的百分之十。",
    "甲方逾期付款的，每逾期一日应按未付款项的万分之五向乙方支付滞纳金。",
    "因不可抗力致使一方不能履行合同的，应及时书面通知对方，并在十五日内提供有关机构出具的证明。",
    "双方对在履行本合同过程中知悉的对方商业秘密负有保密义务，该义务不因合同终止而解除。",
    "乙方保证其提供的货物不侵犯任何第三方的专利权、商标权、著作权或者其他知识产权。",
    "本合同的订立、效力、解释、履行及争议的解决均适用中华人民共和国法律。",
    "因本合同引起的或者与本合同有关的任何争议，双方应友好协商解决；协商不成的，提交甲方所在地人民法院诉讼解决。",
    "本合同未尽事宜，双方可另行签订补充协议，补充协议与本合同具有同等法律效力。",
    "本合同一式肆份，甲乙双方各执贰份，自双方法定代表人或者授权代表签字并加盖公章或者合同专用章之日起生效。",
    "乙方应向甲方提供货物的使用说明书、合格证、保修卡及技术培训，培训费用已包含在合同总价中。",
    "在质量保证期内，乙方接到甲方故障通知后应在二十四小时内响应，四十八小时内到达现场排除故障。",
    "任何一方变更通讯地址、开户银行或者账号的，应在变更后三日内书面通知对方，否则由此造成的损失自行承担。",
    "乙方不得将本合同项下的权利义务全部或者部分转让给第三方，经甲方书面同意的除外。",
    "甲方有权对乙方的生产过程进行监督检查，乙方应予以配合并提供必要的便利条件。",
    "货物的所有权及毁损、灭失的风险自甲方验收合格并签署验收单之日起转移至甲方。",
    "乙方开具的发票应真实、合法、有效，因发票问题给甲方造成损失的，乙方应予以赔偿。",
    "合同履行期间，如遇国家政策调整或者市场价格剧烈波动，双方可协商调整价格，但应签订书面协议。",
]

_TERMS = [
    ("合同编号", "HT-2026-SH-004817"),
    ("签订地点", "上海市浦东新区"),
    ("签订日期", "2026-11-22"),
    ("统一社会信用代码", "91310115MA1K4XXXXX"),
    ("开户银行", "中国工商银行上海分行营业部"),
    ("账号", "1001 2345 6789 0123 456"),
]


class _Fonts:
    def __init__(self, writer: PdfFileWriter, directory: Path) -> None:
        sans, serif = contract_fonts(directory)
        self.engines = {
            "F1": GlyphAccumulatorFactory(str(sans), font_size=11).create_font_engine(writer),
            "F2": GlyphAccumulatorFactory(str(serif), font_size=16).create_font_engine(writer),
            "F3": GlyphAccumulatorFactory(str(DEJAVU), font_size=10).create_font_engine(writer),
        }

    def line(self, font: str, size: float, x: float, y: float, text: str) -> bytes:
        ops = self.engines[font].shape(text, with_actual_text=False).graphics_ops
        return b"BT /%s %g Tf 1 0 0 1 %g %g Tm %s ET\n" % (font.encode(), size, x, y, ops)

    def resources(self) -> generic.DictionaryObject:
        return generic.DictionaryObject(
            {
                pdf_name("/Font"): generic.DictionaryObject(
                    {pdf_name("/" + k): v.as_resource() for k, v in self.engines.items()}
                )
            }
        )


def contract_fonts(directory: Path) -> tuple[Path, Path]:
    """Noto Sans CJK SC Regular and Noto Serif CJK SC Bold as single-face files."""
    from fontTools.ttLib import TTCollection, TTFont

    out = []
    for collection_path, face_name, file_name in (
        (NOTO_SANS, "Noto Sans CJK SC", "NotoSansCJKsc-Regular.otf"),
        (NOTO_SERIF_BOLD, "Noto Serif CJK SC Bold", "NotoSerifCJKsc-Bold.otf"),
    ):
        path = directory / file_name
        if not path.exists():
            collection = TTCollection(str(collection_path), lazy=True)
            index = next(
                i
                for i, face in enumerate(collection.fonts)
                if face["name"].getDebugName(4) == face_name
            )
            TTFont(str(collection_path), fontNumber=index, lazy=True).save(str(path))
        out.append(path)
    return out[0], out[1]


def _wrap(text: str, width: int) -> list[str]:
    return [text[i : i + width] for i in range(0, len(text), width)]


def multi_font_contract(directory: Path, pages: int = 4) -> bytes:
    """A purchase contract in Chinese (three embedded font subsets, about 80 KB at 4 pages);
    ``directory`` caches the extracted font faces."""
    writer = PdfFileWriter(stream_xrefs=False)  # a table, no object streams, as office suites
    writer.set_info(
        generic.DictionaryObject(
            {
                pdf_name("/Title"): generic.TextStringObject("采购合同"),
                pdf_name("/Producer"): generic.TextStringObject("LibreOffice 7.4"),
                pdf_name("/Creator"): generic.TextStringObject("Writer"),
            }
        )
    )
    fonts = _Fonts(writer, directory)
    per_page = -(-len(_CLAUSES) // pages)
    for p in range(pages):
        body = fonts.line("F2", 18, 240, 790, "采购合同" if p == 0 else "采购合同（续）")
        body += fonts.line("F3", 8, 440, 810, f"No. HT-2026-SH-004817  Page {p + 1}/{pages}")
        y = 750.0
        if p == 0:
            for label, value in _TERMS:
                body += fonts.line("F1", 10.5, 72, y, label + "：")
                body += fonts.line("F3", 10, 200, y, value) if value.isascii() else b""
                body += b"" if value.isascii() else fonts.line("F1", 10.5, 200, y, value)
                y -= 18
            y -= 10
        for n, clause in enumerate(_CLAUSES[p * per_page : (p + 1) * per_page]):
            number = p * per_page + n + 1
            body += fonts.line("F2", 12, 72, y, f"第{number}条")
            y -= 18
            for part in _wrap(clause, 36):
                body += fonts.line("F1", 11, 90, y, part)
                y -= 16
            y -= 6
        if p == pages - 1:
            body += fonts.line("F1", 11, 72, 200, "甲方（盖章）：上海某某科技有限公司")
            body += fonts.line("F1", 11, 330, 200, "乙方（盖章）：北京某某设备有限公司")
            body += fonts.line("F1", 11, 72, 160, "法定代表人或授权代表：")
            body += fonts.line("F3", 10, 72, 130, "Date: 2026-11-22")
        content = generic.StreamObject(stream_data=body)
        content.compress()
        page = PageObject(
            contents=writer.add_object(content),
            media_box=(0, 0, 595, 842),
            resources=fonts.resources(),
        )
        writer.insert_page(page)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()
