"""What the phone shows for a CSC authorization: the relying system's description and document names,
never a placeholder such as "hash 1" (issue 21, item 16)."""

from __future__ import annotations

from typing import Any

import httpx

from ..conftest import Integrator, Person
from .conftest import b64, csc_post, h


async def _shown(http: httpx.AsyncClient, person: Person) -> list[dict[str, Any]]:
    device = {"Authorization": f"Bearer {person.device_token}"}
    sessions: list[dict[str, Any]] = (await http.get("/api/mobile/sessions", headers=device)).json()["sessions"]
    return sessions


async def test_the_phone_shows_the_description_and_the_names_sent_with_the_hashes(
    http: httpx.AsyncClient, rp: Integrator, person: Person
) -> None:
    body = {
        "credentialID": person.credential_id,
        "numSignatures": 2,
        "hashes": [b64(h("công văn")), b64(h("phụ lục"))],
        "description": "Công văn 125/STP-HCTP",
        "documentNames": ["cong-van-125.pdf", "phu-luc-01.pdf"],
    }
    assert (await csc_post(http, rp, "credentials/authorize", body)).status_code == 202
    [shown] = await _shown(http, person)
    assert shown["description"] == "Công văn 125/STP-HCTP"
    assert shown["documents"] == ["cong-van-125.pdf", "phu-luc-01.pdf"]


async def test_without_names_the_phone_gets_no_invented_ones(
    http: httpx.AsyncClient, rp: Integrator, person: Person
) -> None:
    body = {"credentialID": person.credential_id, "numSignatures": 3, "hashes": [b64(h(str(n))) for n in range(3)]}
    assert (await csc_post(http, rp, "credentials/authorize", body)).status_code == 202
    [shown] = await _shown(http, person)
    assert shown["documents"] == [] and shown["item_count"] == 3
    assert "hash" not in str(shown["documents"])


async def test_names_that_do_not_match_the_hashes_are_refused(
    http: httpx.AsyncClient, rp: Integrator, person: Person
) -> None:
    body = {
        "credentialID": person.credential_id,
        "hashes": [b64(h("a")), b64(h("b"))],
        "documentNames": ["only-one.pdf"],
    }
    answer = await csc_post(http, rp, "credentials/authorize", body)
    assert answer.status_code == 400 and answer.json()["error"] == "invalid_request"
    assert await _shown(http, person) == []
