"""The console's pages at ``/admin/``: server-rendered (Jinja2), no build step, no CDN.

Every page needs a signed-in officer (session cookie: HttpOnly, SameSite=Strict, Secure outside dev
mode over plain HTTP); every form carries the session's CSRF token, and a request with a foreign
``Origin`` is refused. The pages call the same services as the admin API, with the officer as the
audit actor (``admin:<username>``).
"""

from __future__ import annotations

import base64
import csv
import io
import json
import secrets
from collections.abc import Callable
from datetime import UTC, datetime, time
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote, urlsplit

from fastapi import APIRouter, Form, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from sqlalchemy import func
from sqlmodel import col, select

from esign.errors import EsignError
from esign.identity import mask_number
from esign_server.admin_console import accounts, letters, onboarding, search
from esign_server.admin_console.accounts import SignedIn
from esign_server.admin_console.i18n import DEFAULT_LANGUAGE, LANGUAGES, translate
from esign_server.context import ServerContext
from esign_server.models import AuditEvent, OrgCode, SigningSession
from esign_server.services import (
    audit,
    clients,
    credentials,
    devices,
    grants,
    identity,
    orgids,
    qr,
    seals,
    users,
    webhooks,
)
from esign_server.services.errors import Forbidden, ServiceError

HERE = Path(__file__).parent
SESSION_COOKIE = "esign_admin"
LOGIN_COOKIE = "esign_admin_login"
"""A random value the sign-in form echoes (double submit): no CSRF into the sign-in form either."""
LANG_COOKIE = "esign_admin_lang"
STATIC_FILES = {"admin.css": "text/css", "admin.js": "text/javascript"}
AUDIT_PAGE = 100
AUDIT_EXPORT_MAX = 100_000
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
    "frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",  # "no-referrer" would make the browser send Origin: null
    "Cache-Control": "no-store",
}

templates = Jinja2Templates(directory=HERE / "templates")
router = APIRouter(prefix="/admin", include_in_schema=False)


def _ctx(request: Request) -> ServerContext:
    ctx: ServerContext = request.app.state.ctx
    return ctx


def _language(request: Request) -> str:
    chosen = request.cookies.get(LANG_COOKIE, DEFAULT_LANGUAGE)
    return chosen if chosen in LANGUAGES else DEFAULT_LANGUAGE


def _secure_cookies(request: Request) -> bool:
    # Plain-HTTP cookies only for a development server on plain HTTP; a production one is always Secure.
    return request.url.scheme == "https" or not _ctx(request).settings.dev_mode


def _render(request: Request, name: str, status: int = 200, *, here: str = "", **values: Any) -> HTMLResponse:
    """A page; ``here`` is where the language switch returns to (a page a POST rendered has no GET of its
    own)."""
    language = _language(request)
    if not here and request.method != "GET":
        here = "/admin/"
    values.setdefault("me", None)
    response = templates.TemplateResponse(
        request,
        name,
        {
            "t": lambda key: translate(key, language),
            "lang": language,
            "path": here or request.url.path + (f"?{request.url.query}" if request.url.query else ""),
            "mask": mask_number,
            **values,
        },
        status_code=status,
    )
    response.headers.update(SECURITY_HEADERS)
    return response


def _redirect(url: str) -> RedirectResponse:
    response = RedirectResponse(url, status_code=303)
    response.headers.update(SECURITY_HEADERS)
    return response


def _signed_in(request: Request) -> SignedIn | None:
    return accounts.current_session(_ctx(request), request.cookies.get(SESSION_COOKIE))


def _same_origin(request: Request) -> bool:
    """No ``Origin`` (an older browser), or this server's: as the request reached it, or its public URL
    (behind a TLS-terminating proxy the two differ)."""
    origin = request.headers.get("origin")
    if origin is None or origin == "null":
        return origin is None
    parts = urlsplit(origin)
    public = urlsplit(_ctx(request).settings.public_url)
    return (parts.scheme, parts.netloc) in ((request.url.scheme, request.url.netloc), (public.scheme, public.netloc))


def _check_post(request: Request, csrf: str, expected: str | None) -> None:
    if not _same_origin(request):
        raise Forbidden("cross-origin form refused", code="csrf")
    if not expected or not secrets.compare_digest(csrf.encode(), expected.encode()):
        raise Forbidden("missing or wrong CSRF token; reload the page", code="csrf")


def _error(request: Request, exc: EsignError, me: SignedIn | None) -> HTMLResponse:
    status = exc.status if isinstance(exc, ServiceError) else 400
    return _render(request, "error.html", status=status, me=me, message=exc.message, code=exc.code)


