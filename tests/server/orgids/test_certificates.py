"""The service CA writes a registry code into an organization's certificate; closed or unknown codes are refused."""

from __future__ import annotations

import subprocess

import httpx
from cryptography import x509
from cryptography.x509.oid import NameOID
from esign_server.context import ServerContext
from esign_server.services import orgids

from esign.identity import SignerIdentity

from ..conftest import Integrator, verify_over_http


def openssl_subject(pem: str) -> str:
    return subprocess.run(
        ["openssl", "x509", "-noout", "-subject", "-nameopt", "oneline"],
        input=pem,
        capture_output=True,
        text=True,
        check=True,
    ).stdout


async def make_org_user(http: httpx.AsyncClient, admin: Integrator) -> str:
    response = await http.post(
        "/api/admin/users",
        json={"full_name": "Sở Tư pháp tỉnh Quảng Ninh", "tax_code": "0100109106", "organization": "Sở Tư pháp"},
        headers=admin.headers,
    )
    assert response.status_code == 201, response.text
    await verify_over_http(http, admin, response.json()["id"], "BRN", "0100109106")
    return str(response.json()["id"])


async def test_organization_certificate_carries_an_active_registry_code(
    http: httpx.AsyncClient, registry: ServerContext, admin: Integrator
) -> None:
    orgids.issue_code(registry, code="H49.22", name="Sở Tư pháp", actor="test")
    user_id = await make_org_user(http, admin)
    issued = await http.post(
        f"/api/admin/users/{user_id}/credentials", json={"org_code": "000.00.22.H49"}, headers=admin.headers
    )
    assert issued.status_code == 201, issued.text
    pem = issued.json()["certificate_pem"]
    cert = x509.load_pem_x509_certificate(pem.encode())
    values = [a.value for a in cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_IDENTIFIER)]
    assert values == ["VN:H49.22"]
    assert str(SignerIdentity.from_certificate(cert).agency_code) == "H49.22"
    shown = openssl_subject(pem)  # openssl reads the same attribute
    assert "VN:H49.22" in shown
    status = (await http.get("/api/orgids/H49.22/status")).json()
    assert status["active"] is True


async def test_closed_unknown_or_personal_codes_are_refused(
    http: httpx.AsyncClient, registry: ServerContext, admin: Integrator
) -> None:
    user_id = await make_org_user(http, admin)
    closed = await http.post(f"/api/admin/users/{user_id}/credentials", json={"org_code": "H30"}, headers=admin.headers)
    assert (closed.status_code, closed.json()["error"]) == (409, "org_code_closed")
    unknown = await http.post(
        f"/api/admin/users/{user_id}/credentials", json={"org_code": "H49.77"}, headers=admin.headers
    )
    assert (unknown.status_code, unknown.json()["error"]) == (404, "org_code_unknown")
    malformed = await http.post(
        f"/api/admin/users/{user_id}/credentials", json={"org_code": "h49"}, headers=admin.headers
    )
    assert (malformed.status_code, malformed.json()["error"]) == (400, "invalid_orgid")
    person = await http.post(
        "/api/admin/users", json={"full_name": "Nguyễn Văn An", "cccd": "001203012389"}, headers=admin.headers
    )
    await verify_over_http(http, admin, person.json()["id"], "CCCD", "001203012389")
    refused = await http.post(
        f"/api/admin/users/{person.json()['id']}/credentials", json={"org_code": "H49"}, headers=admin.headers
    )
    assert (refused.status_code, refused.json()["error"]) == (400, "org_code_not_allowed")


async def test_closing_a_code_lists_the_live_certificates_that_still_carry_it(
    http: httpx.AsyncClient, registry: ServerContext, admin: Integrator
) -> None:
    # Issue 21, item 20: closing used to leave such certificates without a word.
    orgids.issue_code(registry, code="H49.22", name="Sở Tư pháp", actor="test")
    orgids.issue_code(registry, code="H49.01", name="Sở Tư pháp (sau sáp nhập)", actor="test")
    user_id = await make_org_user(http, admin)
    live = (
        await http.post(f"/api/admin/users/{user_id}/credentials", json={"org_code": "H49.22"}, headers=admin.headers)
    ).json()
    gone = (
        await http.post(f"/api/admin/users/{user_id}/credentials", json={"org_code": "H49.22"}, headers=admin.headers)
    ).json()
    revoked = await http.post(
        f"/api/admin/credentials/{gone['id']}/revoke", json={"reason": "superseded"}, headers=admin.headers
    )
    assert revoked.status_code == 200, revoked.text
    closed = await http.post(
        "/api/orgids/H49.22/close", json={"reason": "sáp nhập", "successor": "H49.01"}, headers=admin.headers
    )
    assert closed.status_code == 200, closed.text
    answer = closed.json()
    assert answer["status"] == "closed"
    assert [c["credential_id"] for c in answer["active_certificates"]] == [live["id"]]  # not the revoked one
    assert "VN:H49.22" in answer["active_certificates"][0]["subject"]
    assert "1 live certificate(s) still carry H49.22" in answer["warning"] and "H49.01" in answer["warning"]
    other = await http.post("/api/orgids/H49.01/close", json={"reason": "thử"}, headers=admin.headers)
    assert other.json()["active_certificates"] == [] and other.json()["warning"] is None
