"""Admin API (scope ``admin``): the Decree 30 mark image of a user (a person's signature, an
organization's seal)."""

from __future__ import annotations

from fastapi import APIRouter, Response

from esign_server.api.deps import AdminClient, CtxDep
from esign_server.models.marks import MarkImage
from esign_server.schemas import ErrorBody
from esign_server.schemas.marks import MarkPublic, MarkUpload
from esign_server.services import marks

router = APIRouter(
    prefix="/api/admin",
    tags=["admin"],
    responses={400: {"model": ErrorBody}, 401: {"model": ErrorBody}, 403: {"model": ErrorBody},
               404: {"model": ErrorBody}},
)  # fmt: skip


def _public(mark: MarkImage) -> MarkPublic:
    return MarkPublic(
        user_id=mark.user_id,
        kind="signature" if mark.kind == "signature" else "seal",
        sha256=mark.sha256,
        width_px=mark.width_px,
        height_px=mark.height_px,
        created_at=mark.created_at,
    )


@router.put("/users/{user_id}/mark", response_model=MarkPublic)
def put_mark(user_id: str, body: MarkUpload, caller: AdminClient, ctx: CtxDep) -> MarkPublic:
    """Store the user's signature image (a person) or seal image (an organization), replacing any."""
    return _public(marks.put_mark(ctx, user_id, body.image, actor=caller.actor))


@router.get("/users/{user_id}/mark", response_model=MarkPublic)
def get_mark(user_id: str, caller: AdminClient, ctx: CtxDep) -> MarkPublic:
    """The user's mark image, described."""
    return _public(marks.get_mark(ctx, user_id))


@router.get("/users/{user_id}/mark.png", response_class=Response, responses={200: {"content": {"image/png": {}}}})
def get_mark_png(user_id: str, caller: AdminClient, ctx: CtxDep) -> Response:
    """The user's mark image as stored (re-encoded PNG)."""
    return Response(marks.get_mark(ctx, user_id).png, media_type="image/png")


@router.delete("/users/{user_id}/mark", status_code=204, response_class=Response)
def delete_mark(user_id: str, caller: AdminClient, ctx: CtxDep) -> Response:
    """Remove the user's mark image."""
    marks.delete_mark(ctx, user_id, actor=caller.actor)
    return Response(status_code=204)