def _page(request: Request, permission: str, build: Callable[[SignedIn], Response]) -> Response:
    """A GET page: sign-in first (redirect), then the role's permission (403), then ``build``."""
    me = _signed_in(request)
    if me is None:
        return _redirect(f"/admin/login?next={quote(request.url.path)}")
    try:
        accounts.require(me, permission)
        return build(me)
    except EsignError as exc:
        return _error(request, exc, me)


def _action(request: Request, csrf: str, permission: str, act: Callable[[SignedIn], Response]) -> Response:
    """A POST action: a live session (401), its CSRF token and same origin (403), the role (403), then ``act``;
    a refused action renders its reason with its 4xx status."""
    me = _signed_in(request)
    if me is None:
        return _render(request, "error.html", status=401, message="sign in first", code="unauthorized")
    try:
        _check_post(request, csrf, me.session.csrf_token)
        accounts.require(me, permission)
        return act(me)
    except EsignError as exc:
        return _error(request, exc, me)


CsrfForm = Annotated[str, Form()]


# ------------------------------------------------------------------------------ static, language


@router.get("/static/{name}")
def static(name: str) -> Response:
    """The console's CSS and JavaScript (shipped in the package: no CDN)."""
    if name not in STATIC_FILES:
        return Response(status_code=404)
    return FileResponse(HERE / "static" / name, media_type=STATIC_FILES[name], headers={"Cache-Control": "no-cache"})


@router.get("/lang/{language}")
def set_language(request: Request, language: str, next: str = "/admin/") -> Response:
    """Switch the console's language (a cookie); back to the page the officer was on."""
    target = next if next.startswith("/admin/") and not next.startswith("//") else "/admin/"
    response = _redirect(target)
    if language in LANGUAGES:
        response.set_cookie(
            LANG_COOKIE,
            language,
            max_age=365 * 86400,
            path="/admin",
            samesite="strict",
            httponly=True,
            secure=_secure_cookies(request),
        )
    return response


# ------------------------------------------------------------------------------ sign-in


@router.get("/")
def home(request: Request) -> Response:
    """The people search when signed in, else the sign-in form."""
    me = _signed_in(request)
    if me is None:
        return _redirect("/admin/login")
    return _redirect("/admin/audit" if not me.may("people.read") else "/admin/people")


def _login_form(request: Request, next: str, *, failed: bool = False, username: str = "") -> Response:
    token = secrets.token_urlsafe(32)
    status = 401 if failed else 200
    response = _render(request, "login.html", status=status, csrf=token, next=next, failed=failed, username=username)
    response.set_cookie(
        LOGIN_COOKIE,
        token,
        max_age=1800,
        path="/admin",
        samesite="strict",
        httponly=True,
        secure=_secure_cookies(request),
    )
    return response


@router.get("/login")
def login_form(request: Request, next: Annotated[str, Query(max_length=500)] = "/admin/") -> Response:
    """The sign-in form: username, password, TOTP code."""
    return _login_form(request, next)


@router.post("/login")
def login(
    request: Request,
    username: Annotated[str, Form(max_length=64)],
    password: Annotated[str, Form(max_length=1024)],
    code: Annotated[str, Form(max_length=16)],
    csrf: CsrfForm,
    next: Annotated[str, Form(max_length=500)] = "/admin/",
) -> Response:
    """Check the password and code; on success a fresh session cookie (never the one sent before)."""
    try:
        _check_post(request, csrf, request.cookies.get(LOGIN_COOKIE))
    except EsignError as exc:
        return _error(request, exc, None)
    ctx = _ctx(request)
    try:
        account = accounts.sign_in(ctx, username=username, password=password, code=code)
    except ServiceError:
        return _login_form(request, next, failed=True, username=username)
    token, _row = accounts.open_session(ctx, account)
    target = next if next.startswith("/admin/") and not next.startswith("//") else "/admin/"
    signed_in = _redirect(target)
    signed_in.set_cookie(
        SESSION_COOKIE,
        token,
        path="/admin",
        samesite="strict",
        httponly=True,
        secure=_secure_cookies(request),
        max_age=int(accounts.SESSION_LIFETIME.total_seconds()),
    )
    signed_in.delete_cookie(LOGIN_COOKIE, path="/admin")
    return signed_in


@router.post("/logout")
def logout(request: Request, csrf: CsrfForm) -> Response:
    """End the session (its token stops working at once)."""

    def act(me: SignedIn) -> Response:
        accounts.end_session(_ctx(request), me)
        response = _redirect("/admin/login")
        response.delete_cookie(SESSION_COOKIE, path="/admin")
        return response

    me = _signed_in(request)
    if me is None:
        return _redirect("/admin/login")
    try:
        _check_post(request, csrf, me.session.csrf_token)
    except EsignError as exc:
        return _error(request, exc, me)
    return act(me)


