"""An index for the hourly request limit per relying system and user.

Revision ID: 0010_session_rate_index
Revises: 0009_admin_console
Create Date: 2026-12-06

Creating a session counts the requests of that (relying system, user) pair in the last hour; with
``(client_id, created_at)`` alone that count read every session the relying system made for anyone in
that hour.
"""

from __future__ import annotations

from alembic import op

revision = "0010_session_rate_index"
down_revision = "0009_admin_console"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create ``ix_signing_sessions_client_user_created``."""
    op.create_index(
        "ix_signing_sessions_client_user_created", "signing_sessions", ["client_id", "user_id", "created_at"]
    )


def downgrade() -> None:
    """Drop it."""
    op.drop_index("ix_signing_sessions_client_user_created", "signing_sessions")
