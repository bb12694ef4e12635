"""phone passkeys, PIN, push subscriptions (issue 26).

Revision ID: 0014_phone_passkeys
Revises: 0013_exchange_node
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from esign_server.db import UTCDateTime

revision = "0014_phone_passkeys"
down_revision = "0013_exchange_node"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create the passkeys, their challenges, device PINs, push subscriptions and passkey policies."""
    op.create_table(
        "device_passkeys",
        sa.Column("id", sa.String(512), primary_key=True),
        sa.Column("device_id", sa.String(36), sa.ForeignKey("devices.id"), nullable=False),
        sa.Column("user_id", sa.String(36), sa.ForeignKey("users.id"), nullable=False),
        sa.Column("public_key", sa.LargeBinary(), nullable=False),
        sa.Column("sign_count", sa.Integer(), nullable=False),
        sa.Column("aaguid", sa.String(36), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("last_used_at", UTCDateTime(), nullable=True),
    )
    op.create_index("ix_device_passkeys_device_id", "device_passkeys", ["device_id"])
    op.create_index("ix_device_passkeys_user_id", "device_passkeys", ["user_id"])
    op.create_table(
        "passkey_challenges",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("device_id", sa.String(36), sa.ForeignKey("devices.id"), nullable=False),
        sa.Column("purpose", sa.String(16), nullable=False),
        sa.Column("session_id", sa.String(36), nullable=True),
        sa.Column("nonce", sa.LargeBinary(), nullable=False),
        sa.Column("challenge", sa.LargeBinary(), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
        sa.Column("used_at", UTCDateTime(), nullable=True),
    )
    op.create_index("ix_passkey_challenges_device", "passkey_challenges", ["device_id", "expires_at"])
    op.create_table(
        "device_pins",
        sa.Column("device_id", sa.String(36), sa.ForeignKey("devices.id"), primary_key=True),
        sa.Column("pin_hash", sa.String(200), nullable=False),
        sa.Column("failed_streak", sa.Integer(), nullable=False),
        sa.Column("lock_count", sa.Integer(), nullable=False),
        sa.Column("locked_until", UTCDateTime(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
    )
    op.create_table(
        "push_subscriptions",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("device_id", sa.String(36), sa.ForeignKey("devices.id"), nullable=False),
        sa.Column("user_id", sa.String(36), sa.ForeignKey("users.id"), nullable=False),
        sa.Column("endpoint", sa.String(2000), nullable=False, unique=True),
        sa.Column("p256dh", sa.String(200), nullable=False),
        sa.Column("auth", sa.String(64), nullable=False),
        sa.Column("lang", sa.String(8), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_push_subscriptions_device_id", "push_subscriptions", ["device_id"])
    op.create_index("ix_push_subscriptions_user_id", "push_subscriptions", ["user_id"])
    op.create_table(
        "credential_passkey_policies",
        sa.Column("credential_id", sa.String(36), sa.ForeignKey("credentials.id"), primary_key=True),
        sa.Column("require_passkey", sa.Boolean(), nullable=False),
        sa.Column("set_by", sa.String(120), nullable=False),
        sa.Column("set_at", UTCDateTime(), nullable=False),
    )


def downgrade() -> None:
    """Drop them."""
    for table in (
        "credential_passkey_policies",
        "push_subscriptions",
        "device_pins",
        "passkey_challenges",
        "device_passkeys",
    ):
        op.drop_table(table)
