"""``esign server ...``: init, run, demo, audit verify, and admin commands.

Settings come from ``ESIGN_*`` environment variables and ``.env`` (see :mod:`esign_server.config`).
"""

from __future__ import annotations

import errno
import json
import os
import secrets
import shutil
import socket
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from esign.errors import EsignError
from esign_server.admin_console.cli import admin_app
from esign_server.config import Settings, get_settings

app = typer.Typer(no_args_is_help=True, help="The remote-signing server.", pretty_exceptions_enable=False)
audit_app = typer.Typer(no_args_is_help=True, help="The hash-chained audit log.")
user_app = typer.Typer(no_args_is_help=True, help="Users.")
client_app = typer.Typer(no_args_is_help=True, help="Relying systems (OAuth2 clients).")
credential_app = typer.Typer(no_args_is_help=True, help="Credentials: keys and certificates.")
exchange_app = typer.Typer(
    no_args_is_help=True, help="The document exchange node: organization codes bound to relying systems, peer routes."
)
app.add_typer(audit_app, name="audit")
app.add_typer(user_app, name="user")
app.add_typer(client_app, name="client")
app.add_typer(credential_app, name="credential")
app.add_typer(exchange_app, name="exchange")
app.add_typer(admin_app, name="admin")
out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)
CLI_ACTOR = "cli"


def _settings() -> Settings:
    try:
        return get_settings()
    except EsignError as exc:
        err.print(f"[red]{exc.message}[/red]")
        raise typer.Exit(2) from None


def _db_label(settings: Settings) -> str:
    # The URL without user and password.
    return settings.database_url.split("@")[-1]


def require_initialised(settings: Settings) -> None:
    """Exit with one line unless the database exists and ``esign server init`` migrated it.

    Checked before any admin command opens the database: SQLite would create an empty file on the
    first connection, and the command would then fail deep inside with "no such table".
    """
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import SQLAlchemyError

    from esign_server.db import current_revision, normalise_database_url

    hint = "run `esign server init` first, or point ESIGN_DATABASE_URL (or ESIGN_VAR_DIR) at the server's database"
    url = make_url(normalise_database_url(settings.database_url))
    if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
        if not Path(url.database).is_file():
            err.print(f"[red]error:[/red] no esign database at {url.database}: {hint}")
            raise typer.Exit(2)
    try:
        revision = current_revision(settings.database_url)
    except SQLAlchemyError as exc:
        err.print(f"[red]error:[/red] cannot open the database {_db_label(settings)}: {exc.__class__.__name__}")
        raise typer.Exit(2) from None
    if revision is None:
        err.print(f"[red]error:[/red] the database {_db_label(settings)} is not initialised: {hint}")
        raise typer.Exit(2)


def _context(settings: Settings | None = None):  # type: ignore[no-untyped-def]  # ServerContext, imported lazily
    from esign_server.context import ServerContext

    settings = settings or _settings()
    require_initialised(settings)
    return ServerContext(settings)


def _port_free_or_exit(host: str, port: int) -> None:
    # Before anything is printed or created: a taken port is one line, not secrets and a traceback.
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind((host, port))
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            problem = "is already in use (another `esign server` or `esign pki serve`?)"
        else:
            problem = f"cannot be opened ({exc.strerror})"
        err.print(f"[red]error:[/red] port {port} on {host} {problem}; stop that, or choose another with --port")
        raise typer.Exit(2) from None


def _check_pki_urls(settings: Settings) -> None:
    # A CA folder made for other URLs (e.g. by `esign pki init` in the same var/) would issue
    # certificates whose OCSP/CRL links nobody answers: B-LT signing then fails much later.
    from esign.errors import InvalidInput
    from esign_server.services.pki import pki_base_url

    meta = settings.resolved_pki_dir / "pki.json"
    if not meta.is_file():
        return
    try:
        found = str(json.loads(meta.read_text())["base_url"]).rstrip("/")
    except (ValueError, KeyError, TypeError):
        raise InvalidInput(f"{meta} is not a PKI description (esign pki init layout)") from None
    wanted = pki_base_url(settings.public_url)
    if found != wanted:
        raise InvalidInput(
            f"{settings.resolved_pki_dir} holds a CA whose certificates point at {found}, but this server "
            f"answers at {wanted}: set ESIGN_VAR_DIR (or ESIGN_PKI_DIR) to another folder, or ESIGN_PUBLIC_URL"
        )


