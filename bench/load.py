"""Load, with faults if asked: many relying systems and users at once against a real server on 127.0.0.1.

    .venv/bin/python bench/load.py --duration 180                         # SQLite, 1 worker
    .venv/bin/python bench/load.py --duration 180 --workers 2 \\
        --database-url postgresql://postgres@127.0.0.1:5432/test           # a fresh database is made
    .venv/bin/python bench/load.py --duration 60 --kill-every 8            # SIGKILL + restart
    .venv/bin/python bench/load.py --duration 60 --workers 2 --cut-db-every 8 \\
        --database-url postgresql://postgres@127.0.0.1:5432/test           # cut PostgreSQL links
    .venv/bin/python bench/load.py --duration 30 --processes 2 --kill-every 15 \
        --database-url postgresql://postgres@127.0.0.1:5432/test           # nginx + 2 processes, kill one

The server runs as ``esign server run --workers N`` in a child process; the people (relying
systems, users with credentials, phones paired with a first TOTP code) are made through the
server's services first. Then ``--concurrency`` client tasks mix, until ``--duration`` ends:
session create (with an Idempotency-Key; sometimes sent twice) -> the phone reads it -> confirm
with a TOTP code computed by pyotp (every 25th also by ``oathtool``, which must agree) -> the
relying system fetches and verifies the signatures; a wrong code first (provoked 400); phone
rejects; the system cancels; sessions left to expire; another system's and another user's probes
(provoked 404); CSC authorize -> phone -> authorizeCheck -> signHash, then the spent SAD again
(provoked 400); organization identifier lookups; token requests. Every answer is classified:
expected, provoked 4xx, retryable (503 with Retry-After, 409 after a retry, connection refused
while the server is down), or unexpected. Afterwards the database is checked
(:mod:`bench.load_check`) and the audit chain verified. Exit status 0 only if nothing unexpected
happened and every invariant holds. Bounded: the run stops by itself after ``--duration`` plus a
settling time of at most ``--settle`` seconds.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import json
import os
import random
import statistics
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "server")]

from bench.load_check import DatabaseReport, check_database, verify_signature  # noqa: E402
from bench.load_sandbox import Holder, Phone, RelyingParty, Sandbox, build_sandbox  # noqa: E402
from bench.load_server import ServerGroup, ServerProcess, TcpProxy, free_port, server_env  # noqa: E402

SHA256_OID = "2.16.840.1.101.3.4.2.1"
SIGN_OIDS = {"p256": "1.2.840.10045.4.3.2", "rsa2048": "1.2.840.113549.1.1.11"}
RETRYABLE_STATUS = (502, 503, 504)
SCENARIOS: dict[str, int] = {
    "confirm": 34,
    "wrong_code_then_confirm": 8,
    "replayed_key": 5,
    "reject": 5,
    "cancel": 5,
    "expire": 2,
    "probe": 5,
    "csc": 14,
    "orgid": 18,
    "token": 4,
}
"""Relative weights of what a client task does next."""


class Unexpected(Exception):
    """An answer that is neither expected, nor provoked, nor retryable: the run fails."""


@dataclass
class LoadStats:
    """What the clients saw."""

    latencies: dict[str, list[float]] = field(default_factory=dict)
    provoked: Counter[str] = field(default_factory=Counter)
    retryable: Counter[str] = field(default_factory=Counter)
    unexpected: list[str] = field(default_factory=list)
    scenarios: Counter[str] = field(default_factory=Counter)
    signed: dict[str, list[str]] = field(default_factory=dict)
    """Session id -> the signatures the relying system was given."""
    planned: dict[str, str] = field(default_factory=dict)
    """Session id -> the final state the script drove it to."""
    csc_signatures: int = 0
    signatures_verified: int = 0
    oathtool_checked: int = 0
    requests: int = 0
    elapsed: float = 0.0

    def summary(self) -> dict[str, Any]:
        """Throughput and p50/p99 per operation (ms), counts, and the errors."""
        ops = {}
        for op, values in sorted(self.latencies.items()):
            ordered = sorted(values)
            ops[op] = {
                "count": len(values),
                "p50_ms": round(statistics.median(ordered) * 1000, 1),
                "p99_ms": round(ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))] * 1000, 1),
            }
        completed = Counter(self.planned.values())
        return {
            "elapsed_s": round(self.elapsed, 1),
            "requests": self.requests,
            "requests_per_s": round(self.requests / self.elapsed, 1) if self.elapsed else 0,
            "sessions_signed_per_s": round(completed["signed"] / self.elapsed, 1) if self.elapsed else 0,
            "sessions_by_plan": dict(completed),
            "csc_signatures": self.csc_signatures,
            "signatures_verified_by_clients": self.signatures_verified,
            "oathtool_cross_checks": self.oathtool_checked,
            "scenarios": dict(self.scenarios),
            "operations": ops,
            "provoked_4xx": dict(self.provoked),
            "retryable": dict(self.retryable),
            "unexpected": self.unexpected[:50],
            "unexpected_count": len(self.unexpected),
        }


class LoadClient:
    """The client tasks of one run: relying systems and phones over one HTTP connection pool."""

    def __init__(
        self, http: httpx.AsyncClient, sandbox: Sandbox, stats: LoadStats, *, faults: bool, rng: random.Random
    ) -> None:
        self.http = http
        self.sandbox = sandbox
        self.stats = stats
        self.faults = faults
        self.rng = rng
        self.confirmations = 0
        self.end = float("inf")
        """When the run ends (``time.monotonic()``): sessions left to expire are made only well before."""

    # --- requests -----------------------------------------------------------------------------

    async def call(
        self,
        op: str,
        method: str,
        path: str,
        *,
        ok: tuple[int, ...],
        provoked: tuple[int, ...] = (),
        after_retry: tuple[int, ...] = (),
        **kwargs: Any,
    ) -> httpx.Response:
        """Send a request; retry what is retryable; raise :class:`Unexpected` on anything else.

        ``after_retry``: statuses that are a fine answer once an earlier attempt may have reached
        the server (a confirmation that committed before the crash answers 409 the second time).
        """
        attempt = 0
        deadline = time.monotonic() + 60
        while True:
            start = time.perf_counter()
            try:
                response = await self.http.request(method, path, **kwargs)
            except httpx.TransportError as exc:
                self.stats.requests += 1
                if not self.faults or time.monotonic() > deadline:
                    raise Unexpected(f"{op}: {exc.__class__.__name__}: {exc}") from None
                self.stats.retryable[f"{op}:{exc.__class__.__name__}"] += 1
                attempt += 1
                await asyncio.sleep(0.2)
                continue
            self.stats.requests += 1
            self.stats.latencies.setdefault(op, []).append(time.perf_counter() - start)
            status = response.status_code
            if status in ok or (attempt and status in after_retry):
                return response
            if status in provoked:
                self.stats.provoked[f"{op}:{status}"] += 1
                return response
            if status in RETRYABLE_STATUS and self.faults and time.monotonic() < deadline:
                if status == 503 and "retry-after" not in response.headers:
                    raise Unexpected(f"{op}: 503 without Retry-After: {response.text[:200]}")
                self.stats.retryable[f"{op}:{status}"] += 1
                attempt += 1
                await asyncio.sleep(min(2.0, float(response.headers.get("retry-after", "0.5"))))
                continue
            raise Unexpected(f"{op}: {method} {path} -> {status} {response.text[:300]}")

    # --- helpers ------------------------------------------------------------------------------

    def party(self) -> RelyingParty:
        return self.rng.choice(self.sandbox.systems)

    def holder_with_phone(self) -> tuple[Holder, Phone, int] | None:
        holders = self.sandbox.holders
        start = self.rng.randrange(len(holders))
        for n in range(len(holders)):
            holder = holders[(start + n) % len(holders)]
            found = holder.free_phone()
            if found is not None:
                return holder, *found
        return None

    def items(self) -> list[tuple[str, bytes]]:
        return [
            (f"văn bản {n + 1}.pdf", hashlib.sha256(uuid.uuid4().bytes).digest())
            for n in range(self.rng.choice((1, 1, 2, 3)))
        ]

    async def code_for(self, phone: Phone, step: int) -> str:
        code = phone.code(step)
        self.confirmations += 1
        if self.confirmations % 25 == 1:
            proc = await asyncio.create_subprocess_exec(
                "oathtool", "--totp", "-b", "-N", f"@{step * 30}", phone.secret, stdout=asyncio.subprocess.PIPE
            )
            out, _ = await proc.communicate()
            if out.decode().strip() != code:
                raise Unexpected(f"oathtool says {out.decode().strip()}, pyotp says {code}")
            self.stats.oathtool_checked += 1
        return code

    def check_signatures(self, holder: Holder, items: list[tuple[str, bytes]], signatures: list[str], oid: str) -> None:
        if len(signatures) != len(items):
            raise Unexpected(f"{len(signatures)} signatures for {len(items)} items")
        for (_, digest), sig in zip(items, signatures, strict=True):
            if not verify_signature(holder.public_key, base64.b64decode(sig), digest, oid):
                raise Unexpected("a signature does not verify with the credential's key")
            self.stats.signatures_verified += 1

    async def create(
        self,
        party: RelyingParty,
        holder: Holder,
        items: list[tuple[str, bytes]],
        *,
        ttl: int = 120,
        key: str = "",
        replay: bool = False,
    ) -> dict[str, Any]:
        body = {
            "credential_id": holder.credential_id,
            "items": [{"name": name, "digest": base64.b64encode(d).decode()} for name, d in items],
            "description": "Hồ sơ tải thử",
            "ttl_seconds": ttl,
        }
        headers = {**party.headers, "Idempotency-Key": key or uuid.uuid4().hex}
        # A create retried after a crash carries the same key: the answer is the same session (200).
        response = await self.call(
            "session.create",
            "POST",
            "/api/sessions",
            json=body,
            headers=headers,
            ok=(200,) if replay else (201,),
            after_retry=(200,),
        )
        return dict(response.json())

    async def phone_reads(self, phone: Phone, session: dict[str, Any]) -> None:
        seen = await self.call(
            "mobile.get", "GET", f"/api/mobile/sessions/{session['id']}", headers=_bearer(phone.token), ok=(200,)
        )
        if seen.json()["confirmation_code"] != session["confirmation_code"]:
            raise Unexpected("the phone shows another confirmation code than the relying system")

    async def confirm(self, phone: Phone, step: int, session_id: str) -> None:
        response = await self.call(
            "mobile.confirm",
            "POST",
            f"/api/mobile/sessions/{session_id}/confirm",
            json={"code": await self.code_for(phone, step)},
            headers=_bearer(phone.token),
            ok=(200,),
            after_retry=(409,),
        )
        if response.status_code == 409 and response.json().get("error") != "session_signed":
            raise Unexpected(f"confirm retried: {response.text[:200]}")

    async def fetch_signed(
        self, party: RelyingParty, holder: Holder, session: dict[str, Any], items: list[tuple[str, bytes]]
    ) -> None:
        got = (
            await self.call("session.get", "GET", f"/api/sessions/{session['id']}", headers=party.headers, ok=(200,))
        ).json()
        if got["status"] != "signed":
            raise Unexpected(f"confirmed session is {got['status']}")
        self.check_signatures(holder, items, got["signatures"], got["signature_algorithm"])
        self.stats.signed[session["id"]] = got["signatures"]
        self.stats.planned[session["id"]] = "signed"

    # --- scenarios ----------------------------------------------------------------------------

    async def scenario_confirm(self, *, wrong_first: bool = False, replay_key: bool = False) -> None:
        found = self.holder_with_phone()
        if found is None:
            await self.scenario_orgid()
            return
        holder, phone, step = found
        try:
            party, items, key = self.party(), self.items(), uuid.uuid4().hex
            session = await self.create(party, holder, items, key=key)
            if replay_key:
                again = await self.create(party, holder, items, key=key, replay=True)
                if again["id"] != session["id"]:
                    raise Unexpected("a replayed Idempotency-Key made a second session")
            await self.phone_reads(phone, session)
            if wrong_first:
                real = phone.code(step)
                wrong = f"{(int(real) + 1) % 1_000_000:06d}"
                refused = await self.call(
                    "mobile.confirm",
                    "POST",
                    f"/api/mobile/sessions/{session['id']}/confirm",
                    json={"code": wrong},
                    headers=_bearer(phone.token),
                    ok=(),
                    provoked=(400,),
                )
                if refused.json().get("error") != "invalid_otp":
                    raise Unexpected(f"wrong code: {refused.text[:200]}")
            self.stats.planned[session["id"]] = "confirming"
            await self.confirm(phone, step, session["id"])
            await self.fetch_signed(party, holder, session, items)
        finally:
            phone.busy = False

    async def scenario_reject_or_cancel(self, who: str) -> None:
        holder, party = self.rng.choice(self.sandbox.holders), self.party()
        session = await self.create(party, holder, self.items())
        self.stats.planned[session["id"]] = "rejected"
        if who == "phone":
            phone = self.rng.choice(holder.phones)
            done = await self.call(
                "mobile.reject",
                "POST",
                f"/api/mobile/sessions/{session['id']}/reject",
                json={"reason": "không phải tôi"},
                headers=_bearer(phone.token),
                ok=(200,),
                after_retry=(409,),
            )
        else:
            done = await self.call(
                "session.cancel",
                "POST",
                f"/api/sessions/{session['id']}/cancel",
                headers=party.headers,
                ok=(200,),
                after_retry=(409,),
            )
        if done.status_code == 200 and done.json()["status"] != "rejected":
            raise Unexpected(f"{who} rejection left the session {done.json()['status']}")

    async def scenario_expire(self) -> None:
        if self.end - time.monotonic() < 12:
            await self.scenario_reject_or_cancel("system")  # it could not expire before the run ends
            return
        holder, party = self.rng.choice(self.sandbox.holders), self.party()
        session = await self.create(party, holder, self.items(), ttl=10)
        self.stats.planned[session["id"]] = "expired"

    async def scenario_probe(self) -> None:
        """Another relying system and another user's phone must not see or confirm a session (404)."""
        if len(self.sandbox.systems) < 2 or len(self.sandbox.holders) < 2:
            return
        party, other = self.rng.sample(self.sandbox.systems, 2)
        holder, stranger = self.rng.sample(self.sandbox.holders, 2)
        session = await self.create(party, holder, self.items())
        self.stats.planned[session["id"]] = "rejected"
        await self.call(
            "probe.other_system", "GET", f"/api/sessions/{session['id']}", headers=other.headers, ok=(), provoked=(404,)
        )
        await self.call(
            "probe.other_phone",
            "POST",
            f"/api/mobile/sessions/{session['id']}/confirm",
            json={"code": "123456"},
            headers=_bearer(stranger.phones[0].token),
            ok=(),
            provoked=(404,),
        )
        await self.call(
            "session.cancel",
            "POST",
            f"/api/sessions/{session['id']}/cancel",
            headers=party.headers,
            ok=(200,),
            after_retry=(409,),
        )

    async def scenario_csc(self) -> None:
        found = self.holder_with_phone()
        if found is None:
            await self.scenario_orgid()
            return
        holder, phone, step = found
        try:
            party = self.party()
            digests = [d for _, d in self.items()]
            hashes = [base64.b64encode(d).decode() for d in digests]
            pending = await self.call(
                "csc.authorize",
                "POST",
                "/csc/v2/credentials/authorize",
                headers=party.headers,
                json={
                    "credentialID": holder.credential_id,
                    "numSignatures": len(hashes),
                    "hashes": hashes,
                    "hashAlgorithmOID": SHA256_OID,
                },
                ok=(202,),
            )
            handle, code = pending.json()["authorizationID"], pending.json()["confirmationCode"]
            listed = await self.call(
                "mobile.list", "GET", "/api/mobile/sessions", headers=_bearer(phone.token), ok=(200,)
            )
            mine = [s for s in listed.json()["sessions"] if s["confirmation_code"] == code]
            if len(mine) != 1:
                raise Unexpected(f"the phone lists {len(mine)} requests with code {code}")
            self.stats.planned[mine[0]["id"]] = "signed"
            await self.confirm(phone, step, mine[0]["id"])
            sad = (
                await self.call(
                    "csc.authorizeCheck",
                    "POST",
                    "/csc/v2/credentials/authorizeCheck",
                    headers=party.headers,
                    json={"authorizationID": handle},
                    ok=(200,),
                )
            ).json()["SAD"]
            request = {
                "credentialID": holder.credential_id,
                "SAD": sad,
                "hashes": hashes,
                "hashAlgorithmOID": SHA256_OID,
                "signAlgo": SIGN_OIDS[holder.key_algorithm],
            }
            signed = await self.call(
                "csc.signHash",
                "POST",
                "/csc/v2/signatures/signHash",
                headers=party.headers,
                json=request,
                ok=(200,),
                after_retry=(400,),
            )
            if signed.status_code == 400:
                # The first attempt was signed and spent the SAD, but its answer was lost in the crash:
                # CSC signHash has no idempotency key, so the retry is refused (never signed twice).
                self.stats.retryable["csc.signHash:lost_answer"] += 1
                return
            signatures = signed.json()["signatures"]
            self.check_signatures(holder, [("", d) for d in digests], signatures, SIGN_OIDS[holder.key_algorithm])
            self.stats.csc_signatures += len(signatures)
            again = await self.call(
                "csc.signHash",
                "POST",
                "/csc/v2/signatures/signHash",
                headers=party.headers,
                json=request,
                ok=(),
                provoked=(400,),
            )
            if again.json().get("error") != "invalid_request":
                raise Unexpected(f"a spent SAD: {again.text[:200]}")
        finally:
            phone.busy = False

    async def scenario_orgid(self) -> None:
        code = self.rng.choice(self.sandbox.org_codes)
        if self.rng.random() < 0.5:
            await self.call("orgid.search", "GET", "/api/orgids", params={"prefix": "H49", "limit": 20}, ok=(200,))
        else:
            got = await self.call("orgid.get", "GET", f"/api/orgids/{code}", ok=(200,))
            if got.json()["code"] != code:
                raise Unexpected(f"looked up {code}, got {got.json()['code']}")

    async def scenario_token(self) -> None:
        await self.fetch_token(self.party())

    async def fetch_token(self, party: RelyingParty) -> None:
        got = await self.call(
            "oauth2.token",
            "POST",
            "/oauth2/token",
            ok=(200,),
            data={
                "grant_type": "client_credentials",
                "client_id": party.client_id,
                "client_secret": party.client_secret,
            },
        )
        party.token = got.json()["access_token"]

    async def one(self) -> None:
        name = self.rng.choices(list(SCENARIOS), weights=list(SCENARIOS.values()))[0]
        self.stats.scenarios[name] += 1
        if name == "confirm":
            await self.scenario_confirm()
        elif name == "wrong_code_then_confirm":
            await self.scenario_confirm(wrong_first=True)
        elif name == "replayed_key":
            await self.scenario_confirm(replay_key=True)
        elif name in ("reject", "cancel"):
            await self.scenario_reject_or_cancel("phone" if name == "reject" else "system")
        elif name == "expire":
            await self.scenario_expire()
        elif name == "probe":
            await self.scenario_probe()
        elif name == "csc":
            await self.scenario_csc()
        elif name == "orgid":
            await self.scenario_orgid()
        else:
            await self.scenario_token()


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def run_load(
    url: str,
    sandbox: Sandbox,
    *,
    duration: float,
    concurrency: int,
    seed: int = 1,
    faults: bool = False,
    fault: Callable[[], Any] | None = None,
    fault_every: float = 0.0,
    settle: float = 20.0,
) -> LoadStats:
    """Drive the server at ``url`` for ``duration`` seconds; with ``fault`` call it every ~``fault_every`` s.

    ``faults``: the server may be down or failing for a while: retryable answers are retried.
    Afterwards waits (at most ``settle`` s) until the sessions left to expire have expired.
    """
    stats = LoadStats()
    rng = random.Random(seed)
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=30) as http:
        client = LoadClient(http, sandbox, stats, faults=faults, rng=rng)
        for party in sandbox.systems:
            await client.fetch_token(party)
        start = time.monotonic()
        end = start + duration

        async def task(n: int) -> None:
            task_client = LoadClient(http, sandbox, stats, faults=faults, rng=random.Random(seed * 1000 + n))
            task_client.end = end
            while time.monotonic() < end:
                try:
                    await task_client.one()
                except Unexpected as exc:
                    stats.unexpected.append(str(exc))
                except (KeyError, ValueError, TypeError) as exc:  # an answer without the fields it must have
                    stats.unexpected.append(f"malformed answer: {exc!r}")

        async def injector() -> None:
            assert fault is not None
            while True:
                await asyncio.sleep(rng.uniform(0.5, 1.5) * fault_every)
                if time.monotonic() >= end - 2:
                    return
                await asyncio.to_thread(fault)

        jobs = [asyncio.create_task(task(n)) for n in range(concurrency)]
        if fault is not None and fault_every > 0:
            jobs.append(asyncio.create_task(injector()))
        await asyncio.gather(*jobs)
        stats.elapsed = time.monotonic() - start
        # Settle: what was left to expire must expire (the server's sweeper, every 2 s).
        waiting = [sid for sid, plan in stats.planned.items() if plan == "expired"]
        party_of: dict[str, RelyingParty] = {}
        settle_end = time.monotonic() + settle
        while waiting and time.monotonic() < settle_end:
            await asyncio.sleep(1.0)
            still = []
            for sid in waiting:
                for party in sandbox.systems if sid not in party_of else [party_of[sid]]:
                    got = await http.get(f"/api/sessions/{sid}", headers=party.headers)
                    if got.status_code == 200:
                        party_of[sid] = party
                        if got.json()["status"] == "pending":
                            still.append(sid)
                        break
            waiting = still
    return stats


