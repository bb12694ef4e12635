"""The audit chain becomes keyed (HMAC under a key derived from the master key) from the next event on.

Revision ID: 0007_keyed_audit_chain
Revises: 0006_relying_system_grants
Create Date: 2026-12-06

Events already written keep their plain SHA-256 links (the migration has no key to rewrite them, and
rewriting would destroy the evidence they are); ``audit_head.keyed_from`` records the first event
that must carry a keyed link. A fresh database is keyed from event 1.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007_keyed_audit_chain"
down_revision = "0006_relying_system_grants"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add ``audit_head.keyed_from`` = the next event's number."""
    with op.batch_alter_table("audit_head") as batch:
        batch.add_column(sa.Column("keyed_from", sa.Integer(), nullable=False, server_default="1"))
    op.execute(sa.text("UPDATE audit_head SET keyed_from = seq + 1"))


def downgrade() -> None:
    """Drop ``audit_head.keyed_from`` (a keyed chain then no longer verifies without the key)."""
    with op.batch_alter_table("audit_head") as batch:
        batch.drop_column("keyed_from")
