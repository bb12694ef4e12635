"""A CSC authorization keeps the hashes it may still sign in one column, not a row per hash.

Revision ID: 0016_csc_digest_sets
Revises: 0015_org_seals
Create Date: 2026-12-06
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op
from esign_server.db import UTCDateTime

revision = "0016_csc_digest_sets"
down_revision = "0015_org_seals"
branch_labels = None
depends_on = None

_AUTHORIZATIONS = sa.table(
    "csc_authorizations",
    sa.column("id", sa.String()),
    sa.column("hash_algorithm", sa.String()),
    sa.column("digests", sa.LargeBinary()),
    sa.column("expires_at", UTCDateTime()),
)
_HASHES = sa.table(
    "csc_authorized_hashes",
    sa.column("authorization_id", sa.String()),
    sa.column("digest", sa.String()),
    sa.column("allowed", sa.Integer()),
    sa.column("used", sa.Integer()),
)


def upgrade() -> None:
    """Add ``csc_authorizations.digests`` (what each unexpired authorization may still sign, converted
    from ``csc_authorized_hashes``), then drop ``csc_authorized_hashes``."""
    with op.batch_alter_table("csc_authorizations") as batch:
        batch.add_column(sa.Column("digests", sa.LargeBinary(), nullable=True))
    conn = op.get_bind()
    # Only authorizations that can still sign carry their hashes over (every other one keeps nothing
    # to sign): an expired SAD signs nothing, and the table holds every hash ever authorized.
    live = (
        sa.select(_HASHES.c.authorization_id, _HASHES.c.digest, _HASHES.c.allowed, _HASHES.c.used)
        .join(_AUTHORIZATIONS, _AUTHORIZATIONS.c.id == _HASHES.c.authorization_id)
        .where(_HASHES.c.used < _HASHES.c.allowed, _AUTHORIZATIONS.c.expires_at > datetime.now(UTC))
    )
    left: dict[str, list[bytes]] = defaultdict(list)
    for row in conn.execute(live):
        left[row.authorization_id] += [bytes.fromhex(row.digest)] * (row.allowed - row.used)
    for authorization_id, digests in left.items():
        conn.execute(
            sa.update(_AUTHORIZATIONS)
            .where(_AUTHORIZATIONS.c.id == authorization_id)
            .values(digests=b"".join(sorted(digests)))
        )
    conn.execute(sa.update(_AUTHORIZATIONS).where(_AUTHORIZATIONS.c.digests.is_(None)).values(digests=b""))
    with op.batch_alter_table("csc_authorizations") as batch:
        batch.alter_column("digests", existing_type=sa.LargeBinary(), nullable=False)
    op.drop_table("csc_authorized_hashes")


def downgrade() -> None:
    """Recreate ``csc_authorized_hashes`` with the hashes each authorization may still sign."""
    op.create_table(
        "csc_authorized_hashes",
        sa.Column("authorization_id", sa.String(36), sa.ForeignKey("csc_authorizations.id"), primary_key=True),
        sa.Column("digest", sa.String(128), primary_key=True),
        sa.Column("allowed", sa.Integer(), nullable=False, server_default="1"),
        sa.Column("used", sa.Integer(), nullable=False, server_default="0"),
    )
    conn = op.get_bind()
    rows = []
    for auth in conn.execute(
        sa.select(_AUTHORIZATIONS.c.id, _AUTHORIZATIONS.c.hash_algorithm, _AUTHORIZATIONS.c.digests)
    ):
        size = hashlib.new(auth.hash_algorithm).digest_size
        blob = bytes(auth.digests or b"")
        counts: dict[str, int] = defaultdict(int)
        for start in range(0, len(blob), size):
            counts[blob[start : start + size].hex()] += 1
        rows += [{"authorization_id": auth.id, "digest": d, "allowed": n, "used": 0} for d, n in counts.items()]
    if rows:
        conn.execute(sa.insert(_HASHES), rows)
    with op.batch_alter_table("csc_authorizations") as batch:
        batch.drop_column("digests")
