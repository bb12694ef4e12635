"""A person's position (chức vụ), given by bulk onboarding or the console.

Revision ID: 0012_user_position
Revises: 0011_mark_images
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012_user_position"
down_revision = "0011_mark_images"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add the nullable ``users.position``: people registered before it have none."""
    op.add_column("users", sa.Column("position", sa.String(200), nullable=True))


def downgrade() -> None:
    """Drop ``users.position``."""
    with op.batch_alter_table("users") as batch:
        batch.drop_column("position")
