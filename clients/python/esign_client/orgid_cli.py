"""``esign orgid admin``: the server's organization identifier registry over its HTTP API.

Lookups (``show``, ``search``, ``children``, ``status``, ``export``) need only the server's URL;
changes (``issue``, ``amend``, ``close``, ``import``) need an admin client's credentials, from
``--client-id``/``--client-secret`` or ``ESIGN_CLIENT_ID``/``ESIGN_CLIENT_SECRET``. The requests are
:class:`esign_client.orgids.OrgIdClient`'s; ``esign orgid`` finds this group through the
``esign.orgid.commands`` entry point (``pip install 'esign[client]'``).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer

from esign_client.errors import ApiError
from esign_client.orgids import OrgIdClient

app = typer.Typer(
    name="admin",
    help="The server's registry of codes: look up, issue, amend, close, import, export.",
    no_args_is_help=True,
)


@dataclass
class Connection:
    """Where the server is and how to become its admin."""

    url: str
    client_id: str | None
    client_secret: str | None

    @contextmanager
    def client(self) -> Iterator[OrgIdClient]:
        """The registry client; a refusal exits 1 with the server's message (and every bad import row)."""
        registry = OrgIdClient(self.url, client_id=self.client_id, client_secret=self.client_secret)
        try:
            yield registry
        except ApiError as exc:
            _refused(exc)
        finally:
            registry.close_connection()


def _fail(message: str, code: int = 1) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def _refused(exc: ApiError) -> NoReturn:
    """Exit 1 with the server's ``{"error", "message"}`` (and every bad import row)."""
    typer.echo(f"error: {exc.description} [{exc.code}]", err=True)
    for problem in exc.body.get("errors") or ():
        if isinstance(problem, dict) and "line" in problem:
            typer.echo(f"  line {problem['line']}: {problem.get('code') or '-'}: {problem.get('reason')}", err=True)
    raise typer.Exit(1)


def _connection(ctx: typer.Context) -> Connection:
    conn = ctx.obj
    assert isinstance(conn, Connection)
    return conn


def _print(value: Any, as_json: bool) -> None:
    if as_json:
        typer.echo(json.dumps(value, ensure_ascii=False, indent=2))


def _line(code: dict[str, Any]) -> str:
    closed = f" closed: {code['closed_reason'] or ''}" if code["status"] == "closed" else ""
    heir = f" -> {code['successor']}" if code.get("successor") else ""
    return f"{code['code']:<16} {code['status']:<6} {code['name']}{closed}{heir}"


def _details(pairs: list[str] | None) -> dict[str, str] | None:
    if not pairs:
        return None
    out: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            _fail(f"--detail takes KEY=VALUE, not {pair!r}")
        out[key.strip()] = value.strip()
    return out


@app.callback()
def _connect(
    ctx: typer.Context,
    url: Annotated[str, typer.Option(envvar="ESIGN_URL", help="The server")] = "http://127.0.0.1:8750",
    client_id: Annotated[str | None, typer.Option(envvar="ESIGN_CLIENT_ID", help="Admin client id")] = None,
    client_secret: Annotated[str | None, typer.Option(envvar="ESIGN_CLIENT_SECRET", help="Admin client secret")] = None,
) -> None:
    """The server's registry of codes: look up, issue, amend, close, import, export."""
    ctx.obj = Connection(url, client_id, client_secret)


JsonOpt = Annotated[bool, typer.Option("--json", help="Print the server's JSON answer")]
DetailOpt = Annotated[list[str] | None, typer.Option("--detail", help="KEY=VALUE, repeatable")]


@app.command()
def show(ctx: typer.Context, code: str, as_json: JsonOpt = False) -> None:
    """A code, the organization it names and its history."""
    with _connection(ctx).client() as registry:
        row, history = registry.get(code), registry.history(code)
    if as_json:
        _print({**row, "history": history}, True)
        return
    typer.echo(_line(row))
    typer.echo(f"level {row['level']}, parent {row['parent'] or '-'}, QCVN 102 {row['qcvn'] or '-'}")
    if row["address"]:
        typer.echo(f"address: {row['address']}")
    for key, value in row["details"].items():
        typer.echo(f"{key}: {value}")
    for e in history:
        changes = json.dumps(e["changes"], ensure_ascii=False)
        typer.echo(f"  v{e['version']} {e['at'][:19]} {e['action']:<8} {e['actor']}: {changes}")


