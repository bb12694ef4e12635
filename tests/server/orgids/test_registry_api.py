"""The registry over HTTP (ASGI): public lookups, admin-only changes, JSON errors and never a 500."""

from __future__ import annotations

import httpx
from esign_server.context import ServerContext

from ..conftest import Integrator


async def issue(http: httpx.AsyncClient, admin: Integrator, **body: object) -> httpx.Response:
    return await http.post("/api/orgids", json=body, headers=admin.headers)


async def test_admin_issues_amends_and_closes_and_anyone_reads(
    http: httpx.AsyncClient, registry: ServerContext, admin: Integrator
) -> None:
    created = await issue(http, admin, parent="H49", name="Sở Tư pháp", address="Hạ Long")
    assert created.status_code == 201, created.text
    body = created.json()
    assert (body["code"], body["qcvn"], body["parent"], body["level"]) == ("H49.01", "000.00.01.H49", "H49", 2)

    amended = await http.patch("/api/orgids/H49.01", json={"name": "Sở Tư pháp tỉnh Quảng Ninh"}, headers=admin.headers)
    assert amended.status_code == 200 and amended.json()["version"] == 2

    got = await http.get("/api/orgids/000.00.01.H49")
    assert got.status_code == 200 and got.json()["name"] == "Sở Tư pháp tỉnh Quảng Ninh"

    closed = await http.post("/api/orgids/H49.01/close", json={"reason": "giải thể"}, headers=admin.headers)
    assert closed.status_code == 200 and closed.json()["status"] == "closed"

    history = (await http.get("/api/orgids/H49.01/history")).json()
    assert [e["action"] for e in history["events"]] == ["issued", "amended", "closed"]
    assert history["events"][1]["changes"]["name"] == ["Sở Tư pháp", "Sở Tư pháp tỉnh Quảng Ninh"]

    again = await issue(http, admin, code="H49.01", name="Sở khác")
    assert again.status_code == 409 and again.json()["error"] == "code_taken"


async def test_changes_need_the_admin_scope(
    http: httpx.AsyncClient, registry: ServerContext, integrator: Integrator
) -> None:
    anonymous = await http.post("/api/orgids", json={"parent": "H49", "name": "Sở"})
    assert anonymous.status_code == 401 and anonymous.json()["error"] == "invalid_token"
    relying = await issue(http, integrator, parent="H49", name="Sở")
    assert relying.status_code == 403 and relying.json()["error"] == "insufficient_scope"
    for method, url in (("PATCH", "/api/orgids/H49"), ("POST", "/api/orgids/H49/close")):
        response = await http.request(method, url, json={"reason": "x", "name": "y"}, headers=integrator.headers)
        assert response.status_code == 403
    imported = await http.post(
        "/api/orgids/import", content="code,name\nH49.5,X\n", headers={"content-type": "text/csv"}
    )
    assert imported.status_code == 401


async def test_search_children_and_status_are_public(
    http: httpx.AsyncClient, registry: ServerContext, admin: Integrator
) -> None:
    await issue(http, admin, code="H49.22", name="Sở Tư pháp tỉnh Quảng Ninh")
    await issue(http, admin, code="H49.9", name="Sở Y tế")
    page = (await http.get("/api/orgids", params={"name": "so tu phap quang ninh"})).json()
    assert [i["code"] for i in page["items"]] == ["H49.22"] and page["total"] == 1
    level1 = (await http.get("/api/orgids", params={"level": 1, "status": "active", "limit": 3})).json()
    assert len(level1["items"]) == 3 and all(i["status"] == "active" for i in level1["items"])
    kids = (await http.get("/api/orgids/H49/children")).json()
    assert [k["code"] for k in kids] == ["H49.9", "H49.22"]
    status = (await http.get("/api/orgids/H30/status")).json()
    assert status == {
        "code": "H30",
        "known": True,
        "status": "closed",
        "active": False,
        "name": "UBND tỉnh Hậu Giang",
        "successor": None,
    }
    unknown = (await http.get("/api/orgids/H49.77/status")).json()
    assert unknown["known"] is False and unknown["active"] is False


async def test_bad_input_is_a_json_4xx_never_a_500(
    http: httpx.AsyncClient, registry: ServerContext, admin: Integrator
) -> None:
    cases = [
        ("GET", "/api/orgids/h49", None, 400, "invalid_orgid"),
        ("GET", "/api/orgids/H49.77", None, 404, "not_found"),
        ("GET", "/api/orgids/H49.77/history", None, 404, "not_found"),
        ("GET", "/api/orgids/X99/status", None, 400, "invalid_orgid"),
        ("GET", "/api/orgids?prefix=H4%25", None, 400, "invalid_orgid"),
        ("GET", "/api/orgids?level=0", None, 422, "invalid_request"),
        ("GET", "/api/orgids?status=open", None, 422, "invalid_request"),
        ("GET", "/api/orgids/export?format=xml", None, 422, "invalid_request"),
        ("POST", "/api/orgids", {"name": "X"}, 400, "invalid_request"),
        ("POST", "/api/orgids", {"parent": "H49", "name": "X", "colour": "red"}, 422, "invalid_request"),
        ("POST", "/api/orgids", {"parent": "H49", "group": "2.2.", "name": "X"}, 400, "invalid_orgid"),
        ("POST", "/api/orgids", {"parent": "H" + "9" * 39, "name": "X"}, 400, "invalid_orgid"),
        ("POST", "/api/orgids", {"parent": "H49", "name": "X", "details": {"a": {"b": 1}}}, 400, "invalid_details"),
        ("POST", "/api/orgids", {"code": "Z01", "name": "X"}, 400, "invalid_orgid"),
        ("POST", "/api/orgids", {"parent": "H49", "name": "Sở\u0000"}, 400, "invalid_name"),
        ("POST", "/api/orgids", {"parent": "H49", "name": "Sở", "details": {"a": "\u0000"}}, 400, "invalid_details"),
        ("POST", "/api/orgids/H49/close", {"reason": "x\u0000"}, 400, "invalid_reason"),
        ("POST", "/api/orgids/H49/close", {"reason": "x", "successor": "H49"}, 400, "invalid_successor"),
        ("POST", "/api/orgids/H49/close", {}, 422, "invalid_request"),
        ("PATCH", "/api/orgids/H49", {"name": ""}, 422, "invalid_request"),
    ]
    for method, url, body, status, code in cases:
        response = await http.request(method, url, json=body, headers=admin.headers)
        assert (response.status_code, response.json()["error"]) == (status, code), (method, url, response.text)
        assert response.json()["message"]
    wrong_type = await http.post(
        "/api/orgids/import", content=b"x", headers={**admin.headers, "content-type": "image/png"}
    )
    assert wrong_type.status_code == 415 and wrong_type.json()["error"] == "invalid_format"
    not_utf8 = await http.post(
        "/api/orgids/import?format=csv", content="code,name\nH49.5,Sở\n".encode("utf-16"), headers=admin.headers
    )
    assert not_utf8.status_code == 400 and not_utf8.json()["error"] == "invalid_encoding"


async def test_openapi_lists_the_registry_routes(http: httpx.AsyncClient, registry: ServerContext) -> None:
    paths = (await http.get("/openapi.json")).json()["paths"]
    for path in ("/api/orgids", "/api/orgids/{code}", "/api/orgids/{code}/status", "/api/orgids/import"):
        assert path in paths
