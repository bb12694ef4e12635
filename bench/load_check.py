"""After a load run: what the database says, checked against what must hold.

- every session is in exactly one known state; a terminal one has ``completed_at``; none is left
  pending past its expiry;
- a ``signed`` hash/document session has exactly one signature per item, each verifying with the
  credential's public key over the item's digest; no other session has signatures;
- a signature needs a valid confirmation: every ``signed`` session has exactly one
  ``session.signed`` audit event, by a device of the session's user, and names that device;
- CSC: no hash was signed more often than it was authorized, no SAD signed more than its number;
  the signatures the audit log counts equal the counters; a SAD was only spent on a confirmed session;
- the sessions the clients saw signed carry the very signatures the database holds;
- the audit chain verifies (``esign server audit verify``).
"""

from __future__ import annotations

import base64
import hashlib
import json
import subprocess
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed
from sqlalchemy import create_engine, text

from esign.algorithms import SignatureScheme, signature_algorithm_from_oid

STATES = ("pending", "signed", "rejected", "expired", "failed")
_HASHES: dict[str, Callable[[], hashes.HashAlgorithm]] = {
    "sha256": hashes.SHA256,
    "sha384": hashes.SHA384,
    "sha512": hashes.SHA512,
}


@dataclass
class DatabaseReport:
    """What the check found: counts by state, signatures checked, and every violation."""

    sessions_by_state: Counter[str] = field(default_factory=Counter)
    signatures_verified: int = 0
    csc_signatures: int = 0
    audit_events: int = 0
    audit_ok: bool = False
    audit_output: str = ""
    pending_not_due: int = 0
    violations: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """No violation and the audit chain verified."""
        return not self.violations and self.audit_ok


def verify_signature(public_key: Any, signature: bytes, digest: bytes, oid: str) -> bool:
    """True when ``signature`` is the key's signature over the precomputed ``digest``."""
    algorithm = signature_algorithm_from_oid(oid)
    prehashed = Prehashed(_HASHES[algorithm.digest.value]())
    try:
        if algorithm.scheme is SignatureScheme.ECDSA:
            public_key.verify(signature, digest, ec.ECDSA(prehashed))
        elif algorithm.scheme is SignatureScheme.RSA_PKCS1V15:
            public_key.verify(signature, digest, padding.PKCS1v15(), prehashed)
        else:
            return False
    except InvalidSignature:
        return False
    return True


def _when(value: Any) -> datetime:
    """A timestamp column as aware UTC (SQLite hands back naive text, PostgreSQL aware datetimes)."""
    when = datetime.fromisoformat(value) if isinstance(value, str) else value
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def _json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


