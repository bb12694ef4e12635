"""The document exchange node: edXML packages (QCVN 102:2016) between the organizations this server
registers and, by code prefix, other exchange nodes.

Who may do what:

* A **binding** (set by the admin) lets a relying system with the ``exchange`` scope send for an
  organization code and read that code's inbox. A binding without ``subtree`` makes the code an
  organization *registered here*: packages for it land in its inbox. A ``subtree`` binding (a peer
  node's client speaking for a province) only authorises sending for the codes below it.
* A **route** (set by the admin) sends the packages for codes under a prefix to a peer node, which
  this node authenticates to with the client credentials that peer issued (OAuth2 client-credentials
  over HTTPS; a client certificate too when the operator configures one: mutual TLS).

A package received (:func:`receive`) is parsed with esign's hardened parser, validated (every problem
listed), its sender checked against the caller's bindings and every code against the registry, and
its envelope signature (the XMLDSig in ``edXMLHeader``) verified: one that does not verify is refused,
an intact one is recorded ``passed`` or ``indeterminate``, a missing one or a placeholder ``unsigned``
(:class:`EnvelopeResult`). Then, in one transaction, it is stored with this node's trace hop (and the
envelope signature of the sender's organization when asked), and one **delivery** row is written per
recipient: an inbox entry, or an outbox row for a peer. Each delivery has a unique key made of the
DocumentId, the sender, the recipient and what the package does, so a package is never delivered twice
to one recipient, however often a relying system or a peer retries. The peer outbox
(:func:`dispatch_due`) claims due rows with a lease, sends them, and retries with backoff; rows survive
restarts.

A status package (01 arrived ... 16) from a recipient is checked against the delivery it reports on,
recorded in the document's history, and routed back to the sender like any package.
"""

from __future__ import annotations

import hashlib
import logging
import ssl
import threading
import time
import uuid
import weakref
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import httpx
from cryptography import x509
from sqlalchemy import ColumnElement, or_, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from esign.algorithms import SignatureAlgorithm
from esign.edxml import (
    STATUS_NAMES,
    MessageHeader,
    Package,
    StatusCode,
    StatusHeader,
    add_trace,
    parse_package,
    sign_package,
    to_bytes,
    validate,
)
from esign.edxml.verification import verify_envelope
from esign.errors import EsignError, InvalidInput
from esign.identity import mask_personal_numbers
from esign.orgid import OrgIdentifier, OrgIdError
from esign.report import Indication, ValidationReport
from esign.signers import Signer
from esign_server.db import rows_changed, utcnow
from esign_server.models import Credential, RelyingSystem
from esign_server.models.exchange import (
    ExchangeBinding,
    ExchangeDelivery,
    ExchangeEvent,
    ExchangePackage,
    ExchangeRoute,
)
from esign_server.services import audit, orgids
from esign_server.services.errors import Conflict, Forbidden, NotFound, ServiceError
from esign_server.services.pki import verification_trust

if TYPE_CHECKING:
    from esign_server.context import ServerContext

log = logging.getLogger("esign_server.exchange")
SCOPE = "exchange"
"""The scope a relying system (or a peer node's client) needs for the exchange API."""
LOCAL = "local"
MAX_HOPS = 16
"""A package that has passed more nodes than this is refused (a routing loop)."""
PACKAGE_MEDIA_TYPE = "application/xml"


class PackageRefused(ServiceError):
    """A package the node does not accept; ``problems`` lists every reason (by path where there is one)."""

    status = 422
    code = "invalid_package"

    def __init__(
        self, message: str, *, problems: list[str] | None = None, code: str | None = None, status: int | None = None
    ) -> None:
        super().__init__(message, code=code, status=status)
        self.problems = problems or [message]


# --- codes ----------------------------------------------------------------------------------------


def canonical_code(text: str | None, what: str = "organization code") -> str:
    """``text`` as a code in the QĐ 20/2020 form (``000.00.22.H49`` becomes ``H49.22``)."""
    try:
        return str(OrgIdentifier.parse((text or "").strip()))
    except OrgIdError as exc:
        raise InvalidInput(f"{what}: {exc}") from None


def covers(binding_code: str, subtree: bool, code: str) -> bool:
    """Whether a binding of ``binding_code`` covers ``code`` (itself, or below it with ``subtree``)."""
    return code == binding_code or (subtree and code.startswith(binding_code + "."))


def _under(prefix: str, code: str) -> bool:
    return code == prefix or code.startswith(prefix + ".")


def dedupe_key(document_id: str, sender: str, recipient: str, what: str) -> str:
    """The unique key of one delivery: a package doing ``what`` (``doc:0`` new, ``status:01`` ...)
    about ``document_id`` from ``sender`` to ``recipient``."""
    return hashlib.sha256("\x1f".join((document_id, sender, recipient, what)).encode()).hexdigest()


# --- bindings and routes (admin) ----------------------------------------------------------------


@dataclass(frozen=True)
class BindingView:
    """A binding as the admin API shows it."""

    org_code: str
    client_id: str
    subtree: bool
    credential_id: str | None


