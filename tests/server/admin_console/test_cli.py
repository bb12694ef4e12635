"""``esign server admin create-account``: the first officer, made at the command line."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from esign_server.admin_console import accounts
from esign_server.config import Settings
from esign_server.context import ServerContext

from ..test_cli_first_hour import ESIGN, dev_env, run


def test_create_account_prints_the_totp_secret_once_and_the_officer_can_sign_in(tmp_path: Path) -> None:
    env = dev_env(tmp_path / "var")
    assert run(["server", "init"], env, tmp_path).returncode == 0
    command = ["server", "admin", "create-account", "an.nv", "--role", "auditor", "--role", "identity_officer"]
    made = subprocess.run(
        [ESIGN, *command, "--full-name", "Nguyễn Văn An", "--password-stdin"],
        input="một mật khẩu đủ dài\n",
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert made.returncode == 0, made.stderr
    shown = json.loads(made.stdout)
    assert shown["roles"] == ["auditor", "identity_officer"]
    assert shown["otpauth_uri"].startswith("otpauth://totp/")
    code = subprocess.check_output(["oathtool", "--totp", "-b", shown["totp_secret"]], text=True).strip()
    ctx = ServerContext(Settings(_env_file=None, dev_mode=True, var_dir=tmp_path / "var"))  # type: ignore[call-arg]
    try:
        account = accounts.sign_in(ctx, username="an.nv", password="một mật khẩu đủ dài", code=code)
    finally:
        ctx.close()
    assert account.full_name == "Nguyễn Văn An"

    twice = subprocess.run(
        [ESIGN, *command, "--password-stdin"],
        input="một mật khẩu đủ dài\n",
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert twice.returncode == 1 and "already exists" in twice.stderr and "Traceback" not in twice.stderr
    short = subprocess.run(
        [ESIGN, "server", "admin", "create-account", "b.b", "--role", "auditor", "--password-stdin"],
        input="short\n",
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert short.returncode == 1 and "12 characters" in short.stderr

    disabled = run(["server", "admin", "disable-account", "an.nv"], env, tmp_path)
    assert disabled.returncode == 0 and json.loads(disabled.stdout)["status"] == "disabled"
    listed = [json.loads(line) for line in run(["server", "admin", "list-accounts"], env, tmp_path).stdout.splitlines()]
    assert [(a["username"], a["status"]) for a in listed] == [("an.nv", "disabled")]
    assert "totp" not in str(listed) and "password" not in str(listed)
    missing = run(["server", "admin", "unlock-account", "nobody"], env, tmp_path)
    assert missing.returncode == 1 and "no admin account" in missing.stderr
