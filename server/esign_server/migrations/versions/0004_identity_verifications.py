"""Identity verification records: how, when and by whom a user's identity was proven.

Revision ID: 0004_identity_verifications
Revises: 0003_csc
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from esign_server.db import UTCDateTime

revision = "0004_identity_verifications"
down_revision = "0003_csc"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create ``identity_verifications``."""
    op.create_table(
        "identity_verifications",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("user_id", sa.String(36), sa.ForeignKey("users.id"), nullable=False),
        sa.Column("method", sa.String(16), nullable=False),
        sa.Column("document_kind", sa.String(8), nullable=True),
        sa.Column("document_masked", sa.String(40), nullable=True),
        sa.Column("provider", sa.String(100), nullable=True),
        sa.Column("sealed", sa.LargeBinary(), nullable=True),
        sa.Column("identity_digest", sa.String(64), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("verified_at", UTCDateTime(), nullable=False),
        sa.Column("verified_by", sa.String(120), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_identity_verifications_user_id", "identity_verifications", ["user_id"])


def downgrade() -> None:
    """Drop ``identity_verifications``."""
    op.drop_index("ix_identity_verifications_user_id", "identity_verifications")
    op.drop_table("identity_verifications")