def _fail(exc: EsignError) -> typer.Exit:
    err.print(f"[red]error:[/red] {exc.message}")
    return typer.Exit(1)


def prepare(settings: Settings, pki_from: Path | None = None) -> bool:
    """Migrate the database, seed the level-1 organization codes, make the service CA if missing.

    True when the CA was created now. ``pki_from``: copy an existing CA directory (the layout of
    ``esign pki init``) instead of creating one; its keys must open with ``ESIGN_PKI_PASSWORD``.
    """
    from esign.pki import load_dev_pki
    from esign_server.db import Database, migrate
    from esign_server.services import audit
    from esign_server.services.orgids import seed_level1
    from esign_server.services.pki import ensure_service_pki

    _check_pki_urls(settings)
    migrate(settings.database_url)
    db = Database(settings.database_url)
    audit.bind_key(db, audit.chain_key(settings.master_key_bytes()))
    try:
        seed_level1(db, actor=CLI_ACTOR)  # only the codes the registry lacks
    finally:
        db.dispose()
    target = settings.resolved_pki_dir
    if pki_from is not None and not (target / "pki.json").exists():
        load_dev_pki(pki_from, settings.pki_password)  # refuse a directory the server could not use
        shutil.copytree(pki_from, target, dirs_exist_ok=True)
        return True
    return ensure_service_pki(target, settings.pki_password, settings.public_url, dev_mode=settings.dev_mode)


@app.command()
def init(
    admin_name: Annotated[str, typer.Option(help="Name of the first admin client")] = "Administrator",
    no_admin: Annotated[bool, typer.Option("--no-admin", help="Do not create an admin client")] = False,
    pki_from: Annotated[
        Path | None, typer.Option(help="Use this CA directory (esign pki init layout) instead of a new one")
    ] = None,
) -> None:
    """Create or upgrade the database (Alembic), the service CA (new, or copied from --pki-from), a first admin."""
    settings = _settings()
    try:
        created = prepare(settings, pki_from)
        out.print(f"database migrated: {_db_label(settings)}")
        out.print(f"service CA {'created' if created else 'found'} in {settings.resolved_pki_dir}")
        if not no_admin:
            from esign_server.services.clients import create_client

            ctx = _context(settings)
            new = create_client(ctx, name=admin_name, scopes=["admin"], actor=CLI_ACTOR)
            out.print("admin client (the secret is shown only now):")
            out.print(f"  client_id     {new.client.id}\n  client_secret {new.client_secret}")
    except EsignError as exc:
        raise _fail(exc) from None


@app.command()
def run(
    host: Annotated[str | None, typer.Option(help="Interface (default ESIGN_HOST, 127.0.0.1)")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default ESIGN_PORT, 8750)")] = None,
    workers: Annotated[int, typer.Option(min=1, max=64, help="Worker processes sharing the port")] = 1,
    log_level: Annotated[str, typer.Option(help="uvicorn log level")] = "warning",
) -> None:
    """Serve the API with uvicorn; with ``--workers N``, uvicorn's process manager runs N workers."""
    from esign_server.runner import serve

    settings = _settings()
    host, port = host or settings.host, port or settings.port
    require_initialised(settings)
    _port_free_or_exit(host, port)
    out.print(f"esign server on http://{host}:{port} ({workers} worker(s)); OpenAPI at /docs")
    serve(host, port, workers=workers, log_level=log_level)


def _demo_cccd() -> str:
    # Hà Nội (001), male born in the 1900s (0), year 95, then six random digits.
    return "001095" + "".join(secrets.choice("0123456789") for _ in range(6))


