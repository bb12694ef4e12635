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


def _change(username: str, change: str) -> None:
    from esign_server.admin_console import accounts
    from esign_server.cli import _context

    ctx = _context()
    try:
        if change == "unlock":
            account = accounts.unlock(ctx, username=username, actor=CLI_ACTOR)
        else:
            account = accounts.set_active(ctx, username=username, active=change == "enable", actor=CLI_ACTOR)
    except EsignError as exc:
        typer.echo(f"error: {exc.message}", err=True)
        raise typer.Exit(1) from None
    typer.echo(
        json.dumps({"username": account.username, "status": account.status, "failed_logins": account.failed_logins})
    )


@admin_app.command("disable-account")
def disable_account(username: str) -> None:
    """Disable a console account: its sessions end at once and it cannot sign in."""
    _change(username, "disable")


@admin_app.command("enable-account")
def enable_account(username: str) -> None:
    """Enable a disabled console account again."""
    _change(username, "enable")


@admin_app.command("unlock-account")
def unlock_account(username: str) -> None:
    """Lift the lockout that failed sign-ins put on an account."""
    _change(username, "unlock")


@admin_app.command("list-accounts")
def list_accounts() -> None:
    """Console accounts, one JSON object a line (no secrets)."""
    from esign_server.admin_console import accounts
    from esign_server.cli import _context

    for account in accounts.list_accounts(_context()):
        typer.echo(
            json.dumps(
                {
                    "username": account.username,
                    "full_name": account.full_name,
                    "roles": account.roles.split(),
                    "status": account.status,
                    "locked_until": account.locked_until.isoformat() if account.locked_until else None,
                    "last_login_at": account.last_login_at.isoformat() if account.last_login_at else None,
                },
                ensure_ascii=False,
            )
        )