def check_database(
    database_url: str,
    *,
    env: dict[str, str],
    client_signatures: dict[str, list[str]] | None = None,
    allow_pending_not_due: bool = False,
) -> DatabaseReport:
    """Check every invariant of the module docstring on the database at ``database_url``."""
    from esign_server.db import normalise_database_url, utcnow

    report = DatabaseReport()
    bad = report.violations.append
    engine = create_engine(normalise_database_url(database_url))
    now = utcnow()
    try:
        with engine.connect() as conn:
            creds = {
                r.id: (x509.load_der_x509_certificate(bytes(r.certificate_der)).public_key(), r.user_id)
                for r in conn.execute(text("SELECT id, user_id, certificate_der FROM credentials"))
            }
            device_user: dict[str, str] = {
                r.id: r.user_id for r in conn.execute(text("SELECT id, user_id FROM devices"))
            }
            signed_events: Counter[str] = Counter()
            signed_by: dict[str, str] = {}
            csc_signed_total = 0
            for row in conn.execute(text("SELECT actor, action, target, details FROM audit_events")):
                report.audit_events += 1
                if row.action == "session.signed":
                    sid = row.target.removeprefix("session:")
                    signed_events[sid] += 1
                    signed_by[sid] = row.actor.removeprefix("device:")
                elif row.action == "csc.signed":
                    csc_signed_total += int(_json(row.details).get("signatures", 0))
            sessions = conn.execute(
                text(
                    "SELECT id, user_id, credential_id, status, kind, expires_at, completed_at, "
                    "signature_algorithm, items, signatures, device_id FROM signing_sessions"
                )
            ).all()
            for s in sessions:
                report.sessions_by_state[s.status] += 1
                if s.status not in STATES:
                    bad(f"session {s.id}: unknown state {s.status!r}")
                    continue
                signatures = _json(s.signatures)
                if s.status == "pending":
                    if s.completed_at is not None:
                        bad(f"session {s.id}: pending with completed_at")
                    expires = _when(s.expires_at)
                    if expires <= now:
                        bad(f"session {s.id}: still pending {(now - expires).total_seconds():.0f} s after expiry")
                    else:
                        report.pending_not_due += 1
                elif s.completed_at is None:
                    bad(f"session {s.id}: {s.status} without completed_at")
                if s.status == "signed":
                    if signed_events[s.id] != 1:
                        bad(f"session {s.id}: signed with {signed_events[s.id]} session.signed events")
                    if s.device_id is None or device_user.get(s.device_id) != s.user_id:
                        bad(f"session {s.id}: signed without a confirming device of its user")
                    elif signed_by.get(s.id) != s.device_id:
                        bad(f"session {s.id}: confirmed by {signed_by.get(s.id)} but names {s.device_id}")
                elif signed_events[s.id]:
                    bad(f"session {s.id}: {s.status} but has a session.signed event")
                if s.status == "signed" and s.kind != "csc":
                    items = _json(s.items)
                    if not signatures or len(signatures) != len(items):
                        bad(f"session {s.id}: {len(signatures or [])} signatures for {len(items)} items")
                        continue
                    public_key = creds[s.credential_id][0]
                    for item, sig in zip(items, signatures, strict=True):
                        digest = base64.b64decode(item["digest"])
                        if verify_signature(public_key, base64.b64decode(sig), digest, s.signature_algorithm):
                            report.signatures_verified += 1
                        else:
                            bad(f"session {s.id}: a signature does not verify over {item['name']}")
                    seen = (client_signatures or {}).get(s.id)
                    if seen is not None and seen != signatures:
                        bad(f"session {s.id}: the client was given other signatures than the database holds")
                elif signatures:
                    bad(f"session {s.id}: {s.status} ({s.kind}) but has signatures")
            state_of = {s.id: s.status for s in sessions}
            for sid in client_signatures or {}:
                if state_of.get(sid) != "signed":
                    bad(f"session {sid}: the client got signatures but the database says {state_of.get(sid)}")
            auths = conn.execute(
                text(
                    "SELECT id, session_id, num_signatures, signatures_used, sad_hash, hash_algorithm, digests "
                    "FROM csc_authorizations"
                )
            ).all()
            for a in auths:
                report.csc_signatures += a.signatures_used
                if a.signatures_used > a.num_signatures:
                    bad(f"authorization {a.id}: {a.signatures_used} signatures of {a.num_signatures} authorized")
                left = len(a.digests) // hashlib.new(a.hash_algorithm).digest_size
                if a.signatures_used + left != a.num_signatures:
                    bad(f"authorization {a.id}: {left} left, {a.signatures_used} signed of {a.num_signatures}")
                if a.signatures_used and state_of.get(a.session_id) != "signed":
                    bad(f"authorization {a.id}: signed while its session is {state_of.get(a.session_id)}")
                if a.sad_hash is not None and state_of.get(a.session_id) != "signed":
                    bad(f"authorization {a.id}: a SAD for an unconfirmed session")
            if csc_signed_total != report.csc_signatures:
                bad(f"audit log counts {csc_signed_total} CSC signatures, counters say {report.csc_signatures}")
    finally:
        engine.dispose()
    if report.pending_not_due and not allow_pending_not_due:
        bad(f"{report.pending_not_due} sessions still pending at the end")
    from bench.load_server import ESIGN, ROOT

    verify = subprocess.run(
        [ESIGN, "server", "audit", "verify"], env=env, cwd=ROOT, capture_output=True, text=True, timeout=600
    )
    report.audit_ok = verify.returncode == 0
    report.audit_output = (verify.stdout + verify.stderr).strip()
    return report


__all__ = ["DatabaseReport", "check_database", "verify_signature"]
