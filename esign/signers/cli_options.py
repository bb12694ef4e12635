"""The command-line options for a key on a remote signing service, shared by ``esign pdf sign`` and
``esign xml sign`` (typer ``Annotated`` aliases: declared once, same names, help and defaults in both).

Imports typer: only the typer command modules import this one, never the library or the fast
``esign xml sign`` path (:mod:`esign.xml.commands`), which parses these options itself.
"""

from __future__ import annotations

from typing import Annotated

import typer

RemoteOption = Annotated[
    str | None,
    typer.Option(
        "--remote",
        help="CSC v2 signing service URL: the key stays there (client id/secret from "
        "$ESIGN_CLIENT_ID/$ESIGN_CLIENT_SECRET or $ESIGN_ACCESS_TOKEN).",
    ),
]
"""``--remote URL``: sign with a key held by a CSC v2 service (:func:`esign.signers.remote.console_signer`)."""

CredentialOption = Annotated[str | None, typer.Option("--credential", help="Credential id on --remote.")]
"""``--credential ID``: the credential to use on ``--remote``."""

OtpOption = Annotated[str | None, typer.Option("--otp", help="OTP for --remote (default: confirm on the phone).")]
"""``--otp CODE``: authorise ``--remote`` with a one-time password instead of a confirmation on the phone."""
