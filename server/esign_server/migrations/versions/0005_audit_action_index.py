"""Drop the audit log's index on ``action``: no query uses it, and every appended event wrote to it.

Revision ID: 0005_audit_action_index
Revises: 0004_identity_verifications
Create Date: 2026-11-24

Each audit event is appended inside a signing step's transaction. The index added one more page to
every such commit (on SQLite, one more WAL frame of the five a signHash writes) while no query of the
service filters events by action (they are read by sequence number, or by target).
"""

from __future__ import annotations

from alembic import op

revision = "0005_audit_action_index"
down_revision = "0004_identity_verifications"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Drop ``ix_audit_events_action``."""
    op.drop_index("ix_audit_events_action", table_name="audit_events")


def downgrade() -> None:
    """Bring the index back."""
    op.create_index("ix_audit_events_action", "audit_events", ["action"])
