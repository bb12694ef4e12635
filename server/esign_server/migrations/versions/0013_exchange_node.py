"""exchange node: packages, inboxes, hops, statuses, outbox (issue 24).

Revision ID: 0013_exchange_node
Revises: 0012_user_position
Create Date: 2026-12-06
"""

from __future__ import annotations

revision = "0013_exchange_node"
down_revision = "0012_user_position"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Reserved in the chain; filled by its issue's work."""


def downgrade() -> None:
    """Nothing to undo."""
