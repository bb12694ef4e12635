"""The admin console over real ASGI HTTP, on SQLite and PostgreSQL: sign-in with argon2 password and TOTP
(codes from ``oathtool``), lockout, CSRF, roles, and each action landing in the services and the audit log."""

from __future__ import annotations

import base64
import csv
import hashlib
import io
from pathlib import Path

import httpx
from cryptography.hazmat.primitives import serialization
from esign_server.admin_console import accounts
from esign_server.context import ServerContext
from esign_server.models import AdminAccount, AuditEvent, Credential, Device
from esign_server.services import credentials, devices, grants, users
from sqlmodel import col, select

from ..conftest import Person, oath, register_client
from ..identity.conftest import ocsp_status
from .conftest import Officer, form_csrf, make_officer, page_csrf, sign_in


def events(ctx: ServerContext, action: str) -> list[AuditEvent]:
    with ctx.db.read() as session:
        return list(
            session.exec(select(AuditEvent).where(AuditEvent.action == action).order_by(col(AuditEvent.seq))).all()
        )


async def test_sign_in_with_password_and_totp_sets_a_locked_down_cookie_and_is_audited(
    ctx: ServerContext, http: httpx.AsyncClient, officer: Officer
) -> None:
    answer = await sign_in(http, officer)
    assert answer.status_code == 303
    cookie = next(h for h in answer.headers.get_list("set-cookie") if h.startswith("esign_admin="))
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/admin" in cookie
    page = await http.get("/admin/people")
    assert page.status_code == 200
    assert "Tìm người dùng" in page.text  # Vietnamese by default
    assert page.headers["content-security-policy"].startswith("default-src 'self'")
    assert [e.actor for e in events(ctx, "admin.login")] == ["admin:an.nv"]
    with ctx.db.read() as session:
        stored = session.exec(select(AdminAccount)).one()
    assert stored.password_hash.startswith("$argon2id$")


async def test_a_production_server_marks_the_cookie_secure(
    ctx: ServerContext, http: httpx.AsyncClient, officer: Officer
) -> None:
    ctx.settings.dev_mode = False
    form = await http.get("/admin/login")
    assert all("Secure" in h for h in form.headers.get_list("set-cookie"))


async def test_wrong_password_wrong_code_and_replayed_code_get_one_answer(
    ctx: ServerContext, http: httpx.AsyncClient, officer: Officer
) -> None:
    wrong_password = await sign_in(http, officer, password="not the password at all")
    assert wrong_password.status_code == 401
    form = await http.get("/admin/login")
    wrong_code = await http.post(
        "/admin/login",
        data={
            "username": officer.username,
            "password": "mật khẩu đủ dài 2026",
            "code": "000000",
            "csrf": form_csrf(form.text),
        },
    )
    if oath(officer.secret) != "000000":
        assert wrong_code.status_code == 401
    nobody = await sign_in(http, Officer("nobody", officer.secret))
    assert nobody.status_code == 401
    assert await sign_in(http, officer, step_offset=0) and "esign_admin=" not in str(wrong_password.headers)
    replay = await sign_in(http, officer, step_offset=0)
    assert replay.status_code == 401  # the same code twice
    older = await sign_in(http, officer, step_offset=-1)
    assert older.status_code == 401  # an earlier step after a later one
    texts = {r.text.count("Sai tên đăng nhập, mật khẩu hoặc mã xác thực") for r in (wrong_password, nobody, replay)}
    assert texts == {1}
    assert len(events(ctx, "admin.login_failed")) >= 4


async def test_repeated_failures_lock_the_account_even_against_the_right_answer(
    ctx: ServerContext, http: httpx.AsyncClient, officer: Officer
) -> None:
    for _ in range(accounts.LOCK_AFTER):
        assert (await sign_in(http, officer, password="guessing the password")).status_code == 401
    right = await sign_in(http, officer)
    assert right.status_code == 401
    with ctx.db.read() as session:
        stored = session.exec(select(AdminAccount)).one()
    assert stored.locked_until is not None
    assert stored.failed_logins == accounts.LOCK_AFTER + 1
    locked = events(ctx, "admin.login_failed")[-1]
    assert locked.details["locked_until"] is not None


