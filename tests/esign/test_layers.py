"""The dependency direction of ARCHITECTURE.md: server -> esign <- clients, and a library without web or DB."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _imported_modules(package: Path) -> set[tuple[str, str]]:
    found = set()
    for path in package.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                found |= {(str(path.relative_to(ROOT)), alias.name) for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                found.add((str(path.relative_to(ROOT)), node.module))
    return found


def test_library_never_imports_the_server_or_the_clients() -> None:
    # esign/cli.py names the optional groups as strings and imports them lazily; nothing imports them.
    offenders = [
        (file, module)
        for file, module in _imported_modules(ROOT / "esign")
        if module.split(".")[0] in ("esign_server", "esign_client")
    ]
    assert offenders == []


def test_clients_never_import_the_server() -> None:
    offenders = [
        (file, module)
        for file, module in _imported_modules(ROOT / "clients" / "python")
        if module.split(".")[0] == "esign_server"
    ]
    assert offenders == []


def test_importing_the_library_loads_no_web_framework_or_database() -> None:
    code = (
        "import sys, esign, esign.pdf, esign.xml, esign.pki, esign.signers, esign.orgid, esign.identity, esign.report\n"
        "bad = sorted(m for m in ('fastapi', 'starlette', 'sqlalchemy', 'sqlmodel', 'psycopg', 'uvicorn', 'alembic')"
        " if m in sys.modules)\n"
        "print(','.join(bad))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == ""
