"""pyHanko's own CSCSigner (unmodified, v1 URLs and field names) signs PDFs through our server at SCAL2."""

from __future__ import annotations

import asyncio
import io
from collections.abc import Iterator

import aiohttp
import httpx
import pytest
from asn1crypto import x509 as asn1_x509
from cryptography.hazmat.primitives.serialization import Encoding
from esign_client.pyhanko import csc_signer
from esign_server.context import ServerContext
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign import signers
from pyhanko.sign.validation import async_validate_pdf_signature
from pyhanko_certvalidator import ValidationContext

from ..conftest import Integrator, Person, oath
from .live import live_server, make_pdf


@pytest.fixture
def server_url(ctx: ServerContext) -> Iterator[str]:
    with live_server(ctx) as url:
        yield url


async def _check_signed(pdf: bytes, ctx: ServerContext) -> None:
    reader = PdfFileReader(io.BytesIO(pdf))
    [embedded] = reader.embedded_signatures
    root = asn1_x509.Certificate.load(ctx.pki.root.public_bytes(Encoding.DER))
    vc = ValidationContext(trust_roots=[root], allow_fetching=False)
    status = await async_validate_pdf_signature(embedded, vc, skip_diff=True)
    assert status.intact and status.valid
    assert "CCCD:001203012389" in status.signing_cert.subject.human_friendly


async def test_csc_signer_signs_a_pdf_with_an_otp(
    ctx: ServerContext, server_url: str, rp: Integrator, person: Person
) -> None:
    async with aiohttp.ClientSession() as http:
        signer = await csc_signer(
            http, server_url, person.credential_id, access_token=rp.token, otp=oath(person.secret, step_offset=1)
        )
        out = io.BytesIO()
        await signers.async_sign_pdf(
            IncrementalPdfFileWriter(io.BytesIO(make_pdf(1, text="Tờ trình"))),
            signers.PdfSignatureMetadata(field_name="Sig1"),
            signer=signer,
            output=out,
        )
    await _check_signed(out.getvalue(), ctx)


async def test_csc_signer_signs_a_batch_with_one_phone_confirmation(
    ctx: ServerContext, server_url: str, rp: Integrator, person: Person
) -> None:
    codes: list[str] = []

    async def phone() -> None:
        device = {"Authorization": f"Bearer {person.device_token}"}
        async with httpx.AsyncClient(base_url=server_url) as client:
            for _ in range(200):
                pending = (await client.get("/api/mobile/sessions", headers=device)).json()["sessions"]
                if pending:
                    assert pending[0]["item_count"] == 3
                    answer = await client.post(
                        f"/api/mobile/sessions/{pending[0]['id']}/confirm",
                        json={"code": oath(person.secret, step_offset=1)},
                        headers=device,
                    )
                    assert answer.status_code == 200, answer.text
                    return
                await asyncio.sleep(0.05)
        raise AssertionError("no request reached the phone")

    async with aiohttp.ClientSession() as http:
        signer = await csc_signer(
            http,
            server_url,
            person.credential_id,
            access_token=rp.token,
            batch_size=3,
            on_confirmation=codes.append,
            poll_interval=0.1,
        )
        outputs = [io.BytesIO() for _ in range(3)]
        jobs = [
            signers.async_sign_pdf(
                IncrementalPdfFileWriter(io.BytesIO(make_pdf(1, text=f"Văn bản {i}"))),
                signers.PdfSignatureMetadata(field_name="Sig1"),
                signer=signer,
                output=out,
            )
            for i, out in enumerate(outputs)
        ]
        await asyncio.gather(phone(), *jobs)
    assert len(codes) == 1 and len(codes[0]) == 7  # one confirmation for the three documents
    for out in outputs:
        await _check_signed(out.getvalue(), ctx)