def bind_code(
    ctx: ServerContext,
    *,
    org_code: str,
    client_id: str,
    subtree: bool = False,
    credential_id: str | None = None,
    actor: str,
) -> BindingView:
    """Let ``client_id`` send for ``org_code`` (and read its inbox); replaces an earlier binding of the pair.

    The code must be active in the registry. ``credential_id`` names the organization's credential
    the node signs envelopes with when the relying system asks (``sign=true``).
    """
    code = orgids.active_code(ctx.db, org_code)
    with ctx.db.write() as session:
        if session.get(RelyingSystem, client_id) is None:
            raise NotFound(f"no relying system {client_id}", code="client_not_found")
        if credential_id is not None:
            credential = session.get(Credential, credential_id)
            if credential is None or credential.status != "active" or credential.certificate_der is None:
                raise Conflict(
                    f"credential {credential_id} is not an active credential with a certificate",
                    code="credential_unusable",
                )
        row = session.exec(
            select(ExchangeBinding).where(ExchangeBinding.org_code == code, ExchangeBinding.client_id == client_id)
        ).first()
        if row is None:
            row = ExchangeBinding(org_code=code, client_id=client_id, created_by=actor)
        row.subtree, row.credential_id = subtree, credential_id
        session.add(row)
        audit.record(
            session,
            actor=actor,
            action="exchange.binding_set",
            target=f"orgid:{code}",
            client_id=client_id,
            subtree=subtree,
            credential_id=credential_id,
        )
    return BindingView(code, client_id, subtree, credential_id)


def unbind_code(ctx: ServerContext, *, org_code: str, client_id: str, actor: str) -> None:
    """Withdraw a binding."""
    code = canonical_code(org_code)
    with ctx.db.write() as session:
        row = session.exec(
            select(ExchangeBinding).where(ExchangeBinding.org_code == code, ExchangeBinding.client_id == client_id)
        ).first()
        if row is None:
            raise NotFound(f"{client_id} is not bound to {code}", code="binding_not_found")
        session.delete(row)
        audit.record(
            session, actor=actor, action="exchange.binding_removed", target=f"orgid:{code}", client_id=client_id
        )


def list_bindings(ctx: ServerContext, *, client_id: str | None = None) -> list[BindingView]:
    """Every binding (or one relying system's), by code."""
    with ctx.db.read() as session:
        query = select(ExchangeBinding).order_by(col(ExchangeBinding.org_code), col(ExchangeBinding.client_id))
        if client_id is not None:
            query = query.where(ExchangeBinding.client_id == client_id)
        rows = session.exec(query).all()
    return [BindingView(r.org_code, r.client_id, r.subtree, r.credential_id) for r in rows]


@dataclass(frozen=True)
class RouteView:
    """A peer route as the admin API shows it (never the secret)."""

    prefix: str
    url: str
    client_id: str


def check_peer_url(url: str, *, dev_mode: bool) -> str:
    """``url`` without a trailing slash if it may be a peer's base URL (``https``; ``http`` in dev mode)."""
    parts = urlsplit(url)
    schemes = ("https", "http") if dev_mode else ("https",)
    if parts.scheme not in schemes or not parts.hostname or parts.username or parts.password or parts.query:
        raise ServiceError(
            f"a peer URL must be {' or '.join(schemes)}, with a host and no credentials or query",
            code="peer_url_refused",
        )
    return url.rstrip("/")


def set_route(
    ctx: ServerContext, *, prefix: str, url: str, client_id: str, client_secret: str, actor: str
) -> RouteView:
    """Route the codes under ``prefix`` to the peer node at ``url``, authenticating as ``client_id``."""
    code = canonical_code(prefix, "route prefix")
    base = check_peer_url(url, dev_mode=ctx.settings.dev_mode)
    if not client_id or not client_secret:
        raise ServiceError("a route needs the client_id and client_secret the peer issued", code="invalid_route")
    sealed = ctx.sealer.seal(client_secret.encode(), _route_aad(code))
    with ctx.db.write() as session:
        row = session.get(ExchangeRoute, code)
        if row is None:
            row = ExchangeRoute(prefix=code, url=base, client_id=client_id, client_secret_enc=sealed, created_by=actor)
        row.url, row.client_id, row.client_secret_enc, row.updated_at = base, client_id, sealed, utcnow()
        session.add(row)
        audit.record(
            session, actor=actor, action="exchange.route_set", target=f"orgid:{code}", url=base, client_id=client_id
        )
    _forget_token(ctx, code)
    return RouteView(code, base, client_id)


def remove_route(ctx: ServerContext, *, prefix: str, actor: str) -> None:
    """Withdraw a route (deliveries already queued on it wait until a route covers them again)."""
    code = canonical_code(prefix, "route prefix")
    with ctx.db.write() as session:
        row = session.get(ExchangeRoute, code)
        if row is None:
            raise NotFound(f"no route for {code}", code="route_not_found")
        session.delete(row)
        audit.record(session, actor=actor, action="exchange.route_removed", target=f"orgid:{code}")


def list_routes(ctx: ServerContext) -> list[RouteView]:
    """Every peer route, by prefix."""
    with ctx.db.read() as session:
        rows = session.exec(select(ExchangeRoute).order_by(col(ExchangeRoute.prefix))).all()
    return [RouteView(r.prefix, r.url, r.client_id) for r in rows]


def _route_aad(prefix: str) -> bytes:
    return f"exchange-route:{prefix}".encode()


def _bindings_of(session: Session, client_id: str) -> list[ExchangeBinding]:
    return list(session.exec(select(ExchangeBinding).where(ExchangeBinding.client_id == client_id)).all())


def _binding_for(bindings: list[ExchangeBinding], code: str) -> ExchangeBinding | None:
    found = [b for b in bindings if covers(b.org_code, b.subtree, code)]
    return max(found, key=lambda b: len(b.org_code)) if found else None


def _route_of(session: Session, code: str) -> str | None:
    """Where a package for ``code`` goes: ``local`` (bound here without subtree), a route prefix, or None."""
    local = session.exec(
        select(ExchangeBinding.id).where(ExchangeBinding.org_code == code, col(ExchangeBinding.subtree).is_(False))
    ).first()
    if local is not None:
        return LOCAL
    prefixes = [p for p in session.exec(select(ExchangeRoute.prefix)).all() if _under(p, code)]
    return max(prefixes, key=len) if prefixes else None


