"""exchange node: packages, inboxes, hops, statuses, outbox (issue 24).

Revision ID: 0013_exchange_node
Revises: 0012_user_position
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from esign_server.db import UTCDateTime

revision = "0013_exchange_node"
down_revision = "0012_user_position"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create the exchange node's tables: bindings, peer routes, packages, deliveries (inbox and
    outbox), events (history)."""
    op.create_table(
        "exchange_bindings",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("org_code", sa.String(35), nullable=False),
        sa.Column("client_id", sa.String(64), sa.ForeignKey("relying_systems.id"), nullable=False),
        sa.Column("subtree", sa.Boolean(), nullable=False),
        sa.Column("credential_id", sa.String(36), sa.ForeignKey("credentials.id"), nullable=True),
        sa.Column("created_by", sa.String(120), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.UniqueConstraint("org_code", "client_id", name="uq_exchange_bindings_code_client"),
    )
    op.create_index("ix_exchange_bindings_org_code", "exchange_bindings", ["org_code"])
    op.create_index("ix_exchange_bindings_client_id", "exchange_bindings", ["client_id"])
    op.create_table(
        "exchange_routes",
        sa.Column("prefix", sa.String(35), primary_key=True),
        sa.Column("url", sa.String(2000), nullable=False),
        sa.Column("client_id", sa.String(64), nullable=False),
        sa.Column("client_secret_enc", sa.LargeBinary(), nullable=False),
        sa.Column("created_by", sa.String(120), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
    )
    op.create_table(
        "exchange_packages",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("sender", sa.String(35), nullable=False),
        sa.Column("document_id", sa.String(500), nullable=False),
        sa.Column("origin", sa.String(35), nullable=False),
        sa.Column("business_type", sa.String(2), nullable=True),
        sa.Column("status_code", sa.String(2), nullable=True),
        sa.Column("subject", sa.String(2000), nullable=True),
        sa.Column("content_sha256", sa.String(64), nullable=False),
        sa.Column("body", sa.LargeBinary(), nullable=False),
        sa.Column("received_from", sa.String(64), nullable=False),
        sa.Column("signed_by_node", sa.Boolean(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_exchange_packages_document", "exchange_packages", ["document_id", "origin"])
    op.create_table(
        "exchange_deliveries",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("package_id", sa.String(36), sa.ForeignKey("exchange_packages.id"), nullable=False),
        sa.Column("dedupe_key", sa.String(64), nullable=False, unique=True),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("sender", sa.String(35), nullable=False),
        sa.Column("recipient", sa.String(35), nullable=False),
        sa.Column("document_id", sa.String(500), nullable=False),
        sa.Column("origin", sa.String(35), nullable=False),
        sa.Column("route", sa.String(35), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", UTCDateTime(), nullable=True),
        sa.Column("last_error", sa.String(300), nullable=True),
        sa.Column("last_status", sa.String(2), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("done_at", UTCDateTime(), nullable=True),
    )
    op.create_index("ix_exchange_deliveries_package_id", "exchange_deliveries", ["package_id"])
    op.create_index("ix_exchange_deliveries_due", "exchange_deliveries", ["state", "next_attempt_at"])
    op.create_index("ix_exchange_deliveries_inbox", "exchange_deliveries", ["recipient", "state"])
    op.create_index("ix_exchange_deliveries_document", "exchange_deliveries", ["document_id", "origin"])
    op.create_table(
        "exchange_events",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("document_id", sa.String(500), nullable=False),
        sa.Column("origin", sa.String(35), nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("event", sa.String(16), nullable=False),
        sa.Column("organ_id", sa.String(35), nullable=False),
        sa.Column("package_id", sa.String(36), nullable=True),
        sa.Column("details", sa.JSON(), nullable=False),
    )
    op.create_index("ix_exchange_events_document", "exchange_events", ["document_id", "origin"])


def downgrade() -> None:
    """Drop the exchange node's tables."""
    op.drop_table("exchange_events")
    op.drop_table("exchange_deliveries")
    op.drop_table("exchange_packages")
    op.drop_table("exchange_routes")
    op.drop_table("exchange_bindings")
