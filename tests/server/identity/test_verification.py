"""No credential before the holder's identity is verified; the subject comes from the verified identity only."""

from __future__ import annotations

import httpx
from cryptography import x509
from esign_server.context import ServerContext
from esign_server.models import IdentityVerification

from esign.identity import IdentifierKind, SignerIdentity

from ..conftest import Integrator
from .conftest import CCCD, CMND, PASSPORT, create_user, issue, openssl_subject, verify


async def test_credential_is_refused_before_the_identity_is_verified(
    http: httpx.AsyncClient, admin: Integrator
) -> None:
    user_id = await create_user(http, admin)
    refused = await issue(http, admin, user_id)
    assert refused.status_code == 409
    body = refused.json()
    assert body["error"] == "identity_not_verified"
    assert "identity-verifications" in body["message"]
    csr = await issue(http, admin, user_id, external_ca=True)  # no CSR either
    assert (csr.status_code, csr.json()["error"]) == (409, "identity_not_verified")
    listed = await http.get(f"/api/admin/users/{user_id}/credentials", headers=admin.headers)
    assert listed.json() == []


async def test_subject_is_built_from_the_verified_identity_only(
    http: httpx.AsyncClient, admin: Integrator, ctx: ServerContext
) -> None:
    user_id = await create_user(http, admin, full_name="Tran Van Binh")
    # The operator corrects the name to what the citizen identity card says while checking it.
    verified = await verify(
        http,
        admin,
        user_id,
        method="in_person",
        document={"kind": "CCCD", "number": CCCD},
        full_name="Trần Văn Bình",
    )
    assert verified.status_code == 201, verified.text
    record = verified.json()["verification"]
    assert record["document_number"] == "0792******34"
    assert record["verified_by"] == f"client:{admin.client_id}"
    assert record["identity"]["cccd"] == "0792******34" and record["identity"]["full_name"] == "Trần Văn Bình"
    assert verified.json()["changed"] == ["full_name"]

    # Subject fields cannot be slipped into the request.
    smuggled = await issue(http, admin, user_id, subject="CN=Someone Else")
    assert smuggled.status_code == 422

    issued = await issue(http, admin, user_id)
    assert issued.status_code == 201, issued.text
    pem = issued.json()["certificate_pem"]
    shown = openssl_subject(pem)
    assert "CN = Trần Văn Bình" in shown and f"UID = CCCD:{CCCD}" in shown, shown
    identity = SignerIdentity.from_certificate(x509.load_pem_x509_certificate(pem.encode()))
    assert identity.name == "Trần Văn Bình"
    cccd = identity.identifier(IdentifierKind.CCCD)
    assert cccd is not None and cccd.value == CCCD
    assert identity.email == "binh@example.vn"

    # The document number is sealed at rest: the row holds it only masked.
    with ctx.db.read() as session:
        row = session.get(IdentityVerification, record["id"])
    assert row is not None and row.sealed is not None
    assert CCCD.encode() not in row.sealed and row.document_masked == "0792******34"


async def test_ekyc_reference_verifies_and_is_shown_masked(http: httpx.AsyncClient, admin: Integrator) -> None:
    user_id = await create_user(http, admin)
    response = await verify(http, admin, user_id, method="ekyc", provider="VNeID", reference="EKYC-2026-000917")
    assert response.status_code == 201, response.text
    record = response.json()["verification"]
    assert (record["method"], record["provider"], record["reference"]) == ("ekyc", "VNeID", "************0917")
    assert record["document_kind"] is None and record["document_number"] is None
    assert (await issue(http, admin, user_id)).status_code == 201
    listed = (await http.get(f"/api/admin/users/{user_id}/identity-verifications", headers=admin.headers)).json()
    assert [v["status"] for v in listed] == ["current"]


async def test_old_identity_card_and_passport_are_accepted_documents(
    http: httpx.AsyncClient, admin: Integrator
) -> None:
    user_id = await create_user(http, admin)
    cmnd = await verify(http, admin, user_id, method="in_person", document={"kind": "CMND", "number": CMND})
    assert cmnd.json()["verification"]["document_number"] == "02*****56"
    passport = await verify(http, admin, user_id, method="in_person", document={"kind": "HC", "number": PASSPORT})
    assert passport.json()["verification"]["document_number"] == "C*****67"
    listed = (await http.get(f"/api/admin/users/{user_id}/identity-verifications", headers=admin.headers)).json()
    assert [v["status"] for v in listed] == ["superseded", "current"]


async def test_wrong_or_malformed_documents_are_refused(http: httpx.AsyncClient, admin: Integrator) -> None:
    user_id = await create_user(http, admin)
    other = await verify(http, admin, user_id, method="in_person", document={"kind": "CCCD", "number": "001303004567"})
    assert (other.status_code, other.json()["error"]) == (400, "document_mismatch")
    bad = await verify(http, admin, user_id, method="in_person", document={"kind": "CCCD", "number": "079203001"})
    assert (bad.status_code, bad.json()["error"]) == (400, "invalid_identifier")
    assert "079203001" not in bad.text
    brn = await verify(http, admin, user_id, method="in_person", document={"kind": "BRN", "number": "0100109106"})
    assert (brn.status_code, brn.json()["error"]) == (400, "invalid_document")
    mixed = await verify(http, admin, user_id, method="ekyc", document={"kind": "CCCD", "number": CCCD})
    assert mixed.status_code == 422
    assert (await issue(http, admin, user_id)).status_code == 409


async def test_organization_is_verified_by_its_business_registration(
    http: httpx.AsyncClient, admin: Integrator
) -> None:
    response = await http.post(
        "/api/admin/users",
        json={"full_name": "Công ty Cổ phần An Bình", "tax_code": "0100109106", "organization": "Công ty An Bình"},
        headers=admin.headers,
    )
    user_id = response.json()["id"]
    verified = await verify(http, admin, user_id, method="in_person", document={"kind": "BRN", "number": "0100109106"})
    assert verified.status_code == 201, verified.text
    assert verified.json()["verification"]["identity"]["kind"] == "organization"
    pem = (await issue(http, admin, user_id)).json()["certificate_pem"]
    shown = openssl_subject(pem)
    assert "O = Công ty An Bình" in shown and "UID = MST:0100109106" in shown, shown


async def test_identity_data_changed_behind_the_services_back_is_not_issued(
    http: httpx.AsyncClient, admin: Integrator, ctx: ServerContext
) -> None:
    from esign_server.models import User

    user_id = await create_user(http, admin)
    assert (await verify(http, admin, user_id)).status_code == 201
    with ctx.db.write() as session:
        user = session.get(User, user_id)
        assert user is not None
        user.full_name = "Người Khác"
        session.add(user)
    refused = await issue(http, admin, user_id)
    assert (refused.status_code, refused.json()["error"]) == (409, "identity_not_verified")
