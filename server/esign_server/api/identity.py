"""Admin API for electronic identification: identity verification records, personal-data export and erasure."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from esign_server.api.deps import AdminClient, CtxDep
from esign_server.api.views import credential_public
from esign_server.context import ServerContext
from esign_server.models import IdentityVerification
from esign_server.schemas import ErrorBody
from esign_server.schemas.identity import (
    ErasureResult,
    IdentityVerificationCreate,
    IdentityVerificationPublic,
    IdentityVerificationResult,
    VerifiedIdentityPublic,
)
from esign_server.services import identity, personal_data

router = APIRouter(
    prefix="/api/admin",
    tags=["identity"],
    responses={
        400: {"model": ErrorBody},
        401: {"model": ErrorBody},
        403: {"model": ErrorBody},
        404: {"model": ErrorBody},
        409: {"model": ErrorBody},
    },
)


def verification_public(ctx: ServerContext, row: IdentityVerification) -> IdentityVerificationPublic:
    """A verification with its identity opened and masked."""
    shown: VerifiedIdentityPublic | None = None
    reference: str | None = None
    if row.sealed is not None:
        opened = identity.open_verification(ctx, row)
        shown = VerifiedIdentityPublic(**opened.identity.masked())
        reference = identity.mask_reference(opened.reference) if opened.reference else None
    return IdentityVerificationPublic(
        id=row.id,
        user_id=row.user_id,
        method=row.method,
        document_kind=row.document_kind,
        document_number=row.document_masked,
        provider=row.provider,
        reference=reference,
        status=row.status,
        verified_at=row.verified_at,
        verified_by=row.verified_by,
        identity=shown,
    )


@router.post("/users/{user_id}/identity-verifications", status_code=201, response_model=IdentityVerificationResult)
def verify_identity(
    user_id: str, body: IdentityVerificationCreate, caller: AdminClient, ctx: CtxDep
) -> IdentityVerificationResult:
    """Record how the user's identity was verified (in person with a document, or an eKYC reference).

    Credentials are issued only after this. Identity fields in the body are the data as verified;
    when they change what a certificate says, that credential is revoked and reissued.
    """
    evidence: identity.Evidence
    if body.document is not None:
        evidence = identity.InPersonDocument(body.document.kind, body.document.number)
    else:
        evidence = identity.EkycReference(body.provider or "", body.reference or "")
    changes: dict[str, Any] = {
        k: v
        for k, v in body.model_dump(include={"cccd", "tax_code", "organization", "email"}).items()
        if k in body.model_fields_set
    }
    outcome = identity.record_verification(
        ctx,
        user_id=user_id,
        evidence=evidence,
        full_name=body.full_name,
        verified_at=body.verified_at,
        actor=caller.actor,
        **changes,
    )
    return IdentityVerificationResult(
        verification=verification_public(ctx, outcome.verification),
        changed=list(outcome.changed),
        revoked_credentials=list(outcome.revoked),
        reissued_credentials=[credential_public(c) for c in outcome.reissued],
    )


@router.get("/users/{user_id}/identity-verifications", response_model=list[IdentityVerificationPublic])
def list_identity_verifications(user_id: str, caller: AdminClient, ctx: CtxDep) -> list[IdentityVerificationPublic]:
    """A user's identity verifications, oldest first (the newest ``current`` one counts)."""
    return [verification_public(ctx, v) for v in identity.list_verifications(ctx, user_id=user_id)]


@router.get("/users/{user_id}/export")
def export_user(user_id: str, caller: AdminClient, ctx: CtxDep) -> dict[str, Any]:
    """Everything held about the user, as JSON (document numbers masked; never keys or secrets)."""
    return personal_data.export_user(ctx, user_id=user_id, actor=caller.actor)


@router.post("/users/{user_id}/erase", response_model=ErasureResult)
def erase_user(user_id: str, caller: AdminClient, ctx: CtxDep) -> ErasureResult:
    """Erase the user's personal data: refused (409) while a credential is live or within the retention period."""
    erased = personal_data.erase_user(ctx, user_id=user_id, actor=caller.actor)
    return ErasureResult(**vars(erased))
