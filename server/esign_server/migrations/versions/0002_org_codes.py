"""Organization identifier registry: codes and their append-only history.

Revision ID: 0002_org_codes
Revises: 0001
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from esign_server.db import UTCDateTime

revision = "0002_org_codes"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create ``org_codes`` and ``org_code_events``; the database itself refuses to forget a code."""
    op.create_table(
        "org_codes",
        sa.Column("code", sa.String(35), primary_key=True),
        sa.Column("parent_code", sa.String(35), sa.ForeignKey("org_codes.code"), nullable=True),
        sa.Column("level", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(300), nullable=False),
        sa.Column("name_folded", sa.String(300), nullable=False),
        sa.Column("address", sa.String(500), nullable=False),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("closed_reason", sa.String(500), nullable=True),
        sa.Column("successor_code", sa.String(35), nullable=True),
        sa.Column("closed_at", UTCDateTime(), nullable=True),
        sa.Column("last_child_number", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_org_codes_parent", "org_codes", ["parent_code"])
    op.create_index("ix_org_codes_level_status", "org_codes", ["level", "status"])
    op.create_index("ix_org_codes_name_folded", "org_codes", ["name_folded"])
    op.create_table(
        "org_code_events",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("code", sa.String(35), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("actor", sa.String(120), nullable=False),
        sa.Column("changes", sa.JSON(), nullable=False),
    )
    op.create_index("ix_org_code_events_code", "org_code_events", ["code", "version"])
    _guards()


def _guards() -> None:
    """No DELETE of a code (it would free it for reuse); no UPDATE or DELETE of its history."""
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "CREATE FUNCTION org_registry_refuse() RETURNS trigger LANGUAGE plpgsql AS $$ "
            "BEGIN RAISE EXCEPTION '% on % is refused: codes are never removed and history is append-only', "
            "TG_OP, TG_TABLE_NAME; END $$"
        )
        op.execute(
            "CREATE TRIGGER org_codes_no_delete BEFORE DELETE ON org_codes "
            "FOR EACH ROW EXECUTE FUNCTION org_registry_refuse()"
        )
        op.execute(
            "CREATE TRIGGER org_code_events_append_only BEFORE UPDATE OR DELETE ON org_code_events "
            "FOR EACH ROW EXECUTE FUNCTION org_registry_refuse()"
        )
        return
    op.execute(
        "CREATE TRIGGER org_codes_no_delete BEFORE DELETE ON org_codes "
        "BEGIN SELECT RAISE(ABORT, 'org_codes rows are never deleted: a code is never reissued'); END"
    )
    for verb in ("UPDATE", "DELETE"):
        op.execute(
            f"CREATE TRIGGER org_code_events_no_{verb.lower()} BEFORE {verb} ON org_code_events "
            "BEGIN SELECT RAISE(ABORT, 'org_code_events is append-only'); END"
        )


def downgrade() -> None:
    """Drop the registry (only for throw-away databases)."""
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS org_codes_no_delete ON org_codes")
        op.execute("DROP TRIGGER IF EXISTS org_code_events_append_only ON org_code_events")
        op.execute("DROP FUNCTION IF EXISTS org_registry_refuse()")
    op.drop_table("org_code_events")
    op.drop_table("org_codes")
