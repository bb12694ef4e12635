"""Webhook URLs registered per relying system, and a durable webhook outbox.

Revision ID: 0008_webhook_outbox
Revises: 0007_keyed_audit_chain
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from esign_server.db import UTCDateTime

revision = "0008_webhook_outbox"
down_revision = "0007_keyed_audit_chain"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add ``relying_systems.callback_urls`` (none registered) and create ``webhook_outbox``."""
    with op.batch_alter_table("relying_systems") as batch:
        batch.add_column(sa.Column("callback_urls", sa.JSON(), nullable=False, server_default=sa.text("'[]'")))
    op.create_table(
        "webhook_outbox",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("client_id", sa.String(64), sa.ForeignKey("relying_systems.id"), nullable=False),
        sa.Column("session_id", sa.String(36), nullable=False),
        sa.Column("url", sa.String(2000), nullable=False),
        sa.Column("event", sa.String(40), nullable=False),
        sa.Column("body", sa.LargeBinary(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", UTCDateTime(), nullable=False),
        sa.Column("last_error", sa.String(300), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("delivered_at", UTCDateTime(), nullable=True),
    )
    op.create_index("ix_webhook_outbox_due", "webhook_outbox", ["status", "next_attempt_at"])
    # The URLs relying systems already use stay usable: register them (the admin reviews them).
    bind = op.get_bind()
    used: dict[str, list[str]] = {}
    for client_id, url in bind.execute(
        sa.text("SELECT DISTINCT client_id, callback_url FROM signing_sessions WHERE callback_url IS NOT NULL")
    ):
        used.setdefault(client_id, []).append(url)
    clients = sa.table("relying_systems", sa.column("id", sa.String), sa.column("callback_urls", sa.JSON))
    for client_id, urls in used.items():
        bind.execute(clients.update().where(clients.c.id == client_id).values(callback_urls=sorted(urls)))


def downgrade() -> None:
    """Drop the outbox and the registered URLs."""
    op.drop_index("ix_webhook_outbox_due", "webhook_outbox")
    op.drop_table("webhook_outbox")
    with op.batch_alter_table("relying_systems") as batch:
        batch.drop_column("callback_urls")
