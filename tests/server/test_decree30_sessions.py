"""Decree 30 through the server: stored signature and seal images, the person's session, then the
agency's, the agency step refused on a document nobody signed. Checked with pdfsig and pyHanko."""
# ruff: noqa: ASYNC221

from __future__ import annotations

import base64
import io
import subprocess
from pathlib import Path

import httpx
from cryptography import x509
from esign_server.context import ServerContext
from esign_server.services import credentials, devices, users
from PIL import Image
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.validation import async_validate_pdf_signature
from pyhanko_certvalidator import ValidationContext

from esign.pdf.adapter import to_asn1
from esign.pdf.decree30 import AGENCY, PERSON, SCAN, describe_signatures

from .conftest import Integrator, Person, enroll_person, grant_all, oath, verify_in_person

ROOT = Path(__file__).resolve().parents[2]
LETTER = ROOT / "samples" / "cong-van.pdf"
SIGNATURE_PNG = ROOT / "samples" / "decree30" / "chu-ky.png"
SEAL_PNG = ROOT / "samples" / "decree30" / "con-dau.png"


def enroll_organization(ctx: ServerContext) -> Person:
    """An organization (tax code only) with a credential, and the clerk's phone that confirms for it."""
    user = users.create_user(ctx, full_name="Sở Tư pháp tỉnh Quảng Ninh", tax_code="5700100256", actor="test")
    grant_all(ctx, user_id=user.id)
    verify_in_person(ctx, user.id, "5700100256", kind="BRN")
    cred = credentials.issue_credential(ctx, user_id=user.id, actor="test")
    enrollment = devices.start_enrollment(ctx, user_id=user.id, device_name="clerk", actor="test")
    device, token = devices.activate(
        ctx, enrollment_token=enrollment.enrollment_token, code=oath(enrollment.secret_b32), actor="test"
    )
    return Person(user.id, cred.id, device.id, enrollment.secret_b32, token)


async def put_mark(http: httpx.AsyncClient, admin: Integrator, user_id: str, png: bytes) -> httpx.Response:
    return await http.put(
        f"/api/admin/users/{user_id}/mark", headers=admin.headers, json={"image": base64.b64encode(png).decode()}
    )


async def sign(
    http: httpx.AsyncClient, integrator: Integrator, holder: Person, pdf: bytes, preset: str
) -> httpx.Response | bytes:
    """Create a session for one PDF with ``preset``, confirm it on the holder's phone, fetch the file."""
    body = {
        "credential_id": holder.credential_id,
        "documents": [
            {"name": "cong-van.pdf", "format": "pdf", "content": base64.b64encode(pdf).decode(),
             "options": {"preset": preset}},
        ],
    }  # fmt: skip
    created = await http.post("/api/sessions", headers=integrator.headers, json=body)
    if created.status_code != 201:
        return created
    session = created.json()
    confirmed = await http.post(
        f"/api/mobile/sessions/{session['id']}/confirm",
        headers={"Authorization": f"Bearer {holder.device_token}"},
        json={"code": oath(holder.secret, step_offset=1)},
    )
    assert confirmed.status_code == 200, confirmed.text
    signed = await http.get(session["documents"][0]["href"], headers=integrator.headers)
    assert signed.status_code == 200
    return signed.content