# --- the organization's signer ------------------------------------------------------------------


class CredentialSigner(Signer):
    """A server credential (key in the keystore) as an :class:`esign.signers.Signer`."""

    def __init__(self, ctx: ServerContext, credential: Credential) -> None:
        if credential.certificate_der is None:
            raise Conflict(f"credential {credential.id} has no certificate", code="credential_unusable")
        chain = x509.load_pem_x509_certificates(credential.chain_pem.encode()) if credential.chain_pem else []
        super().__init__(x509.load_der_x509_certificate(credential.certificate_der), chain)
        self._store = ctx.keystore(credential.keystore)
        self._credential = credential

    async def _sign_digest(self, digest: bytes, algorithm: SignatureAlgorithm) -> bytes:
        return self._store.sign_digest(self._credential.id, bytes(self._credential.key_ref), digest, algorithm)


# --- receiving ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class EnvelopeResult:
    """What the node found of a package's envelope signature (the XMLDSig in ``edXMLHeader``) on receipt."""

    check: str
    """``passed`` (verified, the signer trusted), ``indeterminate`` (intact, but the signer could not be
    established: an untrusted or unknown root, no revocation information) or ``unsigned`` (no signature,
    or a placeholder). A signature that does not verify is refused, never recorded."""
    signer: str | None = None
    """The signing certificate's subject, personal numbers masked."""
    reason: str | None = None
    """Why the result is not ``passed``."""

    def details(self) -> dict[str, str | None]:
        """The result as the history, the audit log and the API show it."""
        return {"check": self.check, "signer": self.signer, "reason": self.reason}


def _envelope_of(package: ExchangePackage) -> EnvelopeResult | None:
    """The stored result; None for a package received before the node checked envelopes."""
    if package.envelope_check is None:
        return None
    return EnvelopeResult(package.envelope_check, package.envelope_signer, package.envelope_reason)


@dataclass(frozen=True)
class DeliveryView:
    """One recipient of a package and where its copy is."""

    id: str
    recipient: str
    route: str
    state: str
    last_status: str | None = None
    attempts: int = 0
    last_error: str | None = None


@dataclass(frozen=True)
class Received:
    """The answer to a package sent to the node."""

    package_id: str
    kind: str
    document_id: str
    sender: str
    duplicate: bool
    signed_by_node: bool
    deliveries: list[DeliveryView] = field(default_factory=list)
    envelope: EnvelopeResult | None = None
    """The envelope signature as the node found it (for a duplicate: as it found the first copy)."""


def record_refusal(ctx: ServerContext, client_id: str, exc: EsignError, size: int) -> None:
    """Write a refused package (and why) to the audit log, in a transaction of its own."""
    with ctx.db.write() as session:
        audit.record(
            session,
            actor=f"client:{client_id}",
            action="exchange.refused",
            target="exchange:package",
            error=exc.code,
            reason=exc.message[:300],
            size=size,
        )


def receive(
    ctx: ServerContext,
    *,
    client_id: str,
    data: bytes,
    sign: bool = False,
    recipients: list[str] | None = None,
) -> Received:
    """Take a package from a relying system or a peer node: check it, store it, deliver it.

    ``recipients`` limits the delivery to some of the package's receivers (a peer node passes the
    ones it routes here). ``sign`` asks the node to sign the envelope with the credential bound to
    the sender's code. The envelope signature is verified (:func:`check_envelope`): one that does not
    verify is refused. A refusal is recorded in the audit log and raised (4xx).
    """
    try:
        return _receive(ctx, client_id=client_id, data=data, sign=sign, recipients=recipients)
    except EsignError as exc:
        record_refusal(ctx, client_id, exc, len(data))
        raise


def _node_code(ctx: ServerContext) -> str:
    code = ctx.settings.exchange_node_code
    if not code:
        raise ServiceError(
            "this server is not configured as an exchange node (ESIGN_EXCHANGE_NODE_CODE)",
            code="exchange_not_configured",
            status=503,
        )
    return canonical_code(code, "ESIGN_EXCHANGE_NODE_CODE")


def _parsed(data: bytes) -> Package:
    try:
        package = parse_package(data)
    except InvalidInput as exc:
        raise PackageRefused(f"not an edXML package: {exc.message}", code="malformed_package", status=400) from None
    problems = validate(package)
    if problems:
        raise PackageRefused(
            f"{len(problems)} problem(s) in the package: " + "; ".join(map(str, problems[:20])),
            problems=[str(p) for p in problems],
        )
    if len(package.traces) > MAX_HOPS:
        raise PackageRefused(
            f"the package passed {len(package.traces)} nodes (at most {MAX_HOPS})", code="too_many_hops"
        )
    return package


def _check_registry(ctx: ServerContext, codes: list[str]) -> None:
    problems = []
    for code in codes:
        found = orgids.registry_status(ctx.db, code)
        if not found.known:
            problems.append(f"{code}: not in the organization code registry")
        elif not found.active:
            problems.append(
                f"{code}: closed in the registry" + (f" (successor {found.successor})" if found.successor else "")
            )
    if problems:
        raise PackageRefused("; ".join(problems), problems=problems, code="org_code_refused")


@dataclass
class _Plan:
    kind: str
    sender: str
    document_id: str
    origin: str
    what: str
    recipients: list[str]
    subject: str | None = None
    business_type: str | None = None
    status_code: str | None = None


