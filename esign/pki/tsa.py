"""An RFC 3161 time-stamping authority (with RFC 5816 ESSCertIDv2), built on asn1crypto."""

from __future__ import annotations

import secrets
import threading
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import ClassVar

from asn1crypto import algos, cms, core, tsp
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

from esign.algorithms import digest_algorithm
from esign.der_limits import check_der
from esign.errors import EsignError, InvalidInput
from esign.pki.ca import signature_hash
from esign.pki.keys import CAPrivateKey

DEFAULT_POLICY = "1.3.6.1.4.1.59999.3161.1"  # esign dev TSA policy (private arc, for tests and dev only)


def _asn1_cert(cert: x509.Certificate) -> asn1_x509.Certificate:
    return asn1_x509.Certificate.load(cert.public_bytes(serialization.Encoding.DER))


class TimeStampAuthority:
    """Issues time-stamp tokens; the key is loaded once and requests are answered in-process."""

    def __init__(
        self,
        certificate: x509.Certificate,
        private_key: CAPrivateKey,
        chain: Sequence[x509.Certificate] = (),
        *,
        policy: str = DEFAULT_POLICY,
        allow_weak: bool = False,
    ) -> None:
        self.certificate = certificate
        self.private_key = private_key
        self.chain = tuple(chain)
        self.policy = policy
        self.allow_weak = allow_weak
        self._hash = signature_hash(private_key)
        self._asn1_cert = _asn1_cert(certificate)
        self._asn1_chain = [_asn1_cert(c) for c in self.chain]
        self._serial_lock = threading.Lock()
        self._last_serial = 0
        cert_der = certificate.public_bytes(serialization.Encoding.DER)
        self._ess_cert_id_v2 = tsp.SigningCertificateV2(
            {
                "certs": [
                    {
                        "hash_algorithm": {"algorithm": "sha256"},
                        "cert_hash": _sha256(cert_der),
                        "issuer_serial": {
                            "issuer": [asn1_x509.GeneralName({"directory_name": self._asn1_cert.issuer})],
                            "serial_number": self._asn1_cert.serial_number,
                        },
                    }
                ]
            }
        )

    def _next_serial(self) -> int:
        # Random high bits keep serials unique across processes; the counter keeps them unique within one.
        with self._serial_lock:
            self._last_serial += 1
            return (secrets.randbits(63) << 32) | (self._last_serial & 0xFFFFFFFF)

    def stamp(
        self,
        message_imprint: bytes,
        digest: str = "sha256",
        *,
        nonce: int | None = None,
        include_certificates: bool = True,
        at: datetime | None = None,
    ) -> cms.ContentInfo:
        """A time-stamp token (CMS ContentInfo) over ``message_imprint``, a ``digest`` hash."""
        alg = digest_algorithm(digest, allow_weak=self.allow_weak)
        if len(message_imprint) != alg.digest_size:
            raise InvalidInput(f"a {alg.value} message imprint is {alg.digest_size} bytes, got {len(message_imprint)}")
        gen_time = at or datetime.now(UTC)
        info: dict[str, object] = {
            "version": "v1",
            "policy": self.policy,
            "message_imprint": {"hash_algorithm": {"algorithm": alg.value}, "hashed_message": message_imprint},
            "serial_number": self._next_serial(),
            "gen_time": gen_time,
            "accuracy": {"seconds": 1},
            "ordering": False,
            "tsa": asn1_x509.GeneralName({"directory_name": self._asn1_cert.subject}),
        }
        if nonce is not None:
            info["nonce"] = nonce
        tst_info = tsp.TSTInfo(info)
        content = tst_info.dump()
        signed_attrs = cms.CMSAttributes(
            [
                {"type": "content_type", "values": ["tst_info"]},
                {"type": "signing_time", "values": [cms.Time({"utc_time": core.UTCTime(gen_time)})]},
                {"type": "message_digest", "values": [_digest(self._hash, content)]},
                {"type": "signing_certificate_v2", "values": [self._ess_cert_id_v2]},
            ]
        )
        signature = self._sign(signed_attrs.dump())
        digest_name = self._hash.name
        signer_info = cms.SignerInfo(
            {
                "version": "v1",
                "sid": {
                    "issuer_and_serial_number": {
                        "issuer": self._asn1_cert.issuer,
                        "serial_number": self._asn1_cert.serial_number,
                    }
                },
                "digest_algorithm": {"algorithm": digest_name},
                "signed_attrs": signed_attrs,
                "signature_algorithm": self._signature_algorithm(),
                "signature": signature,
            }
        )
        signed_data = cms.SignedData(
            {
                "version": "v3",
                "digest_algorithms": [{"algorithm": digest_name}],
                "encap_content_info": {"content_type": "tst_info", "content": tst_info},
                "certificates": [self._asn1_cert, *self._asn1_chain] if include_certificates else None,
                "signer_infos": [signer_info],
            }
        )
        return cms.ContentInfo({"content_type": "signed_data", "content": signed_data})

    def respond(self, request_der: bytes) -> bytes:
        """A DER TimeStampResp for a DER TimeStampReq; refusals carry a PKIFailureInfo, not an exception."""
        try:
            check_der(request_der)  # hostile DER: refuse what asn1crypto would spin on (esign.der_limits)
            request = tsp.TimeStampReq.load(request_der)
            imprint = request["message_imprint"]
            digest = imprint["hash_algorithm"]["algorithm"].native
            hashed = imprint["hashed_message"].native
            nonce = request["nonce"].native
            cert_req = bool(request["cert_req"].native)
            req_policy = request["req_policy"].native
        except (ValueError, TypeError, KeyError):
            return _rejection("bad_data_format", "not a TimeStampReq")
        if req_policy is not None and req_policy != self.policy:
            return _rejection("unaccepted_policy", f"only policy {self.policy} is offered")
        try:
            token = self.stamp(hashed, digest, nonce=nonce, include_certificates=cert_req)
        except EsignError as exc:
            return _rejection("bad_alg", exc.message)
        return tsp.TimeStampResp({"status": {"status": "granted"}, "time_stamp_token": token}).dump()

    def _signature_algorithm(self) -> algos.SignedDigestAlgorithm:
        if isinstance(self.private_key, rsa.RSAPrivateKey):
            return algos.SignedDigestAlgorithm({"algorithm": f"{self._hash.name}_rsa"})
        return algos.SignedDigestAlgorithm({"algorithm": f"{self._hash.name}_ecdsa"})

    def _sign(self, data: bytes) -> bytes:
        key = self.private_key
        if isinstance(key, rsa.RSAPrivateKey):
            return key.sign(data, padding.PKCS1v15(), self._hash)
        return key.sign(data, ec.ECDSA(self._hash))


def _sha256(data: bytes) -> bytes:
    return _digest(hashes.SHA256(), data)


def _digest(algorithm: hashes.HashAlgorithm, data: bytes) -> bytes:
    h = hashes.Hash(algorithm)
    h.update(data)
    return h.finalize()


def _rejection(failure: str, text: str) -> bytes:
    status = tsp.PKIStatusInfo({"status": "rejection", "status_string": [text], "fail_info": {failure}})
    return _StatusOnlyResp({"status": status}).dump()


class _StatusOnlyResp(core.Sequence):
    # asn1crypto's TimeStampResp does not mark time_stamp_token OPTIONAL, as RFC 3161 does.
    _fields: ClassVar[list[tuple[str, type]]] = [("status", tsp.PKIStatusInfo)]
