"""Revocation: a registry of revoked serials, CRLs (RFC 5280) and OCSP responses (RFC 6960)."""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509 import ocsp

from esign.errors import InvalidInput
from esign.pki.ca import CertificateAuthority, signature_hash
from esign.pki.keys import CAPrivateKey


@dataclass(frozen=True)
class Revocation:
    """One revoked certificate."""

    serial_number: int
    revoked_at: datetime
    reason: x509.ReasonFlags = x509.ReasonFlags.unspecified


class RevocationRegistry:
    """Revoked serial numbers of one CA, optionally persisted to a JSON file (written atomically)."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._revoked: dict[int, Revocation] = {}
        self._mtime: float | None = None
        self._refresh()

    def _refresh(self) -> None:
        # Another process (`esign pki revoke`) may have written the file since we read it.
        if self.path is None or not self.path.exists():
            return
        mtime = self.path.stat().st_mtime
        if mtime == self._mtime:
            return
        revoked = {}
        for row in json.loads(self.path.read_text()):
            rev = Revocation(
                int(row["serial"], 16), datetime.fromisoformat(row["revoked_at"]), x509.ReasonFlags(row["reason"])
            )
            revoked[rev.serial_number] = rev
        self._revoked, self._mtime = revoked, mtime

    def revoke(
        self,
        serial_number: int,
        *,
        reason: str | x509.ReasonFlags = x509.ReasonFlags.unspecified,
        when: datetime | None = None,
    ) -> Revocation:
        """Mark a serial as revoked (idempotent: the first revocation time stays)."""
        flag = reason if isinstance(reason, x509.ReasonFlags) else revocation_reason(reason)
        with self._lock:
            self._refresh()
            existing = self._revoked.get(serial_number)
            if existing is not None:
                return existing
            rev = Revocation(serial_number, (when or datetime.now(UTC)).replace(microsecond=0), flag)
            self._revoked[serial_number] = rev
            self._save()
            return rev

    def status(self, serial_number: int) -> Revocation | None:
        """The revocation of ``serial_number``, or None when it is not revoked."""
        self._refresh()
        return self._revoked.get(serial_number)

    def all(self) -> list[Revocation]:
        """Every revocation, oldest first."""
        self._refresh()
        return sorted(self._revoked.values(), key=lambda r: r.revoked_at)

    def _save(self) -> None:
        if self.path is None:
            return
        rows = [
            {"serial": format(r.serial_number, "x"), "revoked_at": r.revoked_at.isoformat(), "reason": r.reason.value}
            for r in self.all()
        ]
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(rows, indent=1))
        os.replace(tmp, self.path)
        self._mtime = self.path.stat().st_mtime


def revocation_reason(name: str) -> x509.ReasonFlags:
    """A CRL reason from ``key_compromise`` or ``keyCompromise`` style names."""
    if name in x509.ReasonFlags.__members__:
        return x509.ReasonFlags[name]
    try:
        return x509.ReasonFlags(name)
    except ValueError:
        known = ", ".join(x509.ReasonFlags.__members__)
        raise InvalidInput(f"unknown revocation reason {name!r}; use one of {known}") from None


StatusLookup = Callable[[int], Revocation | None]
"""Given a serial number, its revocation or None (lets the server answer from its database)."""


def make_crl(
    ca: CertificateAuthority,
    revocations: list[Revocation],
    *,
    next_update: timedelta = timedelta(days=1),
    crl_number: int | None = None,
    this_update: datetime | None = None,
) -> bytes:
    """A DER CRL signed by ``ca`` listing ``revocations``, issued now (or at ``this_update``).

    thisUpdate is the issuing time itself, not backdated: a PAdES B-LT validator (ETSI EN 319 102-1
    5.2.5.4, stock pyHanko's AdES validation) only accepts revocation data issued after the signature
    it vouches for, and B-LT material is fetched seconds after signing.
    """
    now = (this_update or datetime.now(UTC)).replace(microsecond=0)
    ca_ski = ca.certificate.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    builder = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(ca.certificate.subject)
        .last_update(now)
        .next_update(now + next_update)
        .add_extension(x509.CRLNumber(crl_number if crl_number is not None else int(now.timestamp())), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski), critical=False)
    )
    for rev in revocations:
        entry = x509.RevokedCertificateBuilder().serial_number(rev.serial_number).revocation_date(rev.revoked_at)
        if rev.reason is not x509.ReasonFlags.unspecified:
            entry = entry.add_extension(x509.CRLReason(rev.reason), critical=False)
        builder = builder.add_revoked_certificate(entry.build())
    crl = builder.sign(ca.private_key, signature_hash(ca.private_key))
    return crl.public_bytes(serialization.Encoding.DER)


class OCSPResponder:
    """Answers OCSP requests for certificates issued by one CA, signed by a delegated responder."""

    def __init__(
        self,
        issuer: x509.Certificate,
        responder_certificate: x509.Certificate,
        responder_key: CAPrivateKey,
        status: StatusLookup | RevocationRegistry,
        *,
        validity: timedelta = timedelta(hours=12),
    ) -> None:
        self.issuer = issuer
        self.responder_certificate = responder_certificate
        self.responder_key = responder_key
        self._lookup: StatusLookup = status.status if isinstance(status, RevocationRegistry) else status
        self.validity = validity
        self._issuer_key_hashes = {
            name: _issuer_key_hash(issuer, algorithm) for name, algorithm in _OCSP_HASHES.items()
        }

    def respond(self, request_der: bytes) -> bytes:
        """A DER OCSPResponse for a DER OCSPRequest; malformed requests get ``malformedRequest``."""
        try:
            request = ocsp.load_der_ocsp_request(request_der)
            hash_name = request.hash_algorithm.name
        except (ValueError, NotImplementedError):
            return _unsuccessful(ocsp.OCSPResponseStatus.MALFORMED_REQUEST)
        if self._issuer_key_hashes.get(hash_name) != request.issuer_key_hash:
            return _unsuccessful(ocsp.OCSPResponseStatus.UNAUTHORIZED)
        return self.response_for(request.serial_number, nonce=_nonce(request), hash_algorithm=_OCSP_HASHES[hash_name])

    def response_for(
        self, serial_number: int, *, nonce: bytes | None = None, hash_algorithm: hashes.HashAlgorithm | None = None
    ) -> bytes:
        """A signed OCSP response about ``serial_number`` (good, revoked, or unknown if never issued)."""
        now = datetime.now(UTC).replace(microsecond=0)
        revocation = self._lookup(serial_number)
        algorithm = hash_algorithm or _OCSP_HASHES["sha1"]
        builder = ocsp.OCSPResponseBuilder().add_response_by_hash(
            issuer_name_hash=_name_hash(self.issuer, algorithm),
            issuer_key_hash=_issuer_key_hash(self.issuer, algorithm),
            serial_number=serial_number,
            algorithm=algorithm,
            cert_status=ocsp.OCSPCertStatus.REVOKED if revocation else ocsp.OCSPCertStatus.GOOD,
            this_update=now,  # not backdated: see make_crl (a B-LT answer must postdate the signature)
            next_update=now + self.validity,
            revocation_time=revocation.revoked_at if revocation else None,
            revocation_reason=revocation.reason if revocation else None,
        )
        builder = builder.responder_id(ocsp.OCSPResponderEncoding.HASH, self.responder_certificate)
        builder = builder.certificates([self.responder_certificate])
        if nonce is not None:
            builder = builder.add_extension(x509.OCSPNonce(nonce), critical=False)
        response = builder.sign(self.responder_key, signature_hash(self.responder_key))
        return response.public_bytes(serialization.Encoding.DER)


# OCSP CertID hashes: SHA-1 is what most clients (openssl, pyHanko) still send; it only names the
# issuer here, it protects nothing, so accepting it does not weaken anything.
_OCSP_HASHES: dict[str, hashes.HashAlgorithm] = {
    "sha1": hashes.SHA1(),  # noqa: S303 - names the issuer in a CertID, see above
    "sha256": hashes.SHA256(),
    "sha384": hashes.SHA384(),
    "sha512": hashes.SHA512(),
}


def _issuer_key_hash(issuer: x509.Certificate, algorithm: hashes.HashAlgorithm) -> bytes:
    digest = hashes.Hash(algorithm)
    from asn1crypto import x509 as asn1_x509

    spki = asn1_x509.Certificate.load(issuer.public_bytes(serialization.Encoding.DER)).public_key
    digest.update(spki["public_key"].contents[1:])  # the BIT STRING value without its unused-bits octet
    return digest.finalize()


def _name_hash(issuer: x509.Certificate, algorithm: hashes.HashAlgorithm) -> bytes:
    digest = hashes.Hash(algorithm)
    digest.update(issuer.subject.public_bytes())
    return digest.finalize()


def _nonce(request: Any) -> bytes | None:
    try:
        return bytes(request.extensions.get_extension_for_class(x509.OCSPNonce).value.nonce)
    except x509.ExtensionNotFound:
        return None


def _unsuccessful(status: ocsp.OCSPResponseStatus) -> bytes:
    return ocsp.OCSPResponseBuilder.build_unsuccessful(status).public_bytes(serialization.Encoding.DER)