@app.command()
def demo(
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object instead of the guide")] = False,
    serve_after: Annotated[bool, typer.Option("--serve", help="Then run the server")] = False,
    workers: Annotated[int, typer.Option(min=1, max=64)] = 1,
    port: Annotated[
        int | None,
        typer.Option(help="Port to serve on (default ESIGN_PORT, 8750); the public URL follows it unless set"),
    ] = None,
) -> None:
    """Dev mode only: a relying system, a user with a credential and an enrolled device, in one step."""
    if os.environ.get("ESIGN_DEV_MODE", "1").strip().lower() in ("0", "false", "no"):
        err.print("[red]demo runs only in dev mode[/red] (ESIGN_DEV_MODE is off)")
        raise typer.Exit(2)
    os.environ["ESIGN_DEV_MODE"] = "1"
    if port is not None:
        os.environ["ESIGN_PORT"] = str(port)
        os.environ.setdefault("ESIGN_PUBLIC_URL", f"http://127.0.0.1:{port}")
    get_settings.cache_clear()
    settings = _settings()
    _refuse_production(settings)
    if serve_after:
        _port_free_or_exit(settings.host, settings.port)
    try:
        prepare(settings)
        sandbox = _make_sandbox(settings)
    except EsignError as exc:
        raise _fail(exc) from None
    if as_json:
        typer.echo(json.dumps(sandbox))
    else:
        _print_guide(sandbox)
    if serve_after:
        from esign_server.runner import serve

        serve(settings.host, settings.port, workers=workers, log_level="warning")


def _refuse_production(settings: Settings) -> None:
    # demo prints a fresh admin client and its secret: never against a production server's data.
    from cryptography import x509
    from cryptography.x509.oid import NameOID

    from esign_server.config import DEV_MASTER_KEY, DEV_TOKEN_SECRET

    problem = None
    if settings.master_key != DEV_MASTER_KEY or settings.token_secret != DEV_TOKEN_SECRET:
        problem = "ESIGN_MASTER_KEY / ESIGN_TOKEN_SECRET are set to real secrets (a production configuration)"
    root = settings.resolved_pki_dir / "root.pem"
    if problem is None and root.is_file():
        names = x509.load_pem_x509_certificate(root.read_bytes()).subject.get_attributes_for_oid(NameOID.COMMON_NAME)
        if not any("Dev" in str(n.value) for n in names):
            problem = f"the service CA in {settings.resolved_pki_dir} is a production CA (made by `server init`)"
    if problem is not None:
        err.print(f"[red]error:[/red] demo refuses to run here: {problem}; use a fresh ESIGN_VAR_DIR for a sandbox")
        raise typer.Exit(2)


def _make_sandbox(settings: Settings) -> dict[str, str]:
    from esign_server.services import clients, credentials, devices, grants, identity, otp, users

    ctx = _context(settings)
    rp = clients.create_client(ctx, name="Demo relying system", scopes=["sessions", "csc"], actor=CLI_ACTOR)
    admin = clients.create_client(ctx, name="Demo admin", scopes=["admin"], actor=CLI_ACTOR)
    user = users.create_user(
        ctx,
        full_name="Nguyễn Văn Demo",
        cccd=_demo_cccd(),
        email="demo@example.vn",
        phone="0901234567",
        actor=CLI_ACTOR,
    )
    identity.record_verification(
        ctx, user_id=user.id, evidence=identity.InPersonDocument("CCCD", user.cccd or ""), actor=CLI_ACTOR
    )
    cred = credentials.issue_credential(ctx, user_id=user.id, key_algorithm="p256", label="demo", actor=CLI_ACTOR)
    grants.grant(ctx, client_id=rp.client.id, user_id=user.id, actor=CLI_ACTOR)
    enrollment = devices.start_enrollment(ctx, user_id=user.id, device_name="demo phone", actor=CLI_ACTOR)
    secret = enrollment.secret_b32
    # Activate with the previous step's code, so a code of the current step still confirms a session.
    import base64
    import time

    raw = base64.b32decode(secret + "=" * (-len(secret) % 8))
    device, device_token = devices.activate(
        ctx,
        enrollment_token=enrollment.enrollment_token,
        code=otp.hotp(raw, otp.current_step(time.time()) - 1),
        actor=CLI_ACTOR,
    )
    base = settings.public_url.rstrip("/")
    return {
        "base_url": base,
        "client_id": rp.client.id,
        "client_secret": rp.client_secret,
        "webhook_secret": rp.webhook_secret,
        "admin_client_id": admin.client.id,
        "admin_client_secret": admin.client_secret,
        "user_id": user.id,
        "credential_id": cred.id,
        "device_id": device.id,
        "device_token": device_token,
        "totp_secret": secret,
        "otpauth_uri": enrollment.otpauth_uri,
    }


