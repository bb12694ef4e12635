"""phone passkeys, PIN, push subscriptions (issue 26).

Revision ID: 0014_phone_passkeys
Revises: 0013_exchange_node
Create Date: 2026-12-06
"""

from __future__ import annotations

revision = "0014_phone_passkeys"
down_revision = "0013_exchange_node"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Reserved in the chain; filled by its issue's work."""


def downgrade() -> None:
    """Nothing to undo."""
