"""RFC 3161 time-stamps for XAdES B-T: asking a TSA over HTTP, and checking a token.

A token is checked without any network access: the message imprint must match, the TSA's
CMS signature must verify over its signed attributes, and the TSA certificate must chain to
one of the trust anchors (see :mod:`esign.xml.chain`).
"""

from __future__ import annotations

import hashlib
import secrets
import urllib.request
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from asn1crypto import cms, tsp
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

from esign.algorithms import DigestAlgorithm, digest_algorithm
from esign.der_limits import limit_der_tags
from esign.errors import InvalidInput, SigningError
from esign.report import TimestampInfo
from esign.xml.chain import build_path, load_certificate

limit_der_tags()  # hostile DER is parsed here: bound its tag numbers (see esign.der_limits)

Timestamper = Callable[[bytes, str], Any]
"""Given a message imprint and its digest name, return a token (DER bytes or an asn1crypto ContentInfo)."""


def http_timestamper(url: str, *, timeout: float = 30.0) -> Timestamper:
    """A :data:`Timestamper` that asks the RFC 3161 TSA at ``url`` (HTTP POST ``application/timestamp-query``)."""

    def stamp(imprint: bytes, digest: str) -> bytes:
        nonce = secrets.randbits(63)
        request = tsp.TimeStampReq({
            "version": "v1",
            "message_imprint": {"hash_algorithm": {"algorithm": digest}, "hashed_message": imprint},
            "nonce": nonce,
            "cert_req": True,
        }).dump()
        http = urllib.request.Request(  # noqa: S310 - the caller chose this TSA URL
            url, data=request, headers={"Content-Type": "application/timestamp-query"}, method="POST"
        )
        try:
            with urllib.request.urlopen(http, timeout=timeout) as answer:  # noqa: S310
                body = answer.read()
        except OSError as exc:
            raise SigningError(f"the time-stamping authority at {url} could not be reached: {exc}") from None
        try:
            response = tsp.TimeStampResp.load(body)
            status = response["status"]["status"].native
            token = response["time_stamp_token"]
        except ValueError as exc:
            raise SigningError(f"the time-stamping authority at {url} sent no valid response: {exc}") from None
        if status not in ("granted", "granted_with_mods") or not token:
            text = response["status"]["status_string"].native
            raise SigningError(f"the time-stamping authority at {url} refused: {status} {text or ''}".strip())
        if token["content"]["encap_content_info"]["content"].parsed["nonce"].native != nonce:
            raise SigningError(f"the time-stamping authority at {url} answered with a wrong nonce")
        return token.dump()

    return stamp


def token_bytes(token: Any) -> bytes:
    """DER bytes of a token returned by a :data:`Timestamper`."""
    if isinstance(token, bytes):
        return token
    if hasattr(token, "dump"):
        return token.dump()
    raise SigningError("the time-stamper returned neither DER bytes nor a ContentInfo")


def check_token(
    token_der: bytes,
    message: bytes,
    *,
    anchors: Sequence[x509.Certificate],
    kind: str = "signature",
) -> tuple[TimestampInfo, str | None]:
    """Check a time-stamp token over ``message``; returns the info and an error text (None when good)."""
    try:
        content = cms.ContentInfo.load(token_der)
        signed = content["content"]
        tst = signed["encap_content_info"]["content"].parsed
        gen_time: datetime = tst["gen_time"].native
        imprint = tst["message_imprint"]
        digest_name = imprint["hash_algorithm"]["algorithm"].native
        embedded = [c.chosen.dump() for c in signed["certificates"] or []]
        signer_info = signed["signer_infos"][0]
    except (ValueError, KeyError, TypeError, IndexError) as exc:
        raise InvalidInput(f"the time-stamp token is not valid DER CMS: {exc}") from None
    certs = [load_certificate(der, "a certificate in the time-stamp token") for der in embedded]
    try:
        alg = digest_algorithm(digest_name)
    except InvalidInput as exc:
        info = TimestampInfo(kind=kind, time=gen_time, tsa="?", valid=False, trusted=False)
        return info, str(exc)
    try:
        return _check_parsed(tst, imprint, alg, signer_info, certs, message, anchors, kind, gen_time)
    except (ValueError, KeyError, TypeError, IndexError) as exc:
        # asn1crypto parses the signer info lazily: damage deep inside surfaces only now.
        raise InvalidInput(f"the time-stamp token is not valid DER CMS: {exc}") from None


