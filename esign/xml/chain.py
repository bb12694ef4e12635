"""Certificate paths to a trust anchor, and revocation status from OCSP responses or CRLs.

Deliberately small: build the path from the certificates a signature carries, check each
link's signature, validity at the given time and CA constraints, and stop at a trust anchor.
Revocation evidence is read from what the signature embeds (XAdES B-LT) or, only when the
caller allows fetching, from the OCSP responder named in the certificate.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509 import ocsp

from esign.errors import InvalidInput
from esign.report import RevocationInfo, RevocationStatus, SubIndication

MAX_PATH = 8


def load_certificate(der: bytes, what: str) -> x509.Certificate:
    """A certificate from a document, every part that path building and reports read parsed here, once.

    ``cryptography`` parses lazily: a damaged name, key or extension would otherwise raise a bare
    ``ValueError`` much later (while building the path or describing the signer).
    :class:`InvalidInput` names ``what`` when the certificate cannot be read.
    """
    try:
        cert = x509.load_der_x509_certificate(der)
        _ = (cert.subject, cert.issuer, cert.serial_number, cert.not_valid_before_utc, cert.not_valid_after_utc)
        cert.public_key()
        _ = list(cert.extensions)
        cert.subject.rfc4514_string()
        cert.issuer.rfc4514_string()
    except (ValueError, TypeError, UnsupportedAlgorithm, x509.DuplicateExtension, x509.UnsupportedGeneralNameType):
        raise InvalidInput(f"{what} is not a readable X.509 certificate") from None
    return cert


@dataclass(frozen=True)
class CertificatePath:
    """The outcome of path building: the certificates from the leaf to the anchor, or why not."""

    certificates: tuple[x509.Certificate, ...] = ()
    sub_indication: SubIndication | None = None
    message: str = ""
    anchor: x509.Certificate | None = None
    expired_only: bool = False
    """True when the only fault is the leaf's validity period (a time-stamp may still save it)."""
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when the path reaches an anchor and every link holds."""
        return self.sub_indication is None and self.anchor is not None


def build_path(
    leaf: x509.Certificate,
    candidates: Sequence[x509.Certificate],
    anchors: Sequence[x509.Certificate],
    *,
    at: datetime,
) -> CertificatePath:
    """Build and check the path from ``leaf`` to one of ``anchors`` at time ``at``."""
    path = [leaf]
    current = leaf
    anchor_set = {a.public_bytes(serialization.Encoding.DER): a for a in anchors}
    pool = list(candidates) + list(anchors)
    while True:
        der = current.public_bytes(serialization.Encoding.DER)
        if der in anchor_set:
            return _check_times(path, anchor_set[der], at)
        issuer = _find_issuer(current, pool)
        if issuer is None:
            return CertificatePath(
                tuple(path),
                SubIndication.NO_CERTIFICATE_CHAIN_FOUND,
                f"no trusted issuer found for {current.subject.rfc4514_string()}",
            )
        if issuer.public_bytes(serialization.Encoding.DER) not in anchor_set and not _is_ca(issuer):
            return CertificatePath(
                tuple(path), SubIndication.CHAIN_CONSTRAINTS_FAILURE,
                f"{issuer.subject.rfc4514_string()} is not a CA certificate",
            )
        path.append(issuer)
        current = issuer
        if len(path) > MAX_PATH:
            return CertificatePath(tuple(path), SubIndication.CHAIN_CONSTRAINTS_FAILURE, "certificate path too long")


def _find_issuer(cert: x509.Certificate, pool: Sequence[x509.Certificate]) -> x509.Certificate | None:
    for candidate in pool:
        if candidate is cert or candidate.subject != cert.issuer or candidate == cert:
            continue
        if _issued_by(cert, candidate):
            return candidate
    return None


@functools.lru_cache(maxsize=1024)
def _issued_by(cert: x509.Certificate, candidate: x509.Certificate) -> bool:
    # Cached: the same chains come back with every document a service verifies.
    try:
        cert.verify_directly_issued_by(candidate)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def _is_ca(cert: x509.Certificate) -> bool:
    try:
        return bool(cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca)
    except x509.ExtensionNotFound:
        return False


def _check_times(path: list[x509.Certificate], anchor: x509.Certificate, at: datetime) -> CertificatePath:
    for index, cert in enumerate(path):
        if at < cert.not_valid_before_utc:
            return CertificatePath(
                tuple(path), SubIndication.NOT_YET_VALID, f"{cert.subject.rfc4514_string()} is not yet valid",
                anchor,
            )
        if at > cert.not_valid_after_utc:
            return CertificatePath(
                tuple(path),
                SubIndication.OUT_OF_BOUNDS_NO_POE if index == 0 else SubIndication.EXPIRED,
                f"{cert.subject.rfc4514_string()} expired on {cert.not_valid_after_utc:%Y-%m-%d}",
                anchor,
                expired_only=index == 0,
            )
    return CertificatePath(tuple(path), None, "", anchor)


def check_revocation(
    cert: x509.Certificate,
    issuer: x509.Certificate,
    *,
    ocsp_responses: Sequence[bytes] = (),
    crls: Sequence[bytes] = (),
    allow_fetching: bool = False,
    timeout: float = 10.0,
) -> RevocationInfo:
    """The revocation status of ``cert`` from embedded evidence, else (when allowed) a fresh OCSP answer."""
    for der in ocsp_responses:
        info = _from_ocsp(der, cert, issuer, "embedded")
        if info is not None:
            return info
    for der in crls:
        info = _from_crl(der, cert, issuer, "embedded")
        if info is not None:
            return info
    if allow_fetching:
        fetched = fetch_ocsp(cert, issuer, timeout=timeout)
        if fetched is not None:
            info = _from_ocsp(fetched, cert, issuer, "fetched")
            if info is not None:
                return info
        return RevocationInfo(RevocationStatus.UNKNOWN, source="fetched")
    return RevocationInfo(RevocationStatus.NOT_CHECKED)


def fetch_ocsp(cert: x509.Certificate, issuer: x509.Certificate, *, timeout: float = 10.0) -> bytes | None:
    """Ask the OCSP responder named in ``cert``'s AIA; None when there is none or it cannot be reached."""
    try:
        aia = cert.extensions.get_extension_for_class(x509.AuthorityInformationAccess).value
    except x509.ExtensionNotFound:
        return None
    urls = [d.access_location.value for d in aia if d.access_method == x509.AuthorityInformationAccessOID.OCSP]
    if not urls:
        return None
    import urllib.request  # only when fetching is asked for: it pulls in http.client, ssl and email

    request = ocsp.OCSPRequestBuilder().add_certificate(cert, issuer, hashes.SHA1()).build()  # noqa: S303 - RFC 6960 CertID
    http = urllib.request.Request(  # noqa: S310 - URL from the certificate, fetching asked for by the caller
        str(urls[0]), data=request.public_bytes(serialization.Encoding.DER),
        headers={"Content-Type": "application/ocsp-request"}, method="POST",
    )
    try:
        with urllib.request.urlopen(http, timeout=timeout) as answer:  # noqa: S310
            return answer.read()
    except OSError:
        return None


