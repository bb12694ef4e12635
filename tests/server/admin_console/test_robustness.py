"""Sessions end when they should, and no console route answers junk with a server error."""

from __future__ import annotations

from datetime import timedelta

import httpx
from esign_server.admin_console import accounts
from esign_server.admin_console.router import router as console
from esign_server.context import ServerContext
from esign_server.models import AdminSession
from fastapi.routing import APIRoute
from sqlmodel import select

from .conftest import Officer, page_csrf, sign_in

JUNK_PATH = "x%27%3C%3E%00..%2F"
JUNK_FORM = {
    "name": "\x00" * 3,
    "q": "'; DROP TABLE users; --",
    "code": "../../",
    "kind": "???",
    "number": "💥",
    "reason": "x" * 40,
    "scope": "admin",
    "step": "import",
    "text": "ho_ten\n\x00",
    "parent": "Z",
    "group": "-1",
    "key_algorithm": "dsa",
    "callback_urls": "javascript:alert(1)",
}


def _age_sessions(ctx: ServerContext, **shift: timedelta) -> None:
    with ctx.db.write() as session:
        for row in session.exec(select(AdminSession)).all():
            for name, delta in shift.items():
                setattr(row, name, getattr(row, name) - delta)
            session.add(row)


async def test_an_idle_session_ends(ctx: ServerContext, http: httpx.AsyncClient, officer: Officer) -> None:
    assert (await sign_in(http, officer)).status_code == 303
    assert (await http.get("/admin/people")).status_code == 200
    _age_sessions(ctx, last_seen_at=accounts.SESSION_IDLE + timedelta(seconds=1))
    assert (await http.get("/admin/people")).status_code == 303


async def test_a_session_ends_after_its_lifetime_however_busy(
    ctx: ServerContext, http: httpx.AsyncClient, officer: Officer
) -> None:
    assert (await sign_in(http, officer)).status_code == 303
    _age_sessions(ctx, expires_at=accounts.SESSION_LIFETIME)
    assert (await http.get("/admin/people")).status_code == 303


async def test_junk_on_every_console_route_gets_no_server_error(
    ctx: ServerContext, http: httpx.AsyncClient, officer: Officer
) -> None:
    assert (await sign_in(http, officer)).status_code == 303
    token = await page_csrf(http)
    routes = [r for r in console.routes if isinstance(r, APIRoute)]
    assert len(routes) > 20
    for route in routes:
        path = route.path
        for name in route.param_convertors:
            path = path.replace("{" + name + "}", JUNK_PATH)
        for method in route.methods:
            if method == "GET":
                answer = await http.get(path, params={**JUNK_FORM, "before": "-5", "since": "2026-13-45"})
            else:
                answer = await http.request(method, path, data={**JUNK_FORM, "csrf": token})
            assert answer.status_code < 500, f"{method} {route.path}: {answer.status_code} {answer.text[:300]}"
