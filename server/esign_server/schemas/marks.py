"""Wire models of Decree 30 mark images (a person's signature, an organization's seal)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel

from esign_server.schemas import Base64Bytes, Wire


class MarkUpload(Wire):
    """A PNG with transparency (at most 5 MB, 16 megapixels); a seal declares its resolution."""

    image: Base64Bytes


class MarkPublic(BaseModel):
    """A stored mark image, described."""

    user_id: str
    kind: Literal["signature", "seal"]
    sha256: str
    width_px: int
    height_px: int
    created_at: datetime
