"""The command line against a production-style configuration (real secrets, no dev mode)."""

from __future__ import annotations

import base64
import json
import os
import secrets
import subprocess
import sys
from pathlib import Path

from cryptography import x509
from cryptography.x509.oid import NameOID

ESIGN = str(Path(sys.executable).parent / "esign")


def production_env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ESIGN_")}
    env.update(
        ESIGN_DATABASE_URL=f"sqlite:///{tmp_path / 'var' / 'esign.db'}",
        ESIGN_VAR_DIR=str(tmp_path / "var"),
        ESIGN_MASTER_KEY=base64.b64encode(secrets.token_bytes(32)).decode(),
        ESIGN_TOKEN_SECRET=secrets.token_urlsafe(32),
        ESIGN_PKI_PASSWORD=secrets.token_urlsafe(16),
    )
    return env


def esign(env: dict[str, str], cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([ESIGN, "server", *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=120)


def test_production_init_names_no_dev_ca_and_demo_refuses_its_database(tmp_path: Path) -> None:
    env = production_env(tmp_path)
    init = esign(env, tmp_path, "init")
    assert init.returncode == 0, init.stderr
    for name in ("root.pem", "issuing-ca.pem", "tsa.pem", "ocsp.pem"):
        cert = x509.load_pem_x509_certificate((tmp_path / "var" / "pki" / name).read_bytes())
        common_name = str(cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value)
        assert "Dev" not in common_name and "development" not in cert.subject.rfc4514_string(), common_name
    assert not list((tmp_path / "var" / "pki").glob("*.p12"))  # no sample signers in a production CA

    # demo would print a new admin client and its secret: refused, with the production secrets set...
    demo = esign(env, tmp_path, "demo", "--json")
    assert demo.returncode == 2 and demo.stdout == ""
    assert "refuses" in demo.stderr
    # ...and with them unset (ESIGN_DEV_MODE unset too), because the CA is a production one.
    bare = {k: v for k, v in env.items() if k not in ("ESIGN_MASTER_KEY", "ESIGN_TOKEN_SECRET", "ESIGN_PKI_PASSWORD")}
    demo = esign(bare, tmp_path, "demo", "--json")
    assert demo.returncode == 2 and demo.stdout == ""
    assert "production CA" in " ".join(demo.stderr.split())


def test_the_admin_authorises_a_relying_system_for_a_user_from_the_command_line(tmp_path: Path) -> None:
    env = production_env(tmp_path)
    assert esign(env, tmp_path, "init").returncode == 0
    user = json.loads(esign(env, tmp_path, "user", "create", "--name", "Lê Văn Tám", "--cccd", "001088001234").stdout)
    client = json.loads(esign(env, tmp_path, "client", "create", "--name", "Cổng DVC").stdout)
    granted = esign(env, tmp_path, "client", "grant", client["client_id"], user["user_id"])
    assert granted.returncode == 0, granted.stderr
    assert json.loads(granted.stdout) == {
        "client_id": client["client_id"],
        "user_id": user["user_id"],
        "granted": True,
        "new": True,
    }
    revoked = esign(env, tmp_path, "client", "revoke-grant", client["client_id"], user["user_id"])
    assert revoked.returncode == 0 and json.loads(revoked.stdout)["granted"] is False
    again = esign(env, tmp_path, "client", "revoke-grant", client["client_id"], user["user_id"])
    assert again.returncode != 0
