"""LeanRoute answers exactly as FastAPI's own handler does, and the hot routes really take it."""

from __future__ import annotations

from typing import Annotated, Any

import httpx
import pytest
from esign_server.api.errors import install_error_handlers
from esign_server.api.routing import LeanRoute, PrefixedRouter, _flat_routes, _Plan
from esign_server.app import create_app
from esign_server.context import ServerContext
from esign_server.services.errors import Unauthorized
from fastapi import APIRouter, Depends, FastAPI, Header, Query, Request, Response
from fastapi.routing import APIRoute
from pydantic import BaseModel, Field

from tests.server.conftest import Integrator, Person


class Body(BaseModel):
    """A request body."""

    name: str = Field(min_length=1, max_length=10)
    count: int = 1


class Out(BaseModel):
    """A response."""

    id: str
    name: str
    count: int
    wait: float
    key: str | None


class OutChild(Out):
    """A subclass of the response model: serialized as the response model, not as itself."""

    secret: str = "not for the client"


async def caller(request: Request) -> str:
    """A request-only dependency: the bearer token."""
    token = request.headers.get("authorization", "").removeprefix("Bearer ")
    if token != "good":
        raise Unauthorized("bad token", code="invalid_token")
    return token


Caller = Annotated[str, Depends(caller)]


def build(route_class: type[APIRoute]) -> tuple[FastAPI, list[str]]:
    """The same endpoints, served by ``route_class``; the list records each endpoint call."""
    calls: list[str] = []
    router = APIRouter(route_class=route_class)

    @router.post("/items/{item_id}", status_code=201, response_model=Out)
    async def create(
        item_id: str,
        body: Body,
        who: Caller,
        response: Response,
        idempotency_key: Annotated[str | None, Header(max_length=8)] = None,
        wait: Annotated[float, Query(ge=0, le=5)] = 0,
    ) -> Out:
        calls.append(f"create {item_id}")
        if body.name == "replay":
            response.status_code = 200
            response.headers["x-replayed"] = "1"
        if body.name == "child":
            return OutChild(id=item_id, name=body.name, count=body.count, wait=wait, key=idempotency_key)
        return Out(id=item_id, name=body.name, count=body.count, wait=wait, key=idempotency_key)

    @router.get("/items/{item_id}", response_model=Out)
    def fetch(item_id: str, who: Caller) -> Any:
        calls.append(f"fetch {item_id}")
        return {"id": item_id, "name": "dict", "count": 2, "wait": 0, "key": None}

    app = FastAPI()
    install_error_handlers(app)
    app.include_router(router)
    return app, calls


REQUESTS: list[tuple[str, str, dict[str, Any]]] = [
    ("POST", "/items/a", {"json": {"name": "x"}}),
    ("POST", "/items/a", {"json": {"name": "replay", "count": 3}}),
    ("POST", "/items/a", {"json": {"name": "child"}}),
    ("POST", "/items/a?wait=2.5", {"json": {"name": "x"}, "headers": {"Idempotency-Key": "k1"}}),
    ("POST", "/items/a?wait=9", {"json": {"name": "x"}}),  # out of range
    ("POST", "/items/a?wait=soon", {"json": {"name": "x"}}),  # not a number
    ("POST", "/items/a", {"json": {"name": "x"}, "headers": {"Idempotency-Key": "much-too-long"}}),
    ("POST", "/items/a", {"json": {"name": ""}}),  # too short
    ("POST", "/items/a", {"json": {"count": 1}}),  # missing field
    ("POST", "/items/a", {"json": [1, 2]}),  # not an object
    ("POST", "/items/a", {"content": b"{not json", "headers": {"content-type": "application/json"}}),
    ("POST", "/items/a", {"content": b'{"name": "x"}', "headers": {"content-type": "text/plain"}}),
    ("POST", "/items/a", {"content": b""}),
    ("POST", "/items/a", {"json": {"name": "x"}, "headers": {"authorization": "Bearer bad"}}),
    ("GET", "/items/b", {}),
    ("GET", "/items/b", {"headers": {"authorization": "Bearer bad"}}),
]


async def answers(app: FastAPI) -> list[tuple[int, str, str | None, str | None]]:
    out = []
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        for method, url, options in REQUESTS:
            rest = {k: v for k, v in options.items() if k != "headers"}
            headers = {"authorization": "Bearer good", **options.get("headers", {})}
            r = await client.request(method, url, headers=headers, **rest)
            out.append((r.status_code, r.text, r.headers.get("content-type"), r.headers.get("x-replayed")))
    return out


async def test_lean_answers_as_fastapi_does() -> None:
    lean_app, lean_calls = build(LeanRoute)
    plain_app, plain_calls = build(APIRoute)
    lean = await answers(lean_app)
    plain = await answers(plain_app)
    for request, mine, theirs in zip(REQUESTS, lean, plain, strict=True):
        assert mine == theirs, request
    # Each endpoint ran once per accepted request, in both: a request falling back to FastAPI's
    # handler never runs the endpoint twice.
    assert lean_calls == plain_calls
    assert lean_calls.count("create a") == 4
    statuses = [status for status, *_ in lean]
    assert statuses[:4] == [201, 200, 201, 201]
    assert '"secret"' not in lean[2][1]
    assert all(s in (400, 401, 413, 415, 422) for s in statuses[4:14] if s != 200)


def lean_routes(routes: list[Any]) -> list[LeanRoute]:
    """The LeanRoutes of an app, looking into included routers (newer FastAPI keeps them nested)."""
    return [route for route in _flat_routes(routes) if isinstance(route, LeanRoute)]


