"""Server fixtures: a migrated database (SQLite and PostgreSQL), the app over real ASGI HTTP, and people.

OTP codes come from ``oathtool``; the service CA is one dev PKI per test session.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from esign_server.app import create_app
from esign_server.config import Settings
from esign_server.context import ServerContext
from esign_server.db import migrate
from esign_server.models import RelyingSystem, User
from esign_server.services import clients, credentials, devices, grants, identity, users, webhooks
from esign_server.services.pki import pki_base_url
from sqlmodel import select

from esign.pki import create_dev_pki
from tests.server.exchange_helpers import seed_registry

PUBLIC_URL = "http://127.0.0.1:8750"


def oath(secret_b32: str, *, step_offset: int = 0) -> str:
    """The TOTP code ``oathtool`` computes for now + ``step_offset`` steps."""
    when = int(time.time()) + 30 * step_offset
    return subprocess.run(
        ["oathtool", "--totp", "-b", "-N", f"@{when}", secret_b32], check=True, capture_output=True, text=True
    ).stdout.strip()


@pytest.fixture(scope="session")
def service_pki_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One service CA for the whole test session (its status data lives in each test's database)."""
    directory = tmp_path_factory.mktemp("service-pki") / "pki"
    create_dev_pki(directory, "esign-dev", base_url=pki_base_url(PUBLIC_URL))
    return directory