@dataclass
class RunResult:
    """One run: what the clients saw and what the database holds."""

    stats: LoadStats
    database: DatabaseReport
    kills: int = 0
    db_cuts: int = 0
    server_cpu_seconds: float = 0.0
    """CPU the server used during the load (only when it was never killed)."""
    nginx_cpu_seconds: float = 0.0
    """CPU nginx used during the load (with ``processes``)."""
    client_cpu_seconds: float = 0.0
    load_average: tuple[float, float] = (0.0, 0.0)
    """The machine's 1-minute load average before and after the run (2 cores here)."""

    @property
    def ok(self) -> bool:
        """Nothing unexpected, every invariant holds, the audit chain verifies."""
        return not self.stats.unexpected and self.database.ok

    def summary(self) -> dict[str, Any]:
        """The report as one JSON-able dict."""
        return {
            **self.stats.summary(),
            "server_cpu_ms_per_request": round(1000 * self.server_cpu_seconds / max(1, self.stats.requests), 2),
            "nginx_cpu_ms_per_request": round(1000 * self.nginx_cpu_seconds / max(1, self.stats.requests), 2),
            "client_cpu_ms_per_request": round(1000 * self.client_cpu_seconds / max(1, self.stats.requests), 2),
            "load_average_before_after": list(self.load_average),
            "server_kills": self.kills,
            "database_cuts": self.db_cuts,
            "database": {
                "sessions_by_state": dict(self.database.sessions_by_state),
                "signatures_verified": self.database.signatures_verified,
                "csc_signatures": self.database.csc_signatures,
                "pending_not_due": self.database.pending_not_due,
                "audit_events": self.database.audit_events,
                "audit": self.database.audit_output,
                "violations": self.database.violations[:50],
            },
            "ok": self.ok,
        }


