"""``POST /api/verify``: the default trust store, the Vietnamese policy in each report, ``Accept-Language``."""

from __future__ import annotations

import httpx
import pytest
from esign_server.api.verify import language

from .conftest import Integrator
from .identity.test_verify_endpoint import signed_by_person


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, "en"),
        ("vi", "vi"),
        ("vi-VN,vi;q=0.9,en;q=0.8", "vi"),
        ("en-US,en;q=0.9,vi;q=0.5", "en"),
        ("fr-FR, vi;q=0.3", "vi"),
        ("vi;q=0, en", "en"),
        ("de", "en"),
        ("vi;q=bogus, en;q=0.1", "en"),
    ],
)
def test_accept_language_chooses_vietnamese_or_english(header: str | None, expected: str) -> None:
    assert language(header) == expected


async def test_reports_explain_in_the_asked_language_and_name_the_policy(
    http: httpx.AsyncClient, admin: Integrator, integrator: Integrator
) -> None:
    pdf, xml = await signed_by_person(http, admin, integrator)
    for content, media in ((pdf, "application/pdf"), (xml, "application/xml")):
        headers = {**integrator.headers, "Content-Type": media}
        vi = await http.post("/api/verify", content=content, headers={**headers, "Accept-Language": "vi-VN,vi;q=0.9"})
        en = await http.post("/api/verify", content=content, headers={**headers, "Accept-Language": "en"})
        assert vi.status_code == en.status_code == 200, vi.text
        body_vi, body_en = vi.json(), en.json()
        # the ETSI code and the JSON keys stay; the explanation is translated
        assert body_vi["indication"] == body_en["indication"] == "TOTAL-PASSED"
        assert (body_vi["language"], body_en["language"]) == ("vi", "en")
        assert body_vi["explanation"] == "chữ ký hợp lệ" and body_en["explanation"] == "the signature is valid"
        [report] = body_vi["signatures"]
        assert report["policy"]["name"] == "VN-TT15-2025"
        assert {r["rule"]: r["outcome"] for r in report["policy"]["rules"]} == {
            "trust_anchor": "passed",
            "not_revoked": "passed",
            "key_usage": "passed",
            "algorithms": "passed",
        }
        assert "Thông tư 15/2025" in report["policy"]["title"]
        assert "chữ ký" in vi.text and "\\u" not in vi.text  # UTF-8 as it is, no escapes for Vietnamese
