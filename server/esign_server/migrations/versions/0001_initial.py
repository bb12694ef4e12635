"""Initial schema: users, relying systems, credentials, devices, signing sessions, audit log.

Revision ID: 0001
Revises:
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from esign_server.db import UTCDateTime

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

GENESIS = "0" * 64


def _ts(name: str, nullable: bool = False) -> sa.Column:
    return sa.Column(name, UTCDateTime(), nullable=nullable)


def upgrade() -> None:
    """Create every table, the audit chain's head and the append-only guards on the audit log."""
    op.create_table(
        "users",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("full_name", sa.String(200), nullable=False),
        sa.Column("cccd", sa.String(12), nullable=True, unique=True),
        sa.Column("tax_code", sa.String(14), nullable=True, unique=True),
        sa.Column("email", sa.String(254), nullable=True),
        sa.Column("phone", sa.String(20), nullable=True),
        sa.Column("organization", sa.String(200), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        _ts("created_at"),
    )
    op.create_table(
        "relying_systems",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("secret_hash", sa.String(64), nullable=False),
        sa.Column("scopes", sa.String(200), nullable=False),
        sa.Column("webhook_secret_enc", sa.LargeBinary(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        _ts("created_at"),
    )
    op.create_table(
        "credentials",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("user_id", sa.String(36), sa.ForeignKey("users.id"), nullable=False),
        sa.Column("label", sa.String(200), nullable=False),
        sa.Column("key_algorithm", sa.String(16), nullable=False),
        sa.Column("keystore", sa.String(16), nullable=False),
        sa.Column("key_ref", sa.LargeBinary(), nullable=False),
        sa.Column("public_key_der", sa.LargeBinary(), nullable=False),
        sa.Column("certificate_der", sa.LargeBinary(), nullable=True),
        sa.Column("chain_pem", sa.String(), nullable=False),
        sa.Column("serial", sa.String(64), nullable=True),
        sa.Column("csr_pem", sa.String(), nullable=True),
        sa.Column("status", sa.String(24), nullable=False),
        _ts("revoked_at", nullable=True),
        sa.Column("revocation_reason", sa.String(40), nullable=True),
        _ts("created_at"),
    )
    op.create_index("ix_credentials_user_id", "credentials", ["user_id"])
    op.create_index("ix_credentials_serial", "credentials", ["serial"])
    op.create_table(
        "devices",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("user_id", sa.String(36), sa.ForeignKey("users.id"), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("totp_secret_enc", sa.LargeBinary(), nullable=False),
        sa.Column("enrollment_token_hash", sa.String(64), nullable=True, unique=True),
        _ts("enrollment_expires_at", nullable=True),
        sa.Column("device_token_hash", sa.String(64), nullable=True, unique=True),
        sa.Column("last_accepted_step", sa.Integer(), nullable=True),
        sa.Column("failed_streak", sa.Integer(), nullable=False),
        sa.Column("lock_count", sa.Integer(), nullable=False),
        _ts("locked_until", nullable=True),
        _ts("created_at"),
        _ts("activated_at", nullable=True),
    )
    op.create_index("ix_devices_user_id", "devices", ["user_id"])
    op.create_table(
        "signing_sessions",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("client_id", sa.String(64), sa.ForeignKey("relying_systems.id"), nullable=False),
        sa.Column("user_id", sa.String(36), sa.ForeignKey("users.id"), nullable=False),
        sa.Column("credential_id", sa.String(36), sa.ForeignKey("credentials.id"), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        _ts("created_at"),
        _ts("expires_at"),
        _ts("completed_at", nullable=True),
        sa.Column("digest_algorithm", sa.String(16), nullable=False),
        sa.Column("signature_algorithm", sa.String(40), nullable=False),
        sa.Column("items", sa.JSON(), nullable=False),
        sa.Column("items_digest", sa.String(64), nullable=False),
        sa.Column("confirmation_code", sa.String(16), nullable=False),
        sa.Column("signatures", sa.JSON(), nullable=True),
        sa.Column("description", sa.String(500), nullable=True),
        sa.Column("callback_url", sa.String(2000), nullable=True),
        sa.Column("idempotency_key", sa.String(200), nullable=True),
        sa.Column("request_hash", sa.String(64), nullable=True),
        sa.Column("otp_failures", sa.Integer(), nullable=False),
        sa.Column("device_id", sa.String(36), nullable=True),
        sa.Column("reason", sa.String(500), nullable=True),
        sa.Column("sad_used", sa.Boolean(), nullable=False),
        sa.UniqueConstraint("client_id", "idempotency_key", name="uq_signing_sessions_idempotency"),
    )
    op.create_index("ix_signing_sessions_user_status", "signing_sessions", ["user_id", "status"])
    op.create_index("ix_signing_sessions_client_created", "signing_sessions", ["client_id", "created_at"])
    op.create_table(
        "session_documents",
        sa.Column("session_id", sa.String(36), sa.ForeignKey("signing_sessions.id"), primary_key=True),
        sa.Column("index", sa.Integer(), primary_key=True),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("format", sa.String(8), nullable=False),
        sa.Column("options", sa.JSON(), nullable=False),
        sa.Column("content", sa.LargeBinary(), nullable=False),
        sa.Column("state", sa.LargeBinary(), nullable=True),
        sa.Column("signed_content", sa.LargeBinary(), nullable=True),
    )
    op.create_table(
        "audit_events",
        sa.Column("seq", sa.Integer(), primary_key=True, autoincrement=False),
        _ts("at"),
        sa.Column("actor", sa.String(120), nullable=False),
        sa.Column("action", sa.String(60), nullable=False),
        sa.Column("target", sa.String(120), nullable=False),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.Column("prev_hash", sa.String(64), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
    )
    op.create_index("ix_audit_events_action", "audit_events", ["action"])
    op.create_table(
        "audit_head",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
    )
    op.execute(sa.text("INSERT INTO audit_head (id, seq, hash) VALUES (1, 0, :h)").bindparams(h=GENESIS))
    _append_only_guards()


def _append_only_guards() -> None:
    """Refuse UPDATE and DELETE on the audit log at the database itself."""
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "CREATE FUNCTION audit_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$ "
            "BEGIN RAISE EXCEPTION 'audit_events is append-only'; END $$"
        )
        op.execute(
            "CREATE TRIGGER audit_events_append_only BEFORE UPDATE OR DELETE ON audit_events "
            "FOR EACH ROW EXECUTE FUNCTION audit_events_append_only()"
        )
    else:
        for verb in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER audit_events_no_{verb.lower()} BEFORE {verb} ON audit_events "
                "BEGIN SELECT RAISE(ABORT, 'audit_events is append-only'); END"
            )


def downgrade() -> None:
    """Drop everything (the audit log too: only for throw-away databases)."""
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS audit_events_append_only ON audit_events")
        op.execute("DROP FUNCTION IF EXISTS audit_events_append_only()")
    for table in (
        "audit_head",
        "audit_events",
        "session_documents",
        "signing_sessions",
        "devices",
        "credentials",
        "relying_systems",
        "users",
    ):
        op.drop_table(table)
