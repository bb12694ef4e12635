"""``esign pki``: create, inspect and serve the dev PKI."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from esign.pki.dev import DEFAULT_BASE_URL, DEV_PASSWORD, create_dev_pki, load_dev_pki, pki_password

app = typer.Typer(no_args_is_help=True)
out = Console()

PasswordOpt = Annotated[
    str | None,
    typer.Option("--password", envvar="ESIGN_PKI_PASSWORD", help="Password of keys and PKCS#12 files."),
]


@app.command()
def init(
    directory: Annotated[Path, typer.Argument(help="Empty or new directory for the PKI.")],
    password: PasswordOpt = None,
    base_url: Annotated[str, typer.Option(help="Where `esign pki serve` will answer OCSP/CRL/TSA.")] = DEFAULT_BASE_URL,
) -> None:
    """Create a dev PKI: root CA, issuing CA, TSA, OCSP responder, CRL, signer PKCS#12 files."""
    started = time.perf_counter()
    pki = create_dev_pki(directory, password, base_url=base_url)
    elapsed = time.perf_counter() - started
    out.print(f"[green]Dev PKI created[/green] in {directory} ({elapsed:.1f} s), services expected at {pki.base_url}")
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
    port: Annotated[int, typer.Option(help="TCP port on 127.0.0.1.")] = 8750,
    password: PasswordOpt = None,
) -> None:
    """Serve OCSP (/ocsp), CRL (/crl), CA certificates (/ca.pem) and time-stamps (/tsa) on 127.0.0.1."""
    from esign.pki.http import serve_pki

    pki = load_dev_pki(directory, password)
    server, thread = serve_pki(pki, port)
    out.print(f"PKI service for {directory} at {server.url} (certificates point at {pki.base_url}); Ctrl-C stops")
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
    rows = [("root.pem", pki.root_cert), ("issuing-ca.pem", pki.issuing_ca.certificate),
            ("tsa.pem", pki.tsa.certificate), ("ocsp.pem", pki.ocsp.responder_certificate)]
    rows += [(f"{n}.p12", pki.certificate(n)) for n in pki.signer_names]
    for file, cert in rows:
        table.add_row(file, cert.subject.rfc4514_string(), cert.not_valid_after_utc.date().isoformat())
    out.print(table)
    out.print(f"OCSP {pki.ocsp_url}  CRL {pki.crl_url}  TSA {pki.tsa_url}")
