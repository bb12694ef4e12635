"""The hot routes (a session's create, fetch and confirm; signHash) skip the router and FastAPI's extra
layers, and answer exactly as the whole app does."""

from __future__ import annotations

import json
import logging
from typing import Any

import httpx
import pytest
from esign_server.api.routing import HotPathApp, HotRoutes
from esign_server.app import HOT_PATHS, create_app
from esign_server.context import ServerContext
from esign_server.services import sessions as session_service

from tests.server.conftest import Integrator, Person


def client(app: Any) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    return httpx.AsyncClient(transport=transport, base_url="http://testserver")


def requests(ctx: ServerContext, person: Person, integrator: Integrator) -> list[tuple[str, str, dict[str, Any]]]:
    """Requests to the hot routes that each fail in their own way (nothing is changed by any)."""
    rp, phone = integrator.headers, {"Authorization": f"Bearer {person.device_token}"}
    unknown = "0b9d3e3c-1111-2222-3333-444455556666"
    item = {"name": "a", "digest": "A" * 43 + "="}
    json_rp = {**rp, "content-type": "application/json"}
    return [
        ("POST", "/api/sessions", {"json": {"credential_id": person.credential_id, "items": [item]}}),  # no token
        ("POST", "/api/sessions", {"json": {"credential_id": unknown, "items": [item]}, "headers": rp}),
        ("POST", "/api/sessions", {"json": {"credential_id": person.credential_id, "items": []}, "headers": rp}),
        ("POST", "/api/sessions", {"content": b"{nope", "headers": json_rp}),
        ("POST", "/api/sessions", {"content": b"x" * (ctx.settings.max_body_bytes + 1), "headers": json_rp}),
        ("GET", f"/api/sessions/{unknown}", {"headers": rp}),
        ("GET", f"/api/sessions/{unknown}?wait=-1", {"headers": rp}),
        ("GET", f"/api/sessions/{unknown}", {}),
        ("POST", f"/api/mobile/sessions/{unknown}/confirm", {"json": {"code": "123456"}, "headers": phone}),
        ("POST", f"/api/mobile/sessions/{unknown}/confirm", {"json": {"code": "123456"}}),
        ("POST", f"/api/mobile/sessions/{unknown}/confirm", {"json": {"code": 12}, "headers": phone}),
        # A sessions token lacks the csc scope.
        ("POST", "/csc/v2/signatures/signHash", {"json": {"credentialID": person.credential_id}, "headers": rp}),
        ("POST", "/csc/v1/signatures/signHash", {"json": {"credentialID": person.credential_id}}),
        ("PUT", "/api/sessions", {"headers": rp}),  # not a hot route: the router's 405
    ]


async def test_hot_routes_answer_as_the_whole_app_does(
    ctx: ServerContext, person: Person, integrator: Integrator, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = create_app(ctx=ctx)
    assert isinstance(app, HotPathApp) and app.hot_routes is not None
    served: list[str] = []
    original = HotRoutes.serve

    async def counting(self: HotRoutes, matched: Any, scope: Any, receive: Any, send: Any) -> None:
        served.append(scope["path"])
        await original(self, matched, scope, receive, send)

    monkeypatch.setattr(HotRoutes, "serve", counting)
    answers: dict[bool, list[tuple[int, Any]]] = {}
    async with client(app) as http:
        for hot in (True, False):
            if not hot:
                app.hot_routes = None
            answers[hot] = []
            for method, path, options in requests(ctx, person, integrator):
                r = await http.request(method, path, **options)
                answers[hot].append((r.status_code, r.json() if r.content else None))
    assert answers[True] == answers[False]
    statuses = [status for status, _ in answers[True]]
    assert statuses == [401, 404, 400, 422, 413, 404, 422, 401, 404, 401, 422, 403, 401, 405]
    assert all(body is None or "error" in body for _, body in answers[True])
    assert len(served) == len(statuses) - 1  # every request but the PUT took the hot path


@pytest.mark.parametrize("hot", [True, False])
async def test_an_unexpected_error_on_a_hot_route_is_a_logged_json_500(
    ctx: ServerContext,
    integrator: Integrator,
    monkeypatch: pytest.MonkeyPatch,
    hot: bool,
) -> None:
    def broken(*_args: Any, **_kwargs: Any) -> Any:
        raise RuntimeError("a bug")

    monkeypatch.setattr(session_service, "get_for_client", broken)
    app = create_app(ctx=ctx)  # configures the service's logging: the handler goes on after it
    if not hot:
        app.hot_routes = None
    logged: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = logged.append  # type: ignore[method-assign]
    logging.getLogger("esign_server.errors").addHandler(handler)
    try:
        async with client(app) as http:
            r = await http.get("/api/sessions/0b9d3e3c-1111-2222-3333-444455556666", headers=integrator.headers)
    finally:
        logging.getLogger("esign_server.errors").removeHandler(handler)
    assert r.status_code == 500
    assert r.json()["error"] == "internal_error"
    assert "a bug" not in r.text
    assert any(record.exc_info and "a bug" in str(record.exc_info[1]) for record in logged)


async def test_every_hot_path_is_a_route_of_the_app(ctx: ServerContext) -> None:
    app = create_app(ctx=ctx)
    hot = HotRoutes(app, HOT_PATHS)
    for method, path in HOT_PATHS:
        concrete = path.replace("{session_id}", "s-1")
        matched = hot.match({"type": "http", "method": method, "path": concrete})
        assert matched is not None
        route, params = matched
        assert route.path == path and params == ({"session_id": "s-1"} if "{" in path else {})
    assert hot.match({"type": "http", "method": "GET", "path": "/api/sessions/s-1/documents/0"}) is None
    with pytest.raises(RuntimeError, match="does not have"):
        HotRoutes(app, [("GET", "/api/nowhere")]).match({"type": "http", "method": "GET", "path": "/"})


def test_the_openapi_document_still_lists_the_hot_routes(ctx: ServerContext) -> None:
    paths = create_app(ctx=ctx).openapi()["paths"]
    for method, path in HOT_PATHS:
        assert method.lower() in paths[path]
    assert json.dumps(paths)  # serializable as served at /openapi.json
