"""The command line and a real uvicorn: demo sandbox, init, run with 2 workers, the flow over loopback."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed

from .conftest import oath

ESIGN = str(Path(sys.executable).parent / "esign")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def established_per_process(parent: int, port: int) -> dict[int, int]:
    """Open TCP connections to ``port`` held by each child process of ``parent`` (read from /proc)."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as f:
            for line in f.readlines()[1:]:
                fields = line.split()
                if int(fields[1].rsplit(":", 1)[1], 16) == port and fields[3] == "01":  # ESTABLISHED
                    inodes.add(f"socket:[{fields[9]}]")
    counts = {}
    for entry in filter(str.isdigit, os.listdir("/proc")):
        try:
            if Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[1] != str(parent):
                continue
            held = sum(os.readlink(f"/proc/{entry}/fd/{fd}") in inodes for fd in os.listdir(f"/proc/{entry}/fd"))
        except OSError:
            continue
        if held:
            counts[int(entry)] = held
    return counts


def workers_of(parent: int) -> set[int]:
    """The worker processes (``multiprocessing`` spawned, not its resource tracker) of ``parent``."""
    found = set()
    for entry in filter(str.isdigit, os.listdir("/proc")):
        try:
            if Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[1] != str(parent):
                continue
            command = Path(f"/proc/{entry}/cmdline").read_bytes()
            if b"spawn_main" in command and b"resource_tracker" not in command:
                found.add(int(entry))
        except OSError:
            continue
    return found


