"""Settings, migrations against the models, and signed webhooks."""

from __future__ import annotations

import asyncio
import base64
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import httpx
import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from esign_server.config import Settings
from esign_server.context import ServerContext
from esign_server.db import current_revision, normalise_database_url
from esign_server.services.webhooks import SIGNATURE_HEADER, verify_signature
from sqlalchemy import create_engine
from sqlmodel import SQLModel

from esign.errors import InvalidInput

from .conftest import Integrator, Person, oath, register_loopback_hook


def test_postgres_urls_use_psycopg3() -> None:
    assert normalise_database_url("postgresql://u@h/db") == "postgresql+psycopg://u@h/db"
    assert normalise_database_url("postgres://u@h/db") == "postgresql+psycopg://u@h/db"
    assert normalise_database_url("sqlite:///var/x.db") == "sqlite:///var/x.db"


def test_default_secrets_refused_outside_dev_mode_and_accepted_when_set() -> None:
    with pytest.raises(ValueError, match="ESIGN_MASTER_KEY"):
        Settings(_env_file=None, dev_mode=False)  # type: ignore[call-arg]
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None,
        dev_mode=False,
        master_key=base64.b64encode(b"k" * 32).decode(),
        token_secret="t" * 40,
        pki_password="a real password",
    )
    assert settings.master_key_bytes() == b"k" * 32
    with pytest.raises(ValueError, match="32 bytes"):
        Settings(_env_file=None, dev_mode=True, master_key="c2hvcnQ=")  # type: ignore[call-arg]


def test_settings_errors_become_invalid_input(monkeypatch: pytest.MonkeyPatch) -> None:
    from esign_server.config import get_settings

    monkeypatch.setenv("ESIGN_DEV_MODE", "0")
    monkeypatch.chdir(Path("/"))
    get_settings.cache_clear()
    try:
        with pytest.raises(InvalidInput, match="default secrets"):
            get_settings()
    finally:
        get_settings.cache_clear()


def test_migrations_match_the_models(ctx: ServerContext) -> None:
    assert current_revision(ctx.settings.database_url) is not None
    engine = create_engine(normalise_database_url(ctx.settings.database_url))
    try:
        with engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn), SQLModel.metadata)
    finally:
        engine.dispose()
    assert diff == []


class _Receiver(BaseHTTPRequestHandler):
    received: ClassVar[list[tuple[dict[str, str], bytes]]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        _Receiver.received.append((dict(self.headers), body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


def _wait_for_delivery(timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not _Receiver.received and time.monotonic() < deadline:
        time.sleep(0.05)


async def test_signed_webhook_is_sent_when_the_session_ends(
    http: httpx.AsyncClient, ctx: ServerContext, integrator: Integrator, person: Person
) -> None:
    _Receiver.received = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/hook"
        register_loopback_hook(ctx, integrator, url)
        body = {
            "credential_id": person.credential_id,
            "callback_url": url,
            "items": [{"name": "a", "digest": base64.b64encode(b"\x07" * 32).decode()}],
        }
        created = (await http.post("/api/sessions", headers=integrator.headers, json=body)).json()
        await http.post(
            f"/api/mobile/sessions/{created['id']}/confirm",
            headers={"Authorization": f"Bearer {person.device_token}"},
            json={"code": oath(person.secret, step_offset=1)},
        )
        await asyncio.to_thread(_wait_for_delivery, 10.0)
    finally:
        server.shutdown()
    headers, payload = _Receiver.received[0]
    assert json.loads(payload)["status"] == "signed"
    assert verify_signature(integrator.webhook_secret.encode(), payload, headers[SIGNATURE_HEADER])
    assert not verify_signature(b"another secret", payload, headers[SIGNATURE_HEADER])
    assert not verify_signature(integrator.webhook_secret.encode(), payload + b" ", headers[SIGNATURE_HEADER])
