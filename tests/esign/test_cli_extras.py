"""`esign` groups that need an extra say which one to install when it is missing."""

from __future__ import annotations

import subprocess
import sys

# Make an installed package look absent: a None entry in sys.modules makes `import X` raise ImportError.
RUN_WITHOUT = "import sys; sys.modules[{module!r}] = None; from esign.cli import main; main({args!r})"


def _run_without(module: str, args: list[str]) -> subprocess.CompletedProcess[str]:
    code = RUN_WITHOUT.format(module=module, args=args)
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)


def test_server_group_without_fastapi_names_the_server_extra() -> None:
    result = _run_without("fastapi", ["server", "run"])
    assert result.returncode == 2
    assert "pip install 'esign[server]'" in result.stderr
    assert "Traceback" not in result.stderr


def test_remote_group_without_httpx_names_the_client_extra() -> None:
    result = _run_without("httpx", ["remote", "info"])
    assert result.returncode == 2
    assert "pip install 'esign[client]'" in result.stderr


def test_library_groups_work_without_the_server_extra() -> None:
    result = _run_without("fastapi", ["orgid", "validate", "H49.22"])
    assert result.returncode == 0, result.stderr
    assert "valid" in result.stdout


def test_server_and_remote_groups_are_found_through_entry_points_not_module_names() -> None:
    from importlib.metadata import entry_points
    from pathlib import Path

    import esign.cli

    found = {ep.name: ep.value for ep in entry_points(group=esign.cli.ENTRY_POINT_GROUP)}
    assert found["server"] == "esign_server.cli:app [server]"
    assert found["remote"] == "esign_client.cli:app [client]"
    source = Path(esign.cli.__file__).read_text()
    assert "esign_server" not in source and "esign_client" not in source


def test_the_server_group_loaded_from_its_entry_point_runs_its_commands() -> None:
    code = "from esign.cli import main; main(['server', '--help'])"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "The remote-signing server." in result.stdout
    for command in ("run", "init", "audit"):
        assert command in result.stdout
