"""The admin console marks an organization's credential as a seal and sets its policy (docs/seals.md)."""

from __future__ import annotations

import httpx
from esign_server.context import ServerContext
from esign_server.services import credentials, seals, users

from ..conftest import register_client, verify_in_person
from .conftest import Officer, make_officer, page_csrf, sign_in


async def test_an_officer_makes_a_seal_changes_its_policy_and_removes_it(
    ctx: ServerContext, http: httpx.AsyncClient, officer: Officer
) -> None:
    invoicing = register_client(ctx, ["csc"], name="Phần mềm hóa đơn")
    org = users.create_user(ctx, full_name="Công ty Hóa đơn Xanh", tax_code="5700100256", actor="test")
    verify_in_person(ctx, org.id, "5700100256", kind="BRN")
    cred = credentials.issue_credential(ctx, user_id=org.id, key_algorithm="p256", label="Dấu hóa đơn", actor="t")
    assert (await sign_in(http, officer)).status_code == 303
    page = await http.get(f"/admin/people/{org.id}")
    assert f'data-seal="{cred.id}"' in page.text and "Phần mềm hóa đơn" in page.text
    token = await page_csrf(http, f"/admin/people/{org.id}")
    form = {"csrf": token, "clients": [invoicing.client_id], "per_minute": "3000", "hours": "06:00-22:00"}
    made = await http.post(f"/admin/seals/{cred.id}", data=form)
    assert made.status_code == 303
    assert made.headers["location"] == f"/admin/people/{org.id}?done=seal.set"
    seal = seals.get_seal(ctx, cred.id)
    assert (seal.clients, seal.per_minute, seal.per_day) == ([invoicing.client_id], 3000, None)
    assert seal.hours == "06:00-22:00"
    shown = await http.get(f"/admin/people/{org.id}")
    assert 'data-field="seal"' in shown.text and 'value="06:00-22:00"' in shown.text
    refused = await http.post(f"/admin/seals/{cred.id}", data={**form, "hours": "25:00-26:00"})
    assert refused.status_code == 400  # the service's rule, shown as a page; the policy is unchanged
    assert seals.get_seal(ctx, cred.id).hours == "06:00-22:00"
    removed = await http.post(f"/admin/seals/{cred.id}/remove", data={"csrf": token})
    assert removed.status_code == 303
    assert seals.list_seals(ctx) == []


async def test_an_officer_without_the_credential_role_cannot_make_a_seal(
    ctx: ServerContext, http: httpx.AsyncClient
) -> None:
    auditor = make_officer(ctx, "kiem.tra", "auditor")
    org = users.create_user(ctx, full_name="Công ty Hóa đơn Xanh", tax_code="5700100256", actor="test")
    verify_in_person(ctx, org.id, "5700100256", kind="BRN")
    cred = credentials.issue_credential(ctx, user_id=org.id, key_algorithm="p256", actor="t")
    assert (await sign_in(http, auditor)).status_code == 303
    token = await page_csrf(http, "/admin/audit")
    refused = await http.post(f"/admin/seals/{cred.id}", data={"csrf": token, "clients": ["x"]})
    assert refused.status_code == 403
    assert seals.list_seals(ctx) == []
