"""Whole documents in a session: the server prepares them, the phone confirms, the signed files verify.

Checked with pdfsig (poppler) and xmlsec1 against the service CA.
"""
# ruff: noqa: ASYNC221

from __future__ import annotations

import base64
import subprocess
from pathlib import Path

import httpx

from tests.esign.pdf.samples import make_pdf

from .conftest import Integrator, Person, oath

INVOICE = """<?xml version="1.0" encoding="UTF-8"?>
<HDon><DLHDon Id="data"><TTChung><KHHDon>1C24TAA</KHHDon><SHDon>123</SHDon></TTChung>
<NDHDon><NBan><Ten>Công ty A</Ten><MST>0100109106</MST></NBan></NDHDon></DLHDon><DSCKS><NBan/></DSCKS></HDon>"""


async def test_pdf_and_xml_documents_are_signed_after_confirmation(
    http: httpx.AsyncClient, integrator: Integrator, person: Person, tmp_path: Path
) -> None:
    body = {
        "credential_id": person.credential_id,
        "documents": [
            {
                "name": "hop-dong.pdf",
                "format": "pdf",
                "content": base64.b64encode(make_pdf()).decode(),
                "options": {"reason": "Ký hợp đồng", "location": "Hà Nội"},
            },
            {
                "name": "hoa-don.xml",
                "format": "xml",
                "content": base64.b64encode(INVOICE.encode()).decode(),
                "options": {"profile": "xmldsig-enveloped"},
            },
        ],
    }
    created = await http.post("/api/sessions", headers=integrator.headers, json=body)
    assert created.status_code == 201, created.text
    session = created.json()
    assert session["kind"] == "document" and [d["name"] for d in session["documents"]] == [
        "hop-dong.pdf",
        "hoa-don.xml",
    ]
    early = await http.get(session["documents"][0]["href"], headers=integrator.headers)
    assert early.status_code == 409

    phone = {"Authorization": f"Bearer {person.device_token}"}
    shown = (await http.get("/api/mobile/sessions", headers=phone)).json()["sessions"][0]
    assert shown["documents"] == ["hop-dong.pdf", "hoa-don.xml"]
    confirmed = await http.post(
        f"/api/mobile/sessions/{session['id']}/confirm",
        headers=phone,
        json={"code": oath(person.secret, step_offset=1)},
    )
    assert confirmed.status_code == 200, confirmed.text

    issuer = tmp_path / "issuer.pem"
    issuer.write_text(
        (await http.get("/pki/ca")).text.split("-----END CERTIFICATE-----")[0] + "-----END CERTIFICATE-----\n"
    )
    pdf = await http.get(session["documents"][0]["href"], headers=integrator.headers)
    assert pdf.headers["content-type"] == "application/pdf"
    signed_pdf = tmp_path / "signed.pdf"
    signed_pdf.write_bytes(pdf.content)
    nss = tmp_path / "nss"
    nss.mkdir()
    subprocess.run(["certutil", "-N", "-d", f"sql:{nss}", "--empty-password"], check=True)
    root = tmp_path / "root.pem"
    root.write_text((await http.get("/pki/root.pem")).text)
    subprocess.run(["certutil", "-A", "-d", f"sql:{nss}", "-n", "root", "-t", "CT,C,C", "-i", str(root)], check=True)
    report = subprocess.run(
        ["pdfsig", "-nssdir", f"sql:{nss}", "-no-ocsp", str(signed_pdf)], capture_output=True, text=True
    ).stdout
    assert "Signature is Valid" in report, report
    assert "Total document signed" in report, report

    xml = await http.get(session["documents"][1]["href"], headers=integrator.headers)
    signed_xml = tmp_path / "signed.xml"
    signed_xml.write_bytes(xml.content)
    verify = subprocess.run(
        [
            "xmlsec1",
            "--verify",
            "--trusted-pem",
            str(root),
            "--untrusted-pem",
            str(issuer),
            "--id-attr:Id",
            "DLHDon",
            str(signed_xml),
        ],
        capture_output=True,
        text=True,
    )
    assert verify.returncode == 0 and "OK" in verify.stderr, verify.stderr


async def test_malformed_document_is_refused_with_400(
    http: httpx.AsyncClient, integrator: Integrator, person: Person
) -> None:
    body = {
        "credential_id": person.credential_id,
        "documents": [{"name": "x.pdf", "format": "pdf", "content": base64.b64encode(b"not a pdf").decode()}],
    }
    response = await http.post("/api/sessions", headers=integrator.headers, json=body)
    assert response.status_code == 400, response.text
    assert set(response.json()) >= {"error", "message"}
