"""``esign server exchange ...``: the exchange node's bindings and peer routes from the command line, the
same changes (and audit events) as ``/api/admin/exchange``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from esign_server.app import create_app
from esign_server.config import Settings
from esign_server.context import ServerContext

ESIGN = str(Path(sys.executable).parent / "esign")
PEER_SECRET = "peer-issued-secret-5f1c9a2e"


def esign(env: dict[str, str], cwd: Path, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [ESIGN, "server", *args], env=env, cwd=cwd, input=stdin, capture_output=True, text=True, timeout=120
    )


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    """A dev-mode server folder, initialised (the level-1 codes such as H49 are in the registry)."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith("ESIGN_")}
    environment.update(ESIGN_DEV_MODE="1", ESIGN_VAR_DIR=str(tmp_path / "var"), COLUMNS="200")
    init = esign(environment, tmp_path, "init", "--no-admin")
    assert init.returncode == 0, init.stderr
    return environment


@pytest.fixture
async def admin_http(env: dict[str, str], tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    """The admin API of the same database, with an admin client's token."""
    made = esign(env, tmp_path, "client", "create", "--name", "Admin", "--scope", "admin")
    admin = json.loads(made.stdout)
    ctx = ServerContext(Settings(_env_file=None, dev_mode=True, var_dir=tmp_path / "var"))
    transport = httpx.ASGITransport(app=create_app(ctx=ctx))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        token = await client.post(
            "/oauth2/token",
            data={
                "grant_type": "client_credentials",
                "client_id": admin["client_id"],
                "client_secret": admin["client_secret"],
                "scope": "admin",
            },
        )
        assert token.status_code == 200, token.text
        client.headers["Authorization"] = f"Bearer {token.json()['access_token']}"
        yield client
    ctx.close()


async def test_a_code_bound_from_the_cli_is_listed_and_seen_by_the_admin_api(
    env: dict[str, str], tmp_path: Path, admin_http: httpx.AsyncClient
) -> None:
    system = json.loads(esign(env, tmp_path, "client", "create", "--name", "QLVB", "--scope", "exchange").stdout)
    client_id = system["client_id"]

    bound = esign(env, tmp_path, "exchange", "bind", "H49", client_id)
    assert bound.returncode == 0, bound.stderr
    assert json.loads(bound.stdout) == {
        "org_code": "H49",
        "client_id": client_id,
        "subtree": False,
        "credential_id": None,
    }

    table = esign(env, tmp_path, "exchange", "bindings")
    assert table.returncode == 0, table.stderr
    row = next(line for line in table.stdout.splitlines() if client_id in line)
    assert "H49" in row and "no" in row
    listed = json.loads(esign(env, tmp_path, "exchange", "bindings", "--json").stdout)
    assert listed == [{"org_code": "H49", "client_id": client_id, "subtree": False, "credential_id": None}]

    seen = await admin_http.get("/api/admin/exchange/bindings", params={"client_id": client_id})
    assert seen.status_code == 200 and seen.json() == listed

    # Binding again with --subtree replaces the pair's binding, as PUT does.
    again = esign(env, tmp_path, "exchange", "bind", "H49", client_id, "--subtree")
    assert again.returncode == 0 and json.loads(again.stdout)["subtree"] is True
    assert (await admin_http.get("/api/admin/exchange/bindings")).json()[0]["subtree"] is True

    unbound = esign(env, tmp_path, "exchange", "unbind", "H49", client_id)
    assert unbound.returncode == 0, unbound.stderr
    assert json.loads(unbound.stdout) == {"org_code": "H49", "client_id": client_id, "bound": False}
    assert (await admin_http.get("/api/admin/exchange/bindings")).json() == []
    assert "no bindings" in esign(env, tmp_path, "exchange", "bindings").stdout
    missing = esign(env, tmp_path, "exchange", "unbind", "H49", client_id)
    assert missing.returncode == 1 and "not bound" in missing.stderr

    events = (await admin_http.get("/api/admin/audit/events", params={"limit": 1000})).json()
    changes = [(e["actor"], e["action"], e["target"]) for e in events if e["action"].startswith("exchange.")]
    assert changes == [
        ("cli", "exchange.binding_set", "orgid:H49"),
        ("cli", "exchange.binding_set", "orgid:H49"),
        ("cli", "exchange.binding_removed", "orgid:H49"),
    ]
    check = await admin_http.get("/api/admin/audit/verify")
    assert check.json()["ok"] is True


def test_an_unknown_code_or_client_is_one_clear_line_and_a_failure(env: dict[str, str], tmp_path: Path) -> None:
    system = json.loads(esign(env, tmp_path, "client", "create", "--name", "QLVB", "--scope", "exchange").stdout)

    unknown_code = esign(env, tmp_path, "exchange", "bind", "H49.77", system["client_id"])
    assert unknown_code.returncode == 1 and unknown_code.stdout == ""
    assert "Traceback" not in unknown_code.stderr
    assert "H49.77 is not in the registry" in " ".join(unknown_code.stderr.split())

    unknown_client = esign(env, tmp_path, "exchange", "bind", "H49", "rs_0000000000000000")
    assert unknown_client.returncode == 1 and unknown_client.stdout == ""
    assert "no relying system rs_0000000000000000" in " ".join(unknown_client.stderr.split())

    bad_code = esign(env, tmp_path, "exchange", "unroute", "not a code")
    assert bad_code.returncode == 1 and "Traceback" not in bad_code.stderr

    assert json.loads(esign(env, tmp_path, "exchange", "bindings", "--json").stdout) == []


def test_a_route_takes_its_secret_from_the_environment_and_never_shows_it(env: dict[str, str], tmp_path: Path) -> None:
    args = ("exchange", "route", "H55", "--url", "https://truc.h55.gov.vn/", "--client-id", "rs_issued_by_h55")

    unset = esign(env, tmp_path, *args, "--client-secret-env", "PEER_SECRET")
    assert unset.returncode == 2 and "PEER_SECRET" in unset.stderr

    routed = esign({**env, "PEER_SECRET": PEER_SECRET}, tmp_path, *args, "--client-secret-env", "PEER_SECRET")
    assert routed.returncode == 0, routed.stderr
    assert json.loads(routed.stdout) == {
        "prefix": "H55",
        "url": "https://truc.h55.gov.vn",
        "client_id": "rs_issued_by_h55",
    }

    table = esign(env, tmp_path, "exchange", "routes")
    assert table.returncode == 0, table.stderr
    assert "https://truc.h55.gov.vn" in table.stdout and "rs_issued_by_h55" in table.stdout
    listed = esign(env, tmp_path, "exchange", "routes", "--json")
    assert json.loads(listed.stdout) == [json.loads(routed.stdout)]
    for output in (routed, table, listed):
        assert PEER_SECRET not in output.stdout + output.stderr

    # Without --client-secret-env the secret is prompted for (hidden input, here from stdin).
    prompted = esign(
        env,
        tmp_path,
        "exchange",
        "route",
        "H56",
        "--url",
        "https://truc.h56.gov.vn",
        "--client-id",
        "rs_issued_by_h56",
        stdin=PEER_SECRET + "\n",
    )
    assert prompted.returncode == 0, prompted.stderr
    assert PEER_SECRET not in prompted.stdout + prompted.stderr

    removed = esign(env, tmp_path, "exchange", "unroute", "H55")
    assert removed.returncode == 0 and json.loads(removed.stdout) == {"prefix": "H55", "routed": False}
    assert [r["prefix"] for r in json.loads(esign(env, tmp_path, "exchange", "routes", "--json").stdout)] == ["H56"]
    again = esign(env, tmp_path, "exchange", "unroute", "H55")
    assert again.returncode == 1 and "no route for H55" in again.stderr

    verified = esign(env, tmp_path, "audit", "verify")
    assert verified.returncode == 0 and "audit chain intact" in verified.stdout
