"""``POST /api/verify`` on PDF attacks (see tests/esign/pdf/test_attacks.py): bytes after the signed revision
that a repairing reader displays, and a content stream redefined in an update, are TOTAL-FAILED with the
reason, whatever the trust in the signer; an untouched file is not."""

from __future__ import annotations

import httpx
import pytest

from esign.pdf import sign_pdf
from esign.pki import DevPKI
from tests.esign.pdf.forgery import hand_update, tails
from tests.esign.pdf.samples import make_pdf

from .conftest import Integrator


@pytest.fixture(scope="module")
def signed(dev_pki: DevPKI) -> bytes:
    data = sign_pdf(make_pdf(1, text="Amount 100"), None, dev_pki.signer("person-p256"), certify=1)
    assert data is not None
    return data


async def _verify(http: httpx.AsyncClient, integrator: Integrator, content: bytes) -> dict:  # type: ignore[type-arg]
    response = await http.post(
        "/api/verify", content=content, headers={**integrator.headers, "Content-Type": "application/pdf"}
    )
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


async def test_untouched_is_not_failed(http: httpx.AsyncClient, integrator: Integrator, signed: bytes) -> None:
    result = await _verify(http, integrator, signed)
    assert result["signatures"][0]["indication"] != "TOTAL-FAILED", result  # our test root: at most untrusted


@pytest.mark.parametrize("case", ["startxref 0, no %%EOF", "more than 1 KB, no %%EOF", "bare body"])
async def test_bytes_after_the_signed_revision_are_total_failed(
    http: httpx.AsyncClient, integrator: Integrator, signed: bytes, case: str
) -> None:
    result = await _verify(http, integrator, tails(signed)[case])
    assert result["indication"] == "TOTAL-FAILED"
    [report] = result["signatures"]
    assert report["sub_indication"] == "FORMAT_FAILURE"
    assert any("byte(s) after" in e for e in report["errors"]), report["errors"]
    if case != "bare body":  # Poppler repairs these and shows the forged page: the rendering differs
        assert [c["page"] for c in report["changes"] if c["kind"] == "rendering"] == [1], report["changes"]


async def test_redefined_content_is_total_failed_and_listed(
    http: httpx.AsyncClient, integrator: Integrator, signed: bytes
) -> None:
    attacked = hand_update(signed, {50: b"<< /Producer (x) >>"}, hidden=b"4 0 obj\n<< >>\nendobj\n")
    result = await _verify(http, integrator, attacked)
    assert result["indication"] == "TOTAL-FAILED"
    assert any("belong to no object" in e for e in result["signatures"][0]["errors"])
