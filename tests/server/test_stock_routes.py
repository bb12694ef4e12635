"""Every route is an ordinary FastAPI route: dependency overrides reach the signing paths too."""

from __future__ import annotations

import base64
import hashlib
import importlib
import pkgutil

import httpx
from esign_server.api.csc.routes import csc_client
from esign_server.api.deps import ClientCaller, device_call, sessions_client
from esign_server.app import create_app
from esign_server.context import ServerContext
from esign_server.services.errors import Unauthorized
from fastapi import APIRouter
from fastapi.routing import APIRoute

from .conftest import Integrator, Person


async def test_an_overridden_caller_reaches_the_session_create_and_fetch(
    ctx: ServerContext, integrator: Integrator, person: Person
) -> None:
    app = create_app(ctx=ctx)
    app.dependency_overrides[sessions_client] = lambda: ClientCaller(integrator.client_id, ("sessions",), ctx)
    body = {
        "credential_id": person.credential_id,
        "items": [{"name": "a.pdf", "digest": base64.b64encode(hashlib.sha256(b"a").digest()).decode()}],
    }
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        # No Authorization header at all: the override stands in for the token check.
        created = await http.post("/api/sessions", json=body)
        assert created.status_code == 201, created.text
        fetched = await http.get(f"/api/sessions/{created.json()['id']}")
        assert fetched.status_code == 200 and fetched.json()["status"] == "pending"
        app.dependency_overrides.clear()
        assert (await http.get(f"/api/sessions/{created.json()['id']}")).status_code == 401


async def test_overrides_reach_the_phone_confirm_and_csc_sign_hash(
    ctx: ServerContext, integrator: Integrator, person: Person
) -> None:
    app = create_app(ctx=ctx)

    def refuse() -> None:
        raise Unauthorized("refused by the test's override", code="overridden")

    app.dependency_overrides[device_call] = refuse
    app.dependency_overrides[csc_client] = refuse
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        headers = {"Authorization": f"Bearer {person.device_token}"}
        confirm = await http.post("/api/mobile/sessions/s-1/confirm", json={"code": "123456"}, headers=headers)
        assert confirm.status_code == 401 and confirm.json()["error"] == "overridden"
        sign = await http.post(
            "/csc/v2/signatures/signHash",
            json={
                "credentialID": person.credential_id,
                "SAD": "x",
                "hashes": ["AA=="],
                "signAlgo": "1.2.840.10045.4.3.2",
            },
            headers=integrator.headers,
        )
        assert sign.status_code == 401 and sign.json()["error_description"] == "refused by the test's override"


def _routers() -> list[APIRouter]:
    """Every router of the server's route packages (new modules included)."""
    import esign_server.admin_console
    import esign_server.api

    found: list[APIRouter] = []
    for package in (esign_server.api, esign_server.admin_console):
        for info in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
            module = importlib.import_module(info.name)
            found += [value for value in vars(module).values() if isinstance(value, APIRouter)]
    return found


def test_every_route_is_a_stock_fastapi_route() -> None:
    routes = [route for router in _routers() for route in router.routes if isinstance(route, APIRoute)]
    assert len(routes) > 50
    # Only documented extension points: APIRoute itself, or a subclass overriding get_route_handler
    # (the CSC error form), as FastAPI's "custom APIRoute class" guide shows.
    for route in routes:
        extra = {name for klass in type(route).__mro__ if issubclass(klass, APIRoute) for name in vars(klass)}
        extra -= set(vars(APIRoute)) | {"__module__", "__doc__", "__qualname__", "__firstlineno__"}
        extra -= {"__static_attributes__"}
        assert extra <= {"get_route_handler"}, (route.path, extra)
    for router in _routers():
        assert type(router) is APIRouter, router