def test_lean_plan_covers_the_test_endpoints() -> None:
    app, _ = build(LeanRoute)
    routes = lean_routes(app.routes)
    assert len(routes) == 2 and all(_Plan.of(r) is not None for r in routes)


def test_endpoints_of_other_shapes_keep_fastapis_handler() -> None:
    router = APIRouter(route_class=LeanRoute)

    async def with_sub(token: Annotated[str, Header()]) -> str:  # a dependency with its own parameter
        return token

    @router.get("/a", response_model=Out)
    async def a(x: Annotated[str, Depends(with_sub)]) -> Any: ...

    @router.get("/b", response_model=Out)
    async def b(tags: Annotated[list[str], Query()]) -> Any: ...

    @router.get("/c")
    async def c() -> dict[str, str]: ...

    app = FastAPI()
    app.include_router(router)
    assert [_Plan.of(r) for r in lean_routes(app.routes)] == [None, None, None]


HOT_ROUTES = {
    ("POST", "/api/sessions"),
    ("GET", "/api/sessions/{session_id}"),
    ("POST", "/api/mobile/sessions/{session_id}/confirm"),
    ("POST", "/csc/v2/signatures/signHash"),
    ("POST", "/csc/v1/signatures/signHash"),
}


def test_the_hot_routes_take_the_lean_handler(ctx: ServerContext) -> None:
    app = create_app(ctx=ctx)
    found = {
        (method, route.path)
        for route in lean_routes(app.routes)
        if _Plan.of(route) is not None
        for method in route.methods
    }
    assert HOT_ROUTES <= found


@pytest.mark.parametrize("value", ["x" * 200, "x" * 201])
async def test_idempotency_key_limit_holds_on_the_lean_path(
    http: httpx.AsyncClient, value: str, person: Person, integrator: Integrator
) -> None:
    body = {"credential_id": person.credential_id, "items": [{"name": "a", "digest": "A" * 43 + "="}]}
    r = await http.post("/api/sessions", json=body, headers={**integrator.headers, "Idempotency-Key": value})
    assert r.status_code == (201 if len(value) == 200 else 422), r.text
    if r.status_code == 422:
        assert r.json()["error"] == "invalid_request"


@pytest.mark.parametrize(("route_class", "expected"), [(LeanRoute, 0), (APIRoute, 2)])
async def test_the_lean_path_skips_fastapis_dependency_solving(
    monkeypatch: pytest.MonkeyPatch, route_class: type[APIRoute], expected: int
) -> None:
    import fastapi.routing

    solved: list[object] = []
    original = fastapi.routing.solve_dependencies

    async def counting(*args: Any, **kwargs: Any) -> Any:
        solved.append(kwargs.get("dependant"))
        return await original(*args, **kwargs)

    monkeypatch.setattr(fastapi.routing, "solve_dependencies", counting)
    app, calls = build(route_class)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
        created = await client.post("/items/a?wait=1", json={"name": "x"}, headers={"authorization": "Bearer good"})
        fetched = await client.get("/items/a", headers={"authorization": "Bearer good"})
    assert (created.status_code, fetched.status_code) == (201, 200)
    assert calls == ["create a", "fetch a"]
    assert len(solved) == expected


def routed_app(router_class: type[APIRouter]) -> FastAPI:
    """Routers with overlapping and parameter-first paths, built from ``router_class``."""
    app = FastAPI()
    first = router_class(prefix="/api")
    second = router_class(prefix="/api/sub")
    loose = router_class()

    @first.get("/things/{thing}")
    def thing(thing: str) -> dict[str, str]:
        return {"route": "thing", "thing": thing}

    @first.post("/things/{thing}")
    def make_thing(thing: str) -> dict[str, str]:
        return {"route": "make_thing", "thing": thing}

    @second.get("/x")
    def sub_x() -> dict[str, str]:
        return {"route": "sub_x"}

    @loose.get("/{anything}/x")
    def any_x(anything: str) -> dict[str, str]:
        return {"route": "any_x", "anything": anything}

    @loose.get("/plain")
    def plain() -> dict[str, str]:
        return {"route": "plain"}

    for router in (first, second, loose):
        app.include_router(router)
    return app


async def test_prefixed_routers_route_every_path_as_fastapi_does() -> None:
    requests = [
        ("GET", "/api/things/a"),
        ("POST", "/api/things/a"),
        ("PUT", "/api/things/a"),  # 405 from the right route
        ("GET", "/api/sub/x"),
        ("GET", "/api/x"),  # only the parameter-first route matches
        ("GET", "/elsewhere/x"),
        ("GET", "/plain"),
        ("GET", "/api/things"),
        ("GET", "/nothing/here"),
        ("GET", "/"),
    ]
    answers = []
    for router_class in (APIRouter, PrefixedRouter):
        app = routed_app(router_class)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
            answers.append([(r.status_code, r.text) for r in [await client.request(m, p) for m, p in requests]])
    assert answers[0] == answers[1]
    assert [status for status, _ in answers[1]] == [200, 200, 405, 200, 200, 200, 200, 404, 404, 404]


def test_a_prefixed_router_turns_away_only_paths_none_of_its_routes_can_match() -> None:
    from starlette.routing import Match

    router = PrefixedRouter(prefix="/api/mobile")

    @router.get("/sessions/{session_id}")
    def session(session_id: str) -> None: ...

    assert router._prefixes() == ("/api/mobile/sessions/",)
    assert router.matches({"type": "http", "path": "/api/sessions/1", "method": "GET"}) == (Match.NONE, {})

    @router.get("/me")
    def me() -> None: ...

    assert router._prefixes() == ("/api/mobile/sessions/", "/api/mobile/me")  # a route added later counts
