"""Organization seals and their policies (issue 23).

Revision ID: 0015_org_seals
Revises: 0014_phone_passkeys
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from esign_server.db import UTCDateTime

revision = "0015_org_seals"
down_revision = "0014_phone_passkeys"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create ``seal_policies``, ``seal_clients``, ``seal_batches``; a CSC authorization of a seal has no
    signing session (nobody confirms it), so ``csc_authorizations.session_id`` becomes nullable."""
    op.create_table(
        "seal_policies",
        sa.Column("credential_id", sa.String(36), sa.ForeignKey("credentials.id"), primary_key=True),
        sa.Column("per_minute", sa.Integer(), nullable=True),
        sa.Column("per_day", sa.Integer(), nullable=True),
        sa.Column("hours_start", sa.Integer(), nullable=True),
        sa.Column("hours_end", sa.Integer(), nullable=True),
        sa.Column("max_hashes_per_call", sa.Integer(), nullable=False, server_default="1000"),
        sa.Column("updated_by", sa.String(120), nullable=False, server_default=""),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
    )
    op.create_table(
        "seal_clients",
        sa.Column("credential_id", sa.String(36), sa.ForeignKey("seal_policies.credential_id"), primary_key=True),
        sa.Column("client_id", sa.String(64), sa.ForeignKey("relying_systems.id"), primary_key=True),
    )
    op.create_table(
        "seal_batches",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("credential_id", sa.String(36), nullable=False),
        sa.Column("client_id", sa.String(64), nullable=False),
        sa.Column("signatures", sa.Integer(), nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_seal_batches_credential_at", "seal_batches", ["credential_id", "at"])
    with op.batch_alter_table("csc_authorizations") as batch:
        batch.alter_column("session_id", existing_type=sa.String(36), nullable=True)


def downgrade() -> None:
    """Drop the seal tables (seal authorizations go too: they have no session)."""
    op.execute(
        "DELETE FROM csc_authorized_hashes WHERE authorization_id IN "
        "(SELECT id FROM csc_authorizations WHERE session_id IS NULL)"
    )
    op.execute("DELETE FROM csc_authorizations WHERE session_id IS NULL")
    with op.batch_alter_table("csc_authorizations") as batch:
        batch.alter_column("session_id", existing_type=sa.String(36), nullable=False)
    op.drop_index("ix_seal_batches_credential_at", table_name="seal_batches")
    op.drop_table("seal_batches")
    op.drop_table("seal_clients")
    op.drop_table("seal_policies")