def guide_commands(s: dict[str, str]) -> list[tuple[str, str]]:
    """The demo's steps as (what, shell command), in order; each command runs as printed (bash, curl, jq, oathtool)."""
    b = s["base_url"]
    return [
        (
            "Get an access token for the relying system (TOKEN keeps it):",
            f"TOKEN=$(curl -s -d grant_type=client_credentials -d client_id={s['client_id']} "
            f"-d client_secret={s['client_secret']} {b}/oauth2/token | jq -r .access_token)",
        ),
        (
            "Ask for a signature on the SHA-256 hash of samples/cong-van.pdf (SESSION keeps the request's id; "
            "the phone shows the confirmation code):",
            f"SESSION=$(curl -s -H \"Authorization: Bearer $TOKEN\" -H 'Content-Type: application/json' "
            f'{b}/api/sessions -d \'{{"credential_id":"{s["credential_id"]}","items":[{{"name":"cong-van.pdf",'
            f'"digest":"\'$(openssl dgst -sha256 -binary samples/cong-van.pdf | base64)\'"}}]}}\' | jq -r .id)',
        ),
        (
            "Confirm as the phone would, with a code from oathtool:",
            f"curl -s -H 'Authorization: Bearer {s['device_token']}' -H 'Content-Type: application/json' "
            f"{b}/api/mobile/sessions/$SESSION/confirm "
            f"-d '{{\"code\":\"'$(oathtool --totp -b {s['totp_secret']})'\"}}'",
        ),
        (
            "Fetch the signature:",
            f'curl -s -H "Authorization: Bearer $TOKEN" {b}/api/sessions/$SESSION | jq .',
        ),
    ]


def _print_guide(s: dict[str, str]) -> None:
    from rich.markup import escape

    b = s["base_url"]
    out.print("[bold]esign demo sandbox[/bold] (dev mode; the secrets below are shown only now)\n")
    for key in ("client_id", "client_secret", "user_id", "credential_id", "device_token", "totp_secret"):
        out.print(f"  {key:<14} {s[key]}")
    out.print("\nIn a shell (bash) in the esign folder:")
    for number, (what, command) in enumerate(guide_commands(s), start=1):
        out.print(f"[bold]{number}.[/bold] {escape(what)}\n  {escape(command)}")
    out.print(f"\nOpenAPI: {b}/docs · phone app: {b}/m/ · CA: {b}/pki/ca · OCSP: {b}/pki/ocsp · TSA: {b}/pki/tsa")


@audit_app.command("verify")
def audit_verify(
    checkpoints: Annotated[
        Path | None,
        typer.Option(help="Also hold the chain against the signed checkpoints in this directory"),
    ] = None,
) -> None:
    """Check the audit chain (keyed hashes); with --checkpoints, also against the signed checkpoints
    written outside the database, which shows rewrites and truncation up to the latest checkpoint."""
    from esign_server.services.audit import verify_chain, verify_checkpoints

    ctx = _context()
    result = verify_chain(ctx.db)
    if not result.ok:
        err.print(
            f"[red]audit chain broken at event {result.first_broken_seq}[/red]: {result.problem} "
            f"({result.events} events verified before it)"
        )
        raise typer.Exit(1)
    if checkpoints is None:
        out.print(f"audit chain intact: {result.events} events")
        return
    held = verify_checkpoints(ctx, checkpoints)
    if not held.ok:
        for problem in held.problems:
            err.print(f"[red]audit checkpoint:[/red] {problem}")
        raise typer.Exit(1)
    out.print(
        f"audit chain intact: {result.events} events; {held.checkpoints} signed checkpoints hold "
        f"(the latest vouches for events 1-{held.latest_seq})"
    )


@audit_app.command("checkpoint")
def audit_checkpoint(
    directory: Annotated[Path | None, typer.Option("--dir", help="Default: ESIGN_AUDIT_CHECKPOINT_DIR")] = None,
) -> None:
    """Write a signed, time-stamped checkpoint of the audit chain's head now (the server does it periodically)."""
    from esign_server.services.audit import write_checkpoint

    try:
        path = write_checkpoint(_context(), directory)
    except EsignError as exc:
        raise _fail(exc) from None
    out.print(f"checkpoint written: {path}" if path else "the chain's head is already checkpointed")


