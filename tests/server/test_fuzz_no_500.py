"""Requests generated from our OpenAPI document (schemathesis) never get a server error."""

from __future__ import annotations

import warnings

import schemathesis
from esign_server.app import create_app
from esign_server.context import ServerContext

from .conftest import register_client

OUR_ROUTES = r"^/(api/(sessions|mobile|admin|credentials)|oauth2|pki|health|ready)"
EXAMPLES_PER_OPERATION = 8


def test_generated_requests_get_no_server_error(ctx: ServerContext) -> None:
    caller = register_client(ctx, ["sessions", "admin"], name="fuzz")
    schema = schemathesis.openapi.from_asgi("/openapi.json", create_app(ctx=ctx)).include(path_regex=OUR_ROUTES)
    failures = []
    operations = 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # hypothesis: .example() outside @given is meant for exploration
        for result in schema.get_all_operations():
            operation = result.ok()
            operations += 1
            strategy = operation.as_strategy()
            for _ in range(EXAMPLES_PER_OPERATION):
                case = strategy.example()
                try:
                    response = case.call(headers={"Authorization": f"Bearer {caller.token}"})
                except Exception as exc:  # the app raised through the transport: a 500 in production
                    failures.append(f"{operation.method} {operation.path}: {exc!r}")
                    continue
                if response.status_code >= 500:
                    failures.append(
                        f"{operation.method} {operation.path}: {response.status_code} {response.text[:200]}"
                    )
    assert operations > 20
    assert failures == []
