"""A printable validation report: one A4 page per signature, in Vietnamese or English.

An official files it with the document: the document's name and SHA-256, then per signature the
signer (personal numbers masked unless the verification was asked to reveal them), times, trust
path, revocation (which CRL/OCSP decided), coverage, changes after signing, the policy's rules and
the verdict with its explanation. Written with pyHanko's PDF writer and the DejaVu Sans font the
signature appearances use (Vietnamese letters need an embedded font).
"""

from __future__ import annotations

import hashlib
import re
import textwrap
from collections.abc import Sequence
from datetime import UTC, datetime
from importlib import resources
from io import BytesIO
from pathlib import Path

from pyhanko.pdf_utils import generic, layout
from pyhanko.pdf_utils.text import TextBox, TextBoxStyle
from pyhanko.pdf_utils.writer import PageObject, PdfFileWriter

from esign.errors import InvalidInput
from esign.pdf.font_engine import BundledFont
from esign.report import ValidationReport, explain, summarize, text

A4 = (595.0, 842.0)
MARGIN = 40
FONT_SIZE = 9
TITLE_SIZE = 14
LEADING = 12
WRAP = 100
"""Characters per line: DejaVu Sans at 9 pt averages ~5 pt a character over the 515 pt text width."""
MAX_LINES = int((A4[1] - 3 * MARGIN - 40) // LEADING) - 1


def _font_path() -> Path:
    # The font the signature appearances embed (esign.pdf.appearance.font_path), read as package data.
    return Path(str(resources.files("esign.pdf") / "fonts" / "DejaVuSans-upm1000.ttf"))


def _wrap(lines: Sequence[str]) -> list[str]:
    out: list[str] = []
    for line in lines:
        indent = len(line) - len(line.lstrip(" "))
        pieces = textwrap.wrap(line, WRAP, subsequent_indent=" " * (indent + 4), break_long_words=True) or [""]
        out.extend(pieces)
    return out


def page_lines(
    report: ValidationReport, index: int, total: int, *, document_name: str, digest: str, lang: str
) -> list[str]:
    """The body of one page (below the title, before wrapping): document, the signature's report, the verdict."""
    now = datetime.now(UTC).replace(microsecond=0).isoformat()
    when = report.validation_time.isoformat() if report.validation_time else now
    head = [
        text("report_intro", lang),
        "",
        f"{text('document', lang)}: {document_name}",
        f"{text('sha256', lang)}: {digest}",
        f"{text('validation_time', lang)}: {when}",
        "",
    ]
    # The terminal form pads labels into a column; a proportional font cannot keep it, so one space.
    body = [re.sub(r"^(\s*[^:]+:)\s{2,}", r"\1 ", line) for line in report.to_text(lang).splitlines()]
    sub = f" / {report.sub_indication.value}" if report.sub_indication else ""
    verdict = [
        "",
        f"{text('verdict', lang)}: {report.indication.value}{sub}",
        "  " + explain(report.indication, report.sub_indication, lang),
        "",
        text("page", lang).format(n=index, total=total),
    ]
    return head + body + verdict


def _box(writer: PdfFileWriter, size: int, height: float, font_name: str, lines: list[str]) -> TextBox:
    style = TextBoxStyle(
        font=BundledFont(str(_font_path())),
        font_size=size,
        leading=int(size * 4 / 3),
        box_layout_rule=layout.SimpleBoxLayoutRule(
            x_align=layout.AxisAlignment.ALIGN_MIN,
            y_align=layout.AxisAlignment.ALIGN_MAX,
            margins=layout.Margins(
                left=MARGIN,
                right=MARGIN,
                top=MARGIN if font_name == "F2" else 0,
                bottom=0 if font_name == "F2" else MARGIN,
            ),
        ),
    )
    box = TextBox(style, writer, box=layout.BoxConstraints(width=A4[0], height=height), font_name=font_name)
    box.content = "\n".join(lines)
    return box


def _page(writer: PdfFileWriter, title: str, lines: list[str]) -> PageObject:
    title_height = MARGIN + 30
    heading = _box(writer, TITLE_SIZE, title_height, "F2", [title])
    body = _box(writer, FONT_SIZE, A4[1] - title_height - 8, "F1", lines)
    rule_y = A4[1] - title_height + 2
    content = b"".join(
        [
            b"q 1 0 0 1 0 %g cm " % (A4[1] - title_height) + heading.render() + b" Q\n",
            b"q 0.6 w %g %g m %g %g l S Q\n" % (MARGIN, rule_y, A4[0] - MARGIN, rule_y),
            b"q " + body.render() + b" Q\n",
        ]
    )
    resources = heading.resources
    resources += body.resources
    stream = generic.StreamObject(stream_data=content)
    return PageObject(contents=writer.add_object(stream), media_box=(0, 0, *A4), resources=resources.as_pdf_object())


def render_report_pdf(
    reports: Sequence[ValidationReport], *, document_name: str, document: bytes, lang: str = "vi"
) -> bytes:
    """The printable report as PDF bytes (a summary page when there is no signature)."""
    digest = hashlib.sha256(document).hexdigest()
    writer = PdfFileWriter()
    title = text("report_title", lang).upper()
    total = max(len(reports), 1)
    pages = [
        _wrap(page_lines(report, index, total, document_name=document_name, digest=digest, lang=lang))
        for index, report in enumerate(reports, start=1)
    ]
    if not reports:
        bottom = summarize([])
        pages.append(
            _wrap(
                [
                    f"{text('document', lang)}: {document_name}",
                    f"{text('sha256', lang)}: {digest}",
                    "",
                    text("no_signatures", lang).format(name=document_name),
                    f"{text('verdict', lang)}: {bottom.value} — {explain(bottom, None, lang)}",
                ]
            )
        )
    for lines in pages:
        if len(lines) > MAX_LINES:  # one page per signature: what does not fit is cut, and says so
            lines = [*lines[: MAX_LINES - 1], "…"]
        writer.insert_page(_page(writer, title, lines))
    writer.set_info(
        generic.DictionaryObject(
            {generic.pdf_name("/Title"): generic.TextStringObject(f"{text('report_title', lang)}: {document_name}")}
        )
    )
    out = BytesIO()
    writer.write(out)
    return out.getvalue()


def write_report_pdf(
    path: Path, reports: Sequence[ValidationReport], *, document_name: str, document: bytes, lang: str = "vi"
) -> None:
    """Write :func:`render_report_pdf` to ``path``."""
    data = render_report_pdf(reports, document_name=document_name, document=document, lang=lang)
    try:
        Path(path).write_bytes(data)
    except OSError as exc:
        raise InvalidInput(f"cannot write the report to {path}: {exc.strerror or exc}") from None


__all__ = ["page_lines", "render_report_pdf", "write_report_pdf"]
