"""Database tables (and only tables: wire models live in :mod:`esign_server.schemas`)."""

from esign_server.models.admin_console import AdminAccount, AdminSession
from esign_server.models.audit import AuditEvent, AuditHead
from esign_server.models.identity import Credential, Device, RelyingSystem, RelyingSystemGrant, User
from esign_server.models.marks import MarkImage
from esign_server.models.orgids import OrgCode, OrgCodeEvent
from esign_server.models.phone import (
    CredentialPasskeyPolicy,
    DevicePasskey,
    DevicePin,
    PasskeyChallenge,
    PushSubscription,
)
from esign_server.models.seals import SealBatch, SealClient, SealPolicy
from esign_server.models.sessions import SessionDocument, SigningSession
from esign_server.models.verification import IdentityVerification
from esign_server.models.webhooks import WebhookDelivery

__all__ = [
    "AdminAccount",
    "AdminSession",
    "AuditEvent",
    "AuditHead",
    "Credential",
    "CredentialPasskeyPolicy",
    "Device",
    "DevicePasskey",
    "DevicePin",
    "IdentityVerification",
    "MarkImage",
    "OrgCode",
    "OrgCodeEvent",
    "PasskeyChallenge",
    "PushSubscription",
    "RelyingSystem",
    "RelyingSystemGrant",
    "SealBatch",
    "SealClient",
    "SealPolicy",
    "SessionDocument",
    "SigningSession",
    "User",
    "WebhookDelivery",
]
