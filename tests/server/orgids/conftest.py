"""Registry fixtures: the seeded registry and a few codes under H49 (Quảng Ninh)."""

from __future__ import annotations

import pytest
from esign_server.context import ServerContext
from esign_server.services import orgids


@pytest.fixture
def registry(ctx: ServerContext) -> ServerContext:
    """The server context with the shipped level-1 codes seeded."""
    orgids.seed_level1(ctx.db, actor="test")
    return ctx
