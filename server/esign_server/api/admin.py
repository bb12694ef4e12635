"""Admin API (scope ``admin``): users, relying systems, credentials, device enrollment, audit."""

from __future__ import annotations

import base64
from typing import Annotated

from fastapi import APIRouter, Query, Response

from esign_server.api.deps import AdminClient, CtxDep
from esign_server.api.views import credential_public, device_public, user_public
from esign_server.models import AuditEvent
from esign_server.schemas import (
    AuditCheck,
    AuditEventPublic,
    CallbackUrls,
    CertificateInstall,
    ClientCreate,
    ClientCreated,
    CredentialIssue,
    CredentialPublic,
    CredentialStatusChange,
    DeviceActivate,
    DevicePublic,
    EnrollmentCreate,
    EnrollmentPublic,
    ErrorBody,
    GrantCreate,
    GrantPublic,
    UserCreate,
    UserPublic,
)
from esign_server.services import audit, clients, credentials, devices, grants, qr, users, webhooks
from esign_server.services.errors import ServiceError

RevealQuery = Annotated[bool, Query(description="Show personal numbers in `subject` unmasked")]

router = APIRouter(
    prefix="/api/admin",
    tags=["admin"],
    responses={
        400: {"model": ErrorBody},
        401: {"model": ErrorBody},
        403: {"model": ErrorBody},
        404: {"model": ErrorBody},
        409: {"model": ErrorBody},
    },
)


@router.post("/users", status_code=201, response_model=UserPublic)
def create_user(body: UserCreate, caller: AdminClient, ctx: CtxDep) -> UserPublic:
    """Register a user (CCCD and/or tax code, email, phone)."""
    return user_public(users.create_user(ctx, actor=caller.actor, **body.model_dump()))


