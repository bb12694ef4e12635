"""Session flow benchmark over real HTTP on loopback: create -> confirm (TOTP) -> fetch signature.

Beside it, in the same run and with the same client, a bare FastAPI endpoint that only signs a
hash with the same key type. Both servers run as one uvicorn worker on 127.0.0.1; the full flow
uses the SQLite database, the software keystore, the audit chain and one transaction per step.

    .venv/bin/python bench/server_flow.py [--sessions 400] [--quick] [--rounds 3]

Prints sessions/s and p50/p99 per flow at 1 and 16 concurrent clients, requests/s of the bare
endpoint, and the ratio (aim: full flow >= 30% of bare, p99 < 50 ms at 16 clients).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import aiohttp
import httpx
from pydantic import BaseModel

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "server"))


# --- the bare endpoint ------------------------------------------------------------------------


class SignRequest(BaseModel):
    """A SHA-256 digest, base64."""

    digest: str


def bare_app() -> Any:
    """A FastAPI app with one route: sign a SHA-256 digest with a key parsed once (ESIGN_BENCH_KEY)."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
    from cryptography.hazmat.primitives.asymmetric.utils import Prehashed
    from fastapi import FastAPI

    kind = os.environ.get("ESIGN_BENCH_KEY", "p256")
    key: Any = (
        ec.generate_private_key(ec.SECP256R1())
        if kind == "p256"
        else rsa.generate_private_key(public_exponent=65537, key_size=2048)
    )
    app = FastAPI()

    @app.post("/sign")
    def sign(body: SignRequest) -> dict[str, str]:
        digest = base64.b64decode(body.digest)
        if isinstance(key, rsa.RSAPrivateKey):
            sig = key.sign(digest, padding.PKCS1v15(), Prehashed(hashes.SHA256()))
        else:
            sig = key.sign(digest, ec.ECDSA(Prehashed(hashes.SHA256())))
        return {"signature": base64.b64encode(sig).decode()}

    return app


class BareAuthorize(BaseModel):
    """``credentials/authorize`` as the bare seal app reads it."""

    credentialID: str
    numSignatures: int
    hashes: list[str]
    hashAlgorithmOID: str | None = None


class BareSignHash(BaseModel):
    """``signatures/signHash`` as the bare seal app reads it."""

    credentialID: str
    SAD: str
    hashes: list[str]
    hashAlgorithmOID: str | None = None
    signAlgo: str


def bare_seal_app() -> Any:
    """The ceiling of a seal batch on stock parts: a FastAPI app with CSC ``authorize`` and
    ``signHash`` routes (``def`` routes in the thread pool, pydantic bodies, ``JSONResponse``) that keeps
    each SAD and its hashes in memory and signs with a key parsed once: no database, no token check,
    no audit. What the real server spends beyond this is its own."""
    import secrets
    import threading
    from collections import Counter

    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
    from cryptography.hazmat.primitives.asymmetric.utils import Prehashed
    from fastapi import FastAPI
    from fastapi.responses import JSONResponse

    kind = os.environ.get("ESIGN_BENCH_KEY", "p256")
    key: Any = (
        ec.generate_private_key(ec.SECP256R1())
        if kind == "p256"
        else rsa.generate_private_key(public_exponent=65537, key_size=2048)
    )
    prehashed = Prehashed(hashes.SHA256())
    ecdsa, pkcs1 = ec.ECDSA(prehashed), padding.PKCS1v15()
    sads: dict[str, Counter[bytes]] = {}
    lock = threading.Lock()
    app = FastAPI()

    @app.post("/csc/v2/oauth2/token")
    def token() -> dict[str, str]:
        return {"access_token": "bare", "token_type": "Bearer"}

    @app.post("/csc/v2/credentials/authorize")
    def authorize(body: BareAuthorize) -> JSONResponse:
        wanted = Counter(base64.b64decode(h) for h in body.hashes)
        sad = secrets.token_urlsafe(32)
        with lock:
            sads[sad] = wanted
        return JSONResponse({"SAD": sad, "expiresIn": 300})

    @app.post("/csc/v2/signatures/signHash")
    def sign_hash(body: BareSignHash) -> JSONResponse:
        digests = [base64.b64decode(h) for h in body.hashes]
        with lock:
            allowed = sads.pop(body.SAD, None)
        if allowed is None or Counter(digests) - allowed:
            return JSONResponse({"error": "invalid_request"}, status_code=400)
        if isinstance(key, rsa.RSAPrivateKey):
            signatures = [key.sign(d, pkcs1, prehashed) for d in digests]
        else:
            signatures = [key.sign(d, ecdsa) for d in digests]
        return JSONResponse({"signatures": [base64.b64encode(s).decode() for s in signatures]})

    return app


