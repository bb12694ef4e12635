"""The exchange node on one server: send, inbox, fetch, acknowledge, statuses, history; hostile input.

Real HTTP through the ASGI app, on SQLite and PostgreSQL; the envelope signature checked by xmlsec1.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest
from esign_server.context import ServerContext
from esign_server.models import AuditEvent
from esign_server.models.exchange import ExchangeDelivery, ExchangePackage
from esign_server.services import audit, exchange
from sqlmodel import col, func, select

from esign.edxml import BusinessDocType, make_business, parse_package, to_bytes

from .conftest import Integrator, enroll_person
from .exchange_helpers import NAMES, Agency, agency, letter, status_for, xmlsec1_verify

COMMUNES = ["H49.01", "H49.02", "H49.03"]


@pytest.fixture
def department(node: ServerContext) -> Agency:
    """The department's document system, bound to H49.22 with the department's RSA credential."""
    person = enroll_person(node, key_algorithm="rsa2048", name="Văn thư Sở Tư pháp")
    return agency(node, "QLVB Sở Tư pháp", ["H49.22"], credential_id=person.credential_id)


@pytest.fixture
def communes(node: ServerContext) -> Agency:
    """One document system serving the three communes."""
    return agency(node, "QLVB cấp xã", COMMUNES)


def _count(ctx: ServerContext, model: type) -> int:
    with ctx.db.read() as session:
        return int(session.exec(select(func.count()).select_from(model)).one())


def _audit_actions(ctx: ServerContext) -> list[str]:
    with ctx.db.read() as session:
        return list(session.exec(select(AuditEvent.action).order_by(col(AuditEvent.seq))).all())


async def test_a_letter_reaches_three_communes_and_their_statuses_come_back(
    http: httpx.AsyncClient,
    node: ServerContext,
    department: Agency,
    communes: Agency,
    service_pki_dir: Path,
    tmp_path: Path,
) -> None:
    document = letter(COMMUNES)
    sent = await http.post("/api/exchange/packages?sign=true", content=document, headers=department.headers)
    assert sent.status_code == 201, sent.text
    answer = sent.json()
    assert answer["kind"] == "document" and answer["signed_by_node"] is True and answer["duplicate"] is False
    assert sorted((d["recipient"], d["route"], d["state"]) for d in answer["deliveries"]) == [
        (code, "local", "inbox") for code in COMMUNES
    ]
    package_id = answer["package_id"]

    inbox = (await http.get("/api/exchange/inbox", headers=communes.headers)).json()
    assert sorted(e["recipient"] for e in inbox) == COMMUNES
    assert {e["package_id"] for e in inbox} == {package_id}
    # The department's own system has nothing in its inbox yet.
    assert (await http.get("/api/exchange/inbox", headers=department.headers)).json() == []

    fetched = await http.get(f"/api/exchange/packages/{package_id}", headers=communes.headers)
    assert fetched.status_code == 200 and fetched.headers["content-type"].startswith("application/xml")
    delivered = fetched.content
    parsed = parse_package(delivered)
    assert [t.organ_id for t in parsed.traces] == ["H49.22", "H49"]  # the sender's hop, then this node's
    assert parsed.signature.kind == "xmldsig"
    checked = xmlsec1_verify(delivered, service_pki_dir / "root.pem", tmp_path)
    assert checked.returncode == 0, checked.stderr
    tampered = xmlsec1_verify(delivered.replace(b">125<", b">126<"), service_pki_dir / "root.pem", tmp_path)
    assert tampered.returncode != 0

    # Each commune answers: 01 arrived, 03 accepted and registered, 06 finished.
    for commune, code in (("H49.01", "01"), ("H49.02", "03"), ("H49.03", "06")):
        status = await http.post(
            "/api/exchange/packages", content=status_for(document, commune, code), headers=communes.headers
        )
        assert status.status_code == 201, status.text
        assert [(d["recipient"], d["route"]) for d in status.json()["deliveries"]] == [("H49.22", "local")]
    acked = await http.post(f"/api/exchange/packages/{package_id}/ack", headers=communes.headers)
    assert sorted(d["state"] for d in acked.json()) == ["acked"] * 3
    assert (await http.get("/api/exchange/inbox", headers=communes.headers)).json() == []

    history = (await http.get(f"/api/exchange/packages/{package_id}/history", headers=department.headers)).json()
    assert [h["organ_id"] for h in history["hops"]] == ["H49.22", "H49"]
    assert sorted((s["organ_id"], s["code"]) for s in history["statuses"]) == [
        ("H49.01", "01"),
        ("H49.02", "03"),
        ("H49.03", "06"),
    ]
    assert {d["recipient"]: (d["state"], d["last_status"]) for d in history["deliveries"]} == {
        "H49.01": ("acked", "01"),
        "H49.02": ("acked", "03"),
        "H49.03": ("acked", "06"),
    }
    assert {"received", "hop", "delivered", "fetched", "acked", "status"} <= {e["event"] for e in history["events"]}

    # The statuses wait in the department's inbox as status packages.
    statuses = (await http.get("/api/exchange/inbox", headers=department.headers)).json()
    assert sorted((e["kind"], e["sender"], e["status_code"]) for e in statuses) == [
        ("status", "H49.01", "01"),
        ("status", "H49.02", "03"),
        ("status", "H49.03", "06"),
    ]
    actions = _audit_actions(node)
    for action in ("exchange.document_received", "exchange.fetched", "exchange.acked", "exchange.status_received"):
        assert action in actions
    assert audit.verify_chain(node.db).ok


async def test_the_same_package_sent_twice_is_delivered_once(
    http: httpx.AsyncClient, node: ServerContext, department: Agency, communes: Agency
) -> None:
    document = letter(COMMUNES)
    first = await http.post("/api/exchange/packages", content=document, headers=department.headers)
    again = await http.post("/api/exchange/packages", content=document, headers=department.headers)
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["duplicate"] is True and again.json()["package_id"] == first.json()["package_id"]
    assert len((await http.get("/api/exchange/inbox", headers=communes.headers)).json()) == 3
    assert _count(node, ExchangeDelivery) == 3 and _count(node, ExchangePackage) == 1
    # The same DocumentId with other content is a conflict, not a silent second delivery.
    other = letter(COMMUNES).replace(b"cong-van.pdf", b"cong-van-2.pdf")
    conflict = await http.post("/api/exchange/packages", content=other, headers=department.headers)
    assert conflict.status_code == 409 and conflict.json()["error"] == "duplicate_document"
    # A status reported twice is kept once too.
    for expected in (201, 200):
        status = await http.post(
            "/api/exchange/packages", content=status_for(document, "H49.01", "01"), headers=communes.headers
        )
        assert status.status_code == expected
    assert "exchange.duplicate" in _audit_actions(node)
    # An update of the same document (same DocumentId, BussinessDocType 2) is a delivery of its own.
    update = make_business(parse_package(document), BusinessDocType.UPDATE, reason="Sửa trích yếu", registry=NAMES)
    updated = await http.post("/api/exchange/packages", content=to_bytes(update), headers=department.headers)
    assert updated.status_code == 201 and len(updated.json()["deliveries"]) == 3
    inbox = (await http.get("/api/exchange/inbox", headers=communes.headers)).json()
    assert len(inbox) == 6 and len({e["document_id"] for e in inbox}) == 1


BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE edXML [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">
<!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">]>
<edXML xmlns="http://www.mic.gov.vn/TBT/QCVN_102_2016"><x>&c;</x></edXML>"""
EXTERNAL_ENTITY = b"""<?xml version="1.0"?>
<!DOCTYPE edXML [<!ENTITY secret SYSTEM "file:///etc/passwd">]>
<edXML xmlns="http://www.mic.gov.vn/TBT/QCVN_102_2016">&secret;</edXML>"""


