"""``esign pdf``: sign, verify and extend PDF files (PAdES)."""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from esign.errors import EsignError, InvalidInput
from esign.signers.cli_options import CredentialOption, OtpOption, RemoteOption

if TYPE_CHECKING:
    from collections.abc import Sequence

    from esign.report import ValidationReport
    from esign.signers import Signer

app = typer.Typer(help="Sign, verify and extend PDF (PAdES).", no_args_is_help=True)


@app.callback()
def _quiet() -> None:
    """Sign, verify and extend PDF (PAdES)."""
    # pyHanko logs every failed path build with a traceback; the report already says what failed.
    logging.getLogger("pyhanko").setLevel(logging.CRITICAL)
    logging.getLogger("pyhanko_certvalidator").setLevel(logging.CRITICAL)


def _fail(exc: EsignError) -> typer.Exit:
    typer.echo(f"error: {exc}", err=True)
    return typer.Exit(2)


@app.command()
def sign(
    input: Annotated[Path, typer.Argument(help="PDF to sign.")],
    output: Annotated[Path, typer.Option("-o", "--output", help="Where to write the signed PDF.")],
    key: Annotated[Path | None, typer.Option("--key", help="PKCS#12 (.p12/.pfx) file with key and chain.")] = None,
    password: Annotated[
        str | None,
        typer.Option("--password", envvar="ESIGN_KEY_PASSWORD", help="PKCS#12 password (or $ESIGN_KEY_PASSWORD)."),
    ] = None,
    level: Annotated[str, typer.Option("--level", help="B-B, B-T, B-LT or B-LTA.")] = "B-B",
    tsa: Annotated[str | None, typer.Option("--tsa", help="RFC 3161 time-stamping URL (B-T and up).")] = None,
    reason: Annotated[str | None, typer.Option("--reason")] = None,
    location: Annotated[str | None, typer.Option("--location")] = None,
    contact: Annotated[str | None, typer.Option("--contact")] = None,
    field: Annotated[str | None, typer.Option("--field", help="Signature field name.")] = None,
    visible: Annotated[
        str | None, typer.Option("--visible", help="PAGE:x1,y1,x2,y2 in points, page 1 first (e.g. 1:50,50,300,130).")
    ] = None,
    language: Annotated[str, typer.Option("--language", help="Appearance language: vi or en.")] = "vi",
    certify: Annotated[
        int | None, typer.Option("--certify", help="Certification signature with DocMDP level 1, 2 or 3.")
    ] = None,
    trust: Annotated[
        list[Path] | None,
        typer.Option("--trust", help="Trust anchor for B-LT material (default: the root in the key's chain)."),
    ] = None,
    remote: RemoteOption = None,
    credential: CredentialOption = None,
    otp: OtpOption = None,
    preset: Annotated[
        str | None,
        typer.Option(
            "--preset",
            help="Decree 30 appearance: decree30.person, decree30.agency, decree30.attachment, "
            "decree30.copy or decree30.scan (docs/decree30.md).",
        ),
    ] = None,
    image: Annotated[
        Path | None,
        typer.Option("--image", help="--preset: the signature (person) or seal (agency, scan) PNG with transparency."),
    ] = None,
    marker: Annotated[
        str | None,
        typer.Option("--marker", help="decree30.person: placeholder text in the signature block's blank space."),
    ] = None,
    position: Annotated[
        str | None,
        typer.Option("--position", help="--preset: PAGE:x1,y1,x2,y2 instead of finding the place in the document."),
    ] = None,
    signer_name: Annotated[
        str | None,
        typer.Option("--signer-name", help="decree30.person: the printed full name (default: the certificate's)."),
    ] = None,
    seal_width_mm: Annotated[
        float | None,
        typer.Option("--seal-width-mm", help="decree30.agency/scan: the seal's real width if the PNG has no DPI."),
    ] = None,
    agency_name: Annotated[
        str | None,
        typer.Option("--agency-name", help="decree30.agency/copy/scan: the name shown (default: the certificate's)."),
    ] = None,
    document_number: Annotated[
        str | None,
        typer.Option("--document-number", help="decree30.attachment: number and notation, e.g. 125/STP-HCTP."),
    ] = None,
    copy_form: Annotated[
        str | None, typer.Option("--copy-form", help="decree30.copy: SAO Y, SAO LỤC or TRÍCH SAO.")
    ] = None,
) -> None:
    """Sign IN.pdf into OUT.pdf with a PKCS#12 key, or with a key on a remote signing service."""
    from esign.pdf.appearance import VisibleSignature
    from esign.pdf.signing import sign_pdf
    from esign.signers import FileSigner

    try:
        signer: Signer
        if remote:
            from esign.signers.remote import console_signer

            signer = console_signer(remote, credential, otp=otp, document_name=input.name)
        elif key is not None:
            signer = FileSigner.from_pkcs12(key, password)
        else:
            raise InvalidInput("give --key FILE.p12, or --remote URL --credential ID")
        if preset:
            _sign_preset(
                input,
                output,
                signer,
                preset=preset,
                image=image,
                marker=marker,
                field=field,
                position=position,
                signer_name=signer_name,
                seal_width_mm=seal_width_mm,
                agency_name=agency_name,
                document_number=document_number,
                copy_form=copy_form,
                level=level,
                tsa=tsa,
                reason=reason,
                location=location,
                trust=trust,
                conflicting=visible is not None or certify is not None,
            )
            typer.echo(f"signed {input} -> {output} (PAdES {level.upper()}, {preset})")
            return
        box = VisibleSignature.parse(visible, language=language) if visible else None
        sign_pdf(
            input,
            output,
            signer,
            level=level,
            tsa_url=tsa,
            reason=reason,
            location=location,
            contact=contact,
            field_name=field,
            visible=box,
            certify=certify if certify else False,
            trust=list(trust) if trust else None,
        )
    except EsignError as exc:
        raise _fail(exc) from None
    typer.echo(f"signed {input} -> {output} (PAdES {level.upper()})")


