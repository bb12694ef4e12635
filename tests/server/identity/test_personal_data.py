"""Export of everything held about a user; erasure where the law allows, with the audit chain intact."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import httpx
from esign_server.context import ServerContext
from sqlalchemy import text

from ..conftest import Integrator, authorise_over_http, oath
from .conftest import CCCD, create_user, issue, ocsp_status, verify

ESIGN = str(Path(sys.executable).parent / "esign")
_TABLES = ("users", "identity_verifications", "credentials", "devices", "signing_sessions", "session_documents")


def rows_holding(ctx: ServerContext, needle: str) -> list[str]:
    """Tables (other than the audit log) with a row holding ``needle`` in any text or binary column."""
    found = []
    with ctx.db.read() as session:
        for table in _TABLES:
            for row in session.execute(text(f"SELECT * FROM {table}")):  # noqa: S608 - fixed table names
                for value in row:
                    raw = value if isinstance(value, bytes | memoryview) else str(value).encode()
                    if needle.encode() in bytes(raw):
                        found.append(table)
    return found


async def person_with_history(http: httpx.AsyncClient, admin: Integrator, integrator: Integrator) -> dict[str, str]:
    """A verified user with a credential, a paired phone and a rejected signing request."""
    user_id = await create_user(http, admin, phone="0901234567")
    await authorise_over_http(http, admin, user_id, integrator)
    await verify(http, admin, user_id)
    cred = (await issue(http, admin, user_id)).json()
    enrollment = (await http.post(f"/api/admin/users/{user_id}/enrollments", headers=admin.headers)).json()
    paired = await http.post(
        "/api/mobile/pair",
        json={"enrollment_token": enrollment["enrollment_token"], "code": oath(enrollment["secret"])},
    )
    token = paired.json()["device_token"]
    created = await http.post(
        "/api/sessions",
        json={"credential_id": cred["id"], "items": [{"name": f"to-khai-{CCCD}.pdf", "digest": "A" * 43 + "="}]},
        headers=integrator.headers,
    )
    session_id = created.json()["id"]
    await http.post(
        f"/api/mobile/sessions/{session_id}/reject",
        json={"reason": f"sai số CCCD {CCCD}"},
        headers={"Authorization": f"Bearer {token}"},
    )
    return {"user_id": user_id, "credential_id": cred["id"], "certificate_pem": cred["certificate_pem"], "token": token}


async def test_export_holds_everything_about_the_user(
    http: httpx.AsyncClient, admin: Integrator, integrator: Integrator
) -> None:
    p = await person_with_history(http, admin, integrator)
    response = await http.get(f"/api/admin/users/{p['user_id']}/export", headers=admin.headers)
    assert response.status_code == 200
    export = response.json()
    assert export["user"]["cccd"] == CCCD and export["user"]["phone"] == "0901234567"
    [verification] = export["identity_verifications"]
    assert verification["identity"]["cccd"] == CCCD and verification["document_number"] == "0792******34"
    assert verification["verified_by"] == f"client:{admin.client_id}"
    [cred] = export["credentials"]
    assert cred["id"] == p["credential_id"] and f"CCCD:{CCCD}" in cred["subject"]
    assert [d["status"] for d in export["devices"]] == ["active"]
    [session] = export["signing_sessions"]
    assert session["status"] == "rejected" and session["items"][0]["name"] == f"to-khai-{CCCD}.pdf"
    actions = {e["action"] for e in export["audit_events"]}
    assert {"user.created", "identity.verified", "credential.issued", "session.rejected"} <= actions
    assert "secret" not in json.dumps(export).lower().replace("webhook", "")
    events = (await http.get("/api/admin/audit/events", headers=admin.headers, params={"limit": 1000})).json()
    assert events[-1]["action"] == "user.exported"


async def test_erasure_waits_for_revocation_and_retention_then_removes_the_data(
    http: httpx.AsyncClient, admin: Integrator, integrator: Integrator, ctx: ServerContext, tmp_path: Path
) -> None:
    p = await person_with_history(http, admin, integrator)
    erase = f"/api/admin/users/{p['user_id']}/erase"
    active = await http.post(erase, headers=admin.headers)
    assert (active.status_code, active.json()["error"]) == (409, "credentials_active")

    await http.post(f"/api/admin/credentials/{p['credential_id']}/revoke", headers=admin.headers)
    kept = await http.post(erase, headers=admin.headers)
    assert (kept.status_code, kept.json()["error"]) == (409, "retention_period")
    assert kept.json()["erasable_after"] > "2031"  # five years after the revocation
    assert rows_holding(ctx, CCCD)  # nothing was erased by the refusals

    ctx.settings.personal_data_retention_days = 0
    done = await http.post(erase, headers=admin.headers)
    assert done.status_code == 200, done.text
    assert done.json() == {
        "user_id": p["user_id"],
        "credentials": 1,
        "devices": 1,
        "verifications": 1,
        "sessions": 1,
        "documents": 0,
    }
    assert rows_holding(ctx, CCCD) == []
    assert rows_holding(ctx, "binh@example.vn") == [] and rows_holding(ctx, "0901234567") == []
    user = (await http.get(f"/api/admin/users/{p['user_id']}", headers=admin.headers)).json()
    assert (user["full_name"], user["cccd"], user["email"], user["status"]) == ("(erased)", None, None, "erased")
    export = (await http.get(f"/api/admin/users/{p['user_id']}/export", headers=admin.headers)).json()
    assert CCCD not in json.dumps(export, ensure_ascii=False)
    assert export["identity_verifications"][0]["status"] == "erased"

    # The phone is unpaired, the key is gone, OCSP still says revoked, the audit chain still verifies.
    me = await http.get("/api/mobile/me", headers={"Authorization": f"Bearer {p['token']}"})
    assert me.status_code == 401
    out = await ocsp_status(http, p["certificate_pem"], tmp_path)
    assert ": revoked" in out, out
    check = (await http.get("/api/admin/audit/verify", headers=admin.headers)).json()
    assert check["ok"] is True and check["events"] > 10
    env = {"PATH": os.environ.get("PATH", ""), "ESIGN_DEV_MODE": "1", "ESIGN_DATABASE_URL": ctx.settings.database_url}
    cli = subprocess.run(  # noqa: ASYNC221 - the real command, once
        [ESIGN, "server", "audit", "verify"], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert cli.returncode == 0 and "audit chain intact" in cli.stdout, cli.stdout + cli.stderr
    again = await http.post(erase, headers=admin.headers)
    assert (again.status_code, again.json()["error"]) == (409, "already_erased")