async def test_forms_without_the_session_csrf_token_or_from_another_origin_are_refused(
    ctx: ServerContext, http: httpx.AsyncClient, officer: Officer, person: Person
) -> None:
    assert (await sign_in(http, officer)).status_code == 303
    token = await page_csrf(http)
    url = f"/admin/credentials/{person.credential_id}/suspend"
    assert (await http.post(url, data={"csrf": "forged"})).status_code == 403
    assert (await http.post(url, data={})).status_code == 422
    foreign = await http.post(url, data={"csrf": token}, headers={"Origin": "https://evil.example"})
    assert foreign.status_code == 403
    assert credentials.get_credential(ctx, person.credential_id).status == "active"
    done = await http.post(url, data={"csrf": token}, headers={"Origin": "http://testserver"})
    assert done.status_code == 303
    assert credentials.get_credential(ctx, person.credential_id).status == "suspended"


async def test_the_sign_in_form_needs_its_own_csrf_cookie(http: httpx.AsyncClient, officer: Officer) -> None:
    answer = await http.post(
        "/admin/login",
        data={
            "username": officer.username,
            "password": "mật khẩu đủ dài 2026",
            "code": oath(officer.secret),
            "csrf": "x",
        },
    )
    assert answer.status_code == 403


async def test_pages_need_a_session_and_signing_out_ends_it(
    ctx: ServerContext, http: httpx.AsyncClient, officer: Officer, person: Person
) -> None:
    before = await http.get("/admin/people")
    assert before.status_code == 303 and before.headers["location"].startswith("/admin/login")
    anonymous = await http.post(f"/admin/credentials/{person.credential_id}/revoke", data={"csrf": "x"})
    assert anonymous.status_code == 401
    assert (await sign_in(http, officer)).status_code == 303
    stolen = http.cookies.get("esign_admin")
    token = await page_csrf(http)
    assert (await http.post("/admin/logout", data={"csrf": token})).status_code == 303
    assert events(ctx, "admin.logout")[-1].actor == "admin:an.nv"
    http.cookies.set("esign_admin", stolen or "", path="/admin")
    assert (await http.get("/admin/people")).status_code == 303  # the old cookie no longer works


async def test_roles_narrow_what_an_officer_may_do(ctx: ServerContext, http: httpx.AsyncClient, person: Person) -> None:
    auditor = make_officer(ctx, "kiem.toan", "auditor")
    assert (await sign_in(http, auditor)).status_code == 303
    token = await page_csrf(http, "/admin/audit")
    refused = await http.post(f"/admin/credentials/{person.credential_id}/revoke", data={"csrf": token})
    assert refused.status_code == 403
    assert (await http.post(f"/admin/people/{person.user_id}/reveal", data={"csrf": token})).status_code == 403
    assert (await http.post(f"/admin/devices/{person.device_id}/revoke", data={"csrf": token})).status_code == 403
    assert credentials.get_credential(ctx, person.credential_id).status == "active"
    page = await http.get(f"/admin/people/{person.user_id}")
    assert page.status_code == 200 and "/revoke" not in page.text  # no buttons it may not press

    registry = make_officer(ctx, "so.dang.ky", "registry_officer")
    http.cookies.clear()
    assert (await sign_in(http, registry)).status_code == 303
    assert (await http.get("/admin/audit")).status_code == 403
    assert (await http.get("/admin/audit/export.csv")).status_code == 403