def make_settings(database_url: str, pki_dir: Path, var_dir: Path, **overrides: object) -> Settings:
    """Dev-mode settings for a test database."""
    values: dict[str, object] = {
        "dev_mode": True,
        "database_url": database_url,
        "pki_dir": pki_dir,
        "var_dir": var_dir,
        "public_url": PUBLIC_URL,
        "log_json": True,
        "log_level": "WARNING",
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


@pytest.fixture
def ctx(database_url: str, service_pki_dir: Path, tmp_path: Path) -> Iterator[ServerContext]:
    """A server context on a freshly migrated database."""
    migrate(database_url)
    context = ServerContext(make_settings(database_url, service_pki_dir, tmp_path))
    yield context
    context.close()


@pytest.fixture
async def http(ctx: ServerContext) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client talking to the app through ASGI."""
    app = create_app(ctx=ctx)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver") as client:
        yield client


@pytest.fixture
def live_url(ctx: ServerContext) -> Iterator[str]:
    """The app under a real uvicorn on a free loopback port (for streaming responses such as SSE)."""
    import socket
    import threading

    import uvicorn

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    from esign_server.runner import DeadlineHttpProtocol

    # The service's own HTTP protocol (a deadline for each request to arrive whole).
    config = uvicorn.Config(create_app(ctx=ctx), log_level="warning", lifespan="on", http=DeadlineHttpProtocol)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.02)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)
    sock.close()


@dataclass
class Person:
    """A user with a credential and an enrolled, active device."""

    user_id: str
    credential_id: str
    device_id: str
    secret: str
    device_token: str


@dataclass
class Integrator:
    """A relying system with a token."""

    client_id: str
    client_secret: str
    webhook_secret: str
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


def verify_in_person(ctx: ServerContext, user_id: str, number: str, kind: str = "CCCD") -> None:
    """Record that an operator checked the user's document in person (credentials need it)."""
    identity.record_verification(
        ctx, user_id=user_id, evidence=identity.InPersonDocument(kind, number), actor="client:test-admin"
    )


async def verify_over_http(http: httpx.AsyncClient, admin: Integrator, user_id: str, kind: str, number: str) -> None:
    """The admin API records an in-person check of the user's document (credentials need it)."""
    response = await http.post(
        f"/api/admin/users/{user_id}/identity-verifications",
        json={"method": "in_person", "document": {"kind": kind, "number": number}},
        headers=admin.headers,
    )
    assert response.status_code == 201, response.text


def grant_all(ctx: ServerContext, *, client_id: str | None = None, user_id: str | None = None) -> None:
    """Authorise relying systems for users: ``client_id`` for every user, or every relying system for ``user_id``."""
    with ctx.db.read() as session:
        client_ids = [client_id] if client_id else list(session.exec(select(RelyingSystem.id)).all())
        user_ids = [user_id] if user_id else list(session.exec(select(User.id)).all())
    for cid in client_ids:
        for uid in user_ids:
            grants.grant(ctx, client_id=cid, user_id=uid, actor="test")


def register_loopback_hook(ctx: ServerContext, client: Integrator, url: str) -> None:
    """Let ``client`` name ``url`` (a receiver on loopback, allow-listed for the test) as its webhook."""
    ctx.settings.webhook_allowed_networks = ["127.0.0.0/8"]
    webhooks.register_callback_urls(ctx, client_id=client.client_id, urls=[url], actor="test")


async def authorise_over_http(http: httpx.AsyncClient, admin: Integrator, user_id: str, client: Integrator) -> None:
    """The admin API records that the user authorises ``client`` (only then may it ask them to sign)."""
    response = await http.post(
        f"/api/admin/users/{user_id}/relying-systems", json={"client_id": client.client_id}, headers=admin.headers
    )
    assert response.status_code == 201, response.text


def enroll_person(
    ctx: ServerContext,
    *,
    cccd: str = "001203012389",
    key_algorithm: str = "p256",
    name: str = "Nguyễn Văn An",
    authorise_all: bool = True,
) -> Person:
    """Make a user, a credential and an active device (first code from oathtool); with ``authorise_all``
    the user authorises every relying system registered so far."""
    user = users.create_user(ctx, full_name=name, cccd=cccd, email="an@example.vn", actor="test")
    if authorise_all:
        grant_all(ctx, user_id=user.id)
    verify_in_person(ctx, user.id, cccd)
    cred = credentials.issue_credential(ctx, user_id=user.id, key_algorithm=key_algorithm, actor="test")
    enrollment = devices.start_enrollment(ctx, user_id=user.id, device_name="phone", actor="test")
    device, token = devices.activate(
        ctx, enrollment_token=enrollment.enrollment_token, code=oath(enrollment.secret_b32), actor="test"
    )
    return Person(user.id, cred.id, device.id, enrollment.secret_b32, token)


def add_device(ctx: ServerContext, person: Person) -> Person:
    """Another active device for the same person (a fresh secret, so a fresh OTP step history)."""
    enrollment = devices.start_enrollment(ctx, user_id=person.user_id, device_name="tablet", actor="test")
    device, token = devices.activate(
        ctx, enrollment_token=enrollment.enrollment_token, code=oath(enrollment.secret_b32), actor="test"
    )
    return Person(person.user_id, person.credential_id, device.id, enrollment.secret_b32, token)


def register_client(
    ctx: ServerContext, scopes: list[str], name: str = "Cổng dịch vụ công", *, authorised_by_all: bool = True
) -> Integrator:
    """A relying system and a token for it; with ``authorised_by_all`` every user so far authorises it."""
    new = clients.create_client(ctx, name=name, scopes=scopes, actor="test")
    if authorised_by_all:
        grant_all(ctx, client_id=new.client.id)
    token, _ = clients.issue_access_token(
        ctx, client_id=new.client.id, client_secret=new.client_secret, scope=" ".join(scopes)
    )
    return Integrator(new.client.id, new.client_secret, new.webhook_secret, token)


@pytest.fixture
def person(ctx: ServerContext) -> Person:
    """A user with an ECDSA P-256 credential and an active device."""
    return enroll_person(ctx)


@pytest.fixture
def integrator(ctx: ServerContext) -> Integrator:
    """A relying system with the ``sessions`` scope."""
    return register_client(ctx, ["sessions"])


@pytest.fixture
def admin(ctx: ServerContext) -> Integrator:
    """A caller with the ``admin`` scope."""
    return register_client(ctx, ["admin"], name="Admin console")


@pytest.fixture
def node(ctx: ServerContext) -> ServerContext:
    """This server as the edXML exchange node ``H49``, with the registry of the exchange tests' codes."""
    ctx.settings.exchange_node_code = "H49"
    seed_registry(ctx)
    return ctx
