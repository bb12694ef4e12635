"""Console fixtures: officers with roles, signing in over real ASGI HTTP with codes from ``oathtool``."""

from __future__ import annotations

import re
from dataclasses import dataclass

import httpx
import pytest
from esign_server.admin_console import accounts
from esign_server.context import ServerContext

from ..conftest import oath

PASSWORD = "mật khẩu đủ dài 2026"


@dataclass
class Officer:
    """A console account and its TOTP secret."""

    username: str
    secret: str


def make_officer(ctx: ServerContext, username: str, *roles: str) -> Officer:
    """A console account with ``roles`` (made as the CLI makes one)."""
    new = accounts.create_account(
        ctx, username=username, full_name=f"Cán bộ {username}", password=PASSWORD, roles=list(roles), actor="cli"
    )
    return Officer(new.account.username, new.totp_secret_b32)


def form_csrf(html: str) -> str:
    """The CSRF token of the first form on a page."""
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found, "no CSRF token on the page"
    return found.group(1)


async def sign_in(
    http: httpx.AsyncClient, officer: Officer, *, step_offset: int = 0, password: str = PASSWORD
) -> httpx.Response:
    """Open the sign-in form, then send username, password and the code ``oathtool`` computes."""
    form = await http.get("/admin/login")
    assert form.status_code == 200
    return await http.post(
        "/admin/login",
        data={
            "username": officer.username,
            "password": password,
            "code": oath(officer.secret, step_offset=step_offset),
            "csrf": form_csrf(form.text),
            "next": "/admin/",
        },
    )


async def page_csrf(http: httpx.AsyncClient, path: str = "/admin/people") -> str:
    """The session's CSRF token, as a signed-in page carries it."""
    page = await http.get(path)
    assert page.status_code == 200, page.text
    return form_csrf(page.text)


@pytest.fixture
def officer(ctx: ServerContext) -> Officer:
    """An officer with every role."""
    return make_officer(ctx, "an.nv", "identity_officer", "credential_officer", "auditor", "registry_officer")