async def test_people_are_found_by_name_with_or_without_diacritics_cccd_tax_code_and_organization(
    ctx: ServerContext, http: httpx.AsyncClient, officer: Officer
) -> None:
    users.create_user(ctx, full_name="Trần Thị Đào", cccd="079190000123", organization="Sở Tư pháp", actor="t")
    users.create_user(ctx, full_name="Lê Văn Bình", tax_code="0312345673", organization="Sở Y tế", actor="t")
    assert (await sign_in(http, officer)).status_code == 303

    async def names(query: str) -> list[str]:
        page = await http.get("/admin/people", params={"q": query})
        assert page.status_code == 200
        return [n for n in ("Trần Thị Đào", "Lê Văn Bình") if n in page.text]

    assert await names("tran thi dao") == ["Trần Thị Đào"]
    assert await names("Đào") == ["Trần Thị Đào"]
    assert await names("DAO") == ["Trần Thị Đào"]
    assert await names("0791900") == ["Trần Thị Đào"]
    assert await names("0312345673") == ["Lê Văn Bình"]
    assert await names("so y te") == ["Lê Văn Bình"]
    assert await names("nobody here") == []
    page = await http.get("/admin/people", params={"q": "tran"})
    assert "079190000123" not in page.text and "0791******23" in page.text  # masked in lists


async def test_a_person_page_masks_numbers_until_revealed_and_the_reveal_is_logged(
    ctx: ServerContext, http: httpx.AsyncClient, officer: Officer, person: Person
) -> None:
    assert (await sign_in(http, officer)).status_code == 303
    page = await http.get(f"/admin/people/{person.user_id}")
    assert "001203012389" not in page.text and "0012******89" in page.text
    assert 'data-field="document">CCCD 0012******89' in page.text
    revealed = await http.post(f"/admin/people/{person.user_id}/reveal", data={"csrf": form_csrf(page.text)})
    assert revealed.status_code == 200 and "001203012389" in revealed.text
    assert 'data-field="document">CCCD 001203012389' in revealed.text  # the sealed document number, opened
    logged = events(ctx, "identity.revealed")
    assert [(e.actor, e.target) for e in logged] == [("admin:an.nv", f"user:{person.user_id}")]


async def test_suspend_resume_revoke_from_the_console_show_in_ocsp_and_the_audit_log(
    ctx: ServerContext, http: httpx.AsyncClient, officer: Officer, person: Person, tmp_path: Path
) -> None:
    assert (await sign_in(http, officer)).status_code == 303
    token = await page_csrf(http)
    base = f"/admin/credentials/{person.credential_id}"
    assert (await http.post(f"{base}/suspend", data={"csrf": token})).status_code == 303
    assert (await http.post(f"{base}/resume", data={"csrf": token})).status_code == 303
    revoked = await http.post(f"{base}/revoke", data={"csrf": token, "reason": "key_compromise"})
    assert revoked.status_code == 303
    assert revoked.headers["location"] == f"/admin/people/{person.user_id}?done=credential.revoke"
    again = await http.post(f"{base}/revoke", data={"csrf": token})
    assert again.status_code == 409  # the service's rule, shown as a page
    cred = credentials.get_credential(ctx, person.credential_id)
    assert cred.status == "revoked" and cred.revocation_reason == "key_compromise"
    actions = [(e.actor, e.action) for e in events(ctx, "credential.revoke")]
    assert actions == [("admin:an.nv", "credential.revoke")]
    certificate = credentials.certificate_of(cred)
    assert certificate is not None
    pem = certificate.public_bytes(serialization.Encoding.PEM).decode()
    status = await ocsp_status(http, pem, tmp_path)
    assert "leaf.pem: revoked" in status and "keyCompromise" in status and "Response verify OK" in status


async def test_verify_identity_then_issue_a_credential_from_the_console(
    ctx: ServerContext, http: httpx.AsyncClient, officer: Officer
) -> None:
    user = users.create_user(ctx, full_name="Phạm Minh Châu", cccd="001190000777", actor="t")
    assert (await sign_in(http, officer)).status_code == 303
    token = await page_csrf(http)
    early = await http.post(f"/admin/people/{user.id}/credentials", data={"csrf": token})
    assert early.status_code == 409  # identity not verified yet
    wrong = await http.post(
        f"/admin/people/{user.id}/verifications", data={"csrf": token, "kind": "CCCD", "number": "001190000778"}
    )
    assert wrong.status_code in (400, 409)
    verified = await http.post(
        f"/admin/people/{user.id}/verifications", data={"csrf": token, "kind": "CCCD", "number": "001190000777"}
    )
    assert verified.status_code == 303
    issued = await http.post(
        f"/admin/people/{user.id}/credentials", data={"csrf": token, "key_algorithm": "p256", "label": "Công vụ"}
    )
    assert issued.status_code == 303
    (cred,) = credentials.list_credentials(ctx, user_id=user.id)
    certificate = credentials.certificate_of(cred)
    assert certificate is not None
    assert "001190000777" in certificate.subject.rfc4514_string()  # named from the verified identity
    assert events(ctx, "credential.issued")[-1].actor == "admin:an.nv"


