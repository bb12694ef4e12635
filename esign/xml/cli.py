"""``esign xml sign`` and ``esign xml verify``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from esign.signers.cli_options import CredentialOption, OtpOption, RemoteOption

app = typer.Typer(help="Sign and verify XML (XMLDSig, XAdES, e-invoice).", no_args_is_help=True)


@app.command()
def sign(
    source: Annotated[Path, typer.Argument(help="The XML document (or any file, for xmldsig-detached).")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Where to write the signed document.")],
    key: Annotated[
        Path | None, typer.Option("--key", help="PKCS#12 file (.p12/.pfx), or a PEM key with --cert.")
    ] = None,
    password: Annotated[
        str | None,
        typer.Option("--password", envvar="ESIGN_KEY_PASSWORD", help="Key password (or ESIGN_KEY_PASSWORD)."),
    ] = None,
    cert: Annotated[Path | None, typer.Option("--cert", help="PEM certificate (+ chain) for a PEM key.")] = None,
    profile: Annotated[
        str,
        typer.Option(
            "--profile",
            "-p",
            help="xmldsig-enveloped, xmldsig-enveloping, xmldsig-detached, xades-b-b, "
            "xades-b-t, xades-b-lt or einvoice.",
        ),
    ] = "xmldsig-enveloped",
    ref: Annotated[
        str | None, typer.Option("--ref", help="Id of the element to sign (default: whole document).")
    ] = None,
    parent: Annotated[
        str | None,
        typer.Option("--parent", help="Where the Signature goes: element Id or name (einvoice: NBan, NMua, ...)."),
    ] = None,
    digest: Annotated[str, typer.Option("--digest", help="sha256, sha384 or sha512.")] = "sha256",
    c14n: Annotated[str, typer.Option("--c14n", help="exclusive or inclusive.")] = "exclusive",
    scheme: Annotated[str | None, typer.Option("--scheme", help="rsa-pss to use RSASSA-PSS.")] = None,
    tsa: Annotated[str | None, typer.Option("--tsa", help="RFC 3161 time-stamping URL (B-T, B-LT).")] = None,
    remote: RemoteOption = None,
    credential: CredentialOption = None,
    otp: OtpOption = None,
) -> None:
    """Sign an XML document with a key file, or with a key on a remote signing service."""
    from esign.xml.commands import sign as run

    code = run(
        source,
        output,
        key=key,
        password=password,
        cert=cert,
        profile=profile,
        ref=ref,
        parent=parent,
        digest=digest,
        c14n=c14n,
        scheme=scheme,
        tsa=tsa,
        remote=remote,
        credential=credential,
        otp=otp,
        echo=typer.echo,
    )
    raise typer.Exit(code)


@app.command()
def verify(
    source: Annotated[Path, typer.Argument(help="The signed XML document.")],
    trust: Annotated[
        list[Path] | None,
        typer.Option(
            "--trust",
            help="Also trust this root certificate (PEM/DER); repeatable. Default: the Vietnamese "
            "trust store (esign trust list).",
        ),
    ] = None,
    trust_only: Annotated[
        list[Path] | None,
        typer.Option("--trust-only", help="Trust only these roots (PEM/DER), not the default store; repeatable."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the reports as JSON.")] = False,
    fetch: Annotated[bool, typer.Option("--fetch", help="Ask the signer's OCSP responder (network).")] = False,
    allow_weak: Annotated[
        bool,
        typer.Option("--allow-weak", help="Accept SHA-1/MD5 and short keys at any signing time (default: by date)."),
    ] = False,
    reveal: Annotated[bool, typer.Option("--reveal", help="Show personal numbers unmasked.")] = False,
    detached: Annotated[
        list[str] | None, typer.Option("--detached", help="URI=FILE for a detached reference; repeatable.")
    ] = None,
    profile: Annotated[
        str | None,
        typer.Option("--profile", help="Check the document's shape as einvoice, xades or xmldsig (default: detected)."),
    ] = None,
    intermediates: Annotated[
        list[Path] | None,
        typer.Option("--intermediates", help="CA certificates (PEM/DER) to build the signer's path; repeatable."),
    ] = None,
    lang: Annotated[
        str | None, typer.Option("--lang", help="Report language: vi or en (default: from the locale).")
    ] = None,
    report: Annotated[
        Path | None,
        typer.Option("--report", help="Also write a printable PDF validation report (one page per signature)."),
    ] = None,
    at: Annotated[
        str | None, typer.Option("--at", help="Validation time, ISO 8601 with a zone (e.g. 2026-01-31T12:00:00+07:00).")
    ] = None,
) -> None:
    """Verify every signature. Exit 0 all TOTAL-PASSED, 1 TOTAL-FAILED, 3 INDETERMINATE, 2 refused input."""
    from esign.xml.commands import verify as run

    code = run(
        source,
        trust,
        trust_only=trust_only,
        as_json=as_json,
        fetch=fetch,
        allow_weak=allow_weak,
        reveal=reveal,
        detached=detached,
        profile=profile,
        intermediates=intermediates,
        lang=lang,
        report=report,
        at=at,
        echo=typer.echo,
    )
    raise typer.Exit(code)


__all__ = ["app"]