def _plan(package: Package, recipients: list[str] | None) -> _Plan:
    sender = canonical_code(package.sender, "From/OrganId")
    header = package.header
    if isinstance(header, StatusHeader):
        origin = canonical_code(header.response_for.organ_id, "ResponseFor/OrganId")
        code = header.status_code or ""
        plan = _Plan(
            "status",
            sender,
            header.response_for.document_id or "",
            origin,
            f"status:{code}",
            [origin],
            status_code=code,
        )
    else:
        assert isinstance(header, MessageHeader)
        to = [canonical_code(t.organ_id, "To/OrganId") for t in header.to]
        business = package.business.doc_type if package.business and package.business.doc_type else "0"
        plan = _Plan(
            "document",
            sender,
            header.document_id or "",
            sender,
            f"doc:{business}",
            to,
            subject=header.subject,
            business_type=business,
        )
    if not plan.document_id:
        raise PackageRefused("the package names no DocumentId", code="invalid_package")
    if recipients:
        wanted = [canonical_code(r, "recipients") for r in recipients]
        unknown = [r for r in wanted if r not in plan.recipients]
        if unknown:
            raise PackageRefused(
                f"not receivers of this package: {', '.join(unknown)}", code="recipient_not_in_package"
            )
        plan.recipients = list(dict.fromkeys(wanted))
    return plan


def _signer_for(ctx: ServerContext, binding: ExchangeBinding) -> CredentialSigner:
    if binding.credential_id is None:
        raise Conflict(
            f"no credential is bound to {binding.org_code} for signing envelopes", code="no_signing_credential"
        )
    with ctx.db.read() as session:
        credential = session.get(Credential, binding.credential_id)
    if credential is None or credential.status != "active":
        raise Conflict(f"the credential bound to {binding.org_code} is not active", code="credential_unusable")
    return CredentialSigner(ctx, credential)


def _report_reason(report: ValidationReport | None) -> str:
    if report is None:
        return ""
    head = report.indication.value + (f"/{report.sub_indication.value}" if report.sub_indication else "")
    return f"{head}: {report.errors[0]}" if report.errors else head


def check_envelope(ctx: ServerContext, data: bytes) -> EnvelopeResult:
    """Verify the envelope signature of the package ``data`` with :func:`esign.edxml.verify_envelope`.

    Raises :class:`PackageRefused` (422 ``signature_invalid``) when it does not verify: content changed
    after signing, a wrong digest, a signature moved or repeated, a reference that does not cover the
    whole package.
    """
    anchors, crls = verification_trust(ctx)
    try:
        # The envelope only: the node checks the codes itself, and the attachments are the recipients'
        # to verify (the envelope's digest covers their bytes all the same). Policy: VN-TT15-2025,
        # applied by verify_xml as in /api/verify.
        envelope = verify_envelope(data, trust_anchors=anchors, crls=crls)
    except InvalidInput as exc:
        raise PackageRefused(
            f"the envelope signature cannot be verified: {mask_personal_numbers(exc.message)}",
            code="signature_invalid",
        ) from None
    report = envelope.report
    signer = mask_personal_numbers(report.signer.subject) if report and report.signer else None
    if envelope.indication is None:
        return EnvelopeResult("unsigned", reason=envelope.message or "the envelope is not signed")
    if envelope.indication is Indication.TOTAL_FAILED:
        why = mask_personal_numbers(envelope.message or _report_reason(report))
        raise PackageRefused(f"the envelope signature does not verify: {why}"[:1000], code="signature_invalid")
    if envelope.indication is Indication.INDETERMINATE:
        return EnvelopeResult("indeterminate", signer, mask_personal_numbers(_report_reason(report))[:300])
    return EnvelopeResult("passed", signer)


def _receive(ctx: ServerContext, *, client_id: str, data: bytes, sign: bool, recipients: list[str] | None) -> Received:
    node = _node_code(ctx)
    package = _parsed(data)
    plan = _plan(package, recipients)
    with ctx.db.read() as session:
        binding = _binding_for(_bindings_of(session, client_id), plan.sender)
        if binding is None:
            raise Forbidden(f"this relying system may not send for {plan.sender} (no binding)", code="sender_not_bound")
        routes = {r: _route_of(session, r) for r in plan.recipients}
    _check_registry(ctx, list(dict.fromkeys([plan.sender, *plan.recipients])))
    unroutable = [r for r, route in routes.items() if route is None]
    if unroutable:
        raise PackageRefused(
            f"no organization registered here and no route for {', '.join(unroutable)}",
            code="recipient_unknown",
            problems=[f"{r}: not registered on this node and no peer route" for r in unroutable],
        )
    incoming_sha = hashlib.sha256(data).hexdigest()
    keys = {r: dedupe_key(plan.document_id, plan.sender, r, plan.what) for r in plan.recipients}
    existing = _existing_deliveries(ctx, list(keys.values()))
    if existing:
        same = _package_hash(ctx, existing[0].package_id) == incoming_sha
        if not same:
            raise Conflict(
                f"document {plan.document_id} from {plan.sender} was already delivered to "
                f"{', '.join(d.recipient for d in existing)} with other content",
                code="duplicate_document",
            )
        if len(existing) == len(keys):
            return _duplicate_answer(ctx, client_id, plan, existing)
    if plan.kind == "status":
        _check_status_target(ctx, plan)
    # After the cheap checks (and not for a retry already delivered): the signature costs a digest of
    # the whole package. A broken sender's signature is refused even when the node signs in its place.
    envelope = check_envelope(ctx, data)
    # The node's hop goes into the package unless the sender signed its envelope and the node is not
    # asked to sign: a hop would break that signature (it covers the trace list), so it is kept byte for
    # byte and the hop is recorded in the history only.
    keep_signed = package.signature.kind == "xmldsig" and not sign
    if keep_signed:
        body = data
    else:
        body = to_bytes(add_trace(package, node))
        if sign:
            body = sign_package(body, _signer_for(ctx, binding))
            envelope = check_envelope(ctx, body)  # what the recipients get: the node's own signature
    return _store(
        ctx,
        client_id,
        plan,
        body,
        incoming_sha,
        routes,
        keys,
        node=node,
        hop_in_package=not keep_signed,
        signed=sign,
        envelope=envelope,
    )


