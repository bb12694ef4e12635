"""``esign edxml``: build, show, validate, verify, answer (status) and unpack edXML packages.

Output in Vietnamese or English (``--lang``, default from the locale). Exit codes as the other
verify commands: 0 passed / valid, 1 failed / problems found, 3 INDETERMINATE, 2 refused input.
"""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Annotated, Any

import typer

from esign.errors import EsignError
from esign.signers.cli_options import CredentialOption, OtpOption
from esign.verify_cli import EXIT_FAILED, EXIT_INDETERMINATE, EXIT_PASSED, EXIT_REFUSED, language

app = typer.Typer(help="edXML document exchange packages (QCVN 102:2016).", no_args_is_help=True)

TEXT: dict[str, dict[str, str]] = {
    "en": {
        "package": "Package",
        "document": "document",
        "status": "status",
        "from": "From",
        "to": "To",
        "code": "Number",
        "subject": "Subject",
        "date": "Promulgated",
        "document_id": "Document id",
        "business": "Business",
        "trace": "Trace",
        "attachment": "Attachment",
        "envelope": "Envelope signature",
        "status_code": "Status",
        "response_for": "About document",
        "valid": "valid: no problems found",
        "problems": "{n} problem(s):",
        "result": "Result",
        "organizations": "Organization codes",
        "no_signature": "no signature",
        "written": "written: {path}",
        "reasons": "Why",
    },
    "vi": {
        "package": "Gói tin",
        "document": "văn bản",
        "status": "trạng thái",
        "from": "Nơi gửi",
        "to": "Nơi nhận",
        "code": "Số, ký hiệu",
        "subject": "Trích yếu",
        "date": "Ngày ban hành",
        "document_id": "Mã văn bản",
        "business": "Nghiệp vụ",
        "trace": "Vết chuyển",
        "attachment": "Tệp đính kèm",
        "envelope": "Chữ ký gói tin",
        "status_code": "Trạng thái",
        "response_for": "Về văn bản",
        "valid": "hợp lệ: không có lỗi",
        "problems": "{n} lỗi:",
        "result": "Kết quả",
        "organizations": "Mã định danh cơ quan",
        "no_signature": "không có chữ ký",
        "written": "đã ghi: {path}",
        "reasons": "Lý do",
    },
}
ENVELOPE_KINDS = {
    "en": {"xmldsig": "XMLDSig", "placeholder": "placeholder only", "foreign": "not XMLDSig", "absent": "none"},
    "vi": {
        "xmldsig": "XMLDSig",
        "placeholder": "chỉ có chỗ trống",
        "foreign": "không phải XMLDSig",
        "absent": "không có",
    },
}
OUTCOMES = {
    "en": {"ok": "ok", "unknown": "unknown", "closed": "closed", "invalid": "invalid", "not-checked": "not checked"},
    "vi": {
        "ok": "hợp lệ",
        "unknown": "không có trong danh mục",
        "closed": "đã đóng",
        "invalid": "sai định dạng",
        "not-checked": "chưa kiểm tra",
    },
}

LangOption = Annotated[str | None, typer.Option("--lang", help="Output language: vi or en (default: the locale).")]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON.")]
RegistryOption = Annotated[
    Path | None,
    typer.Option("--registry", help="Organization codes (the server's export: esign orgid admin export, CSV/JSON)."),
]


def _fail(exc: BaseException) -> typer.Exit:
    typer.echo(f"error: {exc}", err=True)
    return typer.Exit(EXIT_REFUSED)


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise _fail(exc) from None


def _registry(path: Path | None) -> Any:
    from esign.edxml.registry import RegistryEntry, StaticRegistry
    from esign.orgid import load_level1

    if path is not None:
        return StaticRegistry.load(path)
    # Without a registry file, the shipped level-1 list still names provinces and ministries.
    return StaticRegistry(RegistryEntry(e.code, e.name, e.status.value) for e in load_level1())


def _signer(
    key: Path | None,
    password: str | None,
    cert: Path | None,
    remote: str | None,
    credential: str | None,
    otp: str | None,
    name: str,
) -> Any:
    from esign.signers import FileSigner

    if remote:
        from esign.signers.remote import console_signer

        return console_signer(remote, credential, otp=otp, document_name=name)
    if key is None:
        return None
    if cert is not None:
        return FileSigner.from_pem(key, cert, password)
    return FileSigner.from_pkcs12(key, password)


