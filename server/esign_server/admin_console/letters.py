"""Pairing letters: one A4 page per person, with the QR code that pairs the person's phone.

Written with pyHanko's PDF writer and its QR stamp, in the DejaVu Sans font the signature
appearances embed (Vietnamese letters need an embedded font). Each letter starts a new enrollment:
the code inside is the secret, so a letter is handed to its person only, and it expires.
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass
from datetime import datetime
from importlib import resources
from io import BytesIO

from pyhanko.pdf_utils import generic, layout
from pyhanko.pdf_utils.font.opentype import GlyphAccumulatorFactory
from pyhanko.pdf_utils.text import TextBox, TextBoxStyle
from pyhanko.pdf_utils.writer import PageObject, PdfFileWriter
from pyhanko.stamp import QRStamp, QRStampStyle

from esign.identity import mask_number

A4 = (595.0, 842.0)
MARGIN = 56
TEXT_HEIGHT = 420
QR_BOX = layout.BoxConstraints(width=A4[0] - 2 * MARGIN, height=230)


@dataclass(frozen=True)
class Letter:
    """What one letter says."""

    full_name: str
    cccd: str | None
    organization: str | None
    pairing_url: str
    expires_at: datetime


def _font() -> GlyphAccumulatorFactory:
    return GlyphAccumulatorFactory(str(resources.files("esign.pdf") / "fonts" / "DejaVuSans-upm1000.ttf"))


def _lines(letter: Letter) -> list[str]:
    url = textwrap.wrap(letter.pairing_url, 70, break_long_words=True, break_on_hyphens=False)
    return [
        "THƯ GHÉP ĐIỆN THOẠI KÝ SỐ",
        "",
        f"Kính gửi: {letter.full_name}",
        f"Số CCCD: {mask_number(letter.cccd)}" if letter.cccd else "",
        f"Cơ quan: {letter.organization or ''}",
        "",
        "Để ký số bằng điện thoại, hãy quét mã QR bên dưới bằng camera của điện thoại",
        "và làm theo hướng dẫn trên màn hình (hoặc mở đường dẫn sau):",
        *url,
        "",
        f"Mã có hiệu lực đến {letter.expires_at.strftime('%H:%M ngày %d/%m/%Y')} (UTC) và chỉ dùng được một lần.",
        "Không đưa thư này cho người khác: ai quét mã sẽ ghép điện thoại của họ vào tài khoản của bạn.",
    ]


def _page(writer: PdfFileWriter, font: GlyphAccumulatorFactory, letter: Letter) -> PageObject:
    style = TextBoxStyle(
        font=font,
        font_size=11,
        leading=16,
        box_layout_rule=layout.SimpleBoxLayoutRule(
            x_align=layout.AxisAlignment.ALIGN_MIN,
            y_align=layout.AxisAlignment.ALIGN_MAX,
            margins=layout.Margins(left=MARGIN, right=MARGIN, top=MARGIN, bottom=0),
        ),
    )
    box = TextBox(style, writer, box=layout.BoxConstraints(width=A4[0], height=TEXT_HEIGHT), font_name="F1")
    box.content = "\n".join(_lines(letter))
    content = b"q 1 0 0 1 0 %g cm " % (A4[1] - TEXT_HEIGHT) + box.render() + b" Q\n"
    stream = generic.StreamObject(stream_data=content)
    return PageObject(
        contents=writer.add_object(stream), media_box=(0, 0, *A4), resources=box.resources.as_pdf_object()
    )


def render_letters(letters: list[Letter]) -> bytes:
    """The letters as one PDF, a page each."""
    writer = PdfFileWriter()
    font = _font()
    qr_style = QRStampStyle(
        stamp_text="Quét mã này bằng camera điện thoại",
        text_box_style=TextBoxStyle(font=font, font_size=11),
        border_width=0,
    )
    for index, letter in enumerate(letters):
        writer.insert_page(_page(writer, font, letter))
        QRStamp(writer, letter.pairing_url, qr_style, box=QR_BOX).apply(index, MARGIN, MARGIN + 60)
    writer.set_info(
        generic.DictionaryObject({generic.pdf_name("/Title"): generic.TextStringObject("Thư ghép điện thoại")})
    )
    out = BytesIO()
    writer.write(out)
    return out.getvalue()
