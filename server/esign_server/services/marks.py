"""Decree 30 mark images per user, and the appearance a preset draws with them.

A person (a user with a CCCD) has a signature image; an organization (a user with only a tax code)
has a seal image. Uploads are checked by :func:`esign.pdf.decree30.load_image` (PNG, transparency,
size) and stored re-encoded from their pixels, so text chunks or anything else riding in the upload
never reach a document. A seal must declare its resolution: Decree 30 draws it at its real size.
"""

from __future__ import annotations

import hashlib
import io
from typing import TYPE_CHECKING, Any

from cryptography import x509

from esign.errors import InvalidInput
from esign_server.models import User
from esign_server.models.marks import MarkImage
from esign_server.services import audit, users
from esign_server.services.errors import NotFound

if TYPE_CHECKING:
    from esign.pdf.appearance import StampAppearance
    from esign_server.context import ServerContext

# esign.pdf (pyHanko, Pillow, pdfminer) is imported where used, as services/documents.py does: the
# server starts without it.

PRESET_OPTIONS = frozenset({"preset", "marker", "signer_name", "document_number", "copy_form", "agency_name"})
"""Session document options that choose and steer a Decree 30 preset."""


def kind_for(user: User) -> str:
    """``signature`` for a person (a CCCD), ``seal`` for an organization."""
    return "signature" if user.cccd else "seal"


def put_mark(ctx: ServerContext, user_id: str, upload: bytes, *, actor: str) -> MarkImage:
    """Store (or replace) ``user_id``'s mark image from a PNG upload.

    :raises InvalidInput: not a PNG with transparency within the limits; a seal without a resolution.
    """
    from esign.pdf.decree30 import load_image, real_size

    user = users.get_user(ctx, user_id)
    kind = kind_for(user)
    image = load_image(upload, what=kind)
    dpi = image.info.get("dpi")
    if kind == "seal":
        real_size(image, None)  # refuses a seal whose real size is unknown
    out = io.BytesIO()
    image.save(out, "PNG", **({"dpi": dpi} if dpi else {}))
    png = out.getvalue()
    mark = MarkImage(
        user_id=user.id,
        kind=kind,
        png=png,
        sha256=hashlib.sha256(png).hexdigest(),
        width_px=image.width,
        height_px=image.height,
    )
    with ctx.db.write() as session:
        existing = session.get(MarkImage, user.id)
        if existing is not None:
            session.delete(existing)
            session.flush()
        session.add(mark)
        session.flush()
        audit.record(session, actor=actor, action="mark.stored", target=f"user:{user.id}", kind=kind,
                     sha256=mark.sha256)  # fmt: skip
        session.expunge(mark)
    return mark


def get_mark(ctx: ServerContext, user_id: str) -> MarkImage:
    """``user_id``'s mark image.

    :raises NotFound: the user has none.
    """
    with ctx.db.read() as session:
        mark = session.get(MarkImage, user_id)
        if mark is not None:
            session.expunge(mark)
    if mark is None:
        raise NotFound(f"user {user_id} has no mark image", code="no_mark")
    return mark


def delete_mark(ctx: ServerContext, user_id: str, *, actor: str) -> None:
    """Remove ``user_id``'s mark image.

    :raises NotFound: the user has none.
    """
    with ctx.db.write() as session:
        mark = session.get(MarkImage, user_id)
        if mark is None:
            raise NotFound(f"user {user_id} has no mark image", code="no_mark")
        session.delete(mark)
        audit.record(session, actor=actor, action="mark.deleted", target=f"user:{user_id}")


def appearance_for(
    ctx: ServerContext, user_id: str, content: bytes, certificate: x509.Certificate, options: dict[str, Any]
) -> tuple[StampAppearance, str | None]:
    """The appearance of the preset ``options`` name for a document signed by ``user_id``'s credential,
    and the existing field it goes into (if any).

    ``decree30.person`` draws the user's signature image, ``decree30.agency`` and ``decree30.scan`` the
    user's seal image;
    the agency step on a document nobody has signed is refused (:class:`InvalidInput`), as Decree 30
    reserves the agency's signature for documents the competent person has signed.
    """
    from esign.pdf.decree30 import AGENCY, PERSON, PRESETS, SCAN, plan

    preset = str(options.get("preset", ""))
    if preset not in PRESETS:
        raise InvalidInput(f"unknown preset {preset!r}; use one of {', '.join(PRESETS)}")
    image: bytes | None = None
    if preset in (PERSON, AGENCY, SCAN):
        wanted = "signature" if preset == PERSON else "seal"
        try:
            mark = get_mark(ctx, user_id)
        except NotFound:
            raise InvalidInput(f"{preset} needs the signer's {wanted} image: an admin stores it first") from None
        if mark.kind != wanted:
            raise InvalidInput(f"{preset} draws a {wanted}; this credential's holder has a {mark.kind} image")
        image = mark.png

    def text(name: str) -> str | None:
        value = options.get(name)
        return None if value is None else str(value)

    chosen = plan(
        content,
        certificate,
        preset=preset,
        image=image,
        marker=text("marker"),
        signer_name=text("signer_name"),
        agency_name=text("agency_name"),
        document_number=text("document_number"),
        copy_form=text("copy_form"),
    )
    return chosen.appearance, chosen.field_name
