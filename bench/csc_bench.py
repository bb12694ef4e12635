"""CSC ``signatures/signHash`` benchmark over real HTTP on loopback, beside a bare signing endpoint.

Each signHash request is the whole server path: bearer-token check, SAD lookup, conditional
``UPDATE``\\s that spend the SAD and the authorized hash, credential read, keystore signature, audit
event appended to the hash chain, and the database commit. The SADs are obtained before the
measurement through the real flow (``credentials/authorize`` without OTP, confirmation with a TOTP
code, ``credentials/authorizeCheck``), one SAD per client covering all the hashes it will sign.

Beside it, in the same run, with the same HTTP client: a bare FastAPI endpoint that only signs a hash
with a key of the same type (one uvicorn worker). The service runs with ``esign server run`` and
``--workers 1`` then ``--workers 2`` (uvicorn's process manager: two workers share the listening socket).

    .venv/bin/python bench/csc_bench.py [--requests 2000] [--keys p256,rsa2048] [--quick]
        [--database-url postgresql://postgres@127.0.0.1:5432/test]

Aim: one worker >= 50% of the bare endpoint's requests/s; two workers >= 1.7x one worker.

With ``--seal-batches`` (issue 23): an organization seal, one ``esign server run`` process, clients that
each repeat ``credentials/authorize`` + ``signatures/signHash`` of 100 hashes, interleaved with the raw
``cryptography`` signing floors measured in the same run (one thread, one thread per core, one process
per core); prints signatures/s against the floor that matches how the server signed, server CPU per
signature and the server CPU a batch spends outside the signatures::

    .venv/bin/python bench/csc_bench.py --seal-batches --keys p256,rsa2048 --seconds 3 --rounds 2 \
        [--database-url postgresql://postgres@127.0.0.1:5432/test]   # a fresh database is made and dropped

Aims: RSA-2048 >= 85% of the matching floor; ECDSA P-256 >= 50% of the one-thread floor.

The client is ``wrk`` (``--client wrk``, the default when it is installed: C, a few microseconds of
CPU per request, so on two cores the servers get the cores) or, with ``--client aiohttp``, an
aiohttp session in this process. With wrk each thread reads its own file of (SAD, hash) bodies and
sends each once; both the bare endpoint and signHash are driven the same way for ``--seconds``.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import json
import os
import shutil
import statistics
import sys
import tempfile
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "server"))

from bench.server_flow import (  # noqa: E402
    Run,
    bare_bench,
    drive,
    free_port,
    http_client,
    load_average,
    pct,
    start,
    start_bare,
    start_bare_seal,
    tree_cpu,
    verify_identity,
)
from bench.wrk import WrkRun  # noqa: E402
from bench.wrk import run as wrk_run  # noqa: E402

ALGOS = {"p256": "1.2.840.10045.4.3.2", "rsa2048": "1.2.840.113549.1.1.11"}


def setup(env: dict[str, str], kinds: list[str]) -> tuple[Any, dict[str, Any]]:
    """Migrate, make the CA, a CSC relying system, and per key type a user with a credential."""
    os.environ.update(env)
    from esign_server.config import get_settings
    from esign_server.context import ServerContext
    from esign_server.db import migrate
    from esign_server.services import clients, credentials, grants, users
    from esign_server.services.pki import ensure_service_pki

    get_settings.cache_clear()
    settings = get_settings()
    migrate(settings.database_url)
    ensure_service_pki(settings.resolved_pki_dir, settings.pki_password, settings.public_url)
    ctx = ServerContext(settings)
    rp = clients.create_client(ctx, name="CSC bench", scopes=["csc"], actor="bench")
    out: dict[str, Any] = {"client_id": rp.client.id, "client_secret": rp.client_secret, "keys": {}}
    for n, kind in enumerate(kinds):
        user = users.create_user(ctx, full_name=f"Bench {kind}", cccd=f"00109600000{n}", actor="bench")
        verify_identity(ctx, user)
        cred = credentials.issue_credential(ctx, user_id=user.id, key_algorithm=kind, actor="bench")
        grants.grant(ctx, client_id=rp.client.id, user_id=user.id, actor="bench")
        out["keys"][kind] = {"credential_id": cred.id, "user_id": user.id}
    return ctx, out


def new_device(ctx: Any, user_id: str) -> tuple[Any, bytes]:
    """An active device with a fresh TOTP secret (a fresh replay history: one SAD per device)."""
    from esign_server.crypto import token_hash
    from esign_server.db import utcnow
    from esign_server.models import Device
    from esign_server.services import devices, otp

    device_id, secret = str(uuid.uuid4()), otp.new_secret()
    with ctx.db.write() as session:
        device = Device(
            id=device_id,
            user_id=user_id,
            name="bench",
            status="active",
            totp_secret_enc=ctx.sealer.seal(secret, devices.secret_aad(device_id)),
            device_token_hash=token_hash(uuid.uuid4().hex),
            activated_at=utcnow(),
        )
        session.add(device)
    return device, secret


def make_sads(ctx: Any, sandbox: dict[str, Any], kind: str, clients: int, per_client: int, tag: str) -> list[Any]:
    """One SAD per client over ``per_client`` distinct hashes, through authorize -> phone -> authorizeCheck."""
    from esign_server.services import csc, otp
    from esign_server.services import sessions as session_service

    from esign.algorithms import DigestAlgorithm

    info = sandbox["keys"][kind]
    result = []
    for c in range(clients):
        digests = [hashlib.sha256(f"{tag}-{kind}-{c}-{i}".encode()).digest() for i in range(per_client)]
        device, secret = new_device(ctx, info["user_id"])
        pending = csc.authorize(
            ctx,
            client_id=sandbox["client_id"],
            credential_id=info["credential_id"],
            hashes=digests,
            hash_algorithm=DigestAlgorithm.SHA256,
        )
        auth = csc._authorization(ctx, sandbox["client_id"], pending.authorization_id)
        session_service.confirm(
            ctx, device=device, session_id=auth.session_id, code=otp.hotp(secret, otp.current_step())
        )
        authorized = csc.authorize_check(ctx, client_id=sandbox["client_id"], authorization_id=auth.id)
        result.append((authorized.sad, digests))
    return result


async def sign_hash_bench(
    url: str, sandbox: dict[str, Any], kind: str, sads: list[Any], server_pid: int | None = None
) -> Run:
    """Each client signs its hashes one signHash request at a time."""
    info = sandbox["keys"][kind]
    concurrency = len(sads)
    async with http_client(url, concurrency) as http:
        form = {"grant_type": "client_credentials", "client_id": sandbox["client_id"]}
        form["client_secret"] = sandbox["client_secret"]
        async with http.post("/csc/v2/oauth2/token", data=form) as response:
            token = (await response.json())["access_token"]
        headers = {"Authorization": f"Bearer {token}"}
        work = [(sad, digest) for sad, digests in sads for digest in digests]
        # Client c takes requests c, c + concurrency, ...: each keeps to its own SAD's hashes.
        by_client = {
            c: iter(work[c * (len(work) // concurrency) : (c + 1) * (len(work) // concurrency)])
            for c in range(concurrency)
        }

        async def one(i: int) -> None:
            sad, digest = next(by_client[i % concurrency])
            body = {
                "credentialID": info["credential_id"],
                "SAD": sad,
                "hashes": [base64.b64encode(digest).decode()],
                "hashAlgorithmOID": "2.16.840.1.101.3.4.2.1",
                "signAlgo": ALGOS[kind],
            }
            async with http.post("/csc/v2/signatures/signHash", headers=headers, json=body) as response:
                if response.status != 200:
                    raise SystemExit(f"signHash failed: {await response.text()}")
                await response.read()

        return await drive(len(work), concurrency, one, server_pid)


def sign_hash_body(credential_id: str, kind: str, sad: str, digest: bytes) -> bytes:
    """One signHash request body (CSC v2 field names)."""
    return json.dumps(
        {
            "credentialID": credential_id,
            "SAD": sad,
            "hashes": [base64.b64encode(digest).decode()],
            "hashAlgorithmOID": "2.16.840.1.101.3.4.2.1",
            "signAlgo": ALGOS[kind],
        },
        separators=(",", ":"),
    ).encode()


def access_token(url: str, sandbox: dict[str, Any]) -> str:
    """A CSC access token for the bench's relying system."""
    import httpx

    form = {"grant_type": "client_credentials", "client_id": sandbox["client_id"]}
    form["client_secret"] = sandbox["client_secret"]
    return str(httpx.post(f"{url}/csc/v2/oauth2/token", data=form).json()["access_token"])


