"""A change of identity data after issuance revokes the certificates that no longer fit (OCSP at once)
and reissues them from the new verified identity; every step is in the audit log."""

from __future__ import annotations

from pathlib import Path

import httpx
from cryptography import x509
from esign_server.context import ServerContext
from esign_server.services import audit

from esign.identity import IdentifierKind, SignerIdentity

from ..conftest import Integrator
from .conftest import CCCD, NEW_CCCD, create_user, issue, ocsp_status, openssl_subject, run, verify


async def test_new_citizen_number_revokes_and_reissues(
    http: httpx.AsyncClient, admin: Integrator, ctx: ServerContext, tmp_path: Path
) -> None:
    user_id = await create_user(http, admin)
    assert (await verify(http, admin, user_id)).status_code == 201
    old = (await issue(http, admin, user_id, key_algorithm="p256", label="cá nhân")).json()
    assert ": good" in await ocsp_status(http, old["certificate_pem"], tmp_path)

    changed = await verify(
        http,
        admin,
        user_id,
        method="in_person",
        document={"kind": "CCCD", "number": NEW_CCCD},
        cccd=NEW_CCCD,
        full_name="Trần Thị Bình",
    )
    assert changed.status_code == 201, changed.text
    result = changed.json()
    assert sorted(result["changed"]) == ["cccd", "full_name"]
    assert result["revoked_credentials"] == [old["id"]]
    [new] = result["reissued_credentials"]
    assert new["id"] != old["id"] and new["status"] == "active"
    assert (new["key_algorithm"], new["label"]) == ("p256", "cá nhân")

    out = await ocsp_status(http, old["certificate_pem"], tmp_path)
    assert "Response verify OK" in out and ": revoked" in out and "superseded" in out, out
    assert ": good" in await ocsp_status(http, new["certificate_pem"], tmp_path)
    crl = tmp_path / "crl.der"
    crl.write_bytes((await http.get("/pki/crl")).content)
    listed = run("openssl", "crl", "-inform", "DER", "-in", crl, "-noout", "-text").upper().replace(":", "")
    assert old["serial"].upper() in listed and new["serial"].upper() not in listed

    shown = openssl_subject(new["certificate_pem"])
    assert "CN = Trần Thị Bình" in shown and f"UID = CCCD:{NEW_CCCD}" in shown and CCCD not in shown, shown
    identity = SignerIdentity.from_certificate(x509.load_pem_x509_certificate(new["certificate_pem"].encode()))
    ident = identity.identifier(IdentifierKind.CCCD)
    assert ident is not None and ident.value == NEW_CCCD

    old_now = (await http.get(f"/api/admin/credentials/{old['id']}", headers=admin.headers)).json()
    assert (old_now["status"], old_now["revocation_reason"]) == ("revoked", "superseded")
    user = (await http.get(f"/api/admin/users/{user_id}", headers=admin.headers)).json()
    assert (user["cccd"], user["full_name"]) == (NEW_CCCD, "Trần Thị Bình")

    events = (await http.get("/api/admin/audit/events", headers=admin.headers, params={"limit": 1000})).json()
    trail = [(e["action"], e["target"]) for e in events if e["action"].startswith(("identity.", "credential."))]
    assert trail[-3:] == [
        ("identity.verified", f"user:{user_id}"),
        ("credential.revoke", f"credential:{old['id']}"),
        ("credential.issued", f"credential:{new['id']}"),
    ]
    issued = next(e for e in events if e["target"] == f"credential:{new['id']}")
    assert issued["details"]["replaces"] == old["id"]
    verified = next(e for e in reversed(events) if e["action"] == "identity.verified")
    assert sorted(verified["details"]["changed"]) == ["cccd", "full_name"]
    assert verified["details"]["document"] == "0013******67"
    assert audit.verify_chain(ctx.db).ok


async def test_reverification_with_the_same_data_keeps_the_credentials(
    http: httpx.AsyncClient, admin: Integrator
) -> None:
    user_id = await create_user(http, admin, phone="0901234567")
    await verify(http, admin, user_id)
    cred = (await issue(http, admin, user_id)).json()
    again = await verify(http, admin, user_id, method="ekyc", provider="VNeID", reference="REF-778899")
    assert again.json()["changed"] == [] and again.json()["revoked_credentials"] == []
    # A person's organization is not in their certificate: nothing to revoke either.
    moved = await verify(
        http, admin, user_id, method="ekyc", provider="VNeID", reference="REF-1", organization="Sở Y tế"
    )
    assert moved.json()["changed"] == ["organization"] and moved.json()["revoked_credentials"] == []
    still = (await http.get(f"/api/admin/credentials/{cred['id']}", headers=admin.headers)).json()
    assert still["status"] == "active"


async def test_suspended_credential_is_revoked_but_not_reissued_and_csr_is_redone(
    http: httpx.AsyncClient, admin: Integrator
) -> None:
    user_id = await create_user(http, admin)
    await verify(http, admin, user_id)
    suspended = (await issue(http, admin, user_id)).json()
    await http.post(f"/api/admin/credentials/{suspended['id']}/suspend", headers=admin.headers)
    pending = (await issue(http, admin, user_id, external_ca=True)).json()
    assert pending["status"] == "awaiting_certificate"

    changed = await verify(
        http, admin, user_id, method="in_person", document={"kind": "CCCD", "number": CCCD}, email="binh@moi.vn"
    )
    result = changed.json()
    assert sorted(result["revoked_credentials"]) == sorted([suspended["id"], pending["id"]])
    [redone] = result["reissued_credentials"]
    assert redone["status"] == "awaiting_certificate"
    csr = x509.load_pem_x509_csr(redone["csr_pem"].encode())
    assert SignerIdentity.from_name(csr.subject).email == "binh@moi.vn"


async def test_a_citizen_number_of_another_user_is_refused(http: httpx.AsyncClient, admin: Integrator) -> None:
    first = await create_user(http, admin)
    second = await create_user(http, admin, cccd=NEW_CCCD, full_name="Lê Thị Hoa")
    await verify(http, admin, first)
    taken = await verify(http, admin, second, method="in_person", document={"kind": "CCCD", "number": CCCD}, cccd=CCCD)
    assert (taken.status_code, taken.json()["error"]) == (409, "user_exists")
