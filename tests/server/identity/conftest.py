"""Helpers of the identity tests: users over the admin API, openssl views of certificates, OCSP answers.

The personal numbers below are the test data that the leak scan looks for.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import httpx

from ..conftest import Integrator

CCCD = "079203001234"
"""Citizen number of the test person (Hồ Chí Minh, male, born 2003)."""
NEW_CCCD = "001303004567"
"""The citizen number the test person's identity changes to (Hà Nội, female, born 2003)."""
CMND = "025123456"
"""An old 9-digit identity card number."""
PASSPORT = "C1234567"
PERSONAL_NUMBERS = (CCCD, NEW_CCCD, CMND)


def run(*args: str | Path, stdin: str | None = None) -> str:
    """Run a tool; stdout and stderr together."""
    result = subprocess.run([str(a) for a in args], capture_output=True, text=True, input=stdin)
    return result.stdout + result.stderr


def openssl_subject(pem: str) -> str:
    """The subject as ``openssl x509 -subject`` prints it (UTF-8, one line)."""
    return run("openssl", "x509", "-noout", "-subject", "-nameopt", "oneline,-esc_msb,utf8", stdin=pem)


async def create_user(http: httpx.AsyncClient, admin: Integrator, **fields: Any) -> str:
    """A user over the admin API; its id."""
    body = {"full_name": "Trần Văn Bình", "cccd": CCCD, "email": "binh@example.vn", **fields}
    response = await http.post("/api/admin/users", json=body, headers=admin.headers)
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


async def verify(http: httpx.AsyncClient, admin: Integrator, user_id: str, **body: Any) -> httpx.Response:
    """Record a verification (default: the CCCD shown in person)."""
    body = body or {"method": "in_person", "document": {"kind": "CCCD", "number": CCCD}}
    return await http.post(f"/api/admin/users/{user_id}/identity-verifications", json=body, headers=admin.headers)


async def issue(http: httpx.AsyncClient, admin: Integrator, user_id: str, **body: Any) -> httpx.Response:
    """Ask for a credential."""
    return await http.post(f"/api/admin/users/{user_id}/credentials", json=body, headers=admin.headers)


async def ocsp_status(http: httpx.AsyncClient, certificate_pem: str, tmp_path: Path) -> str:
    """``openssl ocsp`` on the service's answer for a certificate (request made and response read by openssl)."""
    chain = (await http.get("/pki/ca")).text
    issuer, leaf, root = tmp_path / "issuer.pem", tmp_path / "leaf.pem", tmp_path / "root.pem"
    issuer.write_text(chain.split("-----END CERTIFICATE-----")[0] + "-----END CERTIFICATE-----\n")
    root.write_text((await http.get("/pki/root.pem")).text)
    leaf.write_text(certificate_pem)
    request = tmp_path / "req.der"
    run("openssl", "ocsp", "-issuer", issuer, "-cert", leaf, "-reqout", request, "-no_nonce")
    response = await http.post(
        "/pki/ocsp", content=request.read_bytes(), headers={"Content-Type": "application/ocsp-request"}
    )
    answer = tmp_path / "resp.der"
    answer.write_bytes(response.content)
    both = tmp_path / "chain.pem"
    both.write_text(issuer.read_text() + root.read_text())
    return run("openssl", "ocsp", "-respin", answer, "-issuer", issuer, "-cert", leaf, "-CAfile", both)


async def pair_phone(http: httpx.AsyncClient, admin: Integrator, user_id: str) -> tuple[str, str]:
    """Enroll and pair a phone; (TOTP secret, device token)."""
    from ..conftest import oath

    enrollment = (await http.post(f"/api/admin/users/{user_id}/enrollments", headers=admin.headers)).json()
    body = {"enrollment_token": enrollment["enrollment_token"], "code": oath(enrollment["secret"])}
    paired = await http.post("/api/mobile/pair", json=body)
    assert paired.status_code == 200, paired.text
    return enrollment["secret"], paired.json()["device_token"]


async def sign_documents(
    http: httpx.AsyncClient,
    integrator: Integrator,
    credential_id: str,
    phone: tuple[str, str],
    documents: list[dict[str, Any]],
) -> list[bytes]:
    """Ask for signatures on whole documents, confirm on the phone, fetch the signed files."""
    import base64

    from ..conftest import oath

    body = {
        "credential_id": credential_id,
        "documents": [{**d, "content": base64.b64encode(d["content"]).decode()} for d in documents],
    }
    created = await http.post("/api/sessions", json=body, headers=integrator.headers)
    assert created.status_code == 201, created.text
    session = created.json()
    confirmed = await http.post(
        f"/api/mobile/sessions/{session['id']}/confirm",
        json={"code": oath(phone[0], step_offset=1)},
        headers={"Authorization": f"Bearer {phone[1]}"},
    )
    assert confirmed.status_code == 200, confirmed.text
    return [(await http.get(d["href"], headers=integrator.headers)).content for d in session["documents"]]