async def test_hostile_and_wrong_packages_are_refused_with_json_and_nothing_is_stored(
    http: httpx.AsyncClient, node: ServerContext, department: Agency, communes: Agency, admin: Integrator
) -> None:
    def refused(response: httpx.Response, status: int, error: str) -> dict[str, object]:
        assert response.status_code == status, response.text
        body = response.json()
        assert body["error"] == error, body
        return body

    post = "/api/exchange/packages"
    for hostile in (BILLION_LAUGHS, EXTERNAL_ENTITY, b"not xml at all", b"<edXML/>"):
        refused(await http.post(post, content=hostile, headers=department.headers), 400, "malformed_package")
    # Every problem of an invalid package is listed by path.
    broken = letter(COMMUNES).replace(b"<edXML:Subject>", b"<edXML:Subject>" + b"x" * 600, 1)
    broken = broken.replace(b"<edXML:CodeNumber>125</edXML:CodeNumber>", b"")
    body = refused(await http.post(post, content=broken, headers=department.headers), 422, "invalid_package")
    problems = body["problems"]
    assert isinstance(problems, list) and len(problems) >= 2
    assert any("Subject" in p for p in problems) and any("CodeNumber" in p for p in problems)
    # A sender code the relying system is not bound to; a receiver nobody serves; a code not in the registry.
    refused(await http.post(post, content=letter(COMMUNES), headers=communes.headers), 403, "sender_not_bound")
    unknown = refused(
        await http.post(post, content=letter(["H49.05"]), headers=department.headers), 422, "recipient_unknown"
    )
    assert unknown["problems"] == ["H49.05: not registered on this node and no peer route"]
    refused(await http.post(post, content=letter(["H49.77"]), headers=department.headers), 422, "org_code_refused")
    # Oversized, wrong media type, no token, a token without the exchange scope.
    node.settings.exchange_max_package_bytes = 4096
    refused(await http.post(post, content=letter(COMMUNES), headers=department.headers), 413, "package_too_large")
    node.settings.exchange_max_package_bytes = 20 * 1024 * 1024
    headers = {**department.headers, "Content-Type": "application/json"}
    refused(await http.post(post, content=b"{}", headers=headers), 415, "unsupported_media_type")
    refused(await http.post(post, content=letter(COMMUNES)), 401, "invalid_token")
    refused(await http.post(post, content=letter(COMMUNES), headers=admin.headers), 403, "insufficient_scope")
    # A status about a document this node never delivered.
    refused(
        await http.post(post, content=status_for(letter(COMMUNES), "H49.01", "01"), headers=communes.headers),
        404,
        "document_unknown",
    )
    # Signing asked for a sender without a bound credential.
    unsigned_sender = letter(["H49.22"], sender="H49.01")
    refused(
        await http.post(f"{post}?sign=true", content=unsigned_sender, headers=communes.headers),
        409,
        "no_signing_credential",
    )
    assert _count(node, ExchangePackage) == 0 and _count(node, ExchangeDelivery) == 0
    assert _audit_actions(node).count("exchange.refused") >= 12
    assert audit.verify_chain(node.db).ok
    # Nobody reads what is not theirs.
    assert (await http.get("/api/exchange/packages/nope", headers=communes.headers)).status_code == 404


