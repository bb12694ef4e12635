"""Client tests run against the real server: the server fixtures, and a live uvicorn for urllib/aiohttp."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from esign_server.context import ServerContext

from tests.server.conftest import admin, ctx, http, integrator, node, person, service_pki_dir  # noqa: F401 - fixtures
from tests.server.csc.conftest import rp  # noqa: F401 - fixture
from tests.server.csc.live import live_server


@pytest.fixture
def server_url(ctx: ServerContext) -> Iterator[str]:  # noqa: F811 - the imported fixture
    """The app of ``ctx`` on a real loopback port."""
    with live_server(ctx) as url:
        yield url
