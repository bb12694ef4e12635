"""What a newcomer meets first at the server's command line: one clear line, never a traceback or secrets
printed in vain (issue 21, items 3, 5, 12, 15)."""

from __future__ import annotations

import io
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import qrcode
from esign_server.config import Settings, default_var_dir

ESIGN = str(Path(sys.executable).parent / "esign")
REPO = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def dev_env(var_dir: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ESIGN_")}
    env.update(ESIGN_DEV_MODE="1", ESIGN_VAR_DIR=str(var_dir), **extra)
    return env


def run(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([ESIGN, *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=120)


def test_the_default_database_is_one_place_whatever_the_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("ESIGN_VAR_DIR", raising=False)
    monkeypatch.delenv("ESIGN_DATABASE_URL", raising=False)
    settings = Settings(_env_file=None, dev_mode=True)  # type: ignore[call-arg]
    assert default_var_dir() == REPO / "var"  # this checkout's var/, not the current folder's
    assert settings.database_url == f"sqlite:///{REPO / 'var' / 'esign.db'}"


def test_an_admin_command_on_a_database_never_initialised_is_refused_in_one_line(tmp_path: Path) -> None:
    var = tmp_path / "var"
    result = run(["server", "user", "create", "--name", "An"], dev_env(var), tmp_path)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr and result.stderr.strip().count("\n") == 0
    assert "esign server init" in result.stderr
    assert not (var / "esign.db").exists()  # no empty database left behind


def test_an_empty_database_file_is_refused_too(tmp_path: Path) -> None:
    var = tmp_path / "var"
    var.mkdir()
    (var / "esign.db").write_bytes(b"")
    result = run(["server", "audit", "verify"], dev_env(var), tmp_path)
    assert result.returncode == 2
    assert "is not initialised" in result.stderr and "Traceback" not in result.stderr


def test_demo_on_a_taken_port_says_so_before_printing_any_secret(tmp_path: Path) -> None:
    port = free_port()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", port))
        taken.listen(1)
        result = run(["server", "demo", "--serve", "--port", str(port)], dev_env(tmp_path / "var"), tmp_path)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr and result.stderr.strip().count("\n") == 0
    assert f"port {port} on 127.0.0.1 is already in use" in result.stderr
    assert "client_secret" not in result.stdout and not (tmp_path / "var").exists()


def test_demo_refuses_a_ca_made_for_other_urls(tmp_path: Path) -> None:
    # The integrator guide's `esign pki init` in the folder the server uses: its certificates point
    # at the tour's `esign pki serve`, not at the server's /pki/... (remote B-LT would fail later).
    var = tmp_path / "var"
    env = dev_env(var)
    subprocess.run([ESIGN, "pki", "init", str(var / "pki")], env=env, check=True, capture_output=True, timeout=120)
    result = run(["server", "demo", "--json"], env, tmp_path)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert "http://127.0.0.1:8751/pki" in result.stderr and "http://127.0.0.1:8750/pki" in result.stderr


def test_demo_port_becomes_the_public_url(tmp_path: Path) -> None:
    port = free_port()
    result = run(["server", "demo", "--json", "--port", str(port)], dev_env(tmp_path / "var"), tmp_path)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["base_url"] == f"http://127.0.0.1:{port}"


def test_enroll_prints_the_qr_code_of_the_pairing_link(tmp_path: Path) -> None:
    env = dev_env(tmp_path / "var")
    sandbox = json.loads(run(["server", "demo", "--json"], env, tmp_path).stdout)
    result = run(["server", "user", "enroll", sandbox["user_id"], "--device-name", "An's phone"], env, tmp_path)
    assert result.returncode == 0, result.stderr
    answer = json.loads(result.stdout.strip().splitlines()[-1])
    assert "/m/#pair=" in answer["pairing_url"]
    expected = qrcode.QRCode(border=1)
    expected.add_data(answer["pairing_url"])
    picture = io.StringIO()
    expected.print_ascii(out=picture)
    assert picture.getvalue() in result.stdout  # the phone guide says: scan this to pair


def test_run_on_a_taken_port_is_one_line_too(tmp_path: Path) -> None:
    env = dev_env(tmp_path / "var")
    assert run(["server", "init", "--no-admin"], env, tmp_path).returncode == 0
    port = free_port()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", port))
        taken.listen(1)
        result = run(["server", "run", "--port", str(port)], env, tmp_path)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr and result.stderr.strip().count("\n") == 0
    assert f"port {port} on 127.0.0.1 is already in use" in result.stderr
