"""Concurrent issuance under one parent never hands out one code twice (several workers, real threads)."""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor

import httpx
from esign_server.context import ServerContext
from esign_server.services import orgids
from esign_server.services.errors import Conflict

from ..conftest import Integrator

WORKERS = 6
EACH = 8


def test_workers_on_separate_connection_pools_allocate_distinct_codes(registry: ServerContext) -> None:
    # One ServerContext per thread: its own engine and pool, as separate uvicorn workers would have.
    start = threading.Barrier(WORKERS)

    def worker(n: int) -> list[str]:
        ctx = ServerContext(registry.settings)
        try:
            start.wait()
            return [
                orgids.issue_code(ctx, parent="H49", name=f"Đơn vị {n}-{i}", actor=f"admin:{n}").code
                for i in range(EACH)
            ]
        finally:
            ctx.close()

    with ThreadPoolExecutor(WORKERS) as pool:
        codes = [code for batch in pool.map(worker, range(WORKERS)) for code in batch]
    assert len(codes) == len(set(codes)) == WORKERS * EACH
    assert sorted(codes) == [f"H49.{n:02d}" for n in range(1, WORKERS * EACH + 1)]
    assert orgids.get_code(registry, "H49").last_child_number == WORKERS * EACH
    names = {r.name for r in orgids.children(registry, "H49")}
    assert len(names) == WORKERS * EACH  # every organization got its own row


async def test_concurrent_http_requests_allocate_distinct_codes(
    http: httpx.AsyncClient, registry: ServerContext, admin: Integrator
) -> None:
    async def one(i: int) -> str:
        response = await http.post("/api/orgids", json={"parent": "H55", "name": f"Xã {i}"}, headers=admin.headers)
        assert response.status_code == 201, response.text
        return str(response.json()["code"])

    codes = await asyncio.gather(*(one(i) for i in range(24)))
    assert sorted(codes) == [f"H55.{n:02d}" for n in range(1, 25)]


def test_racing_for_one_explicit_code_gives_it_to_exactly_one(registry: ServerContext) -> None:
    start = threading.Barrier(WORKERS)

    def worker(n: int) -> str:
        ctx = ServerContext(registry.settings)
        try:
            start.wait()
            orgids.issue_code(ctx, code="H49.22", name=f"Ứng viên {n}", actor=f"admin:{n}")
            return "won"
        except Conflict as exc:
            return exc.code
        finally:
            ctx.close()

    with ThreadPoolExecutor(WORKERS) as pool:
        outcomes = list(pool.map(worker, range(WORKERS)))
    assert outcomes.count("won") == 1
    assert set(outcomes) - {"won"} <= {"code_taken", "conflict"}
    assert len(orgids.history(registry, "H49.22")) == 1