# ------------------------------------------------------------------------------ people


@router.get("/people")
def people(request: Request, q: Annotated[str, Query(max_length=200)] = "") -> Response:
    """Search people by name (diacritics optional), CCCD, tax code or organization."""

    def build(me: SignedIn) -> Response:
        found = search.search_people(_ctx(request), q)
        return _render(request, "people.html", me=me, q=q, people=found)

    return _page(request, "people.read", build)


RECENT_SESSIONS = 10


def _recent_sessions(ctx: ServerContext, user_id: str) -> list[SigningSession]:
    with ctx.db.read() as session:
        statement = select(SigningSession).where(SigningSession.user_id == user_id)
        return list(session.exec(statement.order_by(col(SigningSession.created_at).desc()).limit(RECENT_SESSIONS)))


def _person_page(request: Request, me: SignedIn, user_id: str, *, revealed: bool = False, done: str = "") -> Response:
    ctx = _ctx(request)
    user = users.get_user(ctx, user_id)
    verifications = identity.list_verifications(ctx, user_id=user_id)
    # Revealed: the sealed document numbers and eKYC references too (an erased record has none).
    documents: dict[str, str] = {}
    for row in verifications if revealed else []:
        if row.sealed is not None:
            opened = identity.open_verification(ctx, row)
            documents[row.id] = opened.document_number or opened.reference or ""
    return _render(
        request,
        "person.html",
        documents=documents,
        here=f"/admin/people/{quote(user_id)}",
        me=me,
        person=user,
        revealed=revealed,
        done=done,
        verifications=verifications,
        credentials=credentials.list_credentials(ctx, user_id=user_id),
        seals={s.credential_id: s for s in seals.list_seals(ctx)},
        devices=devices.list_devices(ctx, user_id=user_id),
        grants=grants.list_for_user(ctx, user_id=user_id),
        signing_sessions=_recent_sessions(ctx, user_id),
        systems=[c for c in clients.list_clients(ctx) if c.status == "active"] if me.may("credentials.write") else [],
        key_algorithms=("p256", "p384", "rsa2048", "rsa3072"),
        document_kinds=identity.DOCUMENT_KINDS,
        reasons=("unspecified", "key_compromise", "affiliation_changed", "superseded", "cessation_of_operation"),
    )


@router.get("/people/{user_id}")
def person(request: Request, user_id: str, done: Annotated[str, Query(max_length=60)] = "") -> Response:
    """A person: identity (masked), verifications, credentials, devices, authorised relying systems."""
    return _page(request, "people.read", lambda me: _person_page(request, me, user_id, done=done))


@router.post("/people/{user_id}/reveal")
def reveal(request: Request, user_id: str, csrf: CsrfForm) -> Response:
    """Show the person's full numbers; the audit log records who looked, and at whom."""

    def act(me: SignedIn) -> Response:
        ctx = _ctx(request)
        users.get_user(ctx, user_id)
        with ctx.db.write() as session:
            audit.record(session, actor=me.actor, action="identity.revealed", target=f"user:{user_id}")
        return _person_page(request, me, user_id, revealed=True)

    return _action(request, csrf, "identity.reveal", act)


@router.post("/people/{user_id}/verifications")
def verify_identity(
    request: Request,
    user_id: str,
    csrf: CsrfForm,
    kind: Annotated[str, Form(max_length=8)],
    number: Annotated[str, Form(max_length=40)],
) -> Response:
    """Record that the officer checked the person's document in person."""

    def act(me: SignedIn) -> Response:
        identity.record_verification(
            _ctx(request), user_id=user_id, evidence=identity.InPersonDocument(kind, number), actor=me.actor
        )
        return _redirect(f"/admin/people/{quote(user_id)}?done=identity.verified")

    return _action(request, csrf, "identity.write", act)


