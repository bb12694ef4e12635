"""``POST /api/verify`` on XML attacks: wrapped e-invoices are TOTAL-FAILED with the reason, the
signed content comes back in the report, a namespace bomb is a 4xx refusal, never a 500."""

from __future__ import annotations

import httpx
import pytest

from esign.pki import DevPKI
from esign.signers import FileSigner
from esign.xml import sign_xml
from tests.esign.xml.conftest import INVOICE
from tests.esign.xml.test_wrapping import EINVOICE_ATTACKS, _attacked

from .conftest import Integrator


@pytest.fixture(scope="module")
def signed_invoice(dev_pki: DevPKI) -> bytes:
    signer: FileSigner = dev_pki.signer("org-rsa2048")
    return sign_xml(INVOICE, signer, profile="einvoice")


async def _verify(http: httpx.AsyncClient, integrator: Integrator, content: bytes) -> httpx.Response:
    return await http.post(
        "/api/verify", content=content, headers={**integrator.headers, "Content-Type": "application/xml"}
    )


async def test_the_report_says_what_was_signed(
    http: httpx.AsyncClient, integrator: Integrator, signed_invoice: bytes
) -> None:
    response = await _verify(http, integrator, signed_invoice)
    assert response.status_code == 200, response.text
    [report] = response.json()["signatures"]
    assert report["indication"] != "TOTAL-FAILED", report  # our test root is not the server's: at most untrusted
    first = report["references"][0]
    assert first["covers"] == ["/HDon/DLHDon[@Id='data']"]
    assert "16500000" in first["signed_content"]


@pytest.mark.parametrize("attack", EINVOICE_ATTACKS[:5], ids=lambda a: a.__name__)
async def test_wrapped_invoices_are_total_failed(
    http: httpx.AsyncClient, integrator: Integrator, signed_invoice: bytes, attack: object
) -> None:
    response = await _verify(http, integrator, _attacked(signed_invoice, attack))  # type: ignore[arg-type]
    assert response.status_code == 200, response.text
    result = response.json()
    assert result["indication"] == "TOTAL-FAILED"
    assert result["signatures"][0]["sub_indication"] == "FORMAT_FAILURE"


async def test_a_namespace_bomb_is_refused_quickly(
    http: httpx.AsyncClient, integrator: Integrator, signed_invoice: bytes
) -> None:
    declarations = " ".join(f'xmlns:p{i}="urn:n{i}"' for i in range(50_000)).encode()
    bomb = signed_invoice.replace(b"<HDon>", b"<HDon " + declarations + b">", 1)
    response = await _verify(http, integrator, bomb)
    assert 400 <= response.status_code < 500, response.text
    assert "namespace" in response.text
