"""``POST /api/verify``: ETSI reports as JSON, the signer identity masked unless an admin asks, agency
codes annotated with their registry status."""

from __future__ import annotations

import httpx
from esign_server.context import ServerContext
from esign_server.services import orgids

from tests.esign.pdf.samples import make_pdf

from ..conftest import Integrator, authorise_over_http
from .conftest import CCCD, create_user, issue, pair_phone, sign_documents, verify

INVOICE = b"""<?xml version="1.0" encoding="UTF-8"?>
<HDon><DLHDon Id="data"><TTChung><KHHDon>1C24TAA</KHHDon><SHDon>7</SHDon></TTChung></DLHDon>
<DSCKS><NBan/></DSCKS></HDon>"""


async def signed_by_person(http: httpx.AsyncClient, admin: Integrator, integrator: Integrator) -> list[bytes]:
    user_id = await create_user(http, admin)
    await verify(http, admin, user_id)
    cred = (await issue(http, admin, user_id)).json()
    await authorise_over_http(http, admin, user_id, integrator)
    phone = await pair_phone(http, admin, user_id)
    return await sign_documents(
        http,
        integrator,
        cred["id"],
        phone,
        [
            {"name": "don.pdf", "format": "pdf", "content": make_pdf()},
            {"name": "hoa-don.xml", "format": "xml", "content": INVOICE, "options": {"profile": "xmldsig-enveloped"}},
        ],
    )


async def test_pdf_and_xml_reports_mask_the_signer_unless_an_admin_asks(
    http: httpx.AsyncClient, admin: Integrator, integrator: Integrator
) -> None:
    pdf, xml = await signed_by_person(http, admin, integrator)
    cases = ((pdf, "application/pdf", "pdf", "PAdES"), (xml, "application/xml", "xml", "XMLDSig"))
    for content, media, fmt, form in cases:
        response = await http.post(
            "/api/verify", content=content, headers={**integrator.headers, "Content-Type": media}
        )
        assert response.status_code == 200, response.text
        result = response.json()
        assert (result["format"], result["revealed"]) == (fmt, False)
        [report] = result["signatures"]
        assert (result["indication"], report["format"]) == ("TOTAL-PASSED", form), report
        assert report["revocation"]["status"] == "good"  # decided by the service CA's own fresh CRLs, no fetch
        identity = report["signer"]["identity"]
        assert identity["kind"] == "person" and identity["name"] == "Trần Văn Bình"
        assert identity["identifiers"][0]["uid"] == "CCCD:0792******34"
        assert CCCD not in response.text

    sniffed = await http.post("/api/verify", content=pdf, headers=integrator.headers)  # no Content-Type
    assert sniffed.json()["format"] == "pdf"
    refused = await http.post("/api/verify", params={"reveal": "true"}, content=pdf, headers=integrator.headers)
    assert (refused.status_code, refused.json()["error"]) == (403, "insufficient_scope")
    revealed = await http.post("/api/verify", params={"reveal": "true"}, content=pdf, headers=admin.headers)
    assert revealed.json()["revealed"] is True
    assert revealed.json()["signatures"][0]["signer"]["identity"]["identifiers"][0]["value"] == CCCD


async def test_verify_needs_a_token_a_document_and_respects_the_size_limit(
    http: httpx.AsyncClient, integrator: Integrator, ctx: ServerContext
) -> None:
    anonymous = await http.post("/api/verify", content=b"%PDF-1.7\n")
    assert (anonymous.status_code, anonymous.json()["error"]) == (401, "invalid_token")
    junk = await http.post("/api/verify", content=b"\x00\x01 not a document", headers=integrator.headers)
    assert (junk.status_code, junk.json()["error"]) == (415, "unsupported_media_type")
    empty = await http.post("/api/verify", content=b"", headers=integrator.headers)
    assert empty.status_code == 400
    unsigned = await http.post(
        "/api/verify", content=b"<a/>", headers={**integrator.headers, "Content-Type": "text/xml"}
    )
    assert unsigned.status_code == 400 and "no XML signature" in unsigned.json()["message"]
    ctx.settings.verify_max_bytes = 4096
    pdf_headers = {**integrator.headers, "Content-Type": "application/pdf"}
    big = await http.post("/api/verify", content=b"%PDF-1.7\n" + b"0" * 5000, headers=pdf_headers)
    assert (big.status_code, big.json()["error"]) == (413, "payload_too_large")


async def test_agency_code_in_the_report_carries_its_registry_status(
    http: httpx.AsyncClient, admin: Integrator, integrator: Integrator, ctx: ServerContext
) -> None:
    orgids.seed_level1(ctx.db, actor="test")
    orgids.issue_code(ctx, code="H49.22", name="Sở Tư pháp", actor="test")
    created = await http.post(
        "/api/admin/users",
        json={"full_name": "Sở Tư pháp tỉnh Quảng Ninh", "tax_code": "0100109106", "organization": "Sở Tư pháp"},
        headers=admin.headers,
    )
    user_id = created.json()["id"]
    await verify(http, admin, user_id, method="in_person", document={"kind": "BRN", "number": "0100109106"})
    cred = (await issue(http, admin, user_id, org_code="H49.22")).json()
    await authorise_over_http(http, admin, user_id, integrator)
    phone = await pair_phone(http, admin, user_id)
    [xml] = await sign_documents(
        http,
        integrator,
        cred["id"],
        phone,
        [{"name": "cong-van.xml", "format": "xml", "content": INVOICE, "options": {"profile": "xmldsig-enveloped"}}],
    )
    orgids.close_code(ctx, code="H49.22", reason="merged", actor="test")
    report = (
        await http.post("/api/verify", content=xml, headers={**integrator.headers, "Content-Type": "application/xml"})
    ).json()["signatures"][0]
    identity = report["signer"]["identity"]
    assert identity["agency_code"] == "H49.22" and identity["tax_code"] == "0100109106"
    assert identity["agency_registry"]["known"] is True and identity["agency_registry"]["active"] is False