def fresh_postgres_database(admin_url: str) -> str:
    """A new empty database next to ``admin_url``'s (named ``esign_load_<random>``)."""
    import psycopg

    name = f"esign_load_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return f"{admin_url.rpartition('/')[0]}/{name}"


def drop_postgres_database(admin_url: str, url: str) -> None:
    """Drop a database :func:`fresh_postgres_database` made."""
    import psycopg

    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{url.rpartition("/")[2]}" WITH (FORCE)')


def via_proxy(url: str, proxy: TcpProxy) -> str:
    """``url`` with its host and port replaced by the proxy's."""
    from sqlalchemy.engine import make_url

    return str(make_url(url).set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False))


def run(
    *,
    database_url: str,
    var_dir: Path,
    workers: int = 1,
    processes: int = 0,
    duration: float = 180,
    concurrency: int = 24,
    systems: int = 6,
    users: int = 40,
    phones_per_user: int = 8,
    kill_every: float = 0.0,
    cut_db_every: float = 0.0,
    outage_seconds: float = 3.0,
    seed: int = 1,
    settle: float = 20.0,
    log: Callable[[str], None] = print,
) -> RunResult:
    """Set up, start the server, drive it, inject faults if asked, stop it, check the database.

    ``processes`` > 0: that many separate server processes behind nginx (the ``deploy/`` layout), and
    ``kill_every`` kills one of them for good (while more than one is left) instead of restarting the server.
    """
    from sqlalchemy.engine import make_url

    proxy = None
    server_db_url = database_url
    if cut_db_every:
        target = make_url(database_url)
        if target.get_backend_name() != "postgresql":
            raise SystemExit("--cut-db-every needs PostgreSQL")
        proxy = TcpProxy(target.host or "127.0.0.1", target.port or 5432)
        server_db_url = via_proxy(database_url, proxy)
    port = free_port()
    env = server_env(server_db_url, var_dir, port)
    log(f"setting up {systems} relying systems, {users} users x {phones_per_user} phones ...")
    t0 = time.monotonic()
    sandbox = build_sandbox(
        server_env(database_url, var_dir, port), systems=systems, users=users, phones_per_user=phones_per_user
    )
    log(f"  done in {time.monotonic() - t0:.1f} s; starting the server ({processes or workers} process(es))")
    group = ServerGroup(env, processes=processes, directory=var_dir) if processes else None
    server: ServerGroup | ServerProcess = group or ServerProcess(env, workers=workers, log_path=var_dir / "server.log")
    server.start()

    def kill_and_restart() -> None:
        server.kill()
        time.sleep(0.2)
        server.start()

    def cut_and_restore() -> None:
        assert proxy is not None
        proxy.cut()
        time.sleep(outage_seconds)
        proxy.restore()

    fault = (group.kill if group else kill_and_restart) if kill_every else cut_and_restore if cut_db_every else None
    load_before = os.getloadavg()[0]
    cpu_before, client_before = server.cpu_seconds(), time.process_time()
    nginx_before = group.nginx.cpu_seconds() if group else 0.0
    try:
        stats = asyncio.run(
            run_load(
                server.url,
                sandbox,
                duration=duration,
                concurrency=concurrency,
                seed=seed,
                faults=fault is not None,
                fault=fault,
                fault_every=kill_every or cut_db_every,
                settle=settle,
            )
        )
        server_cpu = server.cpu_seconds() - cpu_before if not server.kills else 0.0
        nginx_cpu = group.nginx.cpu_seconds() - nginx_before if group else 0.0
        client_cpu = time.process_time() - client_before
    finally:
        server.stop()
        if proxy is not None:
            proxy.close()
    log("checking the database ...")
    report = check_database(
        database_url,
        env=server_env(database_url, var_dir, port),
        client_signatures=stats.signed,
        allow_pending_not_due=fault is not None,
    )
    return RunResult(
        stats,
        report,
        kills=server.kills,
        db_cuts=proxy.cuts if proxy else 0,
        server_cpu_seconds=server_cpu,
        nginx_cpu_seconds=nginx_cpu,
        client_cpu_seconds=client_cpu,
        load_average=(round(load_before, 2), round(os.getloadavg()[0], 2)),
    )