def env_for(database_url: str, tmp_path: Path, port: int, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ESIGN_")}
    env.update(
        ESIGN_DEV_MODE="1",
        ESIGN_DATABASE_URL=database_url,
        ESIGN_VAR_DIR=str(tmp_path / "var"),
        ESIGN_PUBLIC_URL=f"http://127.0.0.1:{port}",
        ESIGN_PORT=str(port),
        **extra,
    )
    return env


def test_default_secrets_are_refused_outside_dev_mode(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ESIGN_")}
    result = subprocess.run([ESIGN, "server", "init"], env=env, cwd=tmp_path, capture_output=True, text=True)
    assert result.returncode == 2
    assert "ESIGN_MASTER_KEY" in result.stdout + result.stderr


def test_demo_json_then_full_flow_over_uvicorn_with_two_workers(database_url: str, tmp_path: Path) -> None:
    port = free_port()
    env = env_for(database_url, tmp_path, port)
    demo = subprocess.run(
        [ESIGN, "server", "demo", "--json"], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    assert demo.returncode == 0, demo.stderr
    sandbox = json.loads(demo.stdout)
    for key in ("client_id", "client_secret", "user_id", "credential_id", "totp_secret"):
        assert sandbox[key]
    base64.b32decode(sandbox["totp_secret"] + "=" * (-len(sandbox["totp_secret"]) % 8))

    server = subprocess.Popen(
        [ESIGN, "server", "run", "--workers", "2", "--port", str(port)],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        with httpx.Client(base_url=base, timeout=10) as client:
            # Two workers each import esign and pyHanko: on a loaded two-core machine that took
            # 12 s, so readiness gets a minute (a deadline for a hung start, not a speed check).
            for _ in range(600):
                try:
                    if client.get("/ready").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                time.sleep(0.1)
            else:
                pytest.fail("server did not become ready")
            token = client.post(
                "/oauth2/token",
                data={
                    "grant_type": "client_credentials",
                    "client_id": sandbox["client_id"],
                    "client_secret": sandbox["client_secret"],
                },
            ).json()["access_token"]
            rp = {"Authorization": f"Bearer {token}"}
            digest = hashlib.sha256(b"hello").digest()
            created = client.post(
                "/api/sessions",
                headers=rp,
                json={
                    "credential_id": sandbox["credential_id"],
                    "items": [{"name": "hello.txt", "digest": base64.b64encode(digest).decode()}],
                },
            ).json()
            confirmed = client.post(
                f"/api/mobile/sessions/{created['id']}/confirm",
                headers={"Authorization": f"Bearer {sandbox['device_token']}"},
                json={"code": oath(sandbox["totp_secret"], step_offset=1)},
            )
            assert confirmed.status_code == 200, confirmed.text
            fetched = client.get(f"/api/sessions/{created['id']}", headers=rp).json()
            cert_pem = client.get(f"/api/credentials/{sandbox['credential_id']}", headers=rp).json()["certificate_pem"]
            key = x509.load_pem_x509_certificate(cert_pem.encode()).public_key()
            assert isinstance(key, ec.EllipticCurvePublicKey)
            key.verify(base64.b64decode(fetched["signatures"][0]), digest, ec.ECDSA(Prehashed(hashes.SHA256())))

            # uvicorn's process manager: two worker processes share the listener; each of the 1 + 7
            # keep-alive connections is held by one of them (which one is the kernel's choice).
            more = [httpx.Client(base_url=base, timeout=10) for _ in range(7)]
            try:
                for extra in more:
                    assert extra.get("/health").status_code == 200
                held = established_per_process(server.pid, port)
                assert len(workers_of(server.pid)) == 2 and set(held) <= workers_of(server.pid)
                assert sum(held.values()) == 8
            finally:
                for extra in more:
                    extra.close()
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=20)

    verify = subprocess.run([ESIGN, "server", "audit", "verify"], env=env, cwd=tmp_path, capture_output=True, text=True)
    assert verify.returncode == 0, verify.stderr
    assert "audit chain intact" in verify.stdout


async def test_accepted_connections_have_nagle_off_so_keep_alive_answers_never_wait_for_a_delayed_ack() -> None:
    # A listener made with proto=0 (uvicorn before 0.55) left TCP_NODELAY off on accepted connections:
    # every keep-alive answer waited ~40 ms for a delayed ACK (FIELD-NOTES). This is the listener
    # uvicorn's process manager (`esign server run --workers N`) shares among its workers. The check is
    # the socket option itself, not a timing.
    import asyncio

    import uvicorn

    listener = uvicorn.Config("esign_server.app:app_from_env", host="127.0.0.1", port=0).bind_socket()
    loop = asyncio.get_running_loop()
    nodelay: asyncio.Future[int] = loop.create_future()

    class Probe(asyncio.Protocol):
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            sock = transport.get_extra_info("socket")
            nodelay.set_result(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))

    server = await loop.create_server(Probe, sock=listener)
    _reader, writer = await asyncio.open_connection(*listener.getsockname()[:2])
    try:
        assert await asyncio.wait_for(nodelay, 10) != 0
    finally:
        writer.close()
        server.close()
        await server.wait_closed()


def test_init_with_supplied_ca_then_admin_commands(
    database_url: str, tmp_path: Path, service_pki_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from esign_server.cli import app
    from esign_server.config import get_settings
    from typer.testing import CliRunner

    env = env_for(database_url, tmp_path, 8750)
    for key in [k for k in os.environ if k.startswith("ESIGN_")]:
        monkeypatch.delenv(key)
    for key, value in env.items():
        if key.startswith("ESIGN_"):
            monkeypatch.setenv(key, value)
    monkeypatch.chdir(tmp_path)
    get_settings.cache_clear()
    runner = CliRunner()

    def esign(*args: str) -> tuple[int, str]:
        result = runner.invoke(app, list(args))
        return result.exit_code, result.output

    try:
        code, out = esign("init", "--pki-from", str(service_pki_dir))
        assert code == 0, out
        assert "client_secret" in out
        copied = tmp_path / "var" / "pki" / "issuing-ca.pem"
        assert copied.read_bytes() == (service_pki_dir / "issuing-ca.pem").read_bytes()
        user = json.loads(esign("user", "create", "--name", "Đỗ Minh Khang", "--cccd", "001088004321")[1])
        refused = esign("credential", "issue", user["user_id"])
        assert refused[0] == 1 and "has not been verified" in " ".join(refused[1].split())
        verified = json.loads(esign("user", "verify", user["user_id"], "--document", "CCCD:001088004321")[1])
        assert verified["document"] == "0010******21"
        cred = json.loads(esign("credential", "issue", user["user_id"], "--key", "p256")[1])
        assert cred["status"] == "active"
        assert json.loads(esign("credential", "suspend", cred["credential_id"])[1])["status"] == "suspended"
        revoked = esign("credential", "revoke", cred["credential_id"], "--reason", "key_compromise")
        assert json.loads(revoked[1])["status"] == "revoked"
        code, out = esign("credential", "resume", cred["credential_id"])
        assert code == 1 and "revoked" in out
        client = json.loads(esign("client", "create", "--name", "Cổng DVC", "--scope", "sessions")[1])
        assert client["scopes"] == ["sessions"] and client["client_secret"]
        code, out = esign("audit", "verify")
        assert code == 0 and "audit chain intact" in out
    finally:
        get_settings.cache_clear()


def test_a_server_process_freezes_its_startup_heap_out_of_full_collections(tmp_path: Path) -> None:
    # A full collection scanned every object startup built and stalled each request in flight; the
    # app factory `esign server run` uses moves them out of the collector's passes.
    script = "import gc; from esign_server.app import app_from_env; app_from_env(); print(gc.get_freeze_count())"
    env = env_for(f"sqlite:///{tmp_path / 'esign.db'}", tmp_path, free_port())
    done = subprocess.run([sys.executable, "-c", script], env=env, cwd=tmp_path, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert int(done.stdout.split()[-1]) > 10_000
