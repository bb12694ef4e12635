"""The organization code registry in the console: browse the tree, search, issue, amend and close codes
(the registry service's rules hold), with history and audit under the officer's name."""

from __future__ import annotations

import csv
import io

import httpx
from esign_server.context import ServerContext
from esign_server.models import AuditEvent
from esign_server.services import orgids
from sqlmodel import select

from .conftest import form_csrf, make_officer, page_csrf, sign_in


async def test_browse_search_issue_amend_close_a_code(ctx: ServerContext, http: httpx.AsyncClient) -> None:
    orgids.seed_level1(ctx.db, actor="test")
    officer = make_officer(ctx, "dang.ky", "registry_officer")
    assert (await sign_in(http, officer)).status_code == 303

    level1 = await http.get("/admin/orgs")
    assert level1.status_code == 200 and "H49" in level1.text
    found = await http.get("/admin/orgs", params={"q": "quang ninh"})  # no diacritics typed
    assert "/admin/orgs/H49" in found.text
    by_code = await http.get("/admin/orgs", params={"q": "H4"})
    assert "/admin/orgs/H49" in by_code.text

    token = await page_csrf(http, "/admin/orgs/H49")
    issued = await http.post("/admin/orgs", data={"csrf": token, "parent": "H49", "name": "Sở Tư pháp"})
    assert issued.status_code == 303
    child = issued.headers["location"].split("?")[0].rsplit("/", 1)[1]
    assert child.startswith("H49.")
    parent_page = await http.get("/admin/orgs/H49")
    assert f"/admin/orgs/{child}" in parent_page.text  # the tree shows it under its parent

    amended = await http.post(
        f"/admin/orgs/{child}/amend", data={"csrf": token, "name": "Sở Tư pháp tỉnh Quảng Ninh", "address": "Hạ Long"}
    )
    assert amended.status_code == 303
    under_closed = await http.post(f"/admin/orgs/{child}/close", data={"csrf": token, "reason": " "})
    assert under_closed.status_code == 400  # the service wants a reason
    closed = await http.post(f"/admin/orgs/{child}/close", data={"csrf": token, "reason": "sáp nhập"})
    assert closed.status_code == 303
    again = await http.post("/admin/orgs", data={"csrf": token, "code": child, "name": "Khác"})
    assert again.status_code == 409  # a closed code is never issued again

    page = await http.get(f"/admin/orgs/{child}")
    assert "Đã đóng" in page.text and "sáp nhập" in page.text
    assert [e.action for e in orgids.history(ctx, child)] == ["issued", "amended", "closed"]
    assert {e.actor for e in orgids.history(ctx, child)} == {"admin:dang.ky"}
    with ctx.db.read() as session:
        logged = session.exec(select(AuditEvent).where(AuditEvent.target == f"orgid:{child}")).all()
    assert [(e.actor, e.action) for e in logged] == [
        ("admin:dang.ky", "orgid.issued"),
        ("admin:dang.ky", "orgid.amended"),
        ("admin:dang.ky", "orgid.closed"),
    ]

    export = await http.get("/admin/orgs/export.csv")
    assert export.status_code == 200
    codes = {row["code"]: row for row in csv.DictReader(io.StringIO(export.text))}
    assert codes[child]["status"] == "closed"


async def test_only_registry_officers_change_codes(ctx: ServerContext, http: httpx.AsyncClient) -> None:
    orgids.seed_level1(ctx.db, actor="test")
    auditor = make_officer(ctx, "kiem.toan", "auditor")
    assert (await sign_in(http, auditor)).status_code == 303
    page = await http.get("/admin/orgs/H49")
    assert page.status_code == 200 and "/close" not in page.text
    token = form_csrf(page.text)
    refused = await http.post("/admin/orgs", data={"csrf": token, "parent": "H49", "name": "Sở Y tế"})
    assert refused.status_code == 403
    assert orgids.children(ctx, "H49") == []


async def test_codes_are_imported_from_a_file_all_or_nothing(ctx: ServerContext, http: httpx.AsyncClient) -> None:
    orgids.seed_level1(ctx.db, actor="test")
    orgids.issue_code(ctx, code="H49.22", name="Sở Tư pháp", actor="test")
    rows = list(csv.DictReader(io.StringIO(orgids.export_csv(ctx))))
    template = next(r for r in rows if r["code"] == "H49.22")
    officer = make_officer(ctx, "dang.ky", "registry_officer")
    assert (await sign_in(http, officer)).status_code == 303
    token = await page_csrf(http, "/admin/orgs")

    def file_of(*records: dict[str, str]) -> bytes:
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=list(template))
        writer.writeheader()
        writer.writerows(records)
        return out.getvalue().encode()

    good = {**template, "code": "H49.30", "name": "Sở Y tế"}
    bad = {**template, "code": "H49.31", "status": "bogus", "name": "Sai trạng thái"}
    refused = await http.post(
        "/admin/orgs-import", data={"csrf": token}, files={"file": ("codes.csv", file_of(good, bad))}
    )
    assert refused.status_code == 400 and 'data-bad-line="3"' in refused.text
    assert orgids.registry_status(ctx.db, "H49.30").known is False  # all or nothing
    accepted = await http.post("/admin/orgs-import", data={"csrf": token}, files={"file": ("codes.csv", file_of(good))})
    assert accepted.status_code == 200 and 'data-created="1"' in accepted.text
    assert orgids.get_code(ctx, "H49.30").name == "Sở Y tế"