def print_report(result: RunResult, title: str) -> None:
    """A readable report: throughput, latency per operation, errors, database checks."""
    s = result.summary()
    print(f"\n== {title}")
    print(
        f"{s['requests']} requests in {s['elapsed_s']} s: {s['requests_per_s']} req/s; "
        f"{s['sessions_signed_per_s']} signed sessions/s; {s['csc_signatures']} CSC signatures"
    )
    print(f"{'operation':<22}{'count':>8}{'p50 ms':>10}{'p99 ms':>10}")
    for op, v in s["operations"].items():
        print(f"{op:<22}{v['count']:>8}{v['p50_ms']:>10}{v['p99_ms']:>10}")
    print(
        f"CPU per request: server {s['server_cpu_ms_per_request']} ms, nginx {s['nginx_cpu_ms_per_request']} ms, "
        f"load client "
        f"{s['client_cpu_ms_per_request']} ms; load average {s['load_average_before_after']} (2 cores)"
    )
    print(f"provoked 4xx: {s['provoked_4xx']}")
    print(f"retryable: {s['retryable']}  (server kills {s['server_kills']}, database cuts {s['database_cuts']})")
    print(f"unexpected: {s['unexpected_count']} {s['unexpected'][:5]}")
    db = s["database"]
    print(
        f"database: {db['sessions_by_state']}, {db['signatures_verified']} signatures re-verified, "
        f"{db['csc_signatures']} CSC, {db['pending_not_due']} pending (not due)"
    )
    print(f"audit: {db['audit']}")
    print(f"violations: {db['violations'][:5]}")
    print("OK" if result.ok else "FAILED")


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--duration", type=float, default=180, help="seconds of load (default 180)")
    parser.add_argument("--workers", type=int, default=1, help="server worker processes")
    parser.add_argument(
        "--processes",
        type=int,
        default=0,
        help="N separate server processes behind nginx (the deploy/ layout); --kill-every then kills one for good",
    )
    parser.add_argument(
        "--database-url",
        help="PostgreSQL server URL: a fresh database is made beside it (default: a fresh SQLite file)",
    )
    parser.add_argument("--concurrency", type=int, default=24, help="client tasks at once")
    parser.add_argument("--systems", type=int, default=6, help="relying systems")
    parser.add_argument("--users", type=int, default=40, help="users (each with a credential)")
    parser.add_argument("--phones", type=int, default=8, help="paired phones per user")
    parser.add_argument("--kill-every", type=float, default=0.0, help="SIGKILL+restart the server every ~N s")
    parser.add_argument("--cut-db-every", type=float, default=0.0, help="cut PostgreSQL connections every ~N s")
    parser.add_argument("--outage", type=float, default=3.0, help="seconds each database cut lasts")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    args = parser.parse_args()
    if args.duration > 3600:
        parser.error("--duration is at most 3600 s")
    var_dir = Path(tempfile.mkdtemp(prefix="esign-load-"))
    admin_url = args.database_url
    database_url = fresh_postgres_database(admin_url) if admin_url else f"sqlite:///{var_dir}/load.db"
    os.environ.pop("ESIGN_DATABASE_URL", None)
    try:
        result = run(
            database_url=database_url,
            var_dir=var_dir,
            workers=args.workers,
            processes=args.processes,
            duration=args.duration,
            concurrency=args.concurrency,
            systems=args.systems,
            users=args.users,
            phones_per_user=args.phones,
            kill_every=args.kill_every,
            cut_db_every=args.cut_db_every,
            outage_seconds=args.outage,
            seed=args.seed,
            log=(lambda m: print(m, file=sys.stderr)) if args.json else print,
        )
    finally:
        if admin_url:
            drop_postgres_database(admin_url, database_url)
    if args.json:
        print(json.dumps(result.summary(), indent=2, ensure_ascii=False))
    else:
        backend = "PostgreSQL" if admin_url else "SQLite"
        layout = f"{args.processes} process(es) behind nginx" if args.processes else f"{args.workers} worker(s)"
        print_report(result, f"{backend}, {layout}, {args.concurrency} clients, {args.duration:.0f} s")
    raise SystemExit(0 if result.ok else 1)


if __name__ == "__main__":
    main()
