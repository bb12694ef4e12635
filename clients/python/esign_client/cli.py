"""``esign remote``: talk to a signing service from the shell (CSC API and signing sessions).

Credentials come from ``--client-id``/``--client-secret`` or ``$ESIGN_CLIENT_ID``/``$ESIGN_CLIENT_SECRET``
(or a ready ``$ESIGN_ACCESS_TOKEN``); the service URL from ``--url`` or ``$ESIGN_URL``.
"""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path
from typing import Annotated

import typer

from esign.errors import EsignError

app = typer.Typer(help="Use a remote signing service (CSC API v2, signing sessions).", no_args_is_help=True)

Url = Annotated[str, typer.Option("--url", envvar="ESIGN_URL", help="Service base URL.")]
ClientId = Annotated[str | None, typer.Option("--client-id", envvar="ESIGN_CLIENT_ID")]
ClientSecret = Annotated[str | None, typer.Option("--client-secret", envvar="ESIGN_CLIENT_SECRET")]
Token = Annotated[str | None, typer.Option("--token", envvar="ESIGN_ACCESS_TOKEN", help="A ready access token.")]


def _fail(exc: EsignError) -> typer.Exit:
    typer.echo(f"error: {exc}", err=True)
    return typer.Exit(2)


@app.command()
def info(url: Url) -> None:
    """What the service says about itself (CSC ``info``)."""
    import httpx

    try:
        response = httpx.post(f"{url.rstrip('/')}/csc/v2/info", json={}, timeout=30)
    except httpx.HTTPError as exc:
        typer.echo(f"error: cannot reach {url}: {exc}", err=True)
        raise typer.Exit(2) from None
    typer.echo(json.dumps(response.json(), ensure_ascii=False, indent=2))


@app.command()
def credentials(
    user_id: Annotated[str, typer.Argument(help="The user's id on the service.")],
    url: Url,
    client_id: ClientId = None,
    client_secret: ClientSecret = None,
    token: Token = None,
) -> None:
    """A user's credentials: id, key algorithms, certificate subject."""
    from esign_client.csc import CscClient

    try:
        with CscClient(url, client_id=client_id, client_secret=client_secret, access_token=token) as csc:
            for credential_id in csc.credentials_list(user_id):
                cred = csc.credentials_info(credential_id)
                typer.echo(f"{credential_id}  {cred.key_algorithms[0]}  {cred.certificate.subject.rfc4514_string()}")
    except EsignError as exc:
        raise _fail(exc) from None


@app.command("sign-file")
def sign_file(
    file: Annotated[Path, typer.Argument(help="File whose SHA-256 is signed (the file itself stays here).")],
    credential: Annotated[str, typer.Option("--credential", help="Credential id.")],
    url: Url,
    otp: Annotated[str | None, typer.Option("--otp", help="OTP (default: confirm on the phone).")] = None,
    client_id: ClientId = None,
    client_secret: ClientSecret = None,
    token: Token = None,
) -> None:
    """Sign the SHA-256 of FILE with a key on the service; prints the base64 signature."""
    from esign.signers.remote import console_signer

    try:
        signer = console_signer(
            url, credential, client_id=client_id, client_secret=client_secret, access_token=token, otp=otp
        )
        signature = signer.sign_digest_sync(hashlib.sha256(file.read_bytes()).digest())
    except EsignError as exc:
        raise _fail(exc) from None
    except OSError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    typer.echo(base64.b64encode(signature).decode())


@app.command("session")
def session_status(
    session_id: Annotated[str, typer.Argument(help="Signing session id.")],
    url: Url,
    wait: Annotated[float, typer.Option("--wait", help="Wait up to this many seconds for the end.")] = 0,
    client_id: ClientId = None,
    client_secret: ClientSecret = None,
    token: Token = None,
) -> None:
    """A signing session's status (and signatures once signed), as JSON."""
    from esign_client.sessions import EsignClient

    try:
        with EsignClient(url, client_id=client_id, client_secret=client_secret, access_token=token) as api:
            session = api.wait(session_id, timeout=wait, poll=min(wait, 25)) if wait else api.get_session(session_id)
    except EsignError as exc:
        raise _fail(exc) from None
    typer.echo(json.dumps(session.raw, ensure_ascii=False, indent=2))
