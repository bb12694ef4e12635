"""Relying-system grants (who may ask whom for signatures) and per-pair OTP lockouts.

Revision ID: 0006_relying_system_grants
Revises: 0005_audit_action_index
Create Date: 2026-12-06

A relying system may now act only for users who authorised it. So that an upgrade does not cut off
the relying systems already in use, every (relying system, user) pair that has a signing session
gets a grant (``granted_by = "migration"``); the admin revokes the ones that should not stand.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from esign_server.db import UTCDateTime, utcnow

revision = "0006_relying_system_grants"
down_revision = "0005_audit_action_index"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create ``relying_system_grants``, add the user-wide OTP window, grant the pairs already in use."""
    grants = op.create_table(
        "relying_system_grants",
        sa.Column("client_id", sa.String(64), sa.ForeignKey("relying_systems.id"), primary_key=True),
        sa.Column("user_id", sa.String(36), sa.ForeignKey("users.id"), primary_key=True),
        sa.Column("granted_by", sa.String(120), nullable=False),
        sa.Column("granted_at", UTCDateTime(), nullable=False),
        sa.Column("otp_failed_streak", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("otp_lock_count", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("otp_locked_until", UTCDateTime(), nullable=True),
        sa.Column("otp_last_failure_at", UTCDateTime(), nullable=True),
    )
    op.create_index("ix_relying_system_grants_user_id", "relying_system_grants", ["user_id"])
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("otp_window_start", UTCDateTime(), nullable=True))
        batch.add_column(sa.Column("otp_window_failures", sa.Integer(), nullable=False, server_default="0"))
    pairs = op.get_bind().execute(sa.text("SELECT DISTINCT client_id, user_id FROM signing_sessions")).all()
    now = utcnow()
    if pairs:
        op.bulk_insert(
            grants,
            [
                {
                    "client_id": client_id,
                    "user_id": user_id,
                    "granted_by": "migration",
                    "granted_at": now,
                    "otp_failed_streak": 0,
                    "otp_lock_count": 0,
                }
                for client_id, user_id in pairs
            ],
        )


def downgrade() -> None:
    """Drop the grants and the user-wide OTP window."""
    with op.batch_alter_table("users") as batch:
        batch.drop_column("otp_window_failures")
        batch.drop_column("otp_window_start")
    op.drop_index("ix_relying_system_grants_user_id", "relying_system_grants")
    op.drop_table("relying_system_grants")
