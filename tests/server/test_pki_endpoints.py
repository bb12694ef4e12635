"""The service's CA, OCSP, CRL and TSA endpoints, checked with openssl; revocation shows at once."""
# ruff: noqa: ASYNC240

from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path

import httpx
from cryptography import x509

from .conftest import Integrator, Person


def run(*args: str | Path) -> str:
    result = subprocess.run([str(a) for a in args], capture_output=True, text=True)
    return result.stdout + result.stderr


async def fetch_files(
    http: httpx.AsyncClient, admin: Integrator, person: Person, tmp_path: Path
) -> tuple[Path, Path, Path]:
    chain = (await http.get("/pki/ca")).text
    certs = x509.load_pem_x509_certificates(chain.encode())
    issuer, root = tmp_path / "issuer.pem", tmp_path / "root.pem"
    issuer.write_text(chain.split("-----END CERTIFICATE-----")[0] + "-----END CERTIFICATE-----\n")
    root.write_text((await http.get("/pki/root.pem")).text)
    assert certs[1].subject == x509.load_pem_x509_certificate(root.read_bytes()).subject
    cred = (await http.get(f"/api/admin/credentials/{person.credential_id}", headers=admin.headers)).json()
    leaf = tmp_path / "leaf.pem"
    leaf.write_text(cred["certificate_pem"])
    return issuer, root, leaf


async def ocsp_status(http: httpx.AsyncClient, issuer: Path, leaf: Path, root: Path, tmp_path: Path) -> str:
    request = tmp_path / "req.der"
    run("openssl", "ocsp", "-issuer", issuer, "-cert", leaf, "-reqout", request, "-no_nonce")
    response = await http.post(
        "/pki/ocsp", content=request.read_bytes(), headers={"Content-Type": "application/ocsp-request"}
    )
    assert response.headers["content-type"] == "application/ocsp-response"
    answer = tmp_path / "resp.der"
    answer.write_bytes(response.content)
    chain = tmp_path / "chain.pem"
    chain.write_text(issuer.read_text() + root.read_text())
    return run("openssl", "ocsp", "-respin", answer, "-issuer", issuer, "-cert", leaf, "-CAfile", chain)


async def test_ocsp_and_crl_show_suspension_and_revocation_at_once(
    http: httpx.AsyncClient, admin: Integrator, integrator: Integrator, person: Person, tmp_path: Path
) -> None:
    issuer, root, leaf = await fetch_files(http, admin, person, tmp_path)
    out = await ocsp_status(http, issuer, leaf, root, tmp_path)
    assert "Response verify OK" in out and ": good" in out, out

    r = await http.post(f"/api/admin/credentials/{person.credential_id}/suspend", headers=admin.headers)
    assert r.json()["status"] == "suspended"
    out = await ocsp_status(http, issuer, leaf, root, tmp_path)
    assert ": revoked" in out and "certificateHold" in out, out

    await http.post(f"/api/admin/credentials/{person.credential_id}/resume", headers=admin.headers)
    assert ": good" in await ocsp_status(http, issuer, leaf, root, tmp_path)

    r = await http.post(
        f"/api/admin/credentials/{person.credential_id}/revoke",
        json={"reason": "key_compromise"},
        headers=admin.headers,
    )
    assert r.json()["status"] == "revoked"
    out = await ocsp_status(http, issuer, leaf, root, tmp_path)
    assert ": revoked" in out and "keyCompromise" in out, out

    crl = tmp_path / "crl.der"
    crl.write_bytes((await http.get("/pki/crl")).content)
    serial = x509.load_pem_x509_certificate(leaf.read_bytes()).serial_number
    text = run("openssl", "crl", "-inform", "DER", "-in", crl, "-noout", "-text", "-CAfile", issuer)
    assert "verify OK" in text
    assert format(serial, "X").upper() in text.upper().replace(":", "")
    # A revoked credential signs nothing more.
    body = {"credential_id": person.credential_id, "items": [{"digest": "A" * 43 + "="}]}
    refused = await http.post("/api/sessions", json=body, headers=integrator.headers)
    assert refused.status_code == 409
    assert refused.json()["error"] == "credential_not_active"


async def test_tsa_answers_rfc3161_requests(http: httpx.AsyncClient, tmp_path: Path) -> None:
    data = tmp_path / "data.bin"
    data.write_bytes(b"van ban can danh dau thoi gian")
    query = tmp_path / "query.tsq"
    run("openssl", "ts", "-query", "-data", data, "-sha256", "-cert", "-out", query)
    response = await http.post(
        "/pki/tsa", content=query.read_bytes(), headers={"Content-Type": "application/timestamp-query"}
    )
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/timestamp-reply"
    reply = tmp_path / "reply.tsr"
    reply.write_bytes(response.content)
    chain = tmp_path / "chain.pem"
    chain.write_text((await http.get("/pki/ca")).text)
    out = run("openssl", "ts", "-verify", "-data", data, "-in", reply, "-CAfile", chain)
    assert "Verification: OK" in out, out
    text = run("openssl", "ts", "-reply", "-in", reply, "-text")
    assert "Status: Granted" in text
    imprint = hashlib.sha256(data.read_bytes()).hexdigest()[:8].upper()
    assert imprint[:2] in text.upper()


async def test_malformed_ocsp_and_tsa_requests_get_protocol_errors_not_500(http: httpx.AsyncClient) -> None:
    ocsp = await http.post("/pki/ocsp", content=b"garbage")
    assert ocsp.status_code == 200  # OCSP says malformedRequest inside a 200, as RFC 6960 wants
    from cryptography.x509 import ocsp as ocsp_mod

    assert ocsp_mod.load_der_ocsp_response(ocsp.content).response_status.name == "MALFORMED_REQUEST"
    tsa = await http.post("/pki/tsa", content=b"garbage")
    assert tsa.status_code in (200, 400)
    empty = await http.post("/pki/tsa", content=b"")
    assert empty.status_code == 400 and empty.json()["error"] == "invalid_request"


async def test_ca_certificate_links_resolve(http: httpx.AsyncClient, admin: Integrator, person: Person) -> None:
    cred = (await http.get(f"/api/admin/credentials/{person.credential_id}", headers=admin.headers)).json()
    cert = x509.load_pem_x509_certificate(cred["certificate_pem"].encode())
    aia = cert.extensions.get_extension_for_class(x509.AuthorityInformationAccess).value
    cdp = cert.extensions.get_extension_for_class(x509.CRLDistributionPoints).value
    urls = [d.access_location.value for d in aia] + [p.full_name[0].value for p in cdp]  # type: ignore[index]
    for url in urls:
        path = url.removeprefix("http://127.0.0.1:8750")
        assert path.startswith("/pki/")
        if not path.endswith("/ocsp"):
            assert (await http.get(path)).status_code == 200, path