def _sign_preset(
    input: Path,
    output: Path,
    signer: Signer,
    *,
    preset: str,
    image: Path | None,
    marker: str | None,
    field: str | None,
    position: str | None,
    signer_name: str | None,
    seal_width_mm: float | None,
    agency_name: str | None,
    document_number: str | None,
    copy_form: str | None,
    level: str,
    tsa: str | None,
    reason: str | None,
    location: str | None,
    trust: list[Path] | None,
    conflicting: bool,
) -> None:
    """``--preset``: a Decree 30 appearance (esign.pdf.decree30)."""
    from esign.pdf.decree30 import Position, sign_decree30

    if conflicting:
        raise InvalidInput(
            "--preset draws its own appearance and is an approval signature: leave out --visible and --certify"
        )
    sign_decree30(
        input,
        output,
        signer,
        preset=preset,
        image=image,
        marker=marker,
        field_name=field,
        position=Position.parse(position) if position else None,
        signer_name=signer_name,
        seal_width_mm=seal_width_mm,
        agency_name=agency_name,
        document_number=document_number,
        copy_form=copy_form,
        level=level,
        tsa_url=tsa,
        reason=reason,
        location=location,
        trust=list(trust) if trust else None,
    )


@app.command()
def verify(
    file: Annotated[Path, typer.Argument(help="Signed PDF.")],
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
    as_json: Annotated[bool, typer.Option("--json", help="JSON output.")] = False,
    at: Annotated[
        str | None, typer.Option("--at", help="Validation time, ISO 8601 with a zone (e.g. 2026-01-31T12:00:00+07:00).")
    ] = None,
    fetch: Annotated[bool, typer.Option("--fetch", help="Check revocation online when the file lacks it.")] = False,
    reveal: Annotated[bool, typer.Option("--reveal", help="Show personal numbers unmasked.")] = False,
    lang: Annotated[
        str | None, typer.Option("--lang", help="Report language: vi or en (default: from the locale).")
    ] = None,
    report: Annotated[
        Path | None,
        typer.Option("--report", help="Also write a printable PDF validation report (one page per signature)."),
    ] = None,
    crl: Annotated[
        list[Path] | None,
        typer.Option("--crl", help="A CRL (DER or PEM) to check revocation with, besides the file's; repeatable."),
    ] = None,
    ocsp: Annotated[
        list[Path] | None, typer.Option("--ocsp", help="An OCSP response (DER) to check revocation with; repeatable.")
    ] = None,
    visual: Annotated[
        bool,
        typer.Option(
            "--visual",
            help="Render each signed revision and the file (pdftoppm) and name the pages that look different.",
        ),
    ] = False,
    signed_revision: Annotated[
        int | None,
        typer.Option(
            "--signed-revision",
            help="With -o: write the bytes signature N (1 = first) covered, i.e. the document as it was signed.",
        ),
    ] = None,
    output: Annotated[Path | None, typer.Option("-o", "--output", help="Where --signed-revision writes.")] = None,
) -> None:
    """Validate every signature. Exit 0 all TOTAL-PASSED, 1 TOTAL-FAILED, 3 INDETERMINATE, 2 refused input."""
    from esign.pdf.verify import verify_pdf
    from esign.verify_cli import language, parse_time, trust_anchors

    try:
        if signed_revision is not None:
            _write_signed_revision(file, signed_revision, output)
            return
        chosen = language(lang)
        moment = parse_time(at)
        anchors = trust_anchors(trust, trust_only)
        reports = verify_pdf(
            file,
            trust_anchors=anchors,
            at=moment,
            allow_fetching=fetch,
            reveal=reveal,
            crls=[_der(p) for p in crl or ()],
            ocsps=[_der(p) for p in ocsp or ()],
            visual=visual,
        )
        if not reports:  # as esign xml verify does: nothing to verify is refused input (exit 2)
            raise InvalidInput(f"{file}: the document holds no PDF signature")
        code = _emit_with_decree30(reports, file, chosen, as_json=as_json, report=report)
    except EsignError as exc:
        raise _fail(exc) from None
    except OSError as exc:
        from esign.errors import file_error_text

        typer.echo(f"error: {file_error_text(exc)}", err=True)
        raise typer.Exit(2) from None
    raise typer.Exit(code)