def _existing_deliveries(ctx: ServerContext, keys: list[str]) -> list[ExchangeDelivery]:
    with ctx.db.read() as session:
        return list(session.exec(select(ExchangeDelivery).where(col(ExchangeDelivery.dedupe_key).in_(keys))).all())


def _package_hash(ctx: ServerContext, package_id: str) -> str | None:
    with ctx.db.read() as session:
        row = session.get(ExchangePackage, package_id)
    return row.content_sha256 if row else None


def _duplicate_answer(ctx: ServerContext, client_id: str, plan: _Plan, existing: list[ExchangeDelivery]) -> Received:
    with ctx.db.write() as session:
        first = session.exec(
            select(
                ExchangePackage.envelope_check, ExchangePackage.envelope_signer, ExchangePackage.envelope_reason
            ).where(ExchangePackage.id == existing[0].package_id)
        ).first()
        audit.record(
            session,
            actor=f"client:{client_id}",
            action="exchange.duplicate",
            target=f"exchange:{existing[0].package_id}",
            document_id=plan.document_id[:200],
            sender=plan.sender,
        )
    return Received(
        existing[0].package_id,
        plan.kind,
        plan.document_id,
        plan.sender,
        True,
        False,
        [_delivery_view(d) for d in existing],
        EnvelopeResult(*first) if first is not None and first[0] is not None else None,
    )


def _check_status_target(ctx: ServerContext, plan: _Plan) -> None:
    """A status must report on a document this node delivered from its origin to the status's sender."""
    with ctx.db.read() as session:
        found = session.exec(
            select(ExchangeDelivery.id).where(
                ExchangeDelivery.document_id == plan.document_id,
                ExchangeDelivery.origin == plan.origin,
                ExchangeDelivery.recipient == plan.sender,
                ExchangeDelivery.kind == "document",
            )
        ).first()
    if found is None:
        raise PackageRefused(
            f"no document {plan.document_id} from {plan.origin} was delivered to {plan.sender} through this node",
            code="document_unknown",
            status=404,
        )


def _delivery_view(row: ExchangeDelivery) -> DeliveryView:
    return DeliveryView(row.id, row.recipient, row.route, row.state, row.last_status, row.attempts, row.last_error)


def _event(
    session: Session, plan_or_row: Any, event: str, organ_id: str, package_id: str | None, **details: Any
) -> None:
    session.add(
        ExchangeEvent(
            document_id=plan_or_row.document_id,
            origin=plan_or_row.origin,
            event=event,
            organ_id=organ_id,
            package_id=package_id,
            details=details,
        )
    )


class _AlreadyDelivered(Exception):
    """Rolls back a package whose every delivery another request has just made."""


def _store(
    ctx: ServerContext,
    client_id: str,
    plan: _Plan,
    body: bytes,
    incoming_sha: str,
    routes: dict[str, str | None],
    keys: dict[str, str],
    *,
    node: str,
    hop_in_package: bool,
    signed: bool,
    envelope: EnvelopeResult,
) -> Received:
    package_id = str(uuid.uuid4())
    now = utcnow()
    actor = f"client:{client_id}"
    try:
        with ctx.db.write() as session:
            session.add(
                ExchangePackage(
                    id=package_id,
                    kind=plan.kind,
                    sender=plan.sender,
                    document_id=plan.document_id,
                    origin=plan.origin,
                    business_type=plan.business_type,
                    status_code=plan.status_code,
                    subject=(plan.subject or "")[:2000] or None,
                    content_sha256=incoming_sha,
                    body=body,
                    received_from=client_id,
                    signed_by_node=signed,
                    envelope_check=envelope.check,
                    envelope_signer=envelope.signer,
                    envelope_reason=envelope.reason,
                    created_at=now,
                )
            )
            session.flush()
            taken = set(
                session.exec(
                    select(ExchangeDelivery.dedupe_key).where(col(ExchangeDelivery.dedupe_key).in_(list(keys.values())))
                ).all()
            )
            if taken >= set(keys.values()):
                raise _AlreadyDelivered  # by a request that committed after this one's first look
            _event(
                session,
                plan,
                "received",
                plan.sender,
                package_id,
                kind=plan.kind,
                via=client_id,
                status=plan.status_code,
                envelope=envelope.details(),
            )
            _event(session, plan, "hop", node, package_id, in_package=hop_in_package, signed_by_node=signed)
            views = []
            for recipient in plan.recipients:
                if keys[recipient] in taken:
                    continue
                route = routes[recipient] or LOCAL
                peer = route != LOCAL
                row = ExchangeDelivery(
                    id=str(uuid.uuid4()),
                    package_id=package_id,
                    dedupe_key=keys[recipient],
                    kind=plan.kind,
                    sender=plan.sender,
                    recipient=recipient,
                    document_id=plan.document_id,
                    origin=plan.origin,
                    route=route,
                    state="pending" if peer else "inbox",
                    attempts=0,
                    next_attempt_at=now if peer else None,
                    created_at=now,
                )
                session.add(row)
                views.append(_delivery_view(row))
                _event(session, plan, "queued" if peer else "delivered", recipient, package_id, route=route)
            if plan.kind == "status":
                _record_status(session, plan, package_id)
            session.flush()
            audit.record(
                session,
                actor=actor,
                action=f"exchange.{plan.kind}_received",
                target=f"exchange:{package_id}",
                document_id=plan.document_id[:200],
                sender=plan.sender,
                status=plan.status_code,
                recipients=[f"{v.recipient}@{v.route}" for v in views],
                signed_by_node=signed,
                envelope=envelope.details(),
            )
    except (IntegrityError, _AlreadyDelivered):
        # Another request delivered the same document to the same recipient a moment ago.
        existing = _existing_deliveries(ctx, list(keys.values()))
        if not existing:
            raise
        return _duplicate_answer(ctx, client_id, plan, existing)
    if any(v.route != LOCAL for v in views):
        wake_dispatcher(ctx)
    return Received(package_id, plan.kind, plan.document_id, plan.sender, False, signed, views, envelope)