async def test_pairing_qr_and_device_revocation(
    ctx: ServerContext, http: httpx.AsyncClient, officer: Officer, person: Person
) -> None:
    assert (await sign_in(http, officer)).status_code == 303
    token = await page_csrf(http)
    pairing = await http.post(f"/admin/people/{person.user_id}/enrollments", data={"csrf": token})
    assert pairing.status_code == 200
    assert 'src="data:image/png;base64,iVBOR' in pairing.text and "/m/#pair=" in pairing.text
    assert pairing.headers["cache-control"] == "no-store"
    assert len(devices.list_devices(ctx, user_id=person.user_id)) == 2
    gone = await http.post(f"/admin/devices/{person.device_id}/revoke", data={"csrf": token})
    assert gone.status_code == 303
    with ctx.db.read() as session:
        device = session.get(Device, person.device_id)
    assert device is not None and device.status == "revoked"
    assert events(ctx, "device.revoked")[-1].actor == "admin:an.nv"


async def test_audit_filter_chain_check_and_export(
    ctx: ServerContext, http: httpx.AsyncClient, officer: Officer, person: Person
) -> None:
    assert (await sign_in(http, officer)).status_code == 303
    filtered = await http.get("/admin/audit", params={"actor": "admin:", "action": "admin.login"})
    assert filtered.status_code == 200
    assert "admin.login" in filtered.text and "credential.issued" not in filtered.text
    assert (await http.get("/admin/audit", params={"since": "not a date"})).status_code == 400
    none_yet = await http.get("/admin/audit", params={"until": "2000-01-01"})
    assert "admin.login" not in none_yet.text
    check = await http.post("/admin/audit/verify", data={"csrf": form_csrf(filtered.text)})
    assert check.status_code == 200 and 'data-chain="ok"' in check.text
    export = await http.get("/admin/audit/export.csv", params={"action": "credential."})
    assert export.status_code == 200 and export.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(export.text)))
    assert [r["action"] for r in rows] == ["credential.issued"]
    assert events(ctx, "audit.exported")[-1].actor == "admin:an.nv"


async def test_english_on_request(http: httpx.AsyncClient, officer: Officer) -> None:
    switched = await http.get("/admin/lang/en", params={"next": "https://evil.example/"})
    assert switched.headers["location"] == "/admin/"  # never an open redirect
    page = await http.get("/admin/login")
    assert "Administrator sign-in" in page.text and 'lang="en"' in page.text


def test_accounts_refuse_short_passwords_unknown_roles_and_duplicates(ctx: ServerContext) -> None:
    import pytest
    from esign_server.services.errors import Conflict, ServiceError

    with pytest.raises(ServiceError, match="12 characters"):
        accounts.create_account(ctx, username="a.b", full_name="", password="short", roles=["auditor"], actor="t")
    with pytest.raises(ServiceError, match="roles"):
        accounts.create_account(ctx, username="a.b", full_name="", password="x" * 12, roles=["root"], actor="t")
    accounts.create_account(ctx, username="a.b", full_name="", password="x" * 12, roles=["auditor"], actor="t")
    with pytest.raises(Conflict):
        accounts.create_account(ctx, username="A.B", full_name="", password="x" * 12, roles=["auditor"], actor="t")
    with ctx.db.read() as session:
        assert session.exec(select(Credential)).first() is None


