"""``esign trust``: what the verify commands trust and why; an operator's additions and removals."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from esign.errors import EsignError

app = typer.Typer(help="The trust store: list, add and remove trusted root certificates.", no_args_is_help=True)


def _fail(exc: EsignError) -> typer.Exit:
    typer.echo(f"error: {exc}", err=True)
    return typer.Exit(2)


@app.command("list")
def list_anchors(
    trust: Annotated[
        list[Path] | None,
        typer.Option("--trust", help="Show the store as a verify command with this --trust would use it; repeatable."),
    ] = None,
    trust_only: Annotated[
        list[Path] | None,
        typer.Option("--trust-only", help="Show the store a verify command with this --trust-only would use."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="JSON output.")] = False,
) -> None:
    """List the trusted root certificates, why each is trusted (bundled / operator / caller), and the intermediates."""
    from esign.trust.store import fingerprint, operator_dir, resolve_store

    try:
        store = resolve_store(trust=list(trust or []) or None, trust_only=list(trust_only) if trust_only else None)
    except EsignError as exc:
        raise _fail(exc) from None
    anchors = [
        {
            "name": a.name,
            "source": a.source,
            "origin": a.origin,
            "subject": a.certificate.subject.rfc4514_string(),
            "sha256": a.sha256,
            "not_after": a.certificate.not_valid_after_utc.isoformat(),
        }
        for a in store.anchors
    ]
    intermediates = [
        {"subject": c.subject.rfc4514_string(), "issuer": c.issuer.rfc4514_string(), "sha256": fingerprint(c)}
        for c in store.intermediates
    ]
    if as_json:
        document = {
            "operator_dir": str(operator_dir()),
            "anchors": anchors,
            "intermediates": intermediates,
            "removed": list(store.removed),
        }
        typer.echo(json.dumps(document, ensure_ascii=False, indent=2))
        return
    typer.echo(f"Trusted roots ({len(anchors)}); operator directory: {operator_dir()}")
    for a in anchors:
        typer.echo(f"  [{a['source']}] {a['name']}  (until {a['not_after'][:10]})")
        typer.echo(f"      {a['subject']}")
        typer.echo(f"      SHA-256 {a['sha256']}  from {a['origin']}")
    if intermediates:
        typer.echo(f"Intermediates offered to path building, not trusted by themselves ({len(intermediates)}):")
        for i in intermediates:
            typer.echo(f"  {i['subject']}  (issued by {i['issuer']})")
    for pin in store.removed:
        typer.echo(f"Removed by the operator: SHA-256 {pin}")


@app.command("add")
def add(
    certificate: Annotated[Path, typer.Argument(help="Root certificate(s) to trust, PEM or DER.")],
) -> None:
    """Trust CERTIFICATE from now on (copied into the operator directory; $ESIGN_TRUST_DIR chooses it)."""
    from esign.trust.store import add_operator_anchor

    try:
        added = add_operator_anchor(certificate)
    except EsignError as exc:
        raise _fail(exc) from None
    for anchor in added:
        typer.echo(f"trusted: {anchor.name} (SHA-256 {anchor.sha256}) -> {anchor.origin}")


@app.command("remove")
def remove(
    sha256: Annotated[str, typer.Argument(help="SHA-256 fingerprint of the root to stop trusting (hex, colons ok).")],
) -> None:
    """Stop trusting a root (a bundled one too): recorded in the operator directory."""
    from esign.trust.store import remove_operator_anchor

    try:
        name = remove_operator_anchor(sha256)
    except EsignError as exc:
        raise _fail(exc) from None
    typer.echo(f"no longer trusted: {name}")


__all__ = ["app"]