async def test_a_package_is_visible_only_to_its_sender_and_receivers(
    http: httpx.AsyncClient, node: ServerContext, department: Agency, communes: Agency
) -> None:
    stranger = agency(node, "QLVB xã khác", ["H49.05"])
    sent = await http.post("/api/exchange/packages", content=letter(["H49.01"]), headers=department.headers)
    package_id = sent.json()["package_id"]
    for path in (f"/api/exchange/packages/{package_id}", f"/api/exchange/packages/{package_id}/history"):
        assert (await http.get(path, headers=stranger.headers)).status_code == 404
        assert (await http.get(path, headers=communes.headers)).status_code == 200
    assert (await http.get("/api/exchange/inbox?org=H49.01", headers=stranger.headers)).status_code == 403
    assert (await http.post(f"/api/exchange/packages/{package_id}/ack", headers=stranger.headers)).status_code == 404


async def test_admin_binds_codes_and_sets_peer_routes_over_http(
    http: httpx.AsyncClient, node: ServerContext, admin: Integrator, communes: Agency
) -> None:
    headers = admin.headers
    bound = await http.put(
        "/api/admin/exchange/bindings",
        json={"org_code": "000.00.05.H49", "client_id": communes.client_id},
        headers=headers,
    )
    assert bound.status_code == 200 and bound.json()["org_code"] == "H49.05"
    closed = await http.put(
        "/api/admin/exchange/bindings", json={"org_code": "H49.99", "client_id": communes.client_id}, headers=headers
    )
    assert closed.status_code == 404 and closed.json()["error"] == "org_code_unknown"
    listed = (await http.get(f"/api/admin/exchange/bindings?client_id={communes.client_id}", headers=headers)).json()
    assert [b["org_code"] for b in listed] == ["H49.01", "H49.02", "H49.03", "H49.05"]
    route = {"url": "http://127.0.0.1:9/", "client_id": "node-h49", "client_secret": "s3cret-from-peer"}
    set_route = await http.put("/api/admin/exchange/routes/H55", json=route, headers=headers)
    assert set_route.status_code == 200 and set_route.json() == {
        "prefix": "H55",
        "url": "http://127.0.0.1:9",
        "client_id": "node-h49",
    }
    assert "client_secret" not in (await http.get("/api/admin/exchange/routes", headers=headers)).text
    node.settings.dev_mode = False
    plain = await http.put("/api/admin/exchange/routes/H41", json=route, headers=headers)
    node.settings.dev_mode = True
    assert plain.status_code == 400 and plain.json()["error"] == "peer_url_refused"
    assert (await http.delete("/api/admin/exchange/routes/H55", headers=headers)).status_code == 204
    removed = await http.delete(f"/api/admin/exchange/bindings/H49.05/{communes.client_id}", headers=headers)
    assert removed.status_code == 204
    assert (await http.get("/api/admin/exchange/routes", headers=communes.headers)).status_code == 403
    actions = _audit_actions(node)
    for action in ("exchange.binding_set", "exchange.route_set", "exchange.route_removed", "exchange.binding_removed"):
        assert action in actions
    assert exchange.list_routes(node) == []


async def test_concurrent_copies_of_one_package_are_delivered_once(
    http: httpx.AsyncClient, node: ServerContext, department: Agency, communes: Agency
) -> None:
    document = letter(COMMUNES, number="131")
    answers = await asyncio.gather(
        *(http.post("/api/exchange/packages", content=document, headers=department.headers) for _ in range(6))
    )
    assert sorted(a.status_code for a in answers) == [200] * 5 + [201], [a.text for a in answers]
    assert len({a.json()["package_id"] for a in answers}) == 1
    assert len((await http.get("/api/exchange/inbox", headers=communes.headers)).json()) == 3
    assert _count(node, ExchangeDelivery) == 3 and _count(node, ExchangePackage) == 1
