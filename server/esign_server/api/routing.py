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
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from fastapi import Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.datastructures import DefaultPlaceholder
from fastapi.dependencies.models import Dependant
from fastapi.exceptions import ResponseValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute, APIRouter
from pydantic import BaseModel, ValidationError
from starlette.routing import Match
from starlette.types import Scope

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
