"""Phone API (device token): what a Decree 30 mark will look like on the document, before confirming."""

from __future__ import annotations

from fastapi import APIRouter, Response

from esign_server.api.deps import CtxDep, CurrentDevice
from esign_server.schemas import ErrorBody
from esign_server.services import sessions
from esign_server.services.errors import NotFound

PREVIEW_MARGIN = 90
"""Points shown around the mark: enough to see the signature an agency's seal covers, and the
position line and printed name around a person's signature (a signature at most 70 mm wide leaves
up to ~70 pt above and below it in a tall signature block)."""

router = APIRouter(
    prefix="/api/mobile",
    tags=["mobile"],
    responses={401: {"model": ErrorBody}, 404: {"model": ErrorBody}},
)


@router.get(
    "/sessions/{session_id}/documents/{index}/preview.png",
    response_class=Response,
    responses={200: {"content": {"image/png": {}}}},
)
def document_preview(session_id: str, index: int, device: CurrentDevice, ctx: CtxDep) -> Response:
    """The signature area of a PDF document of one of the user's sessions, rendered from the document
    exactly as prepared for signing (its appearance already drawn), at 100 dpi."""
    from esign.pdf import PreparedSignature
    from esign.pdf.decree30 import render_region, signature_widgets

    sessions.get_for_user(ctx, user_id=device.user_id, session_id=session_id)  # 404 unless the user's
    row = next((d for d in sessions.document_rows(ctx, session_id) if d.index == index), None)
    if row is None or row.format != "pdf" or row.state is None:
        raise NotFound(f"no PDF document {index} to preview in this session")
    state = PreparedSignature.from_bytes(row.state)
    if state.document is None:
        raise NotFound("the prepared document is not kept with this session")
    widget = next((w for w in signature_widgets(state.document) if w.name == state.field_name), None)
    if widget is None:
        raise NotFound("this document's signature draws nothing to preview")
    png = render_region(state.document, widget.page, widget.box, margin=PREVIEW_MARGIN)
    return Response(png, media_type="image/png", headers={"Cache-Control": "no-store"})
