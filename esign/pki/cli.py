"""``esign pki``: create, inspect and serve the dev PKI."""

from __future__ import annotations

import errno
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from esign.errors import InvalidInput
from esign.pki.dev import DEV_PASSWORD, create_dev_pki, load_dev_pki, pki_password

app = typer.Typer(no_args_is_help=True)
out = Console(soft_wrap=True)

CLI_BASE_URL = "http://127.0.0.1:8751/pki"
"""Where ``esign pki serve`` answers by default: the server's ``/pki/...`` layout, on the port next to
the server's 8750, so the README's tour and ``make run`` can run side by side."""

PasswordOpt = Annotated[
    str | None,
    typer.Option("--password", envvar="ESIGN_PKI_PASSWORD", help="Password of keys and PKCS#12 files."),
]


@app.command()
def init(
    directory: Annotated[Path, typer.Argument(help="Empty or new directory for the PKI.")],
    password: PasswordOpt = None,
    base_url: Annotated[str, typer.Option(help="Where `esign pki serve` will answer OCSP/CRL/TSA.")] = CLI_BASE_URL,
) -> None:
    """Create a dev PKI: root CA, issuing CA, TSA, OCSP responder, CRL, signer PKCS#12 files."""
    if (directory / "pki.json").is_file():
        raise InvalidInput(
            f"{directory} already holds a PKI: use it as it is (esign pki show {directory}), or name a new folder"
        )
    pki = create_dev_pki(directory, password, base_url=base_url)
    out.print(f"[green]Dev PKI created[/green] in {directory}; `esign pki serve {directory}` answers at {pki.base_url}")
    if pki_password(password) == DEV_PASSWORD:
        out.print(f"[yellow]Using the dev-only password {DEV_PASSWORD!r}: never for real keys.[/yellow]")
    _print_pki(directory, password)


@app.command()
def show(directory: Path, password: PasswordOpt = None) -> None:
    """List the certificates of a dev PKI."""
    _print_pki(directory, password)


@app.command()
def serve(
    directory: Path,
    port: Annotated[
        int | None, typer.Option(help="TCP port on 127.0.0.1 (default: the port the certificates name).")
    ] = None,
    password: PasswordOpt = None,
) -> None:
    """Serve OCSP, CRL, CA certificates and time-stamps on 127.0.0.1, at the URLs the certificates name."""
    from esign.pki.http import serve_pki, url_port

    pki = load_dev_pki(directory, password)
    port = url_port(pki.base_url) if port is None else port
    try:
        server, thread = serve_pki(pki, port)
    except OSError as exc:
        if exc.errno != errno.EADDRINUSE:
            raise InvalidInput(f"cannot listen on 127.0.0.1:{port}: {exc.strerror}") from None
        raise InvalidInput(
            f"port {port} on 127.0.0.1 is already in use (another `esign pki serve` or `esign server`?); "
            "stop it, or give --port"
        ) from None
    if server.server_address[1] != url_port(pki.base_url):
        out.print(f"[yellow]the certificates name {pki.base_url}, not port {port}: OCSP/CRL fetches will miss[/yellow]")
    out.print(f"PKI service for {directory}: OCSP {pki.ocsp_url}  CRL {pki.crl_url}  TSA {pki.tsa_url}; Ctrl-C stops")
    try:
        thread.join()
    except KeyboardInterrupt:
        server.shutdown()


@app.command()
def revoke(
    directory: Path,
    name: Annotated[str, typer.Argument(help="Signer name (e.g. person-rsa2048) or hex serial.")],
    reason: str = "key_compromise",
    password: PasswordOpt = None,
) -> None:
    """Revoke a signer certificate; the CRL and OCSP answers change at once."""
    pki = load_dev_pki(directory, password)
    target: str | int = name if name in pki.signer_names else int(name, 16)
    pki.revoke(target, reason)
    out.print(f"revoked {name} ({reason})")


def _print_pki(directory: Path, password: str | None) -> None:
    pki = load_dev_pki(directory, password)
    table = Table("file", "subject", "valid until")
    rows = [
        ("root.pem", pki.root_cert),
        ("issuing-ca.pem", pki.issuing_ca.certificate),
        ("tsa.pem", pki.tsa.certificate),
        ("ocsp.pem", pki.ocsp.responder_certificate),
    ]
    rows += [(f"{n}.p12", pki.certificate(n)) for n in pki.signer_names]
    for file, cert in rows:
        table.add_row(file, cert.subject.rfc4514_string(), cert.not_valid_after_utc.date().isoformat())
    out.print(table)
    out.print(f"OCSP {pki.ocsp_url}  CRL {pki.crl_url}  TSA {pki.tsa_url}")