def _record_status(session: Session, plan: _Plan, package_id: str) -> None:
    code = plan.status_code or ""
    try:
        names: tuple[str, str] | None = STATUS_NAMES[StatusCode(code)]
    except ValueError:
        names = None
    session.execute(
        update(ExchangeDelivery)
        .where(
            col(ExchangeDelivery.document_id) == plan.document_id,
            col(ExchangeDelivery.origin) == plan.origin,
            col(ExchangeDelivery.recipient) == plan.sender,
            col(ExchangeDelivery.kind) == "document",
        )
        .values(last_status=code)
    )
    _event(
        session,
        plan,
        "status",
        plan.sender,
        package_id,
        code=code,
        name=names[1] if names else None,
        name_vi=names[0] if names else None,
    )


# --- inbox, fetch, ack, history -----------------------------------------------------------------


@dataclass(frozen=True)
class InboxEntry:
    """One package waiting in (or read from) an organization's inbox."""

    delivery_id: str
    package_id: str
    kind: str
    recipient: str
    sender: str
    document_id: str
    subject: str | None
    status_code: str | None
    state: str
    received_at: datetime
    envelope: EnvelopeResult | None = None
    """The envelope signature as the node found it on receipt (None: received before the node checked)."""


def inbox(
    ctx: ServerContext, *, client_id: str, org_code: str | None = None, include_acked: bool = False, limit: int = 100
) -> list[InboxEntry]:
    """The packages delivered here to the codes ``client_id`` is bound to (or to ``org_code``), oldest first."""
    with ctx.db.read() as session:
        bindings = _bindings_of(session, client_id)
        if org_code is not None:
            code = canonical_code(org_code)
            if _binding_for(bindings, code) is None:
                raise Forbidden(f"this relying system is not bound to {code}", code="not_bound")
        states = ["inbox", "fetched", "acked"] if include_acked else ["inbox", "fetched"]
        query = (
            select(ExchangeDelivery, ExchangePackage)
            .join(ExchangePackage, col(ExchangePackage.id) == col(ExchangeDelivery.package_id))
            .where(col(ExchangeDelivery.route) == LOCAL, col(ExchangeDelivery.state).in_(states))
            .order_by(col(ExchangeDelivery.created_at), col(ExchangeDelivery.recipient), col(ExchangeDelivery.id))
        )
        if org_code is not None:
            query = query.where(ExchangeDelivery.recipient == canonical_code(org_code))
        elif not bindings:
            return []
        else:
            query = query.where(or_(*(_covered_by(b) for b in bindings)))
        entries = []
        for delivery, package in session.exec(query.limit(limit)).all():
            entries.append(
                InboxEntry(
                    delivery.id,
                    package.id,
                    package.kind,
                    delivery.recipient,
                    package.sender,
                    package.document_id,
                    package.subject,
                    package.status_code,
                    delivery.state,
                    delivery.created_at,
                    _envelope_of(package),
                )
            )
    return entries


def _covered_by(binding: ExchangeBinding) -> ColumnElement[bool]:
    """SQL: a delivery's recipient is the binding's code (or below it, for a subtree binding)."""
    recipient = col(ExchangeDelivery.recipient)
    if not binding.subtree:
        return recipient == binding.org_code
    return or_(recipient == binding.org_code, recipient.startswith(binding.org_code + ".", autoescape=True))


def _visible(session: Session, client_id: str, package_id: str) -> tuple[ExchangePackage, list[ExchangeDelivery]]:
    """The package and the caller's local deliveries of it; 404 unless the caller sent it or receives it here."""
    package = session.get(ExchangePackage, package_id)
    if package is None:
        raise NotFound("no such package", code="package_not_found")
    bindings = _bindings_of(session, client_id)
    deliveries = list(session.exec(select(ExchangeDelivery).where(ExchangeDelivery.package_id == package_id)).all())
    mine = [d for d in deliveries if d.route == LOCAL and _binding_for(bindings, d.recipient) is not None]
    if not mine and _binding_for(bindings, package.sender) is None and _binding_for(bindings, package.origin) is None:
        raise NotFound("no such package", code="package_not_found")
    return package, mine


def fetch(ctx: ServerContext, *, client_id: str, package_id: str) -> bytes:
    """The package's bytes; the caller's inbox entries of it become ``fetched``."""
    with ctx.db.write() as session:
        package, mine = _visible(session, client_id, package_id)
        for delivery in mine:
            if delivery.state == "inbox":
                delivery.state = "fetched"
                session.add(delivery)
                _event(session, delivery, "fetched", delivery.recipient, package_id, kind=delivery.kind)
                audit.record(
                    session,
                    actor=f"client:{client_id}",
                    action="exchange.fetched",
                    target=f"exchange:{package_id}",
                    recipient=delivery.recipient,
                )
        return bytes(package.body)


def acknowledge(ctx: ServerContext, *, client_id: str, package_id: str) -> list[DeliveryView]:
    """Mark the caller's inbox entries of the package as handled (they leave the inbox listing)."""
    with ctx.db.write() as session:
        _, mine = _visible(session, client_id, package_id)
        if not mine:
            raise NotFound("no inbox entry of this package for this relying system", code="package_not_found")
        for delivery in mine:
            if delivery.state != "acked":
                delivery.state, delivery.done_at = "acked", utcnow()
                session.add(delivery)
                _event(session, delivery, "acked", delivery.recipient, package_id, kind=delivery.kind)
                audit.record(
                    session,
                    actor=f"client:{client_id}",
                    action="exchange.acked",
                    target=f"exchange:{package_id}",
                    recipient=delivery.recipient,
                )
        return [_delivery_view(d) for d in mine]