async def test_person_then_agency_sessions_with_stored_images(
    http: httpx.AsyncClient, ctx: ServerContext, integrator: Integrator, admin: Integrator, tmp_path: Path
) -> None:
    person = enroll_person(ctx)
    clerk = enroll_organization(ctx)
    assert (await put_mark(http, admin, person.user_id, SIGNATURE_PNG.read_bytes())).json()["kind"] == "signature"
    assert (await put_mark(http, admin, clerk.user_id, SEAL_PNG.read_bytes())).json()["kind"] == "seal"
    letter = LETTER.read_bytes()

    refused = await sign(http, integrator, clerk, letter, AGENCY)
    assert isinstance(refused, httpx.Response) and refused.status_code == 400
    assert "already signed" in refused.json()["message"]

    first = await sign(http, integrator, person, letter, PERSON)
    assert isinstance(first, bytes)
    second = await sign(http, integrator, clerk, first, AGENCY)
    assert isinstance(second, bytes)
    out = tmp_path / "issued.pdf"
    out.write_bytes(second)
    assert [(d.role, d.preset) for d in describe_signatures(out)] == [("person", PERSON), ("agency", AGENCY)]

    root = x509.load_pem_x509_certificate((await http.get("/pki/root.pem")).content)
    context = ValidationContext(trust_roots=[to_asn1(root)], allow_fetching=False)
    sigs = PdfFileReader(io.BytesIO(second)).embedded_signatures
    statuses = [await async_validate_pdf_signature(s, context) for s in sigs]
    assert all(s.intact and s.valid for s in statuses)
    assert statuses[0].docmdp_ok
    report = subprocess.run(["pdfsig", str(out)], capture_output=True, text=True, timeout=60).stdout
    assert report.count("Signature is Valid") == 2
    assert "Not total document signed" in report.split("Signature #2")[0]


async def test_mark_uploads_are_checked_and_stored_without_their_extra_chunks(
    http: httpx.AsyncClient, ctx: ServerContext, admin: Integrator
) -> None:
    person = enroll_person(ctx)
    clerk = enroll_organization(ctx)
    jpeg = io.BytesIO()
    Image.new("RGB", (40, 20), (0, 0, 255)).save(jpeg, "JPEG")
    assert (await put_mark(http, admin, person.user_id, jpeg.getvalue())).status_code == 400
    no_dpi = io.BytesIO()
    Image.new("RGBA", (100, 100), (255, 0, 0, 128)).save(no_dpi, "PNG")
    seal = await put_mark(http, admin, clerk.user_id, no_dpi.getvalue())
    assert seal.status_code == 400 and "real width" in seal.json()["message"]

    from PIL import PngImagePlugin

    info = PngImagePlugin.PngInfo()
    info.add_text("Comment", "<script>alert(1)</script>")
    carrier = io.BytesIO()
    Image.open(SIGNATURE_PNG).save(carrier, "PNG", pnginfo=info)
    assert b"<script>" in carrier.getvalue()
    stored = await put_mark(http, admin, person.user_id, carrier.getvalue())
    assert stored.status_code == 200, stored.text
    png = await http.get(f"/api/admin/users/{person.user_id}/mark.png", headers=admin.headers)
    assert png.headers["content-type"] == "image/png"
    assert b"<script>" not in png.content and b"tEXt" not in png.content
    assert Image.open(io.BytesIO(png.content)).size == Image.open(SIGNATURE_PNG).size

    assert (await http.delete(f"/api/admin/users/{person.user_id}/mark", headers=admin.headers)).status_code == 204
    assert (await http.get(f"/api/admin/users/{person.user_id}/mark", headers=admin.headers)).status_code == 404
    assert (await put_mark(http, admin, "no-such-user", SIGNATURE_PNG.read_bytes())).status_code == 404