def start_bare_seal(env: dict[str, str], kind: str) -> tuple[subprocess.Popen[bytes], str]:
    """:func:`bare_seal_app` under one uvicorn worker, started as :func:`start_bare` starts its app."""
    port = free_port()
    cmd = [sys.executable, "-m", "uvicorn", "--factory", "bench.server_flow:bare_seal_app", "--port", str(port)]
    cmd += ["--log-level", "warning", "--no-access-log", "--http", "httptools", "--loop", "uvloop"]
    url = f"http://127.0.0.1:{port}"
    return start(cmd, {**env, "ESIGN_BENCH_KEY": kind}, url), url


# --- helpers ----------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start(cmd: list[str], env: dict[str, str], url: str) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    for _ in range(300):
        try:
            if httpx.get(url + "/health", timeout=1).status_code in (200, 404):
                return proc
        except httpx.TransportError:
            time.sleep(0.05)
    proc.kill()
    raise SystemExit(f"server did not start: {proc.stderr.read().decode() if proc.stderr else ''}")


_TICKS = os.sysconf("SC_CLK_TCK")


def tree_cpu(pid: int) -> float:
    """CPU seconds (user + system) used so far by process ``pid`` and its descendants (Linux /proc)."""
    stats: dict[int, tuple[int, float]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        stats[int(entry)] = (int(fields[1]), (int(fields[11]) + int(fields[12])) / _TICKS)
    total, todo = 0.0, [pid]
    while todo:
        current = todo.pop()
        total += stats.get(current, (0, 0.0))[1]
        todo.extend(child for child, (parent, _) in stats.items() if parent == current)
    return total


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


class Run:
    """One measurement: rate, latencies, and the CPU the server processes and this client used."""

    def __init__(self, rate: float, latencies: list[float], server_cpu: float, client_cpu: float, n: int) -> None:
        self.rate = rate
        self.latencies = latencies
        self.server_cpu_ms = server_cpu / n * 1000
        """Server CPU (all its processes) per unit of work, in ms: steady under a loaded machine."""
        self.client_cpu_ms = client_cpu / n * 1000
        self.steps: dict[str, list[float]] = {}
        """Latencies of each request of a session (create, confirm, fetch), for the per-request figures."""


async def drive(n: int, concurrency: int, one: Any, server_pid: int | None = None) -> Run:
    """Run ``one(i)`` n times with ``concurrency`` workers, measuring the server's CPU alongside."""
    latencies: list[float] = []
    counter = iter(range(n))

    async def worker() -> None:
        for i in counter:
            t0 = time.perf_counter()
            await one(i)
            latencies.append(time.perf_counter() - t0)

    cpu0 = tree_cpu(server_pid) if server_pid else 0.0
    client0 = time.process_time()
    start_time = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = time.perf_counter() - start_time
    client = time.process_time() - client0
    server = (tree_cpu(server_pid) - cpu0) if server_pid else 0.0
    return Run(n / elapsed, latencies, server, client, n)


def http_client(url: str, concurrency: int) -> aiohttp.ClientSession:
    """A keep-alive client with one connection per concurrent client (aiohttp: less CPU per request than
    httpx, which matters when client and server share two cores)."""
    connector = aiohttp.TCPConnector(limit=concurrency, force_close=False, enable_cleanup_closed=False)
    return aiohttp.ClientSession(base_url=url, connector=connector, timeout=aiohttp.ClientTimeout(total=30))


# --- the full flow ----------------------------------------------------------------------------


def verify_identity(ctx: Any, user: Any) -> None:
    """Record an in-person check of the user's CCCD: credentials are issued to verified users only."""
    try:
        from esign_server.services import identity
    except ImportError:  # a server from before identity verification
        return
    identity.record_verification(
        ctx, user_id=user.id, evidence=identity.InPersonDocument("CCCD", user.cccd), actor="bench"
    )


def setup_sandbox(env: dict[str, str], devices_per_key: int) -> dict[str, Any]:
    """Client, two users (P-256, RSA-2048) with credentials, and many active devices (one per session)."""
    os.environ.update(env)
    from esign_server.config import get_settings
    from esign_server.context import ServerContext
    from esign_server.crypto import token_hash
    from esign_server.db import migrate
    from esign_server.models import Device
    from esign_server.services import clients, credentials, devices, grants, otp, users
    from esign_server.services.pki import ensure_service_pki

    get_settings.cache_clear()
    settings = get_settings()
    migrate(settings.database_url)
    ensure_service_pki(settings.resolved_pki_dir, settings.pki_password, settings.public_url)
    ctx = ServerContext(settings)
    rp = clients.create_client(ctx, name="Bench", scopes=["sessions"], actor="bench")
    out: dict[str, Any] = {"client_id": rp.client.id, "client_secret": rp.client_secret, "keys": {}}
    for n, kind in enumerate(("p256", "rsa2048")):
        user = users.create_user(ctx, full_name=f"Bench {kind}", cccd=f"00109500000{n}", actor="bench")
        verify_identity(ctx, user)
        cred = credentials.issue_credential(ctx, user_id=user.id, key_algorithm=kind, actor="bench")
        grants.grant(ctx, client_id=rp.client.id, user_id=user.id, actor="bench")
        pool = []
        with ctx.db.write() as session:
            for _ in range(devices_per_key):
                device_id, token, secret = str(uuid.uuid4()), uuid.uuid4().hex, otp.new_secret()
                session.add(
                    Device(
                        id=device_id,
                        user_id=user.id,
                        name="bench",
                        status="active",
                        totp_secret_enc=ctx.sealer.seal(secret, devices.secret_aad(device_id)),
                        device_token_hash=token_hash(token),
                    )
                )
                pool.append((token, secret))
        out["keys"][kind] = {"credential_id": cred.id, "devices": pool}
    ctx.close()
    return out


async def flow_bench(
    url: str, sandbox: dict[str, Any], kind: str, n: int, concurrency: int, offset: int, server_pid: int | None = None
) -> Run:
    """``n`` whole sessions (create, confirm with a fresh TOTP code, fetch) from ``concurrency`` clients."""
    from esign_server.services import otp

    info = sandbox["keys"][kind]
    async with http_client(url, concurrency) as http:
        form = {"grant_type": "client_credentials", "client_id": sandbox["client_id"]}
        form["client_secret"] = sandbox["client_secret"]
        async with http.post("/oauth2/token", data=form) as response:
            token = (await response.json())["access_token"]
        rp = {"Authorization": f"Bearer {token}"}
        steps: dict[str, list[float]] = {"create": [], "confirm": [], "fetch": []}

        async def one(i: int) -> None:
            device_token, secret = info["devices"][offset + i]
            digest = hashlib.sha256(f"{kind}-{offset + i}".encode()).digest()
            body = {
                "credential_id": info["credential_id"],
                "items": [{"name": "doc.pdf", "digest": base64.b64encode(digest).decode()}],
            }
            t0 = time.perf_counter()
            async with http.post("/api/sessions", headers=rp, json=body) as created:
                sid = (await created.json())["id"]
            t1 = time.perf_counter()
            code = otp.hotp(secret, otp.current_step() + 1)
            device = {"Authorization": f"Bearer {device_token}"}
            async with http.post(f"/api/mobile/sessions/{sid}/confirm", json={"code": code}, headers=device) as done:
                if done.status != 200:
                    raise SystemExit(f"confirm failed: {await done.text()}")
                await done.read()
            t2 = time.perf_counter()
            async with http.get(f"/api/sessions/{sid}", headers=rp) as fetched:
                assert (await fetched.json())["signatures"]
            t3 = time.perf_counter()
            steps["create"].append(t1 - t0)
            steps["confirm"].append(t2 - t1)
            steps["fetch"].append(t3 - t2)

        run = await drive(n, concurrency, one, server_pid)
        run.steps = steps
        return run


async def bare_bench(url: str, n: int, concurrency: int, server_pid: int | None = None) -> Run:
    """``n`` requests to the bare signing endpoint from ``concurrency`` clients (after a short warm-up)."""
    body = {"digest": base64.b64encode(hashlib.sha256(b"x").digest()).decode()}
    async with http_client(url, concurrency) as http:

        async def one(i: int) -> None:
            async with http.post("/sign", json=body) as r:
                await r.read()
                assert r.status == 200

        await drive(50, concurrency, one)  # warm-up
        return await drive(n, concurrency, one, server_pid)


def start_bare(env: dict[str, str], kind: str, workers: int = 1) -> tuple[subprocess.Popen[bytes], str]:
    """The bare endpoint: uvicorn (httptools, uvloop, no access log) signing with a ``kind`` key; with
    ``workers`` > 1 under uvicorn's own process manager, as ``esign server run --workers N`` runs."""
    port = free_port()
    cmd = [sys.executable, "-m", "uvicorn", "--factory", "bench.server_flow:bare_app", "--port", str(port)]
    cmd += ["--log-level", "warning", "--no-access-log", "--http", "httptools", "--loop", "uvloop"]
    cmd += ["--workers", str(workers)]
    url = f"http://127.0.0.1:{port}"
    return start(cmd, {**env, "ESIGN_BENCH_KEY": kind}, url), url


def load_average() -> str:
    """The 1, 5 and 15 minute load averages, as the table's note shows them."""
    return " / ".join(f"{x:.2f}" for x in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=400, help="sessions per measurement")
    parser.add_argument("--quick", action="store_true", help="100 sessions per measurement")
    parser.add_argument("--database-url", help="an empty database (default: a fresh SQLite file)")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds of flow then bare")
    args = parser.parse_args()
    n = 100 if args.quick else args.sessions
    tmp = Path(tempfile.mkdtemp(prefix="esign-bench-"))
    port = free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("ESIGN_")},
        "ESIGN_DEV_MODE": "1",
        "ESIGN_DATABASE_URL": args.database_url or f"sqlite:///{tmp}/bench.db",
        "ESIGN_VAR_DIR": str(tmp),
        "ESIGN_PUBLIC_URL": f"http://127.0.0.1:{port}",
        "ESIGN_LOG_LEVEL": "WARNING",
        # Throughput, not the per-relying-system limits: one bench client asks one user very often.
        "ESIGN_MAX_PENDING_PER_CLIENT_USER": "1000",
        "ESIGN_MAX_SESSIONS_PER_CLIENT_USER_PER_HOUR": "0",
        "PYTHONPATH": os.pathsep.join((str(ROOT), str(ROOT / "server"))),
    }
    per_key = 2 * args.rounds * n + 30
    print(f"setting up ({2 * per_key} devices) ...", flush=True)
    sandbox = setup_sandbox(env, devices_per_key=per_key)
    esign = str(Path(sys.executable).parent / "esign")
    rows = []
    loads = [load_average()]
    for kind in ("p256", "rsa2048"):
        server = start([esign, "server", "run", "--port", str(port)], env, f"http://127.0.0.1:{port}")
        bare, bare_url = start_bare(env, kind)
        try:
            offset = 0
            asyncio.run(flow_bench(f"http://127.0.0.1:{port}", sandbox, kind, 20, 4, offset))  # warm-up
            offset += 20
            for concurrency in (1, 16):
                # Rounds of flow then bare, so a slower moment of the machine falls on both; the ratio
                # is taken within each round and its median reported.
                for _ in range(args.rounds):
                    flow = asyncio.run(
                        flow_bench(f"http://127.0.0.1:{port}", sandbox, kind, n, concurrency, offset, server.pid)
                    )
                    offset += n
                    plain = asyncio.run(bare_bench(bare_url, n * 3, concurrency, bare.pid))
                    rows.append((kind, concurrency, flow, plain))
                    loads.append(load_average())
        finally:
            server.terminate()
            bare.terminate()
            server.wait()
            bare.wait()
    print()
    print(
        "| key | clients | full flow sessions/s | flow p50 ms | flow p99 ms | bare sign req/s | bare p50 ms "
        "| bare p99 ms | flow/bare | server CPU ms per session | bare server CPU ms per request | flow/bare by CPU |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for kind, c, flow, plain in rows:
        fl, bl = flow.latencies, plain.latencies
        print(
            f"| {kind} | {c} | {flow.rate:,.0f} | {pct(fl, 0.5):.1f} | {pct(fl, 0.99):.1f} | {plain.rate:,.0f} "
            f"| {pct(bl, 0.5):.1f} | {pct(bl, 0.99):.1f} | {flow.rate / plain.rate:.0%} "
            f"| {flow.server_cpu_ms:.2f} | {plain.server_cpu_ms:.3f} | {plain.server_cpu_ms / flow.server_cpu_ms:.0%} |"
        )
    print()
    for kind in ("p256", "rsa2048"):
        for c in (1, 16):
            mine = [(f, b) for k, cc, f, b in rows if k == kind and cc == c]
            print(
                f"{kind}, {c} client(s), median over {len(mine)} rounds: flow = "
                f"{statistics.median(f.rate / b.rate for f, b in mine):.0%} of bare (aim 30%), by CPU "
                f"{statistics.median(b.server_cpu_ms / f.server_cpu_ms for f, b in mine):.0%}; session p99 "
                f"{statistics.median(pct(f.latencies, 0.99) for f, _ in mine):.1f} ms, request p99 "
                f"{statistics.median(pct([x for v in f.steps.values() for x in v], 0.99) for f, _ in mine):.1f} ms"
            )
    print("\nPer request of the flow (p50 / p99 ms):\n")
    print("| key | clients | create | confirm | fetch | all requests |")
    print("|---|---|---|---|---|---|")
    for kind, c, flow, _ in rows:
        every = [x for values in flow.steps.values() for x in values]
        cells = " | ".join(f"{pct(v, 0.5):.1f} / {pct(v, 0.99):.1f}" for v in flow.steps.values())
        print(f"| {kind} | {c} | {cells} | {pct(every, 0.5):.1f} / {pct(every, 0.99):.1f} |")
    print(
        "\n(one session = 3 HTTP requests: create, confirm, fetch. 'flow/bare by CPU' = bare server CPU per request"
        " / flow server CPU per session: the throughput ratio the two would reach, each given a core of its own."
        f" Client CPU per session {statistics.median([r[2].client_cpu_ms for r in rows]):.2f} ms,"
        f" per bare request {statistics.median([r[3].client_cpu_ms for r in rows]):.2f} ms."
        f" Load average (1/5/15 min) at the start and after each row: {'; '.join(loads)}.)"
    )


if __name__ == "__main__":
    main()