@app.command()
def search(
    ctx: typer.Context,
    name: Annotated[str | None, typer.Option(help="Words of the name; diacritics optional")] = None,
    prefix: Annotated[str | None, typer.Option(help="Code prefix, e.g. H49.")] = None,
    level: Annotated[int | None, typer.Option(min=1)] = None,
    status: Annotated[str | None, typer.Option(help="active or closed")] = None,
    limit: Annotated[int, typer.Option(min=1, max=500)] = 50,
    as_json: JsonOpt = False,
) -> None:
    """Find codes by name, prefix, level, status."""
    with _connection(ctx).client() as registry:
        page = registry.search(name=name, prefix=prefix, level=level, status=status, limit=limit)
    if as_json:
        _print(page, True)
        return
    for row in page["items"]:
        typer.echo(_line(row))
    typer.echo(f"({len(page['items'])} of {page['total']})")


@app.command()
def children(ctx: typer.Context, code: str, as_json: JsonOpt = False) -> None:
    """The codes one level below CODE."""
    with _connection(ctx).client() as registry:
        rows = registry.children(code)
    if as_json:
        _print(rows, True)
        return
    for row in rows:
        typer.echo(_line(row))


@app.command()
def status(ctx: typer.Context, code: str) -> None:
    """Whether the registry knows CODE as active; exit 0 only when it does."""
    with _connection(ctx).client() as registry:
        body = registry.status(code)
    typer.echo(json.dumps(body, ensure_ascii=False))
    if not body["active"]:
        raise typer.Exit(3)


@app.command()
def issue(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The organization's name")],
    parent: Annotated[str | None, typer.Option(help="Issue the next free code under this active code")] = None,
    group: Annotated[str | None, typer.Option(help="With --parent: this group instead of the next number")] = None,
    code: Annotated[str | None, typer.Option(help="This exact code (new level-1, or under an active parent)")] = None,
    address: Annotated[str, typer.Option()] = "",
    detail: DetailOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Issue a code to a new organization; prints the code."""
    details = _details(detail)
    with _connection(ctx).client() as registry:
        issued = registry.issue(name, parent=parent, group=group, code=code, address=address, details=details)
    _print(issued, as_json) if as_json else typer.echo(issued["code"])


@app.command()
def amend(
    ctx: typer.Context,
    code: str,
    name: Annotated[str | None, typer.Option()] = None,
    address: Annotated[str | None, typer.Option()] = None,
    detail: DetailOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Change an active code's name, address or details (``--detail`` replaces all details)."""
    details = _details(detail)
    with _connection(ctx).client() as registry:
        amended = registry.amend(code, name=name, address=address, details=details)
    _print(amended, as_json) if as_json else typer.echo(_line(amended))


@app.command()
def close(
    ctx: typer.Context,
    code: str,
    reason: Annotated[str, typer.Option(help="Why the code is closed")],
    successor: Annotated[str | None, typer.Option(help="The active code it merged into")] = None,
) -> None:
    """Close a code for good: it is never issued again."""
    with _connection(ctx).client() as registry:
        closed = registry.close(code, reason=reason, successor=successor)
    typer.echo(_line(closed))
    if closed.get("warning"):
        # Closing changes no certificate: say which live ones still name the code.
        typer.echo(f"warning: {closed['warning']}", err=True)
        for cert in closed.get("active_certificates", []):
            typer.echo(
                f"  credential {cert['credential_id']} ({cert['status']}), serial {cert['serial']}, "
                f"until {cert['not_after'][:10]}: {cert['subject']}",
                err=True,
            )


@app.command("import")
def import_(
    ctx: typer.Context,
    path: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="A CSV or JSON file")],
    fmt: Annotated[str | None, typer.Option("--format", help="csv or json (default: from the file name)")] = None,
) -> None:
    """Import codes: every row or none; every bad row is listed with its line number."""
    fmt = fmt or ("json" if path.suffix.lower() == ".json" else "csv")
    if fmt not in ("csv", "json"):
        _fail("--format is csv or json")
    with _connection(ctx).client() as registry:
        result = registry.import_codes(path.read_bytes(), fmt=fmt)
    typer.echo(f"imported: {result['created']} new, {result['unchanged']} already there")


@app.command()
def export(
    ctx: typer.Context,
    fmt: Annotated[str, typer.Option("--format", help="csv or json")] = "csv",
    output: Annotated[Path | None, typer.Option("-o", "--output", help="File (default: standard output)")] = None,
) -> None:
    """The whole registry as CSV or JSON (the form ``import`` takes)."""
    with _connection(ctx).client() as registry:
        data = registry.export(fmt)
    if output is None:
        typer.echo(data.decode("utf-8"), nl=False)
    else:
        output.write_bytes(data)
        typer.echo(f"wrote {output}", err=True)
