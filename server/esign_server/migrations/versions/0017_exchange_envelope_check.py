"""The exchange node records what it found of each package's envelope signature on receipt.

Revision ID: 0017_exchange_envelope_check
Revises: 0016_csc_digest_sets
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0017_exchange_envelope_check"
down_revision = "0016_csc_digest_sets"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add ``exchange_packages.envelope_check``, ``envelope_signer`` and ``envelope_reason`` (NULL for the
    packages received before: they were not checked)."""
    with op.batch_alter_table("exchange_packages") as batch:
        batch.add_column(sa.Column("envelope_check", sa.String(length=16), nullable=True))
        batch.add_column(sa.Column("envelope_signer", sa.String(length=500), nullable=True))
        batch.add_column(sa.Column("envelope_reason", sa.String(length=300), nullable=True))


def downgrade() -> None:
    """Drop the three columns."""
    with op.batch_alter_table("exchange_packages") as batch:
        batch.drop_column("envelope_reason")
        batch.drop_column("envelope_signer")
        batch.drop_column("envelope_check")
