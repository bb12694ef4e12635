"""CPU of the three-request session flow in process: the app under ``httpx.ASGITransport``, no sockets.

    .venv/bin/python bench/session_flow_cpu.py [--sessions 300] [--database-url postgresql://postgres@127.0.0.1:5432/EMPTY]
    TREE=/tmp/older-worktree .venv/bin/python bench/session_flow_cpu.py   # the same loop on another tree

Create (one hash item), confirm with a TOTP code from the phone's device token, fetch: the CPU of the
whole process per session and per request (the client's share included, the same in every tree), so
before/after runs interleaved on a busy machine compare the server's handling without wrk's noise.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(os.environ.get("TREE") or Path(__file__).resolve().parent.parent)
sys.path[:0] = [str(ROOT), str(ROOT / "server")]

from bench.server_flow import setup_sandbox  # noqa: E402


def main() -> None:
    """Set up a relying system and a P-256 credential with one device per session; time the loop."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--sessions", type=int, default=300)
    parser.add_argument("--database-url", default=None, help="an empty database (default: a fresh SQLite file)")
    args = parser.parse_args()
    warm, n = 50, args.sessions
    tmp = Path(tempfile.mkdtemp(prefix="esign-flow-cpu-"))
    env = {
        "ESIGN_DEV_MODE": "1",
        "ESIGN_DATABASE_URL": args.database_url or f"sqlite:///{tmp}/flow.db",
        "ESIGN_VAR_DIR": str(tmp),
        "ESIGN_LOG_LEVEL": "WARNING",
        "ESIGN_MAX_PENDING_PER_CLIENT_USER": "1000",
        "ESIGN_MAX_SESSIONS_PER_CLIENT_USER_PER_HOUR": "0",
    }
    sandbox = setup_sandbox(env, warm + n)
    import httpx
    from esign_server.app import create_app
    from esign_server.config import get_settings
    from esign_server.context import ServerContext
    from esign_server.services import otp

    ctx = ServerContext(get_settings())
    app = create_app(ctx=ctx)
    info = sandbox["keys"]["p256"]
    spent = {"create": 0.0, "confirm": 0.0, "fetch": 0.0}

    async def run() -> None:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://bench") as http:
            form = {"grant_type": "client_credentials", "client_id": sandbox["client_id"]}
            form["client_secret"] = sandbox["client_secret"]
            token = (await http.post("/oauth2/token", data=form)).json()["access_token"]
            relying_system = {"Authorization": f"Bearer {token}"}

            async def one(i: int, timed: bool) -> None:
                device_token, secret = info["devices"][i]
                digest = base64.b64encode(hashlib.sha256(str(i).encode()).digest()).decode()
                body = {"credential_id": info["credential_id"], "items": [{"name": "d.pdf", "digest": digest}]}
                t0 = time.process_time()
                created = await http.post("/api/sessions", headers=relying_system, json=body)
                assert created.status_code == 201, created.text
                sid = created.json()["id"]
                t1 = time.process_time()
                phone = {"Authorization": f"Bearer {device_token}"}
                code = otp.hotp(secret, otp.current_step())
                done = await http.post(f"/api/mobile/sessions/{sid}/confirm", json={"code": code}, headers=phone)
                assert done.status_code == 200, done.text
                t2 = time.process_time()
                fetched = await http.get(f"/api/sessions/{sid}", headers=relying_system)
                assert fetched.json()["signatures"], fetched.text
                t3 = time.process_time()
                if timed:
                    spent["create"] += t1 - t0
                    spent["confirm"] += t2 - t1
                    spent["fetch"] += t3 - t2

            for i in range(warm):
                await one(i, False)
            for i in range(warm, warm + n):
                await one(i, True)

    asyncio.run(run())
    per = {step: seconds / n * 1000 for step, seconds in spent.items()}
    steps = ", ".join(f"{step} {ms:.2f}" for step, ms in per.items())
    print(f"{ROOT}: CPU ms per session {sum(per.values()):.2f} (client included); {steps}")


if __name__ == "__main__":
    main()