async def test_a_person_page_lists_recent_signing_sessions(
    ctx: ServerContext, http: httpx.AsyncClient, officer: Officer, person: Person
) -> None:
    rp = register_client(ctx, ["sessions"], name="Một cửa điện tử")
    item = {"name": "a.pdf", "digest": base64.b64encode(hashlib.sha256(b"a").digest()).decode()}
    asked = await http.post(
        "/api/sessions", json={"credential_id": person.credential_id, "items": [item]}, headers=rp.headers
    )
    assert asked.status_code == 201
    assert (await sign_in(http, officer)).status_code == 303
    page = await http.get(f"/admin/people/{person.user_id}")
    section = page.text.split('id="h-sessions"')[1]
    assert rp.client_id in section and "pending" in section


async def test_a_disabled_account_loses_its_session_and_an_unlocked_one_signs_in_again(
    ctx: ServerContext, http: httpx.AsyncClient, officer: Officer
) -> None:
    assert (await sign_in(http, officer, step_offset=-1)).status_code == 303
    accounts.set_active(ctx, username=officer.username, active=False, actor="cli")
    assert (await http.get("/admin/people")).status_code == 303  # the live session ended
    assert (await sign_in(http, officer, step_offset=0)).status_code == 401
    accounts.set_active(ctx, username=officer.username, active=True, actor="cli")
    for _ in range(accounts.LOCK_AFTER):
        await sign_in(http, officer, password="a wrong password here")
    accounts.unlock(ctx, username=officer.username, actor="cli")
    assert (await sign_in(http, officer, step_offset=1)).status_code == 303
    logged = [e.action for e in events(ctx, "admin.account_disabled") + events(ctx, "admin.account_unlocked")]
    assert logged == ["admin.account_disabled", "admin.account_unlocked"]


async def test_markup_in_names_is_shown_as_text_never_run(
    ctx: ServerContext, http: httpx.AsyncClient, officer: Officer
) -> None:
    evil = '<script>alert("x")</script><img src=x onerror=alert(1)>'
    user = users.create_user(ctx, full_name=evil, cccd="001190000999", organization=evil, actor="t")
    assert (await sign_in(http, officer)).status_code == 303
    for path in ("/admin/people?q=script", f"/admin/people/{user.id}", "/admin/audit"):
        page = await http.get(path)
        assert page.status_code == 200
        assert "<script>alert" not in page.text and "<img src=x" not in page.text
    assert "&lt;script&gt;" in (await http.get(f"/admin/people/{user.id}")).text


async def test_add_one_person_and_authorise_then_withdraw_a_relying_system(
    ctx: ServerContext, http: httpx.AsyncClient, officer: Officer
) -> None:
    assert (await sign_in(http, officer)).status_code == 303
    token = await page_csrf(http)
    bad = await http.post("/admin/people", data={"csrf": token, "full_name": "Không Số"})
    assert bad.status_code == 400  # a CCCD or a tax code is needed
    made = await http.post(
        "/admin/people", data={"csrf": token, "full_name": "Hoàng Văn Bảy", "cccd": "001190000777", "email": ""}
    )
    assert made.status_code == 303 and made.headers["location"].endswith("?done=person.created")
    user_id = made.headers["location"].split("/")[-1].split("?")[0]
    twice = await http.post("/admin/people", data={"csrf": token, "full_name": "Khác", "cccd": "001190000777"})
    assert twice.status_code == 409
    rp = register_client(ctx, ["sessions"], name="Một cửa", authorised_by_all=False)
    page = await http.get(f"/admin/people/{user_id}")
    assert f'<option value="{rp.client_id}">' in page.text
    added = await http.post(f"/admin/people/{user_id}/relying-systems", data={"csrf": token, "client_id": rp.client_id})
    assert added.status_code == 303
    assert [g.client_id for g in grants.list_for_user(ctx, user_id=user_id)] == [rp.client_id]
    gone = await http.post(f"/admin/people/{user_id}/relying-systems/{rp.client_id}/revoke", data={"csrf": token})
    assert gone.status_code == 303
    assert grants.list_for_user(ctx, user_id=user_id) == []
    assert events(ctx, "user.created")[-1].actor == "admin:an.nv"
