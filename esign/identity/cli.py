"""``esign id``: tell what an identifier is and whether it is well formed."""

from __future__ import annotations

import json

import typer

from esign.identity.identifiers import IdentifierError, guess_identifier

app = typer.Typer(
    name="id",
    help="Identifiers of people and organizations (CCCD, CMND, HC, MST, MNS).",
    no_args_is_help=True,
)


@app.callback()
def main() -> None:
    """Identifiers of people and organizations (CCCD, CMND, HC, MST, MNS)."""


@app.command()
def check(
    value: str = typer.Argument(..., help='"CCCD:001203012389", "MST:0100109106", or a bare number.'),
    reveal: bool = typer.Option(False, "--reveal", help="Show personal numbers unmasked."),
    as_json: bool = typer.Option(False, "--json", help="Print a JSON array of the readings."),
) -> None:
    """Tell what VALUE is and whether it is well formed, with the reason. Exit 1 if no reading is valid.

    A bare number is read every way it can be (12 digits: citizen number, individual tax code, old
    identity card) and each reading is reported.
    """
    try:
        guesses = guess_identifier(value)
    except IdentifierError as exc:
        typer.echo(f"invalid: {exc.reason}", err=True)
        raise typer.Exit(1) from None
    rows = []
    for guess in guesses:
        ident = guess.identifier
        row: dict[str, object] = {"kind": guess.kind.value, "label": guess.kind.label}
        row["valid"] = ident is not None
        if ident is not None:
            row["uid"] = str(ident) if reveal else ident.masked()
            info = ident.citizen_info
            if info is not None:
                row.update(province=info.province, sex=info.sex.value, birth_year=info.birth_year)
        elif guess.error is not None:
            row["rule"] = guess.error.rule
            row["reason"] = guess.error.reason
        rows.append(row)
    if as_json:
        typer.echo(json.dumps(rows, ensure_ascii=False))
    else:
        for row in rows:
            if row["valid"]:
                extra = ""
                if "province" in row:
                    extra = f" - registered in {row['province']}, {row['sex']}, born {row['birth_year']}"
                typer.echo(f"{row['kind']}: valid {row['label']} {row['uid']}{extra}")
            else:
                typer.echo(f"{row['kind']}: not a valid {row['label']}: {row['reason']} [rule {row['rule']}]")
    if not any(row["valid"] for row in rows):
        raise typer.Exit(1)
