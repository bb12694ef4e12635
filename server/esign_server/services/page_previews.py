"""Page images of a session's PDF documents for the phone: the first pages rendered with PDFium
(pypdfium2), capped in page count, pixel size and bytes, cached on disk; and where a Decree 30 mark
will be placed (the prepared signature's widget box, as fractions of its page).

The pages are rendered from the document as prepared for signing (its visible signature already
drawn), so the phone shows what the signed file will show.
"""

from __future__ import annotations

import hashlib
import io
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pypdfium2

from esign.errors import EsignError
from esign.pdf import PreparedSignature
from esign.pdf.decree30 import signature_widgets
from esign_server.models import SessionDocument
from esign_server.services.errors import NotFound, ServiceError

if TYPE_CHECKING:
    from esign_server.context import ServerContext

MAX_HEIGHT_RATIO = 2.0
"""A page image is at most twice as tall as wide (a long receipt is cut, not shrunk to a ribbon)."""
# PDFium is not thread-safe: one rendering at a time per process.
_pdfium = threading.Lock()


@dataclass(frozen=True)
class MarkBox:
    """Where a mark goes: its page (from 1) and its box as fractions of the page, from the top left."""

    page: int
    left: float
    top: float
    width: float
    height: float


@dataclass(frozen=True)
class DocumentPages:
    """What the phone needs to lay out a document's preview."""

    page_count: int
    shown: list[tuple[float, float]]
    """Width and height (points) of each page rendered, the first ``preview_max_pages``."""
    mark: MarkBox | None


def _prepared(row: SessionDocument) -> bytes:
    """The document as prepared for signing (its appearance drawn), else as sent."""
    if row.state is not None:
        try:
            state = PreparedSignature.from_bytes(row.state)
        except EsignError:
            return row.content
        if state.document is not None:
            return state.document
    return row.content


def _mark(row: SessionDocument, data: bytes) -> MarkBox | None:
    if row.state is None:
        return None
    try:
        state = PreparedSignature.from_bytes(row.state)
        widgets = signature_widgets(data)
    except EsignError:
        return None
    widget = next((w for w in widgets if w.name == state.field_name), None)
    if widget is None:
        return None
    with _pdfium:
        pdf = pypdfium2.PdfDocument(data)
        try:
            width, height = pdf[widget.page - 1].get_size()
        finally:
            pdf.close()
    x1, y1, x2, y2 = widget.box
    return MarkBox(widget.page, x1 / width, (height - y2) / height, (x2 - x1) / width, (y2 - y1) / height)


def document_row(ctx: ServerContext, *, session_id: str, index: int) -> SessionDocument:
    """A PDF document of a session.

    :raises NotFound: no such document, or not a PDF.
    """
    with ctx.db.read() as session:
        row = session.get(SessionDocument, (session_id, index))
    if row is None or row.format != "pdf":
        raise NotFound(f"no PDF document {index} in this session", code="document_not_found")
    return row


def pages(ctx: ServerContext, row: SessionDocument) -> DocumentPages:
    """The page count, the sizes of the pages the preview shows, and where the mark goes.

    :raises ServiceError: the document cannot be read (422).
    """
    data = _prepared(row)
    with _pdfium:
        try:
            pdf = pypdfium2.PdfDocument(data)
        except pypdfium2.PdfiumError as exc:
            raise ServiceError(f"the document cannot be read: {exc}", code="unreadable_document", status=422) from None
        try:
            count = len(pdf)
            shown = [pdf[n].get_size() for n in range(min(count, ctx.settings.preview_max_pages))]
        finally:
            pdf.close()
    return DocumentPages(count, shown, _mark(row, data))


def _cache_path(ctx: ServerContext, data: bytes, page: int, width_px: int, max_bytes: int) -> Path:
    key = hashlib.sha256(data + f"\n{page}\n{width_px}\n{max_bytes}".encode()).hexdigest()
    return ctx.settings.var_dir / "page-previews" / key[:2] / f"{key}.png"


def render_page(ctx: ServerContext, row: SessionDocument, page: int) -> bytes:
    """A PNG of ``page`` (from 1) at ``preview_width_px`` wide (at most twice as tall), under
    ``preview_max_bytes`` (halving the width until it fits); from the disk cache when rendered before.

    :raises NotFound: the page is past the document or the preview's page limit.
    :raises ServiceError: the document cannot be read (422), or no size fits the byte limit (413).
    """
    settings = ctx.settings
    if not 1 <= page <= settings.preview_max_pages:
        raise NotFound(f"the preview shows pages 1 to {settings.preview_max_pages}", code="page_not_previewed")
    data = _prepared(row)
    width_px = settings.preview_width_px
    cached = _cache_path(ctx, data, page, width_px, settings.preview_max_bytes)
    if cached.is_file():
        return cached.read_bytes()
    png = b""
    with _pdfium:
        try:
            pdf = pypdfium2.PdfDocument(data)
        except pypdfium2.PdfiumError as exc:
            raise ServiceError(f"the document cannot be read: {exc}", code="unreadable_document", status=422) from None
        try:
            pdf.init_forms()  # form fields (the signature's widget) are drawn only with the form environment
            if page > len(pdf):
                raise NotFound(f"the document has {len(pdf)} page(s)", code="page_not_previewed")
            sheet = pdf[page - 1]
            width_pt, height_pt = sheet.get_size()
            while width_px >= 100:
                scale = width_px / width_pt
                crop_bottom = max(0.0, height_pt - MAX_HEIGHT_RATIO * width_pt)  # points cut off the bottom
                image = sheet.render(scale=scale, crop=(0, 0, 0, crop_bottom)).to_pil()
                out = io.BytesIO()
                image.save(out, format="PNG", optimize=True)
                png = out.getvalue()
                if len(png) <= settings.preview_max_bytes:
                    break
                width_px //= 2
                png = b""
        finally:
            pdf.close()
    if not png:
        raise ServiceError("the page is too large to preview", code="preview_too_large", status=413)
    cached.parent.mkdir(parents=True, exist_ok=True)
    temporary = cached.with_suffix(f".{threading.get_ident()}.tmp")
    temporary.write_bytes(png)
    temporary.replace(cached)  # atomic: a concurrent reader sees the whole file or none
    return png
