"""Migration 0016: the hashes a CSC authorization may still sign move from a row each into one column,
and back on downgrade, without giving an authorization more (or fewer) signatures than it had left;
an expired authorization keeps nothing to sign."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

from alembic import command
from esign_server.db import alembic_config, migrate
from sqlalchemy import create_engine, inspect, text

BEFORE = "0015_org_seals"
AFTER = "0016_csc_digest_sets"


def _digest(name: str) -> bytes:
    return hashlib.sha256(name.encode()).digest()


def test_left_hashes_survive_the_upgrade_and_the_downgrade(database_url: str) -> None:
    migrate(database_url, BEFORE)
    engine = create_engine(database_url.replace("postgresql://", "postgresql+psycopg://"))
    twice, once, spent = _digest("twice"), _digest("once"), _digest("spent")
    expires = datetime.now(UTC) + timedelta(minutes=5)
    past = datetime.now(UTC) - timedelta(minutes=5)
    try:
        with engine.begin() as conn:
            for auth_id, at in (("a-with-hashes", expires), ("a-without", expires), ("a-expired", past)):
                conn.execute(
                    text(
                        "INSERT INTO csc_authorizations (id, session_id, client_id, credential_id, hash_algorithm, "
                        "num_signatures, signatures_used, sad_hash, expires_at, created_at) "
                        "VALUES (:id, NULL, 'rp', 'cred', 'sha256', 4, 2, :sad, :at, :at)"
                    ),
                    {"id": auth_id, "sad": hashlib.sha256(auth_id.encode()).hexdigest(), "at": at},
                )
            conn.execute(
                text(
                    "INSERT INTO csc_authorized_hashes (authorization_id, digest, allowed, used) VALUES "
                    "('a-with-hashes', :twice, 2, 0), ('a-with-hashes', :once, 1, 0), ('a-with-hashes', :spent, 1, 1), "
                    "('a-expired', :once, 1, 0)"
                ),
                {"twice": twice.hex(), "once": once.hex(), "spent": spent.hex()},
            )
        migrate(database_url, AFTER)
        assert "csc_authorized_hashes" not in inspect(engine).get_table_names()
        with engine.connect() as conn:
            left = dict(conn.execute(text("SELECT id, digests FROM csc_authorizations")).all())
        assert bytes(left["a-with-hashes"]) == b"".join(sorted([twice, twice, once]))
        assert bytes(left["a-without"]) == b""
        assert bytes(left["a-expired"]) == b""  # an expired SAD signs nothing

        command.downgrade(alembic_config(database_url), BEFORE)
        with engine.connect() as conn:
            rows = conn.execute(text("SELECT authorization_id, digest, allowed, used FROM csc_authorized_hashes")).all()
        assert sorted(tuple(r) for r in rows) == sorted(
            [("a-with-hashes", twice.hex(), 2, 0), ("a-with-hashes", once.hex(), 1, 0)]
        )
        assert "digests" not in {c["name"] for c in inspect(engine).get_columns("csc_authorizations")}
        migrate(database_url)
    finally:
        engine.dispose()