@user_app.command("create")
def user_create(
    name: Annotated[str, typer.Option(help="Full name")],
    cccd: Annotated[str | None, typer.Option(help="Citizen number, 12 digits")] = None,
    tax_code: Annotated[str | None, typer.Option(help="Tax code (MST)")] = None,
    email: Annotated[str | None, typer.Option()] = None,
    phone: Annotated[str | None, typer.Option()] = None,
) -> None:
    """Register a user."""
    from esign_server.services.users import create_user

    try:
        user = create_user(
            _context(), full_name=name, cccd=cccd, tax_code=tax_code, email=email, phone=phone, actor=CLI_ACTOR
        )
    except EsignError as exc:
        raise _fail(exc) from None
    typer.echo(json.dumps({"user_id": user.id}))


@user_app.command("verify")
def user_verify(
    user_id: str,
    document: Annotated[
        str | None, typer.Option(help="Document shown in person, KIND:NUMBER (CCCD, CMND, HC or BRN)")
    ] = None,
    ekyc_provider: Annotated[str | None, typer.Option(help="eKYC service that verified the user")] = None,
    ekyc_reference: Annotated[str | None, typer.Option(help="That service's reference for the check")] = None,
) -> None:
    """Record how the user's identity was verified (credentials are issued only after this)."""
    from esign_server.services import identity

    evidence: identity.Evidence
    if document and not (ekyc_provider or ekyc_reference):
        kind, _, number = document.partition(":")
        evidence = identity.InPersonDocument(kind, number)
    elif ekyc_provider and ekyc_reference and not document:
        evidence = identity.EkycReference(ekyc_provider, ekyc_reference)
    else:
        err.print("[red]error:[/red] give --document KIND:NUMBER, or --ekyc-provider and --ekyc-reference")
        raise typer.Exit(2)
    try:
        outcome = identity.record_verification(_context(), user_id=user_id, evidence=evidence, actor=CLI_ACTOR)
    except EsignError as exc:
        raise _fail(exc) from None
    row = outcome.verification
    typer.echo(
        json.dumps(
            {"verification_id": row.id, "method": row.method, "document": row.document_masked, "provider": row.provider}
        )
    )


@user_app.command("mark")
def user_mark(
    user_id: str,
    image: Annotated[Path, typer.Argument(help="PNG with transparency: a person's signature, an organization's seal")],
) -> None:
    """Store the user's Decree 30 mark image (docs/decree30.md): a signature for a person, a seal (with its
    resolution, for its real size) for an organization."""
    from esign_server.services.marks import put_mark

    try:
        mark = put_mark(_context(), user_id, image.read_bytes(), actor=CLI_ACTOR)
    except OSError as exc:
        err.print(f"[red]error:[/red] cannot read {image}: {exc.strerror}")
        raise typer.Exit(2) from None
    except EsignError as exc:
        raise _fail(exc) from None
    typer.echo(json.dumps({"user_id": mark.user_id, "kind": mark.kind, "sha256": mark.sha256}))


@user_app.command("enroll")
def user_enroll(user_id: str, device_name: Annotated[str, typer.Option()] = "phone") -> None:
    """Start enrolling a phone: prints a terminal QR code of the pairing link, then the link and the otpauth URI (once).

    The QR code is the pairing link the phone guide tells the user to scan (the app pairs and the device
    becomes active); the ``otpauth://`` URI is for a user who prefers an authenticator app.
    """
    import io

    import qrcode

    from esign_server.services.devices import start_enrollment

    try:
        e = start_enrollment(_context(), user_id=user_id, device_name=device_name, actor=CLI_ACTOR)
    except EsignError as exc:
        raise _fail(exc) from None
    code = qrcode.QRCode(border=1)
    code.add_data(e.pairing_url)
    buffer = io.StringIO()
    code.print_ascii(out=buffer)
    typer.echo(buffer.getvalue())
    typer.echo(json.dumps({"device_id": e.device_id, "otpauth_uri": e.otpauth_uri, "pairing_url": e.pairing_url}))


@client_app.command("create")
def client_create(
    name: Annotated[str, typer.Option(help="Shown to users: who asks")],
    scope: Annotated[list[str] | None, typer.Option(help="sessions, csc, admin (repeat)")] = None,
) -> None:
    """Register a relying system; prints its secrets once."""
    from esign_server.services.clients import create_client

    try:
        new = create_client(_context(), name=name, scopes=scope or ["sessions"], actor=CLI_ACTOR)
    except EsignError as exc:
        raise _fail(exc) from None
    typer.echo(
        json.dumps(
            {
                "client_id": new.client.id,
                "client_secret": new.client_secret,
                "webhook_secret": new.webhook_secret,
                "scopes": new.client.scopes.split(),
            }
        )
    )


