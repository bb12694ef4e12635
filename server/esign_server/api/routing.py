"""A route class for the per-request hot paths: the same endpoint, called by a shorter handler.

FastAPI's general request handler (dependency graph solving, telemetry hooks, the response
re-validated against its model) costs about 0.25 ms per request on this service's machines: as much
as everything else a session's fetch does, and half of a bare signing request's whole cost
(``bench/server_flow.py``). For endpoints of a simple shape, :class:`LeanRoute` calls the endpoint
directly; the OpenAPI schema, the error answers and every other route are FastAPI's as before.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Awaitable, Callable, Collection, Coroutine, Iterator
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.datastructures import DefaultPlaceholder
from fastapi.dependencies.models import Dependant
from fastapi.exceptions import ResponseValidationError
from fastapi.middleware.asyncexitstack import AsyncExitStackMiddleware
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute, APIRouter
from pydantic import BaseModel, ValidationError
from starlette.middleware.errors import ServerErrorMiddleware
from starlette.middleware.exceptions import ExceptionMiddleware
from starlette.routing import Match
from starlette.types import ASGIApp, Receive, Scope, Send

Handler = Callable[[Request], Coroutine[Any, Any, Response]]
_SCALARS = (str, int, float, bool, str | None, int | None, float | None, bool | None)


@dataclass(frozen=True)
class _Param:
    """A path, query or header parameter of a scalar type, looked up by its key in the request."""

    field: Any
    where: str
    key: str
    required: bool
    default: Any

    @classmethod
    def of(cls, field: Any, where: str) -> _Param | None:
        """The parameter, or None when it is not a plain scalar (lists, aliases: FastAPI's handler)."""
        info = field.field_info
        key = field.name
        if where == "header" and getattr(info, "convert_underscores", True):
            key = key.replace("_", "-")  # FastAPI's own rule for header names
        # No aliases of one's own (some FastAPI versions store the header name as the alias).
        if info.annotation not in _SCALARS or info.validation_alias is not None or field.alias not in (field.name, key):
            return None
        return cls(field, where, key.lower() if where == "header" else key, info.is_required(), info.default)

    def value(self, request: Request, values: dict[str, Any]) -> tuple[bool, Any]:
        """(valid, value) from the request, validated by the field as FastAPI's handler does."""
        source = (
            request.path_params
            if self.where == "path"
            else request.query_params
            if self.where == "query"
            else request.headers
        )
        raw = source.get(self.key)
        if raw is None:
            return (False, None) if self.required else (True, self.default)
        value, errors = self.field.validate(raw, values, loc=(self.where, self.key))
        return not errors, value


def _is_json(content_type: str | None) -> bool:
    if not content_type:
        return False
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json" or (media.startswith("application/") and media.endswith("+json"))


def _request_only(dep: Dependant) -> bool:
    """A dependency that is an ``async def`` taking the request alone (the callers' credentials)."""
    fields = (dep.path_params, dep.query_params, dep.header_params, dep.cookie_params, dep.body_params)
    return (
        dep.name is not None
        and inspect.iscoroutinefunction(dep.call)
        and not dep.dependencies
        and not any(fields)
        and dep.request_param_name is not None
        and dep.response_param_name is None
        and dep.background_tasks_param_name is None
        and dep.security_scopes_param_name is None
        and dep.websocket_param_name is None
        and dep.http_connection_param_name is None
    )


@dataclass(frozen=True)
class _Plan:
    """How to call one endpoint without FastAPI's general handler (built once per route)."""

    call: Callable[..., Any]
    is_coroutine: bool
    dependencies: tuple[tuple[str, Callable[[Request], Awaitable[Any]]], ...]
    params: tuple[_Param, ...]
    """Path, query and header parameters."""
    body: tuple[str, type[BaseModel]] | None
    request_name: str | None
    response_name: str | None
    status_code: int | None
    response_model: type[BaseModel]
    response_field: Any
    serialize_options: dict[str, Any]
    overrides_provider: Any
    """The app, whose ``dependency_overrides`` (set in tests, say) send requests to FastAPI's handler."""

    def serialize(self, result: Any) -> bytes:
        """The response body: as FastAPI's handler makes it, skipping the re-validation of a model
        instance that is exactly the response model."""
        if type(result) is not self.response_model:
            result, errors = self.response_field.validate(result, {}, loc=("response",))
            if errors:
                raise ResponseValidationError(errors, body=result)
        body: bytes = self.response_field.serialize_json(result, **self.serialize_options)
        return body

    @classmethod
    def of(cls, route: APIRoute) -> _Plan | None:
        """The plan for ``route``, or None when its endpoint is not of the simple shape."""
        d = route.dependant
        if (
            d.call is None
            or d.cookie_params
            or d.background_tasks_param_name
            or d.security_scopes_param_name
            or d.websocket_param_name
            or d.http_connection_param_name
            or inspect.isasyncgenfunction(d.call)
            or inspect.isgeneratorfunction(d.call)
            or not all(_request_only(dep) for dep in d.dependencies)
            or len(d.body_params) > 1
            or route.response_field is None
            or not isinstance(route.response_class, DefaultPlaceholder)
            or route.response_class.value is not JSONResponse
        ):
            return None
        found = tuple(
            _Param.of(field, where)
            for fields, where in ((d.path_params, "path"), (d.query_params, "query"), (d.header_params, "header"))
            for field in fields
        )
        params = tuple(p for p in found if p is not None)
        if len(params) != len(found):
            return None
        body = None
        if d.body_params:
            field = d.body_params[0]
            model = field.field_info.annotation
            if not (isinstance(model, type) and issubclass(model, BaseModel)) or field.field_info.embed:  # type: ignore[attr-defined]
                return None
            body = (field.name, model)
        response_model = route.response_field.field_info.annotation
        if not (isinstance(response_model, type) and issubclass(response_model, BaseModel)):
            return None
        options = {
            "include": route.response_model_include,
            "exclude": route.response_model_exclude,
            "by_alias": route.response_model_by_alias,
            "exclude_unset": route.response_model_exclude_unset,
            "exclude_defaults": route.response_model_exclude_defaults,
            "exclude_none": route.response_model_exclude_none,
        }
        return cls(
            call=d.call,
            is_coroutine=inspect.iscoroutinefunction(d.call),
            dependencies=tuple((dep.name, dep.call) for dep in d.dependencies),  # type: ignore[misc]
            params=params,
            body=body,
            request_name=d.request_param_name,
            response_name=d.response_param_name,
            status_code=route.status_code,
            response_model=response_model,
            response_field=route.response_field,
            serialize_options=options,
            overrides_provider=route.dependency_overrides_provider,
        )


class LeanRoute(APIRoute):
    """An :class:`~fastapi.routing.APIRoute` that calls a simple endpoint directly.

    The simple shape: path, query and header parameters; at most one JSON body, a pydantic model;
    dependencies that are ``async def`` functions of the request alone; a pydantic response model.
    The lean handler authenticates with those dependencies, validates scalar parameters with their
    fields and the body with its model, calls the endpoint, and serializes a returned model
    with the route's response field (an instance of the response model needs no re-validation).

    Whatever does not go smoothly goes to FastAPI's own handler with the same request: a parameter
    or body that fails validation, a body that is not JSON, an endpoint of another shape. Errors
    therefore keep FastAPI's exact answers. The request dependencies may run twice then, so they
    must have no side effects (they check credentials).
    """

    def get_route_handler(self) -> Handler:
        standard = super().get_route_handler()
        plan = _Plan.of(self)
        if plan is None:
            return standard
        return _lean_handler(plan, standard)


def _lean_handler(plan: _Plan, standard: Handler) -> Handler:
    async def handle(request: Request) -> Response:
        if getattr(plan.overrides_provider, "dependency_overrides", None):
            return await standard(request)
        values: dict[str, Any] = {}
        for name, dependency in plan.dependencies:
            values[name] = await dependency(request)
        for param in plan.params:
            valid, value = param.value(request, values)
            if not valid:
                return await standard(request)
            values[param.field.name] = value
        if plan.body is not None:
            raw = await request.body()
            if not raw or not _is_json(request.headers.get("content-type")):
                return await standard(request)
            try:
                values[plan.body[0]] = plan.body[1].model_validate(json.loads(raw))
            except (ValueError, ValidationError):  # json.JSONDecodeError is a ValueError
                return await standard(request)
        if plan.request_name is not None:
            values[plan.request_name] = request
        sub_response: Response | None = None
        if plan.response_name is not None:
            sub_response = Response()
            del sub_response.headers["content-length"]
            sub_response.status_code = None  # type: ignore[assignment]
            values[plan.response_name] = sub_response
        result = await plan.call(**values) if plan.is_coroutine else await run_in_threadpool(plan.call, **values)
        if isinstance(result, Response):
            return result
        status = (sub_response.status_code if sub_response is not None else None) or plan.status_code or 200
        response = Response(plan.serialize(result), status_code=status, media_type="application/json")
        if sub_response is not None:
            response.headers.raw.extend(sub_response.headers.raw)
        return response

    return handle


class PrefixedRouter(APIRouter):
    """An :class:`~fastapi.APIRouter` that turns away, with one string test, a path none of its
    routes can match.

    Newer FastAPI versions keep an included router as one entry of the app's routes and, for every
    request, try each of its routes in turn (one regular expression each, and again once the
    router is chosen): about 2 µs per route tried on this service's machines, so a signHash
    request spent 0.1 ms finding its route behind the sessions and phone routers. A route can only
    match a path that starts with the literal part of its own path (up to its first parameter),
    so the router answers "no match" at once for any other path. Versions that copy an included
    router's routes into the app never ask the router itself, and nothing changes there.
    """

    _literal_prefixes: tuple[str, ...] = ()
    _prefixes_of: int = -1

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        # A mounted app (root_path) matches on a path Starlette derives: leave that to FastAPI.
        if not scope.get("root_path") and not str(scope.get("path", "")).startswith(self._prefixes()):
            return Match.NONE, {}
        matched: tuple[Match, Scope] = super().matches(scope)
        return matched

    def _prefixes(self) -> tuple[str, ...]:
        if self._prefixes_of != len(self.routes):  # routes added since: look again
            paths = [getattr(route, "path", None) for route in self.routes]
            # A route without a plain path (none here) could match anything: an empty prefix does.
            self._literal_prefixes = tuple(p.split("{", 1)[0] if isinstance(p, str) else "" for p in paths)
            self._prefixes_of = len(self.routes)
        return self._literal_prefixes


class HotRoutes:
    """The per-request hot routes of an app, served without its router and FastAPI's extra layers.

    For a request to one of ``paths`` (method and route path, as declared), the app runs the route
    straight away inside the layers FastAPI stacks around its router: the server error handler (an
    unexpected error is answered with the app's 500 handler, then raised to the server's log), the
    app's own middleware (body size limit, request log), the exception handlers (every error as the
    app's JSON) and the exit stack FastAPI's handler expects. Skipped: matching the path against
    every route of every included router, twice (newer FastAPI), and FastAPI's native OpenTelemetry
    layer, so these routes are not traced by it. Measured in process: 60–100 µs less per request,
    on a fetch that costs 140–270 µs in all. A request to any other path goes through the whole app.
    """

    def __init__(self, app: FastAPI, paths: Collection[tuple[str, str]]) -> None:
        self._app = app
        self._paths = frozenset(paths)
        self._exact: dict[tuple[str, str], APIRoute] = {}
        self._patterns: list[tuple[str, APIRoute]] = []
        self._stack: ASGIApp | None = None

    def match(self, scope: Scope) -> tuple[APIRoute, dict[str, Any]] | None:
        """The hot route for this HTTP request and its path parameters, or None."""
        if self._stack is None:
            self._stack = self._build()
        method, path = scope["method"], scope["path"]
        route = self._exact.get((method, path))
        if route is not None:
            return route, {}
        for route_method, route in self._patterns:
            if route_method == method and (found := route.path_regex.match(path)) is not None:
                convertors = route.param_convertors
                return route, {name: convertors[name].convert(value) for name, value in found.groupdict().items()}
        return None

    async def serve(self, matched: tuple[APIRoute, dict[str, Any]], scope: Scope, receive: Receive, send: Send) -> None:
        """Answer a request :meth:`match` matched, as the app's router would have routed it."""
        route, path_params = matched
        scope["app"] = self._app
        scope["router"] = self._app.router
        scope["endpoint"] = route.endpoint
        scope["route"] = route
        scope["path_params"] = path_params
        assert self._stack is not None
        await self._stack(scope, receive, send)

    def _build(self) -> ASGIApp:
        found: dict[tuple[str, str], APIRoute] = {}
        for route in _flat_routes(self._app.router.routes):
            for method in route.methods or ():
                if (method, route.path) in self._paths:
                    found.setdefault((method, route.path), route)  # the first one, as the router picks
        if missing := self._paths - found.keys():
            raise RuntimeError(f"hot routes the app does not have: {sorted(missing)}")
        for (method, path), route in found.items():
            if "{" in path:
                self._patterns.append((method, route))
            else:
                self._exact[(method, path)] = route
        # FastAPI's stack (FastAPI.build_middleware_stack) with the route in place of the router, less
        # its telemetry and body-limit layers (the app sets no max_body_size: it has its own limit).
        error_handler = None
        handlers: dict[Any, Any] = {}
        for key, value in self._app.exception_handlers.items():
            if key in (500, Exception):
                error_handler = value
            else:
                handlers[key] = value
        app: ASGIApp = AsyncExitStackMiddleware(_route_of_scope)
        app = ExceptionMiddleware(app, handlers=handlers, debug=self._app.debug)
        for cls, args, kwargs in reversed(self._app.user_middleware):
            app = cls(app, *args, **kwargs)
        return ServerErrorMiddleware(app, handler=error_handler, debug=self._app.debug)


async def _route_of_scope(scope: Scope, receive: Receive, send: Send) -> None:
    await scope["route"].handle(scope, receive, send)


def _flat_routes(routes: list[Any]) -> Iterator[APIRoute]:
    """The app's routes in routing order, looking into included routers (newer FastAPI nests them)."""
    for route in routes:
        if isinstance(route, APIRoute):
            yield route
        elif hasattr(route, "original_router"):
            yield from _flat_routes(route.original_router.routes)


class HotPathApp(FastAPI):
    """A FastAPI app that serves the routes of :attr:`hot_routes` through :class:`HotRoutes`."""

    hot_routes: HotRoutes | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        hot = self.hot_routes
        # A root path, overridden dependencies (tests) or FastAPI's own body limit: the whole app.
        if (
            hot is not None
            and scope["type"] == "http"
            and not scope.get("root_path")
            and not self.root_path
            and not self.dependency_overrides
            and getattr(self, "max_body_size", None) is None
            and (matched := hot.match(scope)) is not None
        ):
            await hot.serve(matched, scope, receive, send)
            return
        await super().__call__(scope, receive, send)