def _der(path: Path) -> bytes:
    """A DER object from a DER or PEM file (CRLs are often published in PEM)."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InvalidInput(f"cannot read {path}: {exc.strerror}") from None
    if data.lstrip().startswith(b"-----BEGIN"):
        import base64

        body = b"".join(line for line in data.splitlines() if line and not line.startswith(b"-----"))
        try:
            return base64.b64decode(body, validate=True)
        except ValueError:
            raise InvalidInput(f"{path} is not a valid PEM file") from None
    return data


DECREE30_ROLES: dict[str, dict[str, str]] = {
    "vi": {"person": "cá nhân (person)", "agency": "cơ quan, tổ chức (agency)"},
    "en": {},
}
"""How ``verify`` names a Decree 30 role in each report language (English: the role itself)."""


def _emit_with_decree30(
    reports: Sequence[ValidationReport], file: Path, lang: str, *, as_json: bool, report: Path | None
) -> int:
    """``verify``'s output, and for a Decree 30 document (a signature matches a preset) each
    signature's role and preset (esign.pdf.decree30.check_reports): a text section after the summary,
    or ``decree30`` in each JSON signature entry. Descriptive only: the exit code stays the verdict's."""
    import json

    from esign.pdf.decree30 import check_reports
    from esign.verify_cli import emit

    try:
        checks = {c.signature_id: c for c in check_reports(reports, file)}
    except EsignError:
        checks = {}  # a file the description cannot read still gets its verification report
    if not any(c.preset for c in checks.values()):
        return emit(reports, source=file, lang=lang, as_json=as_json, echo=typer.echo, report_pdf=report)
    if as_json:
        printed: list[str] = []
        code = emit(reports, source=file, lang=lang, as_json=True, echo=printed.append, report_pdf=report)
        document = json.loads("\n".join(printed))
        for entry in document.get("signatures", []):
            check = checks.get(entry.get("signature_id"))
            if check is not None:
                entry["decree30"] = {"role": check.role, "preset": check.preset, "problems": list(check.problems)}
        typer.echo(json.dumps(document, ensure_ascii=False, indent=2))
        return code
    code = emit(reports, source=file, lang=lang, as_json=False, echo=typer.echo, report_pdf=report)
    roles = DECREE30_ROLES.get(lang, {})
    typer.echo("\nNghị định 30/2020 (Decree 30):" if lang == "vi" else "\nDecree 30/2020:")
    for check in checks.values():
        role = roles.get(check.role or "", check.role or "?")
        preset = check.preset or ("không theo mẫu nào" if lang == "vi" else "no Decree 30 preset")
        typer.echo(f"  {check.signature_id}: {role}, {preset}")
        for problem in check.problems:
            typer.echo(f"    problem: {problem}")
    return code


