"""Writes ``samples/cong-van.pdf``: a one-page Vietnamese official letter (công văn) for the guides.

Run from the repository root: ``python samples/make_samples.py`` (``-o`` another folder). The text is
laid out with pyHanko's text boxes in the font the library ships for signature appearances (DejaVu
Sans, which covers every Vietnamese letter), embedded as a subset with a ToUnicode map, so pdftotext
reads the letter back and every viewer shows it the same. The bottom right of the page is left blank
for a visible signature: ``--visible 1:330,80,560,200`` in the guides.
"""

from __future__ import annotations

import argparse
from io import BytesIO
from pathlib import Path

from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.font.opentype import GlyphAccumulatorFactory
from pyhanko.pdf_utils.layout import AxisAlignment, BoxConstraints, Margins, SimpleBoxLayoutRule
from pyhanko.pdf_utils.text import TextBox, TextBoxStyle
from pyhanko.pdf_utils.writer import PdfFileWriter

from esign.pdf.appearance import font_path

A4 = (595, 842)
LEFT, RIGHT = 60, 555

# (x, y of the box's lower left corner, width, height, font size, centred?, lines)
BLOCKS: list[tuple[int, int, int, int, int, bool, list[str]]] = [
    (40, 730, 230, 60, 10, True, ["UBND TỈNH QUẢNG NINH", "SỞ TƯ PHÁP", "", "Số: 125/STP-HCTP"]),
    (
        270,
        730,
        300,
        60,
        10,
        True,
        [
            "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM",
            "Độc lập - Tự do - Hạnh phúc",
            "",
            "Quảng Ninh, ngày 20 tháng 11 năm 2026",
        ],
    ),
    (40, 690, 230, 30, 9, True, ["V/v triển khai chữ ký số", "trong văn bản điện tử"]),
    (LEFT, 650, RIGHT - LEFT, 20, 11, True, ["Kính gửi: Các phòng, đơn vị thuộc Sở"]),
    (
        LEFT,
        380,
        RIGHT - LEFT,
        260,
        11,
        False,
        [
            "Thực hiện Nghị định số 30/2020/NĐ-CP ngày 05/3/2020 của Chính phủ về công tác văn thư",
            "và Quyết định số 20/2020/QĐ-TTg ngày 22/7/2020 của Thủ tướng Chính phủ về mã định danh",
            "điện tử của các cơ quan, tổ chức, Sở Tư pháp đề nghị các phòng, đơn vị:",
            "",
            "1. Ký số toàn bộ văn bản đi bằng chứng thư số của cơ quan và của người có thẩm quyền",
            "    trước khi gửi qua Trục liên thông văn bản quốc gia.",
            "2. Kiểm tra chữ ký số của văn bản đến; chỉ tiếp nhận văn bản có chữ ký hợp lệ và còn",
            "    hiệu lực tại thời điểm ký.",
            "3. Báo cáo kết quả triển khai về Văn phòng Sở (mã định danh H49.22) trước ngày",
            "    15/12/2026.",
            "",
            "Trong quá trình thực hiện, nếu có vướng mắc, đề nghị liên hệ Văn phòng Sở, điện thoại",
            "0203 3835 123, thư điện tử vanphong@stp.quangninh.gov.vn để được hướng dẫn.",
            "",
            "Trân trọng./.",
        ],
    ),
    (LEFT, 230, 240, 70, 9, False, ["Nơi nhận:", "- Như trên;", "- Giám đốc Sở (để b/c);", "- Lưu: VT, HCTP."]),
    (330, 250, 230, 45, 11, True, ["KT. GIÁM ĐỐC", "PHÓ GIÁM ĐỐC"]),
    (330, 30, 230, 25, 11, True, ["Nguyễn Văn An"]),
]


def letter() -> bytes:
    """The letter as PDF bytes."""
    writer = PdfFileWriter()
    page = generic.DictionaryObject(
        {
            generic.NameObject("/Type"): generic.NameObject("/Page"),
            generic.NameObject("/MediaBox"): generic.ArrayObject([generic.NumberObject(v) for v in (0, 0, *A4)]),
            generic.NameObject("/Resources"): generic.DictionaryObject(),
        }
    )
    writer.insert_page(page)
    xobjects = generic.DictionaryObject()
    placements = []
    for number, (x, y, width, height, size, centred, lines) in enumerate(BLOCKS, start=1):
        rule = SimpleBoxLayoutRule(
            x_align=AxisAlignment.ALIGN_MID if centred else AxisAlignment.ALIGN_MIN,
            y_align=AxisAlignment.ALIGN_MAX,
            margins=Margins(0, 0, 0, 0),
        )
        style = TextBoxStyle(
            font=GlyphAccumulatorFactory(str(font_path()), font_size=size),
            font_size=size,
            leading=size + 4,
            border_width=0,
            box_layout_rule=rule,
        )
        box = TextBox(style, writer, box=BoxConstraints(width=width, height=height))
        box.content = "\n".join(lines)
        name = f"/Block{number}"
        xobjects[generic.NameObject(name)] = writer.add_object(box.as_form_xobject())
        placements.append(f"q 1 0 0 1 {x} {y} cm {name} Do Q")
    page["/Resources"][generic.NameObject("/XObject")] = xobjects
    content = generic.StreamObject(stream_data="\n".join(placements).encode())
    page[generic.NameObject("/Contents")] = writer.add_object(content)
    writer.set_info(
        generic.DictionaryObject(
            {
                generic.NameObject("/Title"): generic.TextStringObject("Công văn 125/STP-HCTP (mẫu)"),
            }
        )
    )
    out = BytesIO()
    writer.write(out)
    return out.getvalue()


def main() -> None:
    """Write the samples that are generated (the e-invoice XML is written by hand)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-o", "--output", type=Path, default=Path(__file__).parent, help="folder to write into")
    target = parser.parse_args().output
    target.mkdir(parents=True, exist_ok=True)
    (target / "cong-van.pdf").write_bytes(letter())
    print(f"wrote {target / 'cong-van.pdf'}")


if __name__ == "__main__":
    main()
