"""``esign orgid``: check, convert and list organization electronic identifier codes."""

from __future__ import annotations

import json

import typer

from esign.orgid.code import OrgIdentifier, OrgIdError, OrgIdForm, detect_form
from esign.orgid.seed import load_level1

app = typer.Typer(
    name="orgid",
    help="Organization electronic identifier codes (QĐ 20/2020/QĐ-TTg, QCVN 102:2016).",
    no_args_is_help=True,
)

ENTRY_POINT_GROUP = "esign.orgid.commands"
"""Entry points adding ``esign orgid`` subcommands from outside the library: the SDK's ``admin`` (the
server's registry over HTTP) is one; the library never imports the client."""


def _add_installed_commands() -> None:
    from importlib.metadata import entry_points

    for entry in entry_points(group=ENTRY_POINT_GROUP):
        try:
            app.add_typer(entry.load(), name=entry.name)
        except ImportError as exc:
            extra = entry.extras[0] if entry.extras else "client"
            _add_missing(entry.name, extra, exc)


def _add_missing(name: str, extra: str, exc: ImportError) -> None:
    def explain() -> None:
        typer.echo(f"esign orgid {name} is not available ({exc.name or exc}): pip install 'esign[{extra}]'", err=True)
        raise typer.Exit(2)

    settings = {"allow_extra_args": True, "ignore_unknown_options": True}
    app.command(name, help=f"(needs: pip install 'esign[{extra}]')", context_settings=settings)(explain)


_add_installed_commands()


def _parse_or_exit(code: str) -> tuple[OrgIdentifier, OrgIdForm]:
    try:
        form = detect_form(code.strip())
        return OrgIdentifier.parse(code, form), form
    except OrgIdError as exc:
        typer.echo(f"invalid: {exc.reason}", err=True)
        typer.echo(f"rule: {exc.rule}", err=True)
        if exc.position is not None:
            typer.echo(f"  {exc.text}\n  {' ' * exc.position}^ position {exc.position + 1}", err=True)
        raise typer.Exit(1) from None


@app.command()
def validate(
    code: str = typer.Argument(..., help="A code in either form: H49.22 or 000.00.22.H49."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """Check CODE; print its form, level, parent and QCVN 102 equivalent. Exit 1 with the reason if not."""
    parsed, form = _parse_or_exit(code)
    try:
        qcvn: str | None = parsed.to_qcvn()
        qcvn_note = qcvn
    except OrgIdError as exc:
        qcvn, qcvn_note = None, f"none ({exc.reason})"
    info = {
        "code": str(parsed),
        "form": form.value,
        "level": parsed.level,
        "kind": parsed.kind.value,
        "parent": str(parsed.parent) if parsed.parent else None,
        "qcvn": qcvn,
    }
    if as_json:
        typer.echo(json.dumps(info, ensure_ascii=False))
        return
    typer.echo(f"valid: {parsed}")
    typer.echo(f"form: {'QĐ 20/2020' if form is OrgIdForm.DECISION else 'QCVN 102:2016'}")
    known = {str(e.code): e for e in load_level1()}.get(parsed.level1)
    head = f", {known.name}{' (closed)' if known.status.value == 'closed' else ''}" if known else ""
    typer.echo(f"level: {parsed.level} ({parsed.kind.value} {parsed.level1}{head})")
    typer.echo(f"parent: {parsed.parent if parsed.parent else '-'}")
    typer.echo(f"QCVN 102: {qcvn_note}")


@app.command()
def convert(code: str = typer.Argument(..., help="A code in either form.")) -> None:
    """Print CODE in the other form (QĐ 20 <-> QCVN 102). Exit 1 when it has no such form."""
    parsed, form = _parse_or_exit(code)
    if form is OrgIdForm.QCVN:
        typer.echo(str(parsed))
        return
    try:
        typer.echo(parsed.to_qcvn())
    except OrgIdError as exc:
        typer.echo(f"not convertible: {exc.reason}", err=True)
        raise typer.Exit(1) from None


@app.command()
def seed(as_json: bool = typer.Option(False, "--json", help="Print a JSON array.")) -> None:
    """List the level-1 codes shipped with the project, with their sources."""
    entries = load_level1()
    if as_json:
        rows = [
            {"code": str(e.code), "name": e.name, "kind": e.kind.value, "status": e.status.value, "source": e.source}
            for e in entries
        ]
        typer.echo(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    for e in entries:
        typer.echo(f"{e.code!s:5} {e.status.value:7} {e.name}  [{e.source}]")