KeyOption = Annotated[
    Path | None, typer.Option("--key", help="Sign the envelope: PKCS#12 file, or PEM key with --cert.")
]
PasswordOption = Annotated[
    str | None, typer.Option("--password", envvar="ESIGN_KEY_PASSWORD", help="Key password (or ESIGN_KEY_PASSWORD).")
]
CertOption = Annotated[Path | None, typer.Option("--cert", help="PEM certificate (+ chain) for a PEM key.")]
RemoteOption = Annotated[
    str | None,
    typer.Option("--remote", help="Sign the envelope with a key on a CSC v2 service (confirm on the phone)."),
]


def _write(data: bytes, output: Path, signer: Any, lang: str) -> None:
    from esign.edxml.signing import sign_package

    if signer is not None:
        data = sign_package(data, signer)
    output.write_bytes(data)
    typer.echo(TEXT[lang]["written"].format(path=output))


@app.command()
def build(
    files: Annotated[list[Path], typer.Argument(help="The files to attach (PDF, DOCX, signed XML, ...).")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Where to write the package.")],
    sender: Annotated[str, typer.Option("--from", help="Sender's organization code (H49.22 or 000.00.22.H49).")],
    receivers: Annotated[list[str], typer.Option("--to", help="A receiver's code; repeatable.")],
    code: Annotated[str, typer.Option("--code", help="Document number (CodeNumber), e.g. 123.")],
    notation: Annotated[str, typer.Option("--notation", help="Document notation (CodeNotation), e.g. UBND-VP.")],
    subject: Annotated[str, typer.Option("--subject", help="Subject (trích yếu).")],
    sender_name: Annotated[str | None, typer.Option("--from-name", help="Sender's name (default: registry).")] = None,
    issued: Annotated[str | None, typer.Option("--date", help="Promulgation date yyyy-mm-dd (default today).")] = None,
    place: Annotated[str | None, typer.Option("--place", help="Place of promulgation.")] = None,
    type_name: Annotated[str | None, typer.Option("--type-name", help="Document type name (Công văn, ...).")] = None,
    signer_name: Annotated[str | None, typer.Option("--signer-name", help="Who signed the document.")] = None,
    signer_position: Annotated[str | None, typer.Option("--signer-position", help="The signer's position.")] = None,
    registry: RegistryOption = None,
    key: KeyOption = None,
    password: PasswordOption = None,
    cert: CertOption = None,
    remote: RemoteOption = None,
    credential: CredentialOption = None,
    otp: OtpOption = None,
    lang: LangOption = None,
) -> None:
    """Build a package from FILES; organization names come from --registry; sign it with --key or --remote."""
    from esign.edxml import DocumentType, SignerInfo, build_package, to_bytes
    from esign.edxml.packages import organization

    try:
        lang = language(lang)
        known = _registry(registry)
        origin = organization(sender, known)
        if sender_name:
            origin.organ_name = sender_name
        package = build_package(
            sender=origin,
            receivers=receivers,
            code_number=code,
            code_notation=notation,
            subject=subject,
            files=files,
            promulgation_date=date.fromisoformat(issued) if issued else None,
            place=place,
            document_type=DocumentType(type="2", type_name=type_name) if type_name else None,
            signer_info=SignerInfo(position=signer_position, full_name=signer_name),
            registry=known,
        )
        signer = _signer(key, password, cert, remote, credential, otp, output.name)
        _write(to_bytes(package), output, signer, lang)
    except (EsignError, OSError, ValueError) as exc:
        if "From/OrganName: required" in str(exc):
            typer.echo("hint: give --from-name, or --registry with the sender's code", err=True)
        raise _fail(exc) from None


def _show_lines(package: Any, lang: str) -> list[str]:
    from esign.edxml import BUSINESS_NAMES, STATUS_NAMES, BusinessDocType, StatusCode, StatusHeader

    t = TEXT[lang]
    index = 0 if lang == "vi" else 1
    header = package.header
    kind = t["status"] if package.is_status else t["document"]
    lines = [
        f"{t['package']}: {kind}",
        f"{t['from']}: {header.from_.organ_id} {header.from_.organ_name or ''}".rstrip(),
    ]
    if isinstance(header, StatusHeader):
        try:
            name = STATUS_NAMES[StatusCode(header.status_code or "")][index]
        except ValueError:
            name = "?"
        lines.append(f"{t['status_code']}: {header.status_code} ({name}) {header.timestamp or ''}".rstrip())
        if header.description:
            lines.append(f"  {header.description}")
        response = header.response_for
        lines.append(f"{t['response_for']}: {response.organ_id} {response.code or ''} {response.document_id or ''}")
    else:
        for to in header.to:
            lines.append(f"{t['to']}: {to.organ_id} {to.organ_name or ''}".rstrip())
        lines.append(f"{t['code']}: {header.code.code_number}/{header.code.code_notation}")
        lines.append(f"{t['date']}: {header.promulgation_info.promulgation_date or '-'}")
        lines.append(f"{t['subject']}: {header.subject or ''}")
        lines.append(f"{t['document_id']}: {header.document_id or '-'}")
    if package.business is not None and package.business.doc_type is not None:
        try:
            business = BUSINESS_NAMES[BusinessDocType(int(package.business.doc_type))][index]
        except ValueError:
            business = "?"
        reason = f": {package.business.reason}" if package.business.reason else ""
        lines.append(f"{t['business']}: {package.business.doc_type} ({business}){reason}")
    for trace in package.traces:
        lines.append(f"{t['trace']}: {trace.organ_id} {trace.timestamp}")
    for item in package.attachments:
        size = len(item.encoded) * 3 // 4 if item.encoded else 0
        lines.append(f"{t['attachment']}: {item.name} ({item.content_type}, ~{size} B zip) {item.content_id}")
    lines.append(f"{t['envelope']}: {ENVELOPE_KINDS[lang][package.signature.kind]}")
    return lines


@app.command()
def show(
    source: Annotated[Path, typer.Argument(help="The package (.edxml).")],
    as_json: JsonOption = False,
    lang: LangOption = None,
) -> None:
    """Print what a package says: sender, receivers, document, trace, attachments, signature."""
    import dataclasses

    from esign.edxml import parse_package

    try:
        lang = language(lang)
        package = parse_package(_read(source))
    except EsignError as exc:
        raise _fail(exc) from None
    if as_json:

        def plain(value: Any) -> Any:
            if isinstance(value, bytes):
                return len(value)
            if isinstance(value, Path):
                return str(value)
            return value

        data = dataclasses.asdict(package)
        for item in data["attachments"] + data["manifest"]:
            item["encoded"] = plain(item["encoded"])
            item["source"] = plain(item["source"])
            item["data"] = plain(item["data"])
        data["structure_problems"] = [str(p) for p in package.structure_problems]
        typer.echo(json.dumps(data, ensure_ascii=False, indent=2))
        return
    typer.echo("\n".join(_show_lines(package, lang)))


@app.command()
def validate(
    source: Annotated[Path, typer.Argument(help="The package (.edxml).")],
    as_json: JsonOption = False,
    lang: LangOption = None,
) -> None:
    """Check a package against QCVN 102:2016; list every problem by path. Exit 0 valid, 1 problems, 2 refused."""
    from esign.edxml import parse_package
    from esign.edxml import validate as check

    try:
        lang = language(lang)
        problems = check(parse_package(_read(source)))
    except EsignError as exc:
        raise _fail(exc) from None
    if as_json:
        typer.echo(json.dumps([{"path": p.path, "message": p.message} for p in problems], ensure_ascii=False))
    elif problems:
        typer.echo(TEXT[lang]["problems"].format(n=len(problems)))
        for problem in problems:
            typer.echo(f"  {problem}")
    else:
        typer.echo(TEXT[lang]["valid"])
    raise typer.Exit(EXIT_FAILED if problems else EXIT_PASSED)


@app.command()
def verify(
    source: Annotated[Path, typer.Argument(help="The package (.edxml).")],
    trust: Annotated[
        list[Path] | None, typer.Option("--trust", help="Also trust this root (PEM/DER); repeatable.")
    ] = None,
    trust_only: Annotated[
        list[Path] | None, typer.Option("--trust-only", help="Trust only these roots; repeatable.")
    ] = None,
    registry: RegistryOption = None,
    fetch: Annotated[bool, typer.Option("--fetch", help="Fetch revocation data (OCSP, CRL) online.")] = False,
    accept_placeholder: Annotated[
        bool,
        typer.Option(
            "--accept-unsigned-envelope",
            help="Pass packages whose only signatures are in the attached documents (deployed systems).",
        ),
    ] = False,
    as_json: JsonOption = False,
    lang: LangOption = None,
) -> None:
    """Verify the envelope signature, every signed attachment and every organization code (--registry).

    Exit 0 TOTAL-PASSED, 1 TOTAL-FAILED, 3 INDETERMINATE, 2 refused input.
    """
    from esign.edxml import StaticRegistry, verify_package
    from esign.report import Indication
    from esign.verify_cli import trust_anchors

    try:
        lang = language(lang)
        result = verify_package(
            _read(source),
            trust_anchors=trust_anchors(trust, trust_only),
            registry=StaticRegistry.load(registry) if registry else None,
            allow_fetching=fetch,
            require_envelope_signature=not accept_placeholder,
        )
    except EsignError as exc:
        raise _fail(exc) from None
    if as_json:
        typer.echo(json.dumps(result.to_dict(), ensure_ascii=False, indent=2))
    else:
        typer.echo(_verify_text(result, lang))
    raise typer.Exit(
        {
            Indication.TOTAL_PASSED: EXIT_PASSED,
            Indication.TOTAL_FAILED: EXIT_FAILED,
            Indication.INDETERMINATE: EXIT_INDETERMINATE,
        }[result.indication]
    )


def _verify_text(result: Any, lang: str) -> str:
    t = TEXT[lang]
    lines = [f"{t['result']}: {result.indication.value}"]
    heads = (t["package"], t["from"], t["to"], t["code"], t["status_code"])
    lines += [line for line in _show_lines(result.package, lang) if line.startswith(heads)]
    if result.problems:
        lines.append(t["problems"].format(n=len(result.problems)))
        lines += [f"  {p}" for p in result.problems]
    envelope = result.envelope
    state = envelope.indication.value if envelope.indication else "-"
    lines.append(f"{t['envelope']}: {ENVELOPE_KINDS[lang][envelope.kind]}, {state} {envelope.message}".rstrip())
    if envelope.report is not None:
        lines += ["  " + line for line in envelope.report.to_text(lang).splitlines()]
    for check in result.attachments:
        state = check.indication.value if check.indication else t["no_signature"]
        lines.append(f"{t['attachment']}: {check.name} ({check.kind}, {check.size} B): {state} {check.error}".rstrip())
        for report in check.reports:
            lines += ["  " + line for line in report.to_text(lang).splitlines()]
    if result.organizations:
        lines.append(f"{t['organizations']}:")
        for org in result.organizations:
            lines.append(f"  {org.code}: {OUTCOMES[lang][org.outcome]} {org.detail}".rstrip())
    if result.reasons:
        lines.append(f"{t['reasons']}:")
        lines += [f"  {reason}" for reason in result.reasons]
    return "\n".join(lines)


@app.command()
def status(
    source: Annotated[Path, typer.Argument(help="The document package being answered.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Where to write the status package.")],
    sender: Annotated[str, typer.Option("--from", help="The answering organization's code (a receiver).")],
    code: Annotated[
        str,
        typer.Option(
            "--code",
            help="Status code: 01 arrived, 02 refused, 03 accepted, 04 assigned, "
            "05 processing, 06 finished, 13, 15, 16.",
        ),
    ],
    description: Annotated[str | None, typer.Option("--description", help="A note for the sender.")] = None,
    staff: Annotated[str | None, typer.Option("--staff", help="Who handles it.")] = None,
    department: Annotated[str | None, typer.Option("--department", help="The handling department.")] = None,
    registry: RegistryOption = None,
    key: KeyOption = None,
    password: PasswordOption = None,
    cert: CertOption = None,
    remote: RemoteOption = None,
    credential: CredentialOption = None,
    otp: OtpOption = None,
    lang: LangOption = None,
) -> None:
    """Answer a document package with a status package (signed with --key or --remote)."""
    from esign.edxml import StaffInfo, make_status, parse_package, to_bytes

    try:
        lang = language(lang)
        original = parse_package(_read(source))
        if original.is_status:
            raise _fail(EsignError("that is a status package; answer the document package"))
        if sender not in original.recipients:
            typer.echo(f"warning: {sender} is not among the receivers ({', '.join(original.recipients)})", err=True)
        package = make_status(
            original,
            sender=sender,
            status=code,
            description=description,
            staff=StaffInfo(department=department, staff=staff),
            registry=_registry(registry),
        )
        signer = _signer(key, password, cert, remote, credential, otp, output.name)
        _write(to_bytes(package), output, signer, lang)
    except (EsignError, OSError) as exc:
        raise _fail(exc) from None


@app.command()
def extract(
    source: Annotated[Path, typer.Argument(help="The package (.edxml).")],
    directory: Annotated[Path, typer.Option("--directory", "-d", help="Where to unpack the attached files.")],
    lang: LangOption = None,
) -> None:
    """Unpack every attached file (from its ZIP) into DIRECTORY."""
    from esign.edxml import extract_attachments

    try:
        lang = language(lang)
        written = extract_attachments(source, directory)  # streamed: one attachment in memory at a time
    except (EsignError, OSError) as exc:
        raise _fail(exc) from None
    for path in written:
        typer.echo(TEXT[lang]["written"].format(path=path))