class WrkRow:
    """A wrk measurement with the server CPU it took."""

    def __init__(self, run: WrkRun, server_cpu: float) -> None:
        self.run = run
        self.server_cpu_ms = server_cpu / max(1, run.requests) * 1000


def wrk_measure(url: str, bodies: list[list[bytes]], connections: int, seconds: float, pid: int, **kw: Any) -> WrkRow:
    """One wrk run with the server's CPU (all its processes) read around it."""
    cpu0 = tree_cpu(pid)
    run = wrk_run(url, bodies, connections=connections, seconds=seconds, **kw)
    return WrkRow(run, tree_cpu(pid) - cpu0)


def wrk_sign_hash(
    url: str, ctx: Any, sandbox: dict[str, Any], kind: str, connections: int, seconds: float, pid: int, tag: str
) -> WrkRow:
    """signHash under wrk: enough fresh (SAD, hash) bodies for ``seconds`` at up to 5,000 requests/s."""
    threads = 1 if connections == 1 else 2
    per_thread = int(5000 * seconds / threads) + 1
    per_sad = 5000
    sads_per_thread = -(-per_thread // per_sad)
    bodies: list[list[bytes]] = []
    credential_id = sandbox["keys"][kind]["credential_id"]
    for t in range(threads):
        pairs = make_sads(ctx, sandbox, kind, sads_per_thread, per_sad, f"{tag}-t{t}")
        bodies.append([sign_hash_body(credential_id, kind, sad, d) for sad, digests in pairs for d in digests])
    headers = {"Authorization": f"Bearer {access_token(url, sandbox)}"}
    return wrk_measure(f"{url}/csc/v2/signatures/signHash", bodies, connections, seconds, pid, headers=headers)


def wrk_bare(url: str, connections: int, seconds: float, pid: int) -> WrkRow:
    """The bare endpoint under wrk, the same way (one body per line, sent in turn)."""
    body = json.dumps({"digest": base64.b64encode(hashlib.sha256(b"x").digest()).decode()}).encode()
    threads = 1 if connections == 1 else 2
    bodies = [[body] * 1000 for _ in range(threads)]
    return wrk_measure(f"{url}/sign", bodies, connections, seconds, pid)


def main_wrk(args: argparse.Namespace, kinds: list[str], env: dict[str, str], url: str, port: int) -> None:
    """The measurements with wrk as the client, in interleaved rounds; prints Markdown tables.

    The bare endpoint, the service with one worker and the service with two workers run side by side
    (the same database); each round measures the three in turn, so a slower or faster moment of the
    machine falls on all three, and each ratio is taken within a round (median over the rounds).
    """
    ctx, sandbox = setup(env, kinds)
    esign = str(Path(sys.executable).parent / "esign")
    port2 = free_port()
    url2 = f"http://127.0.0.1:{port2}"
    results: list[tuple[str, int, int, WrkRow, WrkRow, WrkRow, WrkRow]] = []
    loads = [load_average()]
    for kind in kinds:
        bare, bare_url = start_bare(env, kind)
        bare2, bare2_url = start_bare(env, kind, workers=2)
        one = start([esign, "server", "run", "--port", str(port), "--workers", "1"], env, url)
        two = start([esign, "server", "run", "--port", str(port2), "--workers", "2"], env, url2)
        try:
            wrk_bare(bare_url, 16, 1, bare.pid)  # warm-up
            wrk_bare(bare2_url, 16, 1, bare2.pid)
            wrk_sign_hash(url, ctx, sandbox, kind, 16, 1, one.pid, "warm1")
            wrk_sign_hash(url2, ctx, sandbox, kind, 16, 1, two.pid, "warm2")
            for connections in (1, 16):
                for n in range(args.rounds):
                    tag = f"c{connections}r{n}"
                    plain = wrk_bare(bare_url, connections, args.seconds, bare.pid)
                    run1 = wrk_sign_hash(url, ctx, sandbox, kind, connections, args.seconds, one.pid, f"{tag}w1")
                    run2 = wrk_sign_hash(url2, ctx, sandbox, kind, connections, args.seconds, two.pid, f"{tag}w2")
                    plain2 = wrk_bare(bare2_url, connections, args.seconds, bare2.pid)
                    results.append((kind, connections, n, plain, run1, run2, plain2))
                    loads.append(load_average())
        finally:
            for process in (bare, bare2, one, two):
                process.terminate()
                process.wait()
    ctx.close()
    print()
    print(
        "| key | clients | round | bare req/s | bare p50 / p99 ms | signHash 1 worker req/s | p50 / p99 ms "
        "| signHash 2 workers req/s | p50 / p99 ms | 1 worker / bare | 2 workers / 1 worker "
        "| bare 2 workers req/s | bare 2 workers / 1 worker "
        "| server CPU ms per request: bare / 1 worker / 2 workers |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for kind, c, n, plain, run1, run2, plain2 in results:
        b, r1, r2, b2 = plain.run, run1.run, run2.run, plain2.run
        if r1.refused or r2.refused:
            raise SystemExit(f"signHash refused {r1.refused + r2.refused} requests: the measurement is void")
        print(
            f"| {kind} | {c} | {n + 1} | {b.rate:,.0f} | {b.p50_ms:.2f} / {b.p99_ms:.2f} | {r1.rate:,.0f} "
            f"| {r1.p50_ms:.2f} / {r1.p99_ms:.2f} | {r2.rate:,.0f} | {r2.p50_ms:.2f} / {r2.p99_ms:.2f} "
            f"| {r1.rate / b.rate:.0%} | {r2.rate / r1.rate:.2f}x | {b2.rate:,.0f} | {b2.rate / b.rate:.2f}x "
            f"| {plain.server_cpu_ms:.3f} / {run1.server_cpu_ms:.3f} / {run2.server_cpu_ms:.3f} |"
        )
    print()
    for kind in kinds:
        for c in (1, 16):
            mine = [(p.run, r1.run, r2.run, p2.run) for k, cc, _, p, r1, r2, p2 in results if k == kind and cc == c]
            print(
                f"{kind}, {c} client(s), median over {len(mine)} rounds: one worker = "
                f"{statistics.median(r1.rate / b.rate for b, r1, _, _ in mine):.0%} of bare (aim 50%); two workers = "
                f"{statistics.median(r2.rate / r1.rate for _, r1, r2, _ in mine):.2f}x one worker (aim 1.7x); "
                f"the bare endpoint itself: two workers = "
                f"{statistics.median(b2.rate / b.rate for b, _, _, b2 in mine):.2f}x one worker"
            )
    print(
        f"\n(client: wrk, {args.seconds:g} s per measurement; every signHash answer was 2xx. "
        f"Load average (1/5/15 min) at the start and after each round: {'; '.join(loads)}.)"
    )


# --- Organization seal batches (issue 23) -------------------------------------------------------------
SEAL_TAX_CODES = {"p256": "5700100256", "rsa2048": "0312345673"}


def seal_setup(env: dict[str, str], kinds: list[str]) -> tuple[Any, dict[str, Any]]:
    """Migrate; a CSC relying system; per key type an organization whose credential is a seal for it."""
    os.environ.update(env)
    from esign_server.config import get_settings
    from esign_server.context import ServerContext
    from esign_server.db import migrate
    from esign_server.services import clients, credentials, identity, seals, users
    from esign_server.services.pki import ensure_service_pki

    get_settings.cache_clear()
    settings = get_settings()
    migrate(settings.database_url)
    ensure_service_pki(settings.resolved_pki_dir, settings.pki_password, settings.public_url)
    ctx = ServerContext(settings)
    rp = clients.create_client(ctx, name="E-invoice issuer", scopes=["csc"], actor="bench")
    out: dict[str, Any] = {"client_id": rp.client.id, "client_secret": rp.client_secret, "keys": {}}
    for kind in kinds:
        tax_code = SEAL_TAX_CODES[kind]
        org = users.create_user(ctx, full_name=f"Org {kind}", tax_code=tax_code, actor="bench")
        identity.record_verification(
            ctx, user_id=org.id, evidence=identity.InPersonDocument("BRN", tax_code), actor="bench"
        )
        cred = credentials.issue_credential(ctx, user_id=org.id, key_algorithm=kind, actor="bench")
        # Limits far above the bench's rate: the checks run (and cost) as in production, never refuse.
        seals.set_policy(
            ctx,
            credential_id=cred.id,
            clients=[rp.client.id],
            per_minute=10_000_000,
            per_day=1_000_000_000,
            max_hashes_per_call=100,
            actor="bench",
        )
        out["keys"][kind] = {"credential_id": cred.id}
    return ctx, out


def _floor_worker(kind: str, seconds: float) -> tuple[int, float]:
    """Signatures made in ``seconds`` with ``cryptography`` on one thread (prehashed SHA-256, as the
    keystore), and the CPU seconds that thread used (on a shared machine wall time overstates the cost)."""
    import time

    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
    from cryptography.hazmat.primitives.asymmetric.utils import Prehashed

    key: Any = (
        rsa.generate_private_key(public_exponent=65537, key_size=2048)
        if kind == "rsa2048"
        else ec.generate_private_key(ec.SECP256R1())
    )
    digest = hashlib.sha256(b"floor").digest()
    prehashed = Prehashed(hashes.SHA256())

    def sign() -> bytes:
        if kind == "rsa2048":
            return bytes(key.sign(digest, padding.PKCS1v15(), prehashed))
        return bytes(key.sign(digest, ec.ECDSA(prehashed)))

    count, end, cpu0 = 0, time.perf_counter() + seconds, time.thread_time()
    while time.perf_counter() < end:
        for _ in range(20):
            sign()
        count += 20
    return count, time.thread_time() - cpu0


def signing_floors(kind: str, seconds: float) -> dict[str, float]:
    """Signatures/s of ``cryptography``: one thread; one thread per core in one process (as the server's
    thread pool signs: the GIL is released while OpenSSL signs); one process per core."""
    from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor

    cores = os.cpu_count() or 1
    count, cpu = _floor_worker(kind, seconds)
    with ThreadPoolExecutor(cores) as pool:
        threads = sum(n for n, _ in pool.map(_floor_worker, [kind] * cores, [seconds] * cores)) / seconds
    with ProcessPoolExecutor(cores) as procs:
        processes = sum(n for n, _ in procs.map(_floor_worker, [kind] * cores, [seconds] * cores)) / seconds
    return {"single": count / seconds, "threads": threads, "processes": processes, "cpu_us": cpu / count * 1e6}


def seal_batches(
    url: str, sandbox: dict[str, Any], kind: str, clients: int, seconds: float, pid: int, batch: int = 100
) -> dict[str, float]:
    """``clients`` threads each repeat authorize(``batch`` hashes) + signHash(``batch`` hashes) for ``seconds``."""
    import threading
    import time

    import httpx

    credential_id = sandbox["keys"][kind]["credential_id"]
    token = access_token(url, sandbox)
    headers = {"Authorization": f"Bearer {token}"}
    done = [0] * clients
    failures: list[str] = []
    start_line = threading.Barrier(clients + 1)
    stop_at = [0.0]

    def client(n: int) -> None:
        with httpx.Client(base_url=url, headers=headers, timeout=60) as http:
            i = 0
            start_line.wait()
            while time.perf_counter() < stop_at[0]:
                hashes = [
                    base64.b64encode(hashlib.sha256(f"{kind}-{n}-{i}-{j}".encode()).digest()).decode()
                    for j in range(batch)
                ]
                i += 1
                body = {"credentialID": credential_id, "numSignatures": batch, "hashes": hashes}
                authorized = http.post("/csc/v2/credentials/authorize", json={**body, "hashAlgorithmOID": SHA256})
                if authorized.status_code != 200:
                    failures.append(authorized.text)
                    return
                signed = http.post(
                    "/csc/v2/signatures/signHash",
                    json={
                        "credentialID": credential_id,
                        "SAD": authorized.json()["SAD"],
                        "hashes": hashes,
                        "hashAlgorithmOID": SHA256,
                        "signAlgo": ALGOS[kind],
                    },
                )
                if signed.status_code != 200 or len(signed.json()["signatures"]) != batch:
                    failures.append(signed.text)
                    return
                done[n] += batch

    threads = [threading.Thread(target=client, args=(n,)) for n in range(clients)]
    for thread in threads:
        thread.start()
    cpu0, own0 = tree_cpu(pid), time.process_time()
    stop_at[0] = time.perf_counter() + seconds
    began = time.perf_counter()
    start_line.wait()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - began
    server_cpu, client_cpu = tree_cpu(pid) - cpu0, time.process_time() - own0
    if failures:
        raise SystemExit(f"a seal batch failed: {failures[0][:300]}")
    signatures = sum(done)
    return {
        "rate": signatures / wall,
        "signatures": signatures,
        "server_cpu_ms_per_sig": server_cpu / max(1, signatures) * 1000,
        "server_cores": server_cpu / wall,
        "client_cores": client_cpu / wall,
    }


SHA256 = "2.16.840.1.101.3.4.2.1"


def fresh_postgres(url: str) -> tuple[str, Any]:
    """A new empty database on the PostgreSQL server of ``url``; (its URL, a function that drops it)."""
    import psycopg

    name = f"esign_bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')

    def drop() -> None:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    return f"{url.rpartition('/')[0]}/{name}", drop


def main_seal(args: argparse.Namespace, kinds: list[str], env: dict[str, str], url: str, port: int) -> None:
    """Seal batches against one ``esign server run`` process, interleaved with the signing floors."""
    ctx, sandbox = seal_setup(env, kinds)
    esign = str(Path(sys.executable).parent / "esign")
    server = start([esign, "server", "run", "--port", str(port), "--workers", "1"], env, url)
    rows = []
    loads = [load_average()]
    bares: dict[str, Any] = {}
    try:
        for kind in kinds:
            bare, bare_url = bares[kind] = start_bare_seal(env, kind)
            seal_batches(url, sandbox, kind, args.clients, 1.0, server.pid)  # warm-up: keys, pools, plans
            seal_batches(bare_url, sandbox, kind, args.clients, 1.0, bare.pid)
            for n in range(args.rounds):
                floors = signing_floors(kind, args.floor_seconds)
                run = seal_batches(url, sandbox, kind, args.clients, args.seconds, server.pid)
                ceiling = seal_batches(bare_url, sandbox, kind, args.clients, args.seconds, bare.pid)
                rows.append((kind, n, floors, run, ceiling))
                loads.append(load_average())
    finally:
        for process in (server, *(b for b, _ in bares.values())):
            process.terminate()
            process.wait()
        ctx.close()
    database = "PostgreSQL" if env["ESIGN_DATABASE_URL"].startswith("postgres") else "SQLite"
    print(f"\nSeal batches ({database}, one server process, {args.clients} clients, 100 hashes per call)\n")
    print(
        "| key | round | signatures/s | floor 1 thread | floor threads (all cores) | floor processes (all cores) "
        "| server cores used | matching floor | rate / matching floor | rate / 1-thread floor "
        "| server CPU µs per signature | floor CPU µs per signature | by CPU: floor / server "
        "| server CPU ms per batch outside signing | bare stock app signatures/s | its CPU µs per signature "
        "| bare / 1-thread floor |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    summary: dict[str, list[tuple[float, float, float]]] = {}
    ceilings: dict[str, list[float]] = {}
    for kind, n, floors, run, ceiling in rows:
        # The server signs in its thread pool: on more than one core its floor is the threads floor.
        matching = "threads" if run["server_cores"] > 1.2 else "single"
        ratio = run["rate"] / floors[matching]
        server_us = run["server_cpu_ms_per_sig"] * 1000
        outside_ms = (server_us - floors["cpu_us"]) * 100 / 1000
        by_cpu = floors["cpu_us"] / server_us
        summary.setdefault(kind, []).append((ratio, run["rate"] / floors["single"], by_cpu))
        print(
            f"| {kind} | {n + 1} | {run['rate']:,.0f} | {floors['single']:,.0f} | {floors['threads']:,.0f} "
            f"| {floors['processes']:,.0f} | {run['server_cores']:.2f} | {matching} | {ratio:.0%} "
            f"| {run['rate'] / floors['single']:.0%} | {server_us:.1f} | {floors['cpu_us']:.1f} | {by_cpu:.0%} "
            f"| {outside_ms:.2f} | {ceiling['rate']:,.0f} | {ceiling['server_cpu_ms_per_sig'] * 1000:.1f} "
            f"| {ceiling['rate'] / floors['single']:.0%} |"
        )
        ceilings.setdefault(kind, []).append(ceiling["rate"] / floors["single"])
    print()
    for kind, ratios in summary.items():
        print(
            f"{kind}: median rate / matching floor = {statistics.median(r for r, _, _ in ratios):.0%}, "
            f"rate / single-core floor = {statistics.median(s for _, s, _ in ratios):.0%}, "
            f"by CPU (floor CPU per signature / server CPU per signature) = "
            f"{statistics.median(c for _, _, c in ratios):.0%} "
            f"(aims: RSA-2048 >= 85% of the matching floor, P-256 >= 50% of the single-core floor); "
            f"the bare stock app (no database): {statistics.median(ceilings[kind]):.0%} of the single-core floor"
        )
    print(
        f"\n(client: {args.clients} httpx threads in this process; {args.seconds:g} s per measurement, "
        f"floors {args.floor_seconds:g} s; load average (1/5/15 min) at the start and after each round: "
        f"{'; '.join(loads)}. The machine is shared: other work may run during a round.)"
    )


def main() -> None:
    """Run the measurements and print a Markdown table."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000, help="signHash requests per measurement")
    parser.add_argument("--keys", default="p256", help="comma-separated: p256, rsa2048")
    parser.add_argument("--quick", action="store_true", help="400 requests per measurement")
    parser.add_argument("--database-url", default=None, help="default: a SQLite file in a temporary directory")
    parser.add_argument(
        "--client",
        choices=("wrk", "aiohttp"),
        default="wrk" if shutil.which("wrk") else "aiohttp",
        help="load generator",
    )
    parser.add_argument("--seconds", type=float, default=3.0, help="length of each wrk measurement")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds (wrk client)")
    parser.add_argument(
        "--seal-batches", action="store_true", help="organization seal: authorize + signHash of 100 hashes per call"
    )
    parser.add_argument("--clients", type=int, default=4, help="concurrent clients (--seal-batches)")
    parser.add_argument("--floor-seconds", type=float, default=1.0, help="length of each floor measurement")
    args = parser.parse_args()
    n = 400 if args.quick else args.requests
    kinds = [k.strip() for k in args.keys.split(",") if k.strip()]
    tmp = Path(tempfile.mkdtemp(prefix="esign-csc-bench-"))
    port = free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("ESIGN_")},
        "ESIGN_DEV_MODE": "1",
        "ESIGN_DATABASE_URL": args.database_url or f"sqlite:///{tmp}/bench.db",
        "ESIGN_VAR_DIR": str(tmp),
        "ESIGN_PUBLIC_URL": f"http://127.0.0.1:{port}",
        "ESIGN_LOG_LEVEL": "WARNING",
        "ESIGN_MAX_ITEMS_PER_SESSION": "10000",
        # Throughput, not the per-relying-system limits: one bench client asks one user very often.
        "ESIGN_MAX_PENDING_PER_CLIENT_USER": "1000",
        "ESIGN_MAX_SESSIONS_PER_CLIENT_USER_PER_HOUR": "0",
        "PYTHONPATH": os.pathsep.join((str(ROOT), str(ROOT / "server"))),
    }
    url = f"http://127.0.0.1:{port}"
    if args.seal_batches:
        drop = None
        if args.database_url and args.database_url.startswith("postgres"):
            env["ESIGN_DATABASE_URL"], drop = fresh_postgres(args.database_url)
        try:
            main_seal(args, kinds, env, url, port)
        finally:
            if drop is not None:
                drop()
        return
    if args.client == "wrk":
        main_wrk(args, kinds, env, url, port)
        return
    ctx, sandbox = setup(env, kinds)
    esign = str(Path(sys.executable).parent / "esign")
    rows = []
    loads = [load_average()]
    for kind in kinds:
        bare, bare_url = start_bare(env, kind)
        try:
            for workers in (1, 2):
                server = start([esign, "server", "run", "--port", str(port), "--workers", str(workers)], env, url)
                try:
                    warm = make_sads(ctx, sandbox, kind, 4, 25, f"warm{workers}")
                    asyncio.run(sign_hash_bench(url, sandbox, kind, warm))
                    for concurrency in (1, 16):
                        sads = make_sads(ctx, sandbox, kind, concurrency, n // concurrency, f"w{workers}c{concurrency}")
                        run = asyncio.run(sign_hash_bench(url, sandbox, kind, sads, server.pid))
                        plain = asyncio.run(bare_bench(bare_url, n, concurrency, bare.pid))
                        rows.append((kind, workers, concurrency, run, plain))
                        loads.append(load_average())
                finally:
                    server.terminate()
                    server.wait()
        finally:
            bare.terminate()
            bare.wait()
    ctx.close()
    print()
    print(
        "| key | workers | clients | signHash req/s | p50 ms | p99 ms | bare req/s (1 worker) | bare p50 ms "
        "| bare p99 ms | signHash/bare | server CPU ms per signHash | bare server CPU ms per request "
        "| signHash/bare by CPU |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for kind, w, c, run, plain in rows:
        lat, bare_lat = run.latencies, plain.latencies
        print(
            f"| {kind} | {w} | {c} | {run.rate:,.0f} | {pct(lat, 0.5):.1f} | {pct(lat, 0.99):.1f} | {plain.rate:,.0f} "
            f"| {pct(bare_lat, 0.5):.1f} | {pct(bare_lat, 0.99):.1f} | {run.rate / plain.rate:.0%} "
            f"| {run.server_cpu_ms:.2f} | {plain.server_cpu_ms:.3f} | {plain.server_cpu_ms / run.server_cpu_ms:.0%} |"
        )
    for kind in kinds:
        one = {c: r.rate for k, w, c, r, _ in rows if k == kind and w == 1}
        two = {c: r.rate for k, w, c, r, _ in rows if k == kind and w == 2}
        print(f"{kind}: two workers / one worker at 16 clients = {two[16] / one[16]:.2f}x")
    print(
        "('by CPU' = bare server CPU per request / signHash server CPU per request: the throughput ratio each "
        f"would reach with a core of its own. Load average (1/5/15 min) at the start and after each row: "
        f"{'; '.join(loads)}.)"
    )


if __name__ == "__main__":
    main()