@dataclass(frozen=True)
class History:
    """Where a document has been: the package's hops, each recipient's delivery and every step."""

    package_id: str
    kind: str
    document_id: str
    origin: str
    hops: list[dict[str, str | None]]
    deliveries: list[DeliveryView]
    statuses: list[dict[str, Any]]
    events: list[dict[str, Any]]
    envelope: EnvelopeResult | None = None
    """This package's envelope signature as the node found it on receipt."""


def history(ctx: ServerContext, *, client_id: str, package_id: str) -> History:
    """The history of the document a package carries (or reports on), as this node saw it."""
    with ctx.db.read() as session:
        package, _ = _visible(session, client_id, package_id)
        deliveries = session.exec(
            select(ExchangeDelivery)
            .where(
                ExchangeDelivery.document_id == package.document_id,
                ExchangeDelivery.origin == package.origin,
                ExchangeDelivery.kind == "document",
            )
            .order_by(col(ExchangeDelivery.recipient))
        ).all()
        events = session.exec(
            select(ExchangeEvent)
            .where(ExchangeEvent.document_id == package.document_id, ExchangeEvent.origin == package.origin)
            .order_by(col(ExchangeEvent.id))
        ).all()
        parsed = parse_package(bytes(package.body))
    listed = [
        {"at": e.at.isoformat(), "event": e.event, "organ_id": e.organ_id, "package_id": e.package_id, **e.details}
        for e in events
    ]
    return History(
        package.id,
        package.kind,
        package.document_id,
        package.origin,
        [{"organ_id": t.organ_id, "timestamp": t.timestamp} for t in parsed.traces],
        [_delivery_view(d) for d in deliveries],
        [e for e in listed if e["event"] == "status"],
        listed,
        _envelope_of(package),
    )


# --- the peer outbox ------------------------------------------------------------------------------

_tokens: weakref.WeakKeyDictionary[ServerContext, dict[str, tuple[str, float]]] = weakref.WeakKeyDictionary()
"""Access tokens from peers, per server context and route prefix: (token, expiry on the monotonic clock)."""
_tokens_lock = threading.Lock()


def _forget_token(ctx: ServerContext, prefix: str) -> None:
    with _tokens_lock:
        _tokens.get(ctx, {}).pop(prefix, None)


class _PeerAnswer(Exception):
    def __init__(self, error: str, *, permanent: bool = False) -> None:
        super().__init__(error)
        self.error = error
        self.permanent = permanent


def _http_client(ctx: ServerContext) -> httpx.Client:
    """An HTTP client for the peers: their certificates checked against the configured CAs (default: the
    system's), this node's client certificate presented when one is configured (mutual TLS)."""
    s = ctx.settings
    tls = ssl.create_default_context(cafile=str(s.exchange_tls_ca_file) if s.exchange_tls_ca_file else None)
    if s.exchange_tls_cert and s.exchange_tls_key:
        tls.load_cert_chain(str(s.exchange_tls_cert), str(s.exchange_tls_key))
    return httpx.Client(timeout=s.exchange_peer_timeout_seconds, follow_redirects=False, verify=tls)


def _peer_token(ctx: ServerContext, client: httpx.Client, route: ExchangeRoute) -> str:
    with _tokens_lock:
        found = _tokens.setdefault(ctx, {}).get(route.prefix)
    if found and found[1] > time.monotonic():
        return found[0]
    secret = ctx.sealer.open(bytes(route.client_secret_enc), _route_aad(route.prefix)).decode()
    try:
        response = client.post(
            f"{route.url}/oauth2/token",
            data={
                "grant_type": "client_credentials",
                "client_id": route.client_id,
                "client_secret": secret,
                "scope": SCOPE,
            },
        )
    except httpx.HTTPError as exc:
        raise _PeerAnswer(f"token: {exc.__class__.__name__}") from None
    if response.status_code != 200:
        # Not permanent: the operator may correct the route's credentials, and the next attempt uses them.
        raise _PeerAnswer(f"token: HTTP {response.status_code}")
    body = response.json()
    token = str(body["access_token"])
    expires = time.monotonic() + max(float(body.get("expires_in", 300)) - 30, 1)
    with _tokens_lock:
        _tokens.setdefault(ctx, {})[route.prefix] = (token, expires)
    return token


def _send(
    ctx: ServerContext, client: httpx.Client, route: ExchangeRoute, delivery: ExchangeDelivery, body: bytes
) -> None:
    """Post one package to the peer for one recipient; raises :class:`_PeerAnswer` unless it took it."""
    token = _peer_token(ctx, client, route)
    try:
        response = client.post(
            f"{route.url}/api/exchange/packages",
            params={"recipients": delivery.recipient},
            content=body,
            headers={"Authorization": f"Bearer {token}", "Content-Type": PACKAGE_MEDIA_TYPE},
        )
    except httpx.HTTPError as exc:
        raise _PeerAnswer(exc.__class__.__name__) from None
    if response.status_code in (200, 201):
        return
    if response.status_code == 401:
        _forget_token(ctx, route.prefix)
    try:
        reason = str(response.json().get("message", ""))[:200]
    except ValueError:
        reason = ""
    permanent = 400 <= response.status_code < 500 and response.status_code not in (401, 408, 409, 425, 429)
    raise _PeerAnswer(f"HTTP {response.status_code} {reason}".strip(), permanent=permanent)


