"""Relying systems in the console: register (secrets shown once), rotate the secret, disable, enable;
the OAuth2 token endpoint follows at once, and no console role can mint an admin client."""

from __future__ import annotations

import re

import httpx
from esign_server.context import ServerContext
from esign_server.services import clients

from .conftest import make_officer, page_csrf, sign_in


def shown(html: str, field: str) -> str:
    found = re.search(rf'data-field="{field}">([^<]+)<', html)
    assert found, f"no {field} on the page"
    return found.group(1)


async def token_status(http: httpx.AsyncClient, client_id: str, secret: str) -> int:
    answer = await http.post("/oauth2/token", data={"grant_type": "client_credentials"}, auth=(client_id, secret))
    return answer.status_code


async def test_register_rotate_disable_enable_a_relying_system(ctx: ServerContext, http: httpx.AsyncClient) -> None:
    officer = make_officer(ctx, "chung.thu", "credential_officer")
    assert (await sign_in(http, officer)).status_code == 303
    token = await page_csrf(http, "/admin/systems")
    made = await http.post(
        "/admin/systems",
        data={
            "csrf": token,
            "name": "Cổng dịch vụ công tỉnh",
            "scope": ["sessions"],
            "callback_urls": "https://dvc.example.vn/hook",
        },
    )
    assert made.status_code == 200 and made.headers["cache-control"] == "no-store"
    client_id, first = shown(made.text, "client_id"), shown(made.text, "client_secret")
    assert clients.get_client(ctx, client_id).callback_urls == ["https://dvc.example.vn/hook"]
    assert await token_status(http, client_id, first) == 200
    listing = await http.get("/admin/systems")
    assert client_id in listing.text and first not in listing.text  # the secret is not shown again

    rotated = await http.post(f"/admin/systems/{client_id}/rotate", data={"csrf": token})
    second = shown(rotated.text, "client_secret")
    assert second != first
    assert await token_status(http, client_id, first) == 401
    assert await token_status(http, client_id, second) == 200

    assert (await http.post(f"/admin/systems/{client_id}/disable", data={"csrf": token})).status_code == 303
    assert await token_status(http, client_id, second) == 401
    assert (await http.post(f"/admin/systems/{client_id}/enable", data={"csrf": token})).status_code == 303
    assert await token_status(http, client_id, second) == 200


async def test_the_console_never_makes_an_admin_client_and_refuses_bad_callbacks(
    ctx: ServerContext, http: httpx.AsyncClient
) -> None:
    officer = make_officer(ctx, "chung.thu", "credential_officer")
    assert (await sign_in(http, officer)).status_code == 303
    token = await page_csrf(http, "/admin/systems")
    admin = await http.post("/admin/systems", data={"csrf": token, "name": "x", "scope": ["admin"]})
    assert admin.status_code == 403
    ctx.settings.dev_mode = False  # https only, as in production
    bad = await http.post("/admin/systems", data={"csrf": token, "name": "y", "callback_urls": "http://10.0.0.1/hook"})
    assert bad.status_code == 400
    assert clients.list_clients(ctx) == []


async def test_auditors_see_relying_systems_but_change_nothing(ctx: ServerContext, http: httpx.AsyncClient) -> None:
    new = clients.create_client(ctx, name="Hệ thống một cửa", scopes=["sessions"], actor="test")
    auditor = make_officer(ctx, "kiem.toan", "auditor")
    assert (await sign_in(http, auditor)).status_code == 303
    page = await http.get("/admin/systems")
    assert page.status_code == 200 and "Hệ thống một cửa" in page.text and "/rotate" not in page.text
    token = await page_csrf(http, "/admin/audit")
    assert (await http.post(f"/admin/systems/{new.client.id}/rotate", data={"csrf": token})).status_code == 403
    assert (await http.post(f"/admin/systems/{new.client.id}/disable", data={"csrf": token})).status_code == 403
