"""The identity verification table comes with its own migration, chained after the single head."""

from __future__ import annotations

from alembic.script import ScriptDirectory
from esign_server.db import alembic_config, current_revision, migrate
from sqlalchemy import create_engine, inspect

REVISION = "0004_identity_verifications"


def test_one_head_and_the_identity_migration_upgrades_and_downgrades(database_url: str) -> None:
    heads = ScriptDirectory.from_config(alembic_config(database_url)).get_heads()
    assert len(heads) == 1
    migrate(database_url, REVISION)
    engine = create_engine(database_url.replace("postgresql://", "postgresql+psycopg://"))
    try:
        columns = {c["name"] for c in inspect(engine).get_columns("identity_verifications")}
        assert {"sealed", "document_masked", "verified_by", "verified_at", "identity_digest"} <= columns
        from alembic import command

        command.downgrade(alembic_config(database_url), "0003_csc")
        assert "identity_verifications" not in inspect(engine).get_table_names()
        migrate(database_url)
        assert current_revision(database_url) == heads[0]
    finally:
        engine.dispose()
