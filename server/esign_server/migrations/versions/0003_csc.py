"""CSC API authorizations: the SAD of a confirmed authorization and the hashes it may sign.

Revision ID: 0003_csc
Revises: 0002_org_codes
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from esign_server.db import UTCDateTime

revision = "0003_csc"
down_revision = "0002_org_codes"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create ``csc_authorizations`` and ``csc_authorized_hashes``."""
    op.create_table(
        "csc_authorizations",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("session_id", sa.String(36), sa.ForeignKey("signing_sessions.id"), nullable=False, unique=True),
        sa.Column("client_id", sa.String(64), nullable=False, index=True),
        sa.Column("credential_id", sa.String(36), nullable=False),
        sa.Column("hash_algorithm", sa.String(16), nullable=False),
        sa.Column("num_signatures", sa.Integer(), nullable=False),
        sa.Column("signatures_used", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("sad_hash", sa.String(64), nullable=True, unique=True),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
    )
    op.create_table(
        "csc_authorized_hashes",
        sa.Column("authorization_id", sa.String(36), sa.ForeignKey("csc_authorizations.id"), primary_key=True),
        sa.Column("digest", sa.String(128), primary_key=True),
        sa.Column("allowed", sa.Integer(), nullable=False, server_default="1"),
        sa.Column("used", sa.Integer(), nullable=False, server_default="0"),
    )


def downgrade() -> None:
    """Drop the CSC tables."""
    op.drop_table("csc_authorized_hashes")
    op.drop_table("csc_authorizations")