@client_app.command("grant")
def client_grant(client_id: str, user_id: str) -> None:
    """Authorise a relying system for a user, on the user's behalf: only then may it ask them to sign."""
    from esign_server.services import grants

    try:
        created = grants.grant(_context(), client_id=client_id, user_id=user_id, actor=CLI_ACTOR)
    except EsignError as exc:
        raise _fail(exc) from None
    typer.echo(json.dumps({"client_id": client_id, "user_id": user_id, "granted": True, "new": created}))


@client_app.command("revoke-grant")
def client_revoke_grant(client_id: str, user_id: str) -> None:
    """Withdraw a relying system's authorisation for a user (its SADs for the user stop working too)."""
    from esign_server.services import grants

    try:
        grants.revoke(_context(), client_id=client_id, user_id=user_id, actor=CLI_ACTOR)
    except EsignError as exc:
        raise _fail(exc) from None
    typer.echo(json.dumps({"client_id": client_id, "user_id": user_id, "granted": False}))


@credential_app.command("issue")
def credential_issue(
    user_id: str,
    key: Annotated[str, typer.Option(help="rsa2048, rsa3072, p256, p384")] = "p256",
    label: Annotated[str, typer.Option()] = "",
    external_ca: Annotated[bool, typer.Option(help="Print a CSR instead of issuing from the service CA")] = False,
    keystore: Annotated[str | None, typer.Option(help="software or pkcs11")] = None,
    org_code: Annotated[
        str | None, typer.Option(help="Organization code (active in the registry) for an organization's certificate")
    ] = None,
) -> None:
    """A key in the keystore and its certificate (or a CSR)."""
    from esign_server.services.credentials import issue_credential

    try:
        cred = issue_credential(
            _context(),
            user_id=user_id,
            key_algorithm=key,
            label=label,
            external_ca=external_ca,
            keystore=keystore,
            org_code=org_code,
            actor=CLI_ACTOR,
        )
    except EsignError as exc:
        raise _fail(exc) from None
    typer.echo(
        json.dumps({"credential_id": cred.id, "status": cred.status, "serial": cred.serial, "csr_pem": cred.csr_pem})
    )


def _status(credential_id: str, action: str, reason: str | None) -> None:
    from esign_server.services.credentials import change_status

    try:
        cred = change_status(_context(), credential_id=credential_id, action=action, reason=reason, actor=CLI_ACTOR)
    except EsignError as exc:
        raise _fail(exc) from None
    typer.echo(json.dumps({"credential_id": cred.id, "status": cred.status}))


@credential_app.command("suspend")
def credential_suspend(credential_id: str, reason: Annotated[str | None, typer.Option()] = None) -> None:
    """Suspend (OCSP/CRL: certificateHold)."""
    _status(credential_id, "suspend", reason)


@credential_app.command("resume")
def credential_resume(credential_id: str) -> None:
    """Lift a suspension."""
    _status(credential_id, "resume", None)


@credential_app.command("revoke")
def credential_revoke(
    credential_id: str, reason: Annotated[str, typer.Option(help="CRL reason, e.g. key_compromise")] = "unspecified"
) -> None:
    """Revoke for good (OCSP/CRL at once)."""
    _status(credential_id, "revoke", reason)


# --- exchange node: the same service calls (and audit events) as /api/admin/exchange ------------------


@exchange_app.command("bind")
def exchange_bind(
    org_code: Annotated[str, typer.Argument(metavar="CODE", help="Organization code, active in the registry")],
    client_id: Annotated[str, typer.Argument(help="The relying system that sends and reads for it")],
    credential: Annotated[
        str | None, typer.Option(help="The organization's credential the node signs envelopes with (sign=true)")
    ] = None,
    subtree: Annotated[
        bool, typer.Option("--subtree", help="Cover the codes below CODE too (a peer node's client; no inbox here)")
    ] = False,
) -> None:
    """Bind an organization code to a relying system (replaces an earlier binding of the pair)."""
    import dataclasses

    from esign_server.services import exchange

    try:
        view = exchange.bind_code(
            _context(),
            org_code=org_code,
            client_id=client_id,
            subtree=subtree,
            credential_id=credential,
            actor=CLI_ACTOR,
        )
    except EsignError as exc:
        raise _fail(exc) from None
    typer.echo(json.dumps(dataclasses.asdict(view)))


