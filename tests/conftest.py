"""Shared fixtures: database URLs (SQLite and the real PostgreSQL), the dev PKI with its HTTP service."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from esign.pki import DevPKI

POSTGRES_URL = os.environ.get("ESIGN_TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test")
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def _postgres_reachable(url: str) -> str | None:
    """None when PostgreSQL answers, else the reason it does not."""
    try:
        import psycopg
    except ImportError:
        return "psycopg is not installed (pip install 'esign[server]')"
    try:
        with psycopg.connect(url, connect_timeout=5) as conn:
            conn.execute("SELECT 1")
    except Exception as exc:
        return f"{exc.__class__.__name__}: {exc}"
    return None


def pytest_sessionstart(session: pytest.Session) -> None:
    """Under CI the PostgreSQL half of the suite is mandatory: fail loudly, never skip it."""
    reason = _postgres_reachable(POSTGRES_URL)
    session.config.stash[_PG_KEY] = reason
    if reason and IN_CI:
        raise pytest.UsageError(
            f"PostgreSQL at {POSTGRES_URL} is unreachable under CI ({reason}). "
            "Start it or set ESIGN_TEST_DATABASE_URL; the suite does not skip the PostgreSQL tests."
        )


_PG_KEY = pytest.StashKey[str | None]()


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty database: a SQLite file, or a new schema-isolated PostgreSQL database."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'esign.db'}"
        return
    reason = request.config.stash.get(_PG_KEY, None)
    if reason:
        pytest.fail(f"PostgreSQL is unreachable ({reason}); set ESIGN_TEST_DATABASE_URL")
    yield from _fresh_postgres_database()


def _fresh_postgres_database() -> Iterator[str]:
    import psycopg

    name = f"esign_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base, _, _ = POSTGRES_URL.rpartition("/")
    try:
        yield f"{base}/{name}"
    finally:
        with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def dev_pki(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevPKI]:
    """A dev PKI with its OCSP/CRL/TSA service running on a free loopback port.

    Certificates point at the running service (``pki.base_url``), so B-T/B-LT signing and
    revocation fetching work with no outside network.
    """
    import socket

    from esign.pki import create_dev_pki
    from esign.pki.http import serve_pki

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    pki = create_dev_pki(tmp_path_factory.mktemp("dev-pki"), "test-pki-password", base_url=f"http://127.0.0.1:{port}")
    server, _thread = serve_pki(pki, port)
    try:
        yield pki
    finally:
        server.shutdown()
        server.server_close()