def _check_parsed(
    tst: Any, imprint: Any, alg: DigestAlgorithm, signer_info: cms.SignerInfo, certs: list[x509.Certificate],
    message: bytes, anchors: Sequence[x509.Certificate], kind: str, gen_time: datetime,
) -> tuple[TimestampInfo, str | None]:
    tsa_cert = _signer_certificate(signer_info, certs)
    tsa_name = tsa_cert.subject.rfc4514_string() if tsa_cert else "unknown TSA"
    error: str | None = None
    if imprint["hashed_message"].native != hashlib.new(alg.value, message).digest():
        error = "the time-stamp does not cover this signature (message imprint mismatch)"
    elif tsa_cert is None:
        error = "the time-stamp token does not carry the TSA certificate"
    else:
        error = _check_cms_signature(signer_info, tst.dump(), tsa_cert)
    valid = error is None
    trusted = False
    if valid and tsa_cert is not None:
        path = build_path(tsa_cert, certs, anchors, at=gen_time)
        trusted = path.ok
        if not trusted:
            error = f"the TSA certificate is not trusted: {path.message}"
    return TimestampInfo(kind=kind, time=gen_time, tsa=tsa_name, valid=valid, trusted=trusted), error


def _signer_certificate(signer_info: cms.SignerInfo, certs: list[x509.Certificate]) -> x509.Certificate | None:
    sid = signer_info["sid"]
    if sid.name == "issuer_and_serial_number":
        serial = sid.chosen["serial_number"].native
        issuer = sid.chosen["issuer"].dump()
        for cert in certs:
            if cert.serial_number == serial and cert.issuer.public_bytes() == issuer:
                return cert
        return None
    key_id = sid.chosen.native
    for cert in certs:
        try:
            ski = cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest
        except x509.ExtensionNotFound:
            continue
        if ski == key_id:
            return cert
    return None


def _check_cms_signature(signer_info: cms.SignerInfo, content: bytes, cert: x509.Certificate) -> str | None:
    digest_name = signer_info["digest_algorithm"]["algorithm"].native
    alg = digest_algorithm(digest_name)
    attrs = signer_info["signed_attrs"]
    digests = [a["values"][0].native for a in attrs if a["type"].native == "message_digest"]
    if not digests or digests[0] != hashlib.new(alg.value, content).digest():
        return "the time-stamp token's content digest does not match"
    signed_bytes = attrs.untag().dump()
    signature = signer_info["signature"].native
    key = cert.public_key()
    try:
        if isinstance(key, rsa.RSAPublicKey):
            sig_alg = signer_info["signature_algorithm"]["algorithm"].native
            if sig_alg == "rsassa_pss":
                params = signer_info["signature_algorithm"]["parameters"]
                pss_hash = digest_algorithm(params["hash_algorithm"]["algorithm"].native).hash_object()
                pad: padding.AsymmetricPadding = padding.PSS(
                    mgf=padding.MGF1(pss_hash), salt_length=params["salt_length"].native
                )
                key.verify(signature, signed_bytes, pad, pss_hash)
            else:
                key.verify(signature, signed_bytes, padding.PKCS1v15(), alg.hash_object())
        elif isinstance(key, ec.EllipticCurvePublicKey):
            key.verify(signature, signed_bytes, ec.ECDSA(alg.hash_object()))
        else:
            return "unsupported TSA key type"
    except InvalidSignature:
        return "the time-stamp token's signature does not verify"
    return None