@router.post("/people/{user_id}/credentials")
def issue_credential(
    request: Request,
    user_id: str,
    csrf: CsrfForm,
    key_algorithm: Annotated[str, Form(max_length=16)] = "p256",
    label: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    """A new key and certificate from the service CA for a verified person."""

    def act(me: SignedIn) -> Response:
        credentials.issue_credential(
            _ctx(request), user_id=user_id, key_algorithm=key_algorithm, label=label, actor=me.actor
        )
        return _redirect(f"/admin/people/{quote(user_id)}?done=credential.issued")

    return _action(request, csrf, "credentials.write", act)


@router.post("/credentials/{credential_id}/{action}")
def change_credential(
    request: Request,
    credential_id: str,
    action: str,
    csrf: CsrfForm,
    reason: Annotated[str | None, Form(max_length=40)] = None,
) -> Response:
    """``suspend``, ``resume`` or ``revoke`` (OCSP and CRL show it at once)."""

    def act(me: SignedIn) -> Response:
        if action not in ("suspend", "resume", "revoke"):
            raise ServiceError(f"unknown action {action!r}", status=404, code="not_found")
        cred = credentials.change_status(
            _ctx(request), credential_id=credential_id, action=action, reason=reason or None, actor=me.actor
        )
        return _redirect(f"/admin/people/{quote(cred.user_id)}?done=credential.{action}")

    return _action(request, csrf, "credentials.write", act)


def _limit(value: str, name: str) -> int | None:
    if not value.strip():
        return None
    try:
        return int(value)
    except ValueError:
        raise ServiceError(f"{name} must be a whole number", code="invalid_policy") from None


@router.post("/seals/{credential_id}")
def set_seal(
    request: Request,
    credential_id: str,
    csrf: CsrfForm,
    clients_: Annotated[list[str] | None, Form(alias="clients")] = None,
    per_minute: Annotated[str, Form(max_length=12)] = "",
    per_day: Annotated[str, Form(max_length=12)] = "",
    hours: Annotated[str, Form(max_length=11)] = "",
    max_hashes_per_call: Annotated[str, Form(max_length=6)] = "",
) -> Response:
    """Mark an organization's credential as a seal, or change its policy (docs/seals.md)."""

    def act(me: SignedIn) -> Response:
        ctx = _ctx(request)
        seals.set_policy(
            ctx,
            credential_id=credential_id,
            clients=clients_ or [],
            per_minute=_limit(per_minute, "per_minute"),
            per_day=_limit(per_day, "per_day"),
            hours=hours.strip() or None,
            max_hashes_per_call=_limit(max_hashes_per_call, "max_hashes_per_call"),
            actor=me.actor,
        )
        return _redirect(f"/admin/people/{quote(credentials.get_credential(ctx, credential_id).user_id)}?done=seal.set")

    return _action(request, csrf, "credentials.write", act)


@router.post("/seals/{credential_id}/remove")
def remove_seal(request: Request, credential_id: str, csrf: CsrfForm) -> Response:
    """Make a seal an ordinary credential again."""

    def act(me: SignedIn) -> Response:
        ctx = _ctx(request)
        seals.remove_seal(ctx, credential_id=credential_id, actor=me.actor)
        return _redirect(
            f"/admin/people/{quote(credentials.get_credential(ctx, credential_id).user_id)}?done=seal.removed"
        )

    return _action(request, csrf, "credentials.write", act)


@router.post("/devices/{device_id}/revoke")
def revoke_device(request: Request, device_id: str, csrf: CsrfForm) -> Response:
    """Retire a phone: it confirms nothing from now on."""

    def act(me: SignedIn) -> Response:
        device = devices.revoke_device(_ctx(request), device_id=device_id, actor=me.actor)
        return _redirect(f"/admin/people/{quote(device.user_id)}?done=device.revoked")

    return _action(request, csrf, "devices.write", act)


@router.post("/people/{user_id}/enrollments")
def pair_phone(request: Request, user_id: str, csrf: CsrfForm) -> Response:
    """A pairing QR code for a new phone (shown once: the page is not cached)."""

    def act(me: SignedIn) -> Response:
        ctx = _ctx(request)
        user = users.get_user(ctx, user_id)
        enrollment = devices.start_enrollment(ctx, user_id=user_id, actor=me.actor)
        png = base64.b64encode(qr.qr_png(enrollment.pairing_url)).decode()
        here = f"/admin/people/{quote(user_id)}"
        return _render(request, "pairing.html", here=here, me=me, person=user, enrollment=enrollment, qr_png=png)

    return _action(request, csrf, "devices.write", act)


# ------------------------------------------------------------------------------ audit


def _day(value: str, end: bool) -> datetime | None:
    if not value:
        return None
    try:
        day = datetime.strptime(value, "%Y-%m-%d").date()
    except ValueError:
        raise ServiceError(f"not a date (YYYY-MM-DD): {value!r}", code="invalid_date") from None
    return datetime.combine(day, time.max if end else time.min, tzinfo=UTC)


def _audit_rows(
    ctx: ServerContext, *, actor: str, action: str, target: str, since: str, until: str, before: int, limit: int
) -> list[AuditEvent]:
    statement = select(AuditEvent)
    if actor:
        statement = statement.where(col(AuditEvent.actor).startswith(actor.strip()))
    if action:
        statement = statement.where(col(AuditEvent.action).startswith(action.strip()))
    if target:
        statement = statement.where(col(AuditEvent.target).startswith(target.strip()))
    start, end = _day(since, False), _day(until, True)
    if start is not None:
        statement = statement.where(col(AuditEvent.at) >= start)
    if end is not None:
        statement = statement.where(col(AuditEvent.at) <= end)
    if before:
        statement = statement.where(col(AuditEvent.seq) < before)
    with ctx.db.read() as session:
        return list(session.exec(statement.order_by(col(AuditEvent.seq).desc()).limit(limit)).all())


def _cell(text: str) -> str:
    # A spreadsheet runs a cell that starts with = + - @ as a formula; a failed sign-in's username is
    # anyone's text. A leading apostrophe keeps it text.
    return f"'{text}" if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


AuditText = Annotated[str, Query(max_length=120)]


@router.get("/audit")
def audit_page(
    request: Request,
    actor: AuditText = "",
    action: AuditText = "",
    target: AuditText = "",
    since: AuditText = "",
    until: AuditText = "",
    before: Annotated[int, Query(ge=0, le=2_147_483_647)] = 0,
) -> Response:
    """Audit events, newest first, filtered by actor, action, subject and day (prefix matches)."""

    def build(me: SignedIn) -> Response:
        rows = _audit_rows(
            _ctx(request),
            actor=actor,
            action=action,
            target=target,
            since=since,
            until=until,
            before=before,
            limit=AUDIT_PAGE,
        )
        filters = {"actor": actor, "action": action, "target": target, "since": since, "until": until}
        query = "&".join(f"{k}={quote(v)}" for k, v in filters.items() if v)
        return _render(request, "audit.html", me=me, rows=rows, filters=filters, query=query, check=None)

    return _page(request, "audit.read", build)


@router.post("/audit/verify")
def audit_verify(request: Request, csrf: CsrfForm) -> Response:
    """Recompute the whole hash chain and say whether it holds (and where it breaks)."""

    def act(me: SignedIn) -> Response:
        ctx = _ctx(request)
        check = audit.verify_chain(ctx.db)
        with ctx.db.write() as session:
            audit.record(session, actor=me.actor, action="audit.verified", ok=check.ok, events=check.events)
        rows = _audit_rows(ctx, actor="", action="", target="", since="", until="", before=0, limit=AUDIT_PAGE)
        filters = dict.fromkeys(("actor", "action", "target", "since", "until"), "")
        return _render(
            request, "audit.html", here="/admin/audit", me=me, rows=rows, filters=filters, query="", check=check
        )

    return _action(request, csrf, "audit.read", act)


@router.get("/audit/export.csv")
def audit_export(
    request: Request,
    actor: AuditText = "",
    action: AuditText = "",
    target: AuditText = "",
    since: AuditText = "",
    until: AuditText = "",
) -> Response:
    """The filtered events as CSV (seq, time, actor, action, subject, details, prev_hash, hash); the export
    itself is audited."""

    def build(me: SignedIn) -> Response:
        ctx = _ctx(request)
        rows = _audit_rows(
            ctx,
            actor=actor,
            action=action,
            target=target,
            since=since,
            until=until,
            before=0,
            limit=AUDIT_EXPORT_MAX,
        )
        with ctx.db.write() as session:
            audit.record(
                session,
                actor=me.actor,
                action="audit.exported",
                rows=len(rows),
                filters={"actor": actor, "action": action, "target": target, "since": since, "until": until},
            )
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(["seq", "at", "actor", "action", "target", "details", "prev_hash", "hash"])
        for row in reversed(rows):
            details = json.dumps(row.details, ensure_ascii=False, sort_keys=True)
            writer.writerow(
                [
                    row.seq,
                    row.at.isoformat(),
                    *map(_cell, (row.actor, row.action, row.target, details)),
                    row.prev_hash,
                    row.hash,
                ]
            )
        return Response(
            out.getvalue(),
            media_type="text/csv; charset=utf-8",
            headers={**SECURITY_HEADERS, "Content-Disposition": 'attachment; filename="esign-audit.csv"'},
        )

    return _page(request, "audit.read", build)


# ------------------------------------------------------------------------------ organizations


@router.get("/orgs")
def orgs(
    request: Request,
    q: Annotated[str, Query(max_length=200)] = "",
    status: Annotated[str, Query(max_length=16)] = "",
) -> Response:
    """The organization code registry: level-1 codes (ministries, provinces), or a search by code prefix or
    name (diacritics optional)."""

    def build(me: SignedIn) -> Response:
        ctx = _ctx(request)
        text = q.strip()
        looks_like_code = bool(text) and " " not in text and any(c.isdigit() or c == "." for c in text)
        if not text:
            page = orgids.search(ctx, level=1, status=status or None, limit=500)
        elif looks_like_code:
            page = orgids.search(ctx, prefix=text, status=status or None, limit=200)
        else:
            page = orgids.search(ctx, name=text, status=status or None, limit=200)
        return _render(request, "orgs.html", me=me, q=q, status_filter=status, page=page)

    return _page(request, "orgs.read", build)


@router.get("/orgs/export.csv")
def orgs_export(request: Request) -> Response:
    """The whole registry as CSV, as ``esign orgid export`` writes it."""

    def build(me: SignedIn) -> Response:
        ctx = _ctx(request)
        text = orgids.export_csv(ctx)
        with ctx.db.write() as session:
            audit.record(session, actor=me.actor, action="orgid.exported", format="csv")
        return Response(
            text,
            media_type="text/csv; charset=utf-8",
            headers={**SECURITY_HEADERS, "Content-Disposition": 'attachment; filename="org-codes.csv"'},
        )

    return _page(request, "orgs.read", build)


def _lineage(ctx: ServerContext, row: OrgCode) -> list[OrgCode]:
    chain: list[OrgCode] = []
    parent = row.parent_code
    while parent:
        above = orgids.get_code(ctx, parent)
        chain.insert(0, above)
        parent = above.parent_code
    return chain


@router.get("/orgs/{code}")
def org(request: Request, code: str, done: Annotated[str, Query(max_length=60)] = "") -> Response:
    """One code: where it sits in the tree, its children, its history and the certificates carrying it."""

    def build(me: SignedIn) -> Response:
        ctx = _ctx(request)
        row = orgids.get_code(ctx, code)
        return _render(
            request,
            "org.html",
            me=me,
            org=row,
            done=done,
            lineage=_lineage(ctx, row),
            children=orgids.children(ctx, row.code),
            history=orgids.history(ctx, row.code),
            carrying=orgids.certificates_carrying(ctx, row.code),
        )

    return _page(request, "orgs.read", build)


OrgText = Annotated[str, Form(max_length=500)]


@router.post("/orgs")
def issue_org(
    request: Request,
    csrf: CsrfForm,
    name: OrgText,
    parent: Annotated[str, Form(max_length=35)] = "",
    code: Annotated[str, Form(max_length=35)] = "",
    group: Annotated[str, Form(max_length=10)] = "",
    address: OrgText = "",
) -> Response:
    """Issue a code: the next free one under ``parent`` (or ``group`` under it), or a new level-1 ``code``."""

    def act(me: SignedIn) -> Response:
        row = orgids.issue_code(
            _ctx(request),
            name=name,
            code=code or None,
            parent=parent or None,
            group=group or None,
            address=address,
            actor=me.actor,
        )
        return _redirect(f"/admin/orgs/{quote(row.code)}?done=org.issued")

    return _action(request, csrf, "orgs.write", act)


@router.post("/orgs/{code}/amend")
def amend_org(request: Request, code: str, csrf: CsrfForm, name: OrgText, address: OrgText = "") -> Response:
    """Change an active code's name or address (the history keeps the old values)."""

    def act(me: SignedIn) -> Response:
        row = orgids.amend_code(_ctx(request), code=code, name=name, address=address, actor=me.actor)
        return _redirect(f"/admin/orgs/{quote(row.code)}?done=org.amended")

    return _action(request, csrf, "orgs.write", act)


@router.post("/orgs/{code}/close")
def close_org(
    request: Request,
    code: str,
    csrf: CsrfForm,
    reason: OrgText,
    successor: Annotated[str, Form(max_length=35)] = "",
) -> Response:
    """Close a code for good, saying why (and the code it merged into)."""

    def act(me: SignedIn) -> Response:
        row = orgids.close_code(_ctx(request), code=code, reason=reason, successor=successor or None, actor=me.actor)
        return _redirect(f"/admin/orgs/{quote(row.code)}?done=org.closed")

    return _action(request, csrf, "orgs.write", act)


# ------------------------------------------------------------------------------ relying systems


def _usage(ctx: ServerContext) -> dict[str, int]:
    with ctx.db.read() as session:
        rows = session.exec(
            select(SigningSession.client_id, func.count()).group_by(col(SigningSession.client_id))
        ).all()
    return {client_id: int(count) for client_id, count in rows}


@router.get("/systems")
def systems(request: Request, done: Annotated[str, Query(max_length=60)] = "") -> Response:
    """Relying systems: scopes, status, callback URLs and how many signing sessions each has asked for."""

    def build(me: SignedIn) -> Response:
        ctx = _ctx(request)
        return _render(
            request,
            "systems.html",
            me=me,
            systems=clients.list_clients(ctx),
            usage=_usage(ctx),
            scopes=accounts.CONSOLE_CLIENT_SCOPES,
            shown=None,
            done=done,
        )

    return _page(request, "systems.read", build)


def _shown_once(
    request: Request, me: SignedIn, client_id: str, client_secret: str, webhook_secret: str = ""
) -> Response:
    ctx = _ctx(request)
    shown = {"client_id": client_id, "client_secret": client_secret, "webhook_secret": webhook_secret}
    return _render(
        request,
        "systems.html",
        here="/admin/systems",
        me=me,
        systems=clients.list_clients(ctx),
        usage=_usage(ctx),
        scopes=accounts.CONSOLE_CLIENT_SCOPES,
        shown=shown,
    )


@router.post("/systems")
def create_system(
    request: Request,
    csrf: CsrfForm,
    name: Annotated[str, Form(max_length=200)],
    scope: Annotated[list[str] | None, Form()] = None,
    callback_urls: Annotated[str, Form(max_length=4000)] = "",
) -> Response:
    """Register a relying system (``sessions`` and/or ``csc`` scope); its secrets are shown on this page only."""

    def act(me: SignedIn) -> Response:
        chosen = scope or ["sessions"]
        if any(s not in accounts.CONSOLE_CLIENT_SCOPES for s in chosen):
            raise Forbidden(
                "the console makes sessions and csc clients only; admin clients: esign server client create"
            )
        ctx = _ctx(request)
        urls = callback_urls.split()
        if urls:
            # Checked before the client exists, so a refused URL leaves nothing half made.
            if len(urls) > webhooks.MAX_CALLBACK_URLS:
                raise ServiceError(f"at most {webhooks.MAX_CALLBACK_URLS} callback URLs", code="callback_refused")
            for url in urls:
                webhooks.check_callback_url(url, ctx.settings)
        new = clients.create_client(ctx, name=name, scopes=chosen, actor=me.actor)
        if urls:
            webhooks.register_callback_urls(ctx, client_id=new.client.id, urls=urls, actor=me.actor)
        return _shown_once(request, me, new.client.id, new.client_secret, new.webhook_secret)

    return _action(request, csrf, "systems.write", act)


@router.post("/systems/{client_id}/rotate")
def rotate_system_secret(request: Request, client_id: str, csrf: CsrfForm) -> Response:
    """A new client secret, shown on this page only; the old one stops working at once."""

    def act(me: SignedIn) -> Response:
        secret = clients.rotate_secret(_ctx(request), client_id=client_id, actor=me.actor)
        return _shown_once(request, me, client_id, secret)

    return _action(request, csrf, "systems.write", act)


@router.post("/systems/{client_id}/{change}")
def change_system(request: Request, client_id: str, change: str, csrf: CsrfForm) -> Response:
    """``disable`` (no new access tokens) or ``enable`` a relying system."""

    def act(me: SignedIn) -> Response:
        if change not in ("disable", "enable"):
            raise ServiceError(f"unknown change {change!r}", status=404, code="not_found")
        clients.set_status(_ctx(request), client_id=client_id, active=change == "enable", actor=me.actor)
        return _redirect(f"/admin/systems?done=system.{change}d")

    return _action(request, csrf, "systems.write", act)


# ------------------------------------------------------------------------------ bulk onboarding


@router.get("/people-import")
def import_form(request: Request) -> Response:
    """The bulk onboarding form: a CSV or XLSX file of officials."""
    return _page(request, "people.write", lambda me: _render(request, "import.html", me=me, preview=None, text=""))


@router.post("/people-import")
async def import_people(request: Request) -> Response:
    """``preview``: check the uploaded CSV or XLSX and show every row with its problems (nothing written);
    ``import``: check the same text again and register everyone in one transaction, or nobody."""
    form = await request.form()
    csrf = str(form.get("csrf") or "")
    upload = form.get("file")
    sent = str(form.get("text") or "")
    name, raw = "", None
    if upload is not None and not isinstance(upload, str):
        # One byte past the limit is enough to know the file is too large.
        name, raw = upload.filename or "", await upload.read(onboarding.MAX_FILE_BYTES + 1)
    step = str(form.get("step") or "preview")

    def act(me: SignedIn) -> Response:
        ctx = _ctx(request)
        # A CSV or XLSX upload becomes CSV text here; the import step sends that text back.
        text = onboarding.read_upload(name, raw) if raw is not None else onboarding.read_upload("", sent.encode())
        if step == "import":
            preview = onboarding.run_import(ctx, text, actor=me.actor)
            if preview.ok:
                return _render(
                    request, "import.html", here="/admin/people-import", me=me, preview=preview, text="", imported=True
                )
        else:
            preview = onboarding.check(ctx, text)
        status = 200 if preview.ok else 400
        return _render(
            request, "import.html", status=status, here="/admin/people-import", me=me, preview=preview, text=text
        )

    return await run_in_threadpool(_action, request, csrf, "people.write", act)


@router.post("/orgs-import")
async def import_orgs(request: Request) -> Response:
    """Import codes from a CSV or JSON file as ``esign orgid import`` does: all or nothing, every bad row named."""
    form = await request.form()
    csrf = str(form.get("csrf") or "")
    upload = form.get("file")
    name, raw = "", b""
    if upload is not None and not isinstance(upload, str):
        name, raw = upload.filename or "", await upload.read()

    def act(me: SignedIn) -> Response:
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise ServiceError("the file is not UTF-8 text", code="invalid_file") from None
        fmt = "json" if name.lower().endswith(".json") else "csv"
        try:
            result = orgids.import_text(_ctx(request), text, fmt=fmt, actor=me.actor)
        except orgids.ImportRejected as rejected:
            return _render(
                request,
                "orgs_import.html",
                status=400,
                here="/admin/orgs",
                me=me,
                result=None,
                problems=rejected.problems,
            )
        return _render(request, "orgs_import.html", here="/admin/orgs", me=me, result=result, problems=[])

    return await run_in_threadpool(_action, request, csrf, "orgs.write", act)


@router.post("/people-import/letters")
def pairing_letters(request: Request, csrf: CsrfForm, user_id: Annotated[list[str], Form(max_length=36)]) -> Response:
    """Pairing letters (PDF, a page per person, each with a fresh enrollment's QR code) for the people
    just registered; the file is sent once and not cached."""

    def act(me: SignedIn) -> Response:
        ctx = _ctx(request)
        if len(user_id) > onboarding.MAX_ROWS:
            raise ServiceError(f"at most {onboarding.MAX_ROWS} letters at once", code="too_many")
        people = [users.get_user(ctx, uid) for uid in user_id]
        made = []
        for person in people:
            enrollment = devices.start_enrollment(ctx, user_id=person.id, device_name="", actor=me.actor)
            made.append(
                letters.Letter(
                    person.full_name, person.cccd, person.organization, enrollment.pairing_url, enrollment.expires_at
                )
            )
        return Response(
            letters.render_letters(made),
            media_type="application/pdf",
            headers={**SECURITY_HEADERS, "Content-Disposition": 'attachment; filename="thu-ghep-dien-thoai.pdf"'},
        )

    return _action(request, csrf, "devices.write", act)


# ------------------------------------------------------------------------------ one person, grants

PersonText = Annotated[str, Form(max_length=200)]


@router.post("/people")
def create_person(
    request: Request,
    csrf: CsrfForm,
    full_name: PersonText,
    cccd: Annotated[str, Form(max_length=20)] = "",
    tax_code: Annotated[str, Form(max_length=20)] = "",
    email: Annotated[str, Form(max_length=254)] = "",
    phone: Annotated[str, Form(max_length=20)] = "",
    organization: PersonText = "",
    position: PersonText = "",
) -> Response:
    """Register one person (CCCD and/or tax code), as ``POST /api/admin/users`` does, with a position."""

    def act(me: SignedIn) -> Response:
        user = users.create_user(
            _ctx(request),
            full_name=full_name,
            cccd=cccd.strip() or None,
            tax_code=tax_code.strip() or None,
            email=email.strip() or None,
            phone=phone.strip() or None,
            organization=organization.strip() or None,
            position=position.strip() or None,
            actor=me.actor,
        )
        return _redirect(f"/admin/people/{quote(user.id)}?done=person.created")

    return _action(request, csrf, "people.write", act)


@router.post("/people/{user_id}/relying-systems")
def grant_system(
    request: Request, user_id: str, csrf: CsrfForm, client_id: Annotated[str, Form(max_length=64)]
) -> Response:
    """Authorise a relying system for the person, on the person's behalf (only then may it ask them to sign)."""

    def act(me: SignedIn) -> Response:
        grants.grant(_ctx(request), client_id=client_id, user_id=user_id, actor=me.actor)
        return _redirect(f"/admin/people/{quote(user_id)}?done=grant.added")

    return _action(request, csrf, "credentials.write", act)


@router.post("/people/{user_id}/relying-systems/{client_id}/revoke")
def withdraw_system(request: Request, user_id: str, client_id: str, csrf: CsrfForm) -> Response:
    """Withdraw the authorisation: the relying system's requests for this person stop working."""

    def act(me: SignedIn) -> Response:
        grants.revoke(_ctx(request), client_id=client_id, user_id=user_id, actor=me.actor)
        return _redirect(f"/admin/people/{quote(user_id)}?done=grant.withdrawn")

    return _action(request, csrf, "credentials.write", act)
