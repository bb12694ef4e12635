"""Mark images for Decree 30 presets: a person's signature, an organization's seal.

Revision ID: 0011_mark_images
Revises: 0010_session_rate_index
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from esign_server.db import UTCDateTime

revision = "0011_mark_images"
down_revision = "0010_session_rate_index"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create ``mark_images``."""
    op.create_table(
        "mark_images",
        sa.Column("user_id", sa.String(36), sa.ForeignKey("users.id"), primary_key=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("png", sa.LargeBinary(), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("width_px", sa.Integer(), nullable=False),
        sa.Column("height_px", sa.Integer(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
    )


def downgrade() -> None:
    """Drop ``mark_images``."""
    op.drop_table("mark_images")