@router.get("/users", response_model=list[UserPublic])
def list_users(
    caller: AdminClient,
    ctx: CtxDep,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> list[UserPublic]:
    """Users, oldest first."""
    return [user_public(u) for u in users.list_users(ctx, limit=limit, offset=offset)]


@router.get("/users/{user_id}", response_model=UserPublic)
def get_user(user_id: str, caller: AdminClient, ctx: CtxDep) -> UserPublic:
    """One user."""
    return user_public(users.get_user(ctx, user_id))


@router.post("/clients", status_code=201, response_model=ClientCreated)
def create_client(body: ClientCreate, caller: AdminClient, ctx: CtxDep) -> ClientCreated:
    """Register a relying system; its secrets are in this answer only."""
    new = clients.create_client(ctx, name=body.name, scopes=body.scopes, client_id=body.client_id, actor=caller.actor)
    return ClientCreated(
        client_id=new.client.id,
        name=new.client.name,
        scopes=new.client.scopes.split(),
        client_secret=new.client_secret,
        webhook_secret=new.webhook_secret,
    )


@router.put("/clients/{client_id}/callback-urls", response_model=CallbackUrls)
def set_callback_urls(client_id: str, body: CallbackUrls, caller: AdminClient, ctx: CtxDep) -> CallbackUrls:
    """Register the webhook URLs this relying system may name (https outside dev mode; no loopback,
    private or link-local address unless allow-listed); replaces the earlier list."""
    urls = webhooks.register_callback_urls(ctx, client_id=client_id, urls=body.urls, actor=caller.actor)
    return CallbackUrls(urls=urls)


@router.post("/users/{user_id}/credentials", status_code=201, response_model=CredentialPublic)
def issue_credential(user_id: str, body: CredentialIssue, caller: AdminClient, ctx: CtxDep) -> CredentialPublic:
    """A new key in the keystore with a certificate from the service CA (or a CSR for an external CA)."""
    cred = credentials.issue_credential(
        ctx,
        user_id=user_id,
        key_algorithm=body.key_algorithm,
        label=body.label,
        external_ca=body.external_ca,
        keystore=body.keystore,
        org_code=body.org_code,
        actor=caller.actor,
    )
    return credential_public(cred)


@router.get("/users/{user_id}/credentials", response_model=list[CredentialPublic])
def list_credentials(
    user_id: str, caller: AdminClient, ctx: CtxDep, reveal: RevealQuery = False
) -> list[CredentialPublic]:
    """A user's credentials (personal numbers in ``subject`` masked unless ``?reveal=true``)."""
    return [credential_public(c, reveal=reveal) for c in credentials.list_credentials(ctx, user_id=user_id)]


@router.get("/credentials/{credential_id}", response_model=CredentialPublic)
def get_credential(
    credential_id: str, caller: AdminClient, ctx: CtxDep, reveal: RevealQuery = False
) -> CredentialPublic:
    """One credential (personal numbers in ``subject`` masked unless ``?reveal=true``)."""
    return credential_public(credentials.get_credential(ctx, credential_id), reveal=reveal)


@router.get("/users/{user_id}/relying-systems", response_model=list[GrantPublic])
def list_grants(user_id: str, caller: AdminClient, ctx: CtxDep) -> list[GrantPublic]:
    """The relying systems the user has authorised (only they may ask the user for signatures)."""
    return [GrantPublic.model_validate(g, from_attributes=True) for g in grants.list_for_user(ctx, user_id=user_id)]


@router.post("/users/{user_id}/relying-systems", status_code=201, response_model=list[GrantPublic])
def create_grant(user_id: str, body: GrantCreate, caller: AdminClient, ctx: CtxDep) -> list[GrantPublic]:
    """Authorise a relying system for the user, on the user's behalf (idempotent); the user's grants."""
    grants.grant(ctx, client_id=body.client_id, user_id=user_id, actor=caller.actor)
    return list_grants(user_id, caller, ctx)


@router.delete("/users/{user_id}/relying-systems/{client_id}", status_code=204)
def delete_grant(user_id: str, client_id: str, caller: AdminClient, ctx: CtxDep) -> Response:
    """Withdraw the authorisation: the relying system's requests and SADs for this user stop working."""
    grants.revoke(ctx, client_id=client_id, user_id=user_id, actor=caller.actor)
    return Response(status_code=204)


@router.put("/credentials/{credential_id}/certificate", response_model=CredentialPublic)
def install_certificate(
    credential_id: str, body: CertificateInstall, caller: AdminClient, ctx: CtxDep
) -> CredentialPublic:
    """Install the certificate an external CA issued for the credential's CSR."""
    return credential_public(
        credentials.install_certificate(
            ctx, credential_id=credential_id, certificate_pem=body.certificate_pem, actor=caller.actor
        )
    )


@router.post("/credentials/{credential_id}/{action}", response_model=CredentialPublic)
def change_credential_status(
    credential_id: str, action: str, caller: AdminClient, ctx: CtxDep, body: CredentialStatusChange | None = None
) -> CredentialPublic:
    """``suspend``, ``resume`` or ``revoke`` (OCSP and CRL show it at once)."""
    if action not in ("suspend", "resume", "revoke"):
        raise ServiceError(f"unknown action {action!r}; use suspend, resume or revoke", status=404, code="not_found")
    return credential_public(
        credentials.change_status(
            ctx, credential_id=credential_id, action=action, reason=body.reason if body else None, actor=caller.actor
        )
    )


@router.post("/users/{user_id}/enrollments", status_code=201, response_model=EnrollmentPublic)
def start_enrollment(
    user_id: str, caller: AdminClient, ctx: CtxDep, body: EnrollmentCreate | None = None
) -> EnrollmentPublic:
    """Enroll a phone: the TOTP secret (URI + QR) and pairing link, shown once."""
    e = devices.start_enrollment(ctx, user_id=user_id, device_name=body.device_name if body else "", actor=caller.actor)
    return EnrollmentPublic(
        device_id=e.device_id,
        user_id=e.user_id,
        secret=e.secret_b32,
        otpauth_uri=e.otpauth_uri,
        qr_png=base64.b64encode(qr.qr_png(e.otpauth_uri)).decode(),
        qr_svg=qr.qr_svg(e.otpauth_uri),
        pairing_url=e.pairing_url,
        pairing_qr_png=base64.b64encode(qr.qr_png(e.pairing_url)).decode(),
        pairing_qr_svg=qr.qr_svg(e.pairing_url),
        enrollment_token=e.enrollment_token,
        expires_at=e.expires_at,
    )


@router.post("/devices/{device_id}/activate", response_model=DevicePublic)
def activate_device(device_id: str, body: DeviceActivate, caller: AdminClient, ctx: CtxDep) -> DevicePublic:
    """Activate a pending device with its first code (for authenticator apps without the mobile app)."""
    device, _token = devices.activate(ctx, device_id=device_id, code=body.code, actor=caller.actor)
    return device_public(device)


@router.get("/users/{user_id}/devices", response_model=list[DevicePublic])
def list_devices(user_id: str, caller: AdminClient, ctx: CtxDep) -> list[DevicePublic]:
    """A user's devices."""
    return [device_public(d) for d in devices.list_devices(ctx, user_id=user_id)]


@router.post("/devices/{device_id}/revoke", response_model=DevicePublic)
def revoke_device(device_id: str, caller: AdminClient, ctx: CtxDep) -> DevicePublic:
    """Retire a device."""
    return device_public(devices.revoke_device(ctx, device_id=device_id, actor=caller.actor))


@router.get("/audit/verify", response_model=AuditCheck)
def verify_audit(caller: AdminClient, ctx: CtxDep) -> AuditCheck:
    """Recompute the audit hash chain; names the first broken link."""
    result = audit.verify_chain(ctx.db)
    return AuditCheck(
        ok=result.ok, events=result.events, first_broken_seq=result.first_broken_seq, problem=result.problem
    )


@router.get("/audit/events", response_model=list[AuditEventPublic])
def audit_events(
    caller: AdminClient,
    ctx: CtxDep,
    after: Annotated[int, Query(ge=0, le=2_147_483_647)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[AuditEventPublic]:
    """Audit events after sequence number ``after``."""
    from sqlmodel import col, select

    with ctx.db.read() as session:
        rows = session.exec(
            select(AuditEvent).where(col(AuditEvent.seq) > after).order_by(col(AuditEvent.seq)).limit(limit)
        ).all()
    return [AuditEventPublic.model_validate(r, from_attributes=True) for r in rows]