def test_cli_user_mark_stores_the_image(ctx: ServerContext, monkeypatch, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from esign_server import cli
    from esign_server.services import marks
    from typer.testing import CliRunner

    monkeypatch.setattr(cli, "_context", lambda settings=None: ctx)  # the test's database, not the env's
    person = enroll_person(ctx)
    result = CliRunner().invoke(cli.app, ["user", "mark", person.user_id, str(SIGNATURE_PNG)])
    assert result.exit_code == 0, result.output
    assert '"kind": "signature"' in result.output
    assert marks.get_mark(ctx, person.user_id).kind == "signature"
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not a png")
    assert CliRunner().invoke(cli.app, ["user", "mark", person.user_id, str(bad)]).exit_code != 0
    assert CliRunner().invoke(cli.app, ["user", "mark", person.user_id, str(tmp_path / "none.png")]).exit_code == 2


def _coloured(png: bytes) -> tuple[int, int]:
    """(red, blue) pixel counts: the seal's red, the signature's blue."""
    pixels = list(Image.open(io.BytesIO(png)).convert("RGB").getdata())  # type: ignore[arg-type]
    red = sum(1 for r, g, b in pixels if r > 150 and r > g + 80 and r > b + 80)
    blue = sum(1 for r, g, b in pixels if b > 110 and b > r + 60 and b > g + 40)
    return red, blue


async def test_the_phone_previews_the_seal_over_the_signature_before_confirming(
    http: httpx.AsyncClient, ctx: ServerContext, integrator: Integrator, admin: Integrator
) -> None:
    person = enroll_person(ctx)
    clerk = enroll_organization(ctx)
    await put_mark(http, admin, person.user_id, SIGNATURE_PNG.read_bytes())
    await put_mark(http, admin, clerk.user_id, SEAL_PNG.read_bytes())
    first = await sign(http, integrator, person, LETTER.read_bytes(), PERSON)
    assert isinstance(first, bytes)
    body = {
        "credential_id": clerk.credential_id,
        "documents": [{"name": "cong-van.pdf", "format": "pdf", "content": base64.b64encode(first).decode(),
                       "options": {"preset": AGENCY}}],
    }  # fmt: skip
    created = await http.post("/api/sessions", headers=integrator.headers, json=body)
    assert created.status_code == 201, created.text
    url = f"/api/mobile/sessions/{created.json()['id']}/documents/0/preview.png"
    shown = await http.get(url, headers={"Authorization": f"Bearer {clerk.device_token}"})
    assert shown.status_code == 200 and shown.headers["content-type"] == "image/png"
    red, blue = _coloured(shown.content)
    assert red > 500 and blue > 100  # the seal, and the signature it covers
    other = await http.get(url, headers={"Authorization": f"Bearer {person.device_token}"})
    assert other.status_code == 404  # not the person's session
    missing = await http.get(url.replace("/0/", "/7/"), headers={"Authorization": f"Bearer {clerk.device_token}"})
    assert missing.status_code == 404
    assert (await http.get(url)).status_code == 401


async def test_the_phone_lists_which_documents_have_a_preview_and_a_scan_is_sealed_alone(
    http: httpx.AsyncClient, ctx: ServerContext, integrator: Integrator, admin: Integrator, tmp_path: Path
) -> None:
    """``previews`` names the documents drawn with a preset (a hash request has none); ``decree30.scan``
    draws the organization's stored seal at the top right of page 1, with nobody signing first."""
    clerk = enroll_organization(ctx)
    await put_mark(http, admin, clerk.user_id, SEAL_PNG.read_bytes())
    phone = {"Authorization": f"Bearer {clerk.device_token}"}
    digest = base64.b64encode(bytes(32)).decode()
    hashes = await http.post(
        "/api/sessions",
        headers=integrator.headers,
        json={"credential_id": clerk.credential_id, "items": [{"name": "to-khai.xml", "digest": digest}]},
    )
    assert hashes.status_code == 201, hashes.text
    pending = (await http.get("/api/mobile/sessions", headers=phone)).json()["sessions"]
    assert [s["previews"] for s in pending if s["id"] == hashes.json()["id"]] == [[]]

    signed = await sign(http, integrator, clerk, LETTER.read_bytes(), SCAN)
    assert isinstance(signed, bytes)
    history = (await http.get("/api/mobile/sessions", headers=phone, params={"state": "history"})).json()
    assert [s["previews"] for s in history["sessions"] if s["status"] == "signed"] == [[0]]
    out = tmp_path / "scan.pdf"
    out.write_bytes(signed)
    assert [(d.role, d.preset, d.page) for d in describe_signatures(out)] == [("agency", SCAN, 1)]
    report = subprocess.run(["pdfsig", str(out)], capture_output=True, text=True, timeout=60).stdout
    assert report.count("Signature is Valid") == 1 and "Total document signed" in report