def _from_ocsp(der: bytes, cert: x509.Certificate, issuer: x509.Certificate, source: str) -> RevocationInfo | None:
    try:
        response = ocsp.load_der_ocsp_response(der)
    except ValueError:
        return None
    if response.response_status is not ocsp.OCSPResponseStatus.SUCCESSFUL:
        return None
    if response.serial_number != cert.serial_number:
        return None
    if not _ocsp_signed_by_issuer(response, issuer):
        return None
    status = {
        ocsp.OCSPCertStatus.GOOD: RevocationStatus.GOOD,
        ocsp.OCSPCertStatus.REVOKED: RevocationStatus.REVOKED,
    }.get(response.certificate_status, RevocationStatus.UNKNOWN)
    reason = response.revocation_reason.value if response.revocation_reason else None
    return RevocationInfo(
        status, source=source, kind="ocsp", produced_at=response.produced_at_utc,
        revoked_at=response.revocation_time_utc, reason=reason,
    )


def _ocsp_signed_by_issuer(response: ocsp.OCSPResponse, issuer: x509.Certificate) -> bool:
    signers = [issuer]
    for delegated in response.certificates:
        try:
            delegated.verify_directly_issued_by(issuer)
            eku = delegated.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
        except (ValueError, TypeError, InvalidSignature, x509.ExtensionNotFound):
            continue  # not a delegated responder of this issuer
        if x509.ExtendedKeyUsageOID.OCSP_SIGNING in eku:
            signers.append(delegated)
    for signer in signers:
        try:
            _verify_with(signer, response.signature, response.tbs_response_bytes, response.signature_hash_algorithm)
            return True
        except Exception:  # noqa: S112 - try the next candidate
            continue
    return False


def _verify_with(cert: x509.Certificate, signature: bytes, data: bytes, algorithm: hashes.HashAlgorithm | None) -> None:
    from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

    key = cert.public_key()
    if algorithm is None:
        raise ValueError("no hash algorithm")
    if isinstance(key, rsa.RSAPublicKey):
        key.verify(signature, data, padding.PKCS1v15(), algorithm)
    elif isinstance(key, ec.EllipticCurvePublicKey):
        key.verify(signature, data, ec.ECDSA(algorithm))
    else:
        raise ValueError("unsupported key")


def _from_crl(der: bytes, cert: x509.Certificate, issuer: x509.Certificate, source: str) -> RevocationInfo | None:
    try:
        crl = x509.load_der_x509_crl(der)
    except ValueError:
        return None
    if crl.issuer != issuer.subject or not crl.is_signature_valid(issuer.public_key()):  # type: ignore[arg-type]
        return None
    revoked = crl.get_revoked_certificate_by_serial_number(cert.serial_number)
    if revoked is None:
        return RevocationInfo(RevocationStatus.GOOD, source=source, kind="crl", produced_at=crl.last_update_utc)
    return RevocationInfo(
        RevocationStatus.REVOKED, source=source, kind="crl", produced_at=crl.last_update_utc,
        revoked_at=revoked.revocation_date_utc,
    )
