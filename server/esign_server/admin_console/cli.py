"""``esign server admin ...``: console accounts."""

from __future__ import annotations

import json
import sys
from typing import Annotated

import typer

from esign.errors import EsignError

admin_app = typer.Typer(no_args_is_help=True, help="Admin console accounts (sign-in at /admin/).")
CLI_ACTOR = "cli"


@admin_app.command("create-account")
def create_account(
    username: str,
    role: Annotated[
        list[str], typer.Option(help="registry_officer, identity_officer, credential_officer, auditor (repeat)")
    ],
    full_name: Annotated[str, typer.Option(help="Shown in the console")] = "",
    password_stdin: Annotated[bool, typer.Option("--password-stdin", help="Read the password from stdin")] = False,
) -> None:
    """Create a console account; prints its TOTP secret and otpauth URI once (for the officer's app)."""
    from esign_server.admin_console.accounts import create_account as create
    from esign_server.cli import _context

    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    try:
        new = create(_context(), username=username, full_name=full_name, password=password, roles=role, actor=CLI_ACTOR)
    except EsignError as exc:
        typer.echo(f"error: {exc.message}", err=True)
        raise typer.Exit(1) from None
    typer.echo(
        json.dumps(
            {
                "username": new.account.username,
                "roles": new.account.roles.split(),
                "totp_secret": new.totp_secret_b32,
                "otpauth_uri": new.otpauth_uri,
            }
        )
    )
