"""organization seals and their policies (issue 23).

Revision ID: 0015_org_seals
Revises: 0014_phone_passkeys
Create Date: 2026-12-06
"""

from __future__ import annotations

revision = "0015_org_seals"
down_revision = "0014_phone_passkeys"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Reserved in the chain; filled by its issue's work."""


def downgrade() -> None:
    """Nothing to undo."""
