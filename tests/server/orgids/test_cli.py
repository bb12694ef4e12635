"""``esign server init`` seeds the registry; ``esign orgid admin ...`` drives it over a real uvicorn."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from esign.orgid.cli import app

ESIGN = str(Path(sys.executable).parent / "esign")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def env_for(database_url: str, tmp_path: Path, port: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ESIGN_")}
    env.update(
        ESIGN_DEV_MODE="1",
        ESIGN_DATABASE_URL=database_url,
        ESIGN_VAR_DIR=str(tmp_path / "var"),
        ESIGN_PUBLIC_URL=f"http://127.0.0.1:{port}",
        ESIGN_PORT=str(port),
    )
    return env


@pytest.fixture
def server(database_url: str, tmp_path: Path) -> Iterator[dict[str, str]]:
    """``esign server init`` then ``esign server run``; yields the env an admin's shell would have."""
    port = free_port()
    env = env_for(database_url, tmp_path, port)
    init = subprocess.run([ESIGN, "server", "init"], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert init.returncode == 0, init.stderr
    client_id = re.search(r"client_id\s+(\S+)", init.stdout)
    secret = re.search(r"client_secret\s+(\S+)", init.stdout)
    assert client_id and secret, init.stdout
    proc = subprocess.Popen(
        [ESIGN, "server", "run", "--port", str(port)],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90  # a loaded 2-core machine can take a while to import and bind
        while True:
            try:
                if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                assert proc.poll() is None, "esign server run exited"
                assert time.monotonic() < deadline, "esign server run did not answer /health"
                time.sleep(0.2)
        yield {
            "ESIGN_URL": url,
            "ESIGN_CLIENT_ID": client_id.group(1),
            "ESIGN_CLIENT_SECRET": secret.group(1),
            "server_env": json.dumps(env),
            "cwd": str(tmp_path),
        }
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)


def run(env: dict[str, str], *args: str) -> tuple[int, str, str]:
    shell = {k: v for k, v in env.items() if k.startswith("ESIGN_")}
    result = CliRunner().invoke(app, ["admin", *args], env=shell)
    return result.exit_code, result.stdout, result.stderr


def test_init_seeds_the_registry_and_the_commands_drive_it(server: dict[str, str], tmp_path: Path) -> None:
    # One server per database (starting one costs seconds): each part below states its behaviour.
    check_admin_commands_over_http(server, tmp_path)
    check_changes_without_admin_credentials_are_refused(server)
    check_server_cli_issues_an_organization_certificate_with_a_registry_code(server)


def check_admin_commands_over_http(server: dict[str, str], tmp_path: Path) -> None:
    code, out, _ = run(server, "status", "H49")
    assert code == 0 and json.loads(out)["name"] == "UBND tỉnh Quảng Ninh"  # seeded by init

    code, out, _ = run(server, "issue", "Sở Tư pháp", "--parent", "H49", "--detail", "email=stp@quangninh.gov.vn")
    assert (code, out.strip()) == (0, "H49.01")

    bad = tmp_path / "bad.csv"
    bad.write_text("code,name\nH49.22,Sở Y tế\nH99.1,Không có\nH49.23,\n", encoding="utf-8")
    code, _, err = run(server, "import", str(bad))
    assert code == 1
    assert "line 3: H99.1" in err and "line 4: H49.23" in err

    good = tmp_path / "good.json"
    good.write_text(json.dumps([{"code": "H49.22", "name": "Sở Y tế"}], ensure_ascii=False), encoding="utf-8")
    code, out, _ = run(server, "import", str(good))
    assert code == 0 and "1 new" in out

    code, out, _ = run(server, "search", "--name", "so y te", "--json")
    assert [i["code"] for i in json.loads(out)["items"]] == ["H49.22"]

    code, out, _ = run(server, "close", "H49.22", "--reason", "sáp nhập", "--successor", "H49.01")
    assert code == 0 and "closed" in out
    code, out, _ = run(server, "status", "H49.22")
    assert code == 3 and json.loads(out)["successor"] == "H49.01"

    code, out, _ = run(server, "show", "H49.22")
    assert "imported" in out and "closed" in out

    exported = tmp_path / "all.csv"
    code, _, _ = run(server, "export", "-o", str(exported))
    assert code == 0 and "H49.22,Sở Y tế" in exported.read_text(encoding="utf-8")


def check_changes_without_admin_credentials_are_refused(server: dict[str, str]) -> None:
    env = {"ESIGN_URL": server["ESIGN_URL"], "ESIGN_CLIENT_ID": "", "ESIGN_CLIENT_SECRET": ""}
    code, _, err = run(env, "issue", "Sở", "--parent", "H49")
    assert code == 1 and "admin client" in err
    wrong = {**server, "ESIGN_CLIENT_SECRET": "wrong"}
    code, _, err = run(wrong, "issue", "Sở", "--parent", "H49")
    assert code == 1 and "invalid_client" in err


def check_server_cli_issues_an_organization_certificate_with_a_registry_code(server: dict[str, str]) -> None:
    env, cwd = json.loads(server["server_env"]), server["cwd"]

    def esign(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([ESIGN, "server", *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=60)

    user = esign("user", "create", "--name", "Sở Tư pháp tỉnh Quảng Ninh", "--tax-code", "0100109106")
    assert user.returncode == 0, user.stderr
    user_id = json.loads(user.stdout)["user_id"]
    verified = esign("user", "verify", user_id, "--document", "BRN:0100109106")
    assert verified.returncode == 0, verified.stderr
    issued = esign("credential", "issue", user_id, "--org-code", "H49")
    assert issued.returncode == 0, issued.stderr
    assert json.loads(issued.stdout)["serial"]
    refused = esign("credential", "issue", user_id, "--org-code", "H30")
    assert refused.returncode == 1 and "closed" in refused.stdout + refused.stderr