@exchange_app.command("unbind")
def exchange_unbind(
    org_code: Annotated[str, typer.Argument(metavar="CODE")],
    client_id: str,
) -> None:
    """Withdraw the binding of CODE to CLIENT_ID (as DELETE /api/admin/exchange/bindings/{code}/{client_id})."""
    from esign_server.services import exchange

    try:
        exchange.unbind_code(_context(), org_code=org_code, client_id=client_id, actor=CLI_ACTOR)
        code = exchange.canonical_code(org_code)
    except EsignError as exc:
        raise _fail(exc) from None
    typer.echo(json.dumps({"org_code": code, "client_id": client_id, "bound": False}))


@exchange_app.command("bindings")
def exchange_bindings(
    client_id: Annotated[str | None, typer.Option(help="Only this relying system's")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON array instead of the table")] = False,
) -> None:
    """Every binding, by code."""
    import dataclasses

    from rich.table import Table

    from esign_server.services import exchange

    views = exchange.list_bindings(_context(), client_id=client_id)
    if as_json:
        typer.echo(json.dumps([dataclasses.asdict(v) for v in views]))
        return
    if not views:
        out.print("no bindings")
        return
    table = Table("code", "client_id", "subtree", "credential")
    for v in views:
        table.add_row(v.org_code, v.client_id, "yes" if v.subtree else "no", v.credential_id or "-")
    out.print(table)


def _route_secret(env_var: str | None) -> str:
    # Never a plain argument: it would stay in the shell's history and in `ps`.
    if env_var is None:
        # The prompt on stderr, so stdout stays the one JSON line.
        return str(typer.prompt("Client secret the peer issued", hide_input=True, err=True))
    secret = os.environ.get(env_var, "")
    if not secret:
        err.print(f"[red]error:[/red] the environment variable {env_var} is not set or empty")
        raise typer.Exit(2)
    return secret


@exchange_app.command("route")
def exchange_route(
    prefix: Annotated[str, typer.Argument(help="Codes under this prefix go to the peer node (e.g. H55)")],
    url: Annotated[str, typer.Option(help="The peer node's base URL (https)")],
    client_id: Annotated[str, typer.Option(help="The client id the peer node issued to this node")],
    client_secret_env: Annotated[
        str | None,
        typer.Option(metavar="VAR", help="Read the peer-issued client secret from this environment variable"),
    ] = None,
) -> None:
    """Route the codes under PREFIX to a peer node; the secret comes from --client-secret-env or a hidden prompt."""
    import dataclasses

    from esign_server.services import exchange

    secret = _route_secret(client_secret_env)
    try:
        view = exchange.set_route(
            _context(), prefix=prefix, url=url, client_id=client_id, client_secret=secret, actor=CLI_ACTOR
        )
    except EsignError as exc:
        raise _fail(exc) from None
    typer.echo(json.dumps(dataclasses.asdict(view)))


@exchange_app.command("routes")
def exchange_routes(
    as_json: Annotated[bool, typer.Option("--json", help="One JSON array instead of the table")] = False,
) -> None:
    """Every peer route, by prefix (the secret is never shown)."""
    import dataclasses

    from rich.table import Table

    from esign_server.services import exchange

    views = exchange.list_routes(_context())
    if as_json:
        typer.echo(json.dumps([dataclasses.asdict(v) for v in views]))
        return
    if not views:
        out.print("no routes")
        return
    table = Table("prefix", "url", "client_id")
    for v in views:
        table.add_row(v.prefix, v.url, v.client_id)
    out.print(table)


@exchange_app.command("unroute")
def exchange_unroute(prefix: str) -> None:
    """Withdraw a route (deliveries already queued on it wait until a route covers them again)."""
    from esign_server.services import exchange

    try:
        exchange.remove_route(_context(), prefix=prefix, actor=CLI_ACTOR)
        code = exchange.canonical_code(prefix, "route prefix")
    except EsignError as exc:
        raise _fail(exc) from None
    typer.echo(json.dumps({"prefix": code, "routed": False}))