_dispatch_locks: weakref.WeakKeyDictionary[ServerContext, threading.Lock] = weakref.WeakKeyDictionary()
_dispatch_locks_guard = threading.Lock()
_wakers: weakref.WeakKeyDictionary[ServerContext, threading.Event] = weakref.WeakKeyDictionary()


def wake_dispatcher(ctx: ServerContext) -> None:
    """Send the peer deliveries just committed without waiting for the next round (off the caller's thread)."""
    threading.Thread(target=_dispatch_logged, args=(ctx,), name="esign-exchange", daemon=True).start()


def _dispatch_logged(ctx: ServerContext) -> None:
    try:
        dispatch_due(ctx)
    except Exception:
        log.exception("exchange dispatch failed")


def dispatch_due(ctx: ServerContext) -> int:
    """Claim the due peer deliveries and send them, one at a time; how many the peers took.

    A claim is a compare-and-set that moves ``next_attempt_at`` to the end of a lease, so one worker
    takes each row and a crashed worker's row is tried again after the lease. The peer answers a
    repeated delivery (same DocumentId, sender, recipient) as a duplicate: a delivery whose answer was
    lost is retried without reaching the recipient twice.
    """
    with _dispatch_locks_guard:
        lock = _dispatch_locks.setdefault(ctx, threading.Lock())
    if not lock.acquire(blocking=False):
        return 0  # this worker is dispatching already; it picks these rows up in its loop
    try:
        sent = 0
        while True:
            batch = _claim(ctx)
            if not batch:
                return sent
            with _http_client(ctx) as client:
                for delivery, route, body in batch:
                    sent += _attempt(ctx, client, delivery, route, body)
    finally:
        lock.release()


def _claim(ctx: ServerContext) -> list[tuple[ExchangeDelivery, ExchangeRoute | None, bytes]]:
    settings = ctx.settings
    now = utcnow()
    with ctx.db.read() as session:
        due = session.exec(
            select(ExchangeDelivery)
            .where(ExchangeDelivery.state == "pending", col(ExchangeDelivery.next_attempt_at) <= now)
            .order_by(col(ExchangeDelivery.next_attempt_at))
            .limit(50)
        ).all()
    lease = now + timedelta(seconds=settings.exchange_peer_timeout_seconds * 2 + 60)
    claimed = []
    for row in due:
        with ctx.db.write() as session:
            result = session.execute(
                update(ExchangeDelivery)
                .where(
                    col(ExchangeDelivery.id) == row.id,
                    col(ExchangeDelivery.state) == "pending",
                    col(ExchangeDelivery.next_attempt_at) == row.next_attempt_at,
                )
                .values(next_attempt_at=lease)
            )
            if rows_changed(result) != 1:
                continue
            route_prefix = _route_of(session, row.recipient)
            route = session.get(ExchangeRoute, route_prefix) if route_prefix not in (None, LOCAL) else None
            package = session.get(ExchangePackage, row.package_id)
            claimed.append((row, route, bytes(package.body) if package else b""))
    return claimed


def _attempt(
    ctx: ServerContext, client: httpx.Client, delivery: ExchangeDelivery, route: ExchangeRoute | None, body: bytes
) -> int:
    try:
        if route is None:
            raise _PeerAnswer("no route covers this recipient now")
        _send(ctx, client, route, delivery, body)
        error: _PeerAnswer | None = None
    except _PeerAnswer as exc:
        error = exc
    except Exception as exc:  # a bug must not lose the row: it is retried like a failed attempt
        log.exception("exchange delivery %s failed unexpectedly", delivery.id)
        error = _PeerAnswer(exc.__class__.__name__)
    _record_attempt(ctx, delivery, route, error)
    return 1 if error is None else 0


def _record_attempt(
    ctx: ServerContext, delivery: ExchangeDelivery, route: ExchangeRoute | None, error: _PeerAnswer | None
) -> None:
    settings = ctx.settings
    now = utcnow()
    with ctx.db.write() as session:
        row = session.get(ExchangeDelivery, delivery.id)
        if row is None or row.state != "pending":
            return
        row.attempts += 1
        target = f"exchange:{row.package_id}"
        if error is None:
            row.state, row.done_at, row.last_error, row.next_attempt_at = "sent", now, None, None
            _event(
                session,
                row,
                "sent",
                row.recipient,
                row.package_id,
                peer=route.url if route else None,
                attempts=row.attempts,
                kind=row.kind,
            )
            audit.record(
                session,
                actor="system",
                action="exchange.sent",
                target=target,
                recipient=row.recipient,
                peer=route.url if route else None,
                attempts=row.attempts,
            )
        elif error.permanent or row.attempts >= settings.exchange_max_attempts:
            row.state, row.last_error, row.next_attempt_at, row.done_at = "failed", error.error[:300], None, now
            _event(
                session, row, "failed", row.recipient, row.package_id, error=error.error[:200], attempts=row.attempts
            )
            audit.record(
                session,
                actor="system",
                action="exchange.send_failed",
                target=target,
                recipient=row.recipient,
                error=error.error[:200],
                attempts=row.attempts,
            )
        else:
            delay = min(
                settings.exchange_retry_first_seconds * 2 ** (row.attempts - 1), settings.exchange_retry_max_seconds
            )
            row.next_attempt_at, row.last_error = now + timedelta(seconds=delay), error.error[:300]
            audit.record(
                session,
                actor="system",
                action="exchange.send_retry",
                target=target,
                recipient=row.recipient,
                error=error.error[:200],
                attempts=row.attempts,
            )
        session.add(row)
    if error is not None:
        log.warning(
            "exchange delivery %s to %s failed (%s), attempt %d",
            delivery.id,
            delivery.recipient,
            error.error,
            delivery.attempts + 1,
        )
