"""Does the token endpoint's answer time tell whether a client id exists? Medians, as a ratio.

Unknown client ids and a known one with a wrong secret, interleaved (so load from elsewhere falls on
both alike), through the app over ASGI on a temporary SQLite database. The ratio is what matters:
near 1.00 means the time says nothing. This used to be a test comparing milliseconds, which failed
on a loaded machine (11.9 vs 9.0 ms); the test now checks that both paths run the same statements
(tests/server/reliability/test_security.py), and the time lives here.

    .venv/bin/python bench/token_timing.py [--rounds 300]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx
from esign_server.app import create_app
from esign_server.config import Settings
from esign_server.context import ServerContext
from esign_server.db import migrate
from esign_server.services import clients
from esign_server.services.pki import ensure_service_pki

TOLERANCE = 0.25
"""Ratios further than this from 1.00 fail the run."""


async def measure(rounds: int) -> tuple[float, float]:
    """Median seconds per failed login: (unknown client, known client with a wrong secret)."""
    with tempfile.TemporaryDirectory(prefix="esign-token-timing-") as tmp:
        url = f"sqlite:///{tmp}/bench.db"
        settings = Settings(  # type: ignore[call-arg]
            _env_file=None, dev_mode=True, database_url=url, var_dir=Path(tmp), log_json=True, log_level="ERROR"
        )
        migrate(url)
        ensure_service_pki(settings.resolved_pki_dir, settings.pki_password, settings.public_url)
        ctx = ServerContext(settings)
        known = clients.create_client(ctx, name="bench", scopes=["sessions"], actor="bench").client.id
        transport = httpx.ASGITransport(app=create_app(ctx=ctx))
        unknown_times: list[float] = []
        known_times: list[float] = []
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as http:

            async def timed(client_id: str) -> float:
                started = time.perf_counter()
                answer = await http.post(
                    "/oauth2/token",
                    data={"grant_type": "client_credentials", "client_id": client_id, "client_secret": "wrong"},
                )
                elapsed = time.perf_counter() - started
                assert answer.status_code == 401, answer.text
                return elapsed

            for n in range(20):  # warm-up
                await timed(f"rs_warm_{n}")
                await timed(known)
            for n in range(rounds):
                unknown_times.append(await timed(f"rs_unknown_{n:05d}"))
                known_times.append(await timed(known))
        ctx.close()
    return statistics.median(unknown_times), statistics.median(known_times)


def main() -> int:
    """Print both medians and their ratio; non-zero when the ratio is off by more than :data:`TOLERANCE`."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=300)
    rounds = parser.parse_args().rounds
    unknown, known = asyncio.run(measure(rounds))
    ratio = unknown / known
    print(
        f"token endpoint, {rounds} failed logins each (median): unknown client {unknown * 1000:.2f} ms, "
        f"known client with a wrong secret {known * 1000:.2f} ms, ratio {ratio:.2f}"
    )
    return 0 if abs(ratio - 1) <= TOLERANCE else 1


if __name__ == "__main__":
    sys.exit(main())