def _write_signed_revision(file: Path, number: int, output: Path | None) -> None:
    """``--signed-revision N -o OUT.pdf``: the document exactly as signature N covered it."""
    from esign.pdf.verify import signed_revision

    if output is None:
        raise InvalidInput("--signed-revision needs -o OUT.pdf")
    data = signed_revision(file, number)
    try:
        output.write_bytes(data)
    except OSError as exc:
        raise InvalidInput(f"cannot write {output}: {exc.strerror}") from None
    typer.echo(f"wrote {output}: the {len(data)} bytes signature {number} covers (the document as signed)")


@app.command()
def decree30(
    file: Annotated[Path, typer.Argument(help="Signed PDF.")],
    trust: Annotated[
        list[Path] | None, typer.Option("--trust", help="Also trust this root certificate (PEM/DER); repeatable.")
    ] = None,
    trust_only: Annotated[
        list[Path] | None, typer.Option("--trust-only", help="Trust only these roots (PEM/DER); repeatable.")
    ] = None,
    fetch: Annotated[bool, typer.Option("--fetch", help="Check revocation online when the file lacks it.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="JSON output.")] = False,
) -> None:
    """Who signed in which role (person/agency) and which Decree 30 preset each signature matches.

    Exit 0 when every signature is TOTAL-PASSED and the agency's comes after a valid, intact
    person's signature; 1 otherwise; 2 refused input.
    """
    import json

    from esign.pdf.decree30 import check_reports
    from esign.pdf.verify import verify_pdf
    from esign.verify_cli import trust_anchors

    try:
        reports = verify_pdf(file, trust_anchors=trust_anchors(trust, trust_only), allow_fetching=fetch)
        checks = check_reports(reports, file)
    except EsignError as exc:
        raise _fail(exc) from None
    if as_json:
        typer.echo(json.dumps([c.to_dict() for c in checks], ensure_ascii=False, indent=2))
    else:
        for check in checks:
            verdict = "TOTAL-PASSED" if check.passed else "not passed (see esign pdf verify)"
            preset = check.preset or "no Decree 30 preset"
            typer.echo(f"{check.signature_id}: {check.role or '?'}, {preset}, {verdict}")
            for problem in check.problems:
                typer.echo(f"  problem: {problem}")
    ok = bool(checks) and all(c.passed and not c.problems for c in checks)
    raise typer.Exit(0 if ok else 1)


@app.command()
def extend(
    input: Annotated[Path, typer.Argument(help="Signed PDF.")],
    output: Annotated[Path, typer.Option("-o", "--output")],
    level: Annotated[str, typer.Option("--level", help="B-LT or B-LTA.")] = "B-LT",
    tsa: Annotated[str | None, typer.Option("--tsa", help="Time-stamping URL (B-LTA).")] = None,
    trust: Annotated[list[Path] | None, typer.Option("--trust", help="Trust anchor (PEM/DER).")] = None,
) -> None:
    """Add validation material (B-LT) and a document time-stamp (B-LTA) to a signed PDF."""
    from esign.pdf.signing import extend_pdf

    try:
        extend_pdf(input, output, level=level, tsa_url=tsa, trust=list(trust) if trust else None)
    except EsignError as exc:
        raise _fail(exc) from None
    typer.echo(f"extended {input} -> {output} (PAdES {level.upper()})")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(app())
