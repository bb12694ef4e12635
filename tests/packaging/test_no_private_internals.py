"""No private name of the web and database stack is used by esign or its server.

A private name (``._something``) of FastAPI, Starlette, uvicorn, SQLAlchemy or SQLModel can change in
any release; the server is built on their public API only, so an upgrade is an upgrade. The check
reads the source: imports of private modules or names, attributes with a leading underscore looked
up on those libraries' modules and classes, and attributes that only those libraries define
privately looked up on any other object (``conn._handle_dbapi_exception``, ``model._sa_class_manager``).
"""

from __future__ import annotations

import ast
import importlib.util
import re
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LIBRARIES = ("fastapi", "starlette", "uvicorn", "sqlalchemy", "sqlmodel")
SOURCES = (ROOT / "esign", ROOT / "server" / "esign_server")
PUBLIC_UNDERSCORE = {"_asdict", "_mapping", "_fields", "_replace", "_make", "_t", "_tuple"}
"""Documented public API spelled with an underscore (SQLAlchemy's ``Row``, named tuples)."""


def _private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def _is_library(module: str | None) -> bool:
    return module is not None and module.split(".")[0] in LIBRARIES


@cache
def _library_private_names() -> frozenset[str]:
    """Underscore names the libraries define on their objects (attributes, methods, class members)."""
    found: set[str] = set()
    pattern = re.compile(r"(?:self\.|def |^\s+)(_[A-Za-z]\w*)", re.MULTILINE)
    for library in LIBRARIES:
        spec = importlib.util.find_spec(library)
        assert spec is not None and spec.submodule_search_locations, library
        for folder in spec.submodule_search_locations:
            for path in Path(folder).rglob("*.py"):
                found.update(pattern.findall(path.read_text(encoding="utf-8", errors="replace")))
    return frozenset(name for name in found if _private(name))


def _our_files() -> list[Path]:
    return sorted(p for folder in SOURCES for p in folder.rglob("*.py") if "migrations" not in p.parts)


@cache
def _our_private_names() -> frozenset[str]:
    """Underscore names our own code defines (so ``self._lock`` of our class is not taken for theirs)."""
    found: set[str] = set()
    for path in _our_files():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                found.add(node.name)
                if not isinstance(node, ast.ClassDef):
                    found.update(a.arg for a in node.args.args + node.args.kwonlyargs)
            elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
                found.add(node.attr)
            elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
                found.add(node.id)
            elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
                found.add(node.target.id)
            elif isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value.isidentifier():
                found.add(node.value)  # __slots__ entries
    return frozenset(name for name in found if _private(name))


def _violations(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    library_names: set[str] = set()
    problems: list[str] = []
    where = path.relative_to(ROOT)
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if _is_library(alias.name):
                    if any(_private(part) for part in alias.name.split(".")):
                        problems.append(f"{where}:{node.lineno}: import {alias.name}")
                    library_names.add((alias.asname or alias.name).split(".")[0])
        elif isinstance(node, ast.ImportFrom) and _is_library(node.module):
            assert node.module is not None
            if any(_private(part) for part in node.module.split(".")):
                problems.append(f"{where}:{node.lineno}: from {node.module} import ...")
            for alias in node.names:
                if _private(alias.name):
                    problems.append(f"{where}:{node.lineno}: from {node.module} import {alias.name}")
                library_names.add(alias.asname or alias.name)
    theirs = _library_private_names() - _our_private_names() - PUBLIC_UNDERSCORE
    for node in ast.walk(tree):
        if not isinstance(node, ast.Attribute) or not _private(node.attr) or node.attr in PUBLIC_UNDERSCORE:
            continue
        receiver = node.value
        on_library = isinstance(receiver, ast.Name) and receiver.id in library_names
        if on_library or node.attr.startswith("_sa_") or node.attr in theirs:
            problems.append(f"{where}:{node.lineno}: .{node.attr}")
    return sorted(problems, key=lambda problem: int(problem.split(":")[1]))


def test_no_private_name_of_fastapi_starlette_uvicorn_or_sqlalchemy_is_used() -> None:
    problems = [problem for path in _our_files() for problem in _violations(path)]
    assert problems == [], "\n".join(problems)


def test_the_check_finds_what_it_looks_for(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text(
        "import sqlalchemy as sa\n"
        "from fastapi._compat import x\n"
        "from starlette.routing import _private_thing\n"
        "from sqlalchemy import Engine\n"
        "def f(conn, model, engine: Engine):\n"
        "    conn._handle_dbapi_exception(1)\n"
        "    model._sa_class_manager\n"
        "    sa._private\n"
        "    Engine._run_ddl_visitor\n"
        "    row._asdict()\n"
    )
    global ROOT
    saved, ROOT = ROOT, tmp_path
    try:
        found = _violations(sample)
    finally:
        ROOT = saved
    assert [p.split(": ", 1)[1] for p in found] == [
        "from fastapi._compat import ...",
        "from starlette.routing import _private_thing",
        "._handle_dbapi_exception",
        "._sa_class_manager",
        "._private",
        "._run_ddl_visitor",
    ]
