"""pyHanko's ``Signer`` over any :class:`esign.signers.Signer` backend.

pyHanko asks its signer for ``async_sign_raw(data, digest_algorithm)``: we hash ``data`` (the DER of
the signed attributes) and hand only the digest to the backend, so a PKCS#11 token, a remote CSC
service or a phone signs exactly what a file key would. The key is never re-parsed here: backends
parse it once, when they are made.

The size of the signature container is computed from the key and the certificates
(:func:`reserved_size`), so a document is written and signed once, never twice to measure it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from asn1crypto import algos
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import Encoding

from esign.thirdparty import quiet_imports

with quiet_imports():  # pyHanko's signing package warns about DSA on import (esign.thirdparty)
    from pyhanko.sign.signers.pdf_cms import Signer as PyHankoBaseSigner
    from pyhanko_certvalidator.registry import SimpleCertificateStore

from esign.algorithms import DigestAlgorithm, SignatureAlgorithm, SignatureScheme, digest_algorithm
from esign.signers.base import Signer

TIMESTAMP_TOKEN_RESERVE = 12_288
"""DER bytes set aside for an RFC 3161 token (TSTInfo + the TSA's certificates) in B-T and up."""


def to_asn1(cert: x509.Certificate) -> asn1_x509.Certificate:
    """The asn1crypto form of a :mod:`cryptography` certificate (pyHanko's currency)."""
    return asn1_x509.Certificate.load(cert.public_bytes(Encoding.DER))


def from_asn1(cert: asn1_x509.Certificate) -> x509.Certificate:
    """The :mod:`cryptography` form of an asn1crypto certificate."""
    return x509.load_der_x509_certificate(cert.dump())


def max_signature_size(public_key: object) -> int:
    """The longest raw signature ``public_key`` can produce (ECDSA is DER, so it varies)."""
    if isinstance(public_key, rsa.RSAPublicKey):
        return (public_key.key_size + 7) // 8
    if isinstance(public_key, ec.EllipticCurvePublicKey):
        n = (public_key.curve.key_size + 7) // 8
        # SEQUENCE { INTEGER r, INTEGER s }, each INTEGER possibly with a leading zero byte
        return 2 * (n + 3) + 4
    return 512


def signature_mechanism(algorithm: SignatureAlgorithm) -> algos.SignedDigestAlgorithm:
    """The CMS ``signatureAlgorithm`` for ``algorithm`` (PSS with MGF1 and salt = digest length)."""
    if algorithm.scheme is SignatureScheme.RSA_PSS:
        md = algorithm.digest.value
        params = algos.RSASSAPSSParams(
            {
                "hash_algorithm": {"algorithm": md},
                "mask_gen_algorithm": {"algorithm": "mgf1", "parameters": {"algorithm": md}},
                "salt_length": algorithm.digest.digest_size,
            }
        )
        return algos.SignedDigestAlgorithm({"algorithm": "rsassa_pss", "parameters": params})
    return algos.SignedDigestAlgorithm({"algorithm": algorithm.name})


class PyHankoSigner(PyHankoBaseSigner):
    """A pyHanko signer whose private-key operation is an :class:`esign.signers.Signer`'s ``sign_digest``.

    >>> adapter = PyHankoSigner(FileSigner.from_pkcs12("me.p12", "pw"))  # doctest: +SKIP
    """

    def __init__(
        self,
        signer: Signer,
        *,
        digest: DigestAlgorithm | str = DigestAlgorithm.SHA256,
        embed_roots: bool = True,
    ) -> None:
        self.esign_signer = signer
        self.algorithm = signer.algorithm(digest)
        certificate = to_asn1(signer.certificate)
        chain = [to_asn1(c) for c in signer.chain]
        super().__init__(
            signing_cert=certificate,
            cert_registry=SimpleCertificateStore.from_certs(chain),
            signature_mechanism=signature_mechanism(self.algorithm),
            embed_roots=embed_roots,
        )
        self._chain = chain

    @property
    def digest_algorithm(self) -> DigestAlgorithm:
        """The digest used for the document and the signed attributes."""
        return self.algorithm.digest

    async def async_sign_raw(self, data: bytes, digest_algorithm: str, dry_run: bool = False) -> bytes:
        """Hash ``data`` (the signed attributes) and have the backend sign the digest."""
        if dry_run:
            return bytes(max_signature_size(self.esign_signer.public_key))
        algorithm = SignatureAlgorithm(self.algorithm.scheme, _digest(digest_algorithm, self.esign_signer.allow_weak))
        return await self.esign_signer.sign_digest(algorithm.digest.digest(data), algorithm)

    def reserved_size(self, *, timestamp: bool = False) -> int:
        """Hex characters to reserve for ``/Contents``: see :func:`reserved_size`."""
        return reserved_size(self.signing_cert, self._chain, self.esign_signer.public_key, timestamp=timestamp)


def _digest(name: str, allow_weak: bool) -> DigestAlgorithm:
    return digest_algorithm(name, allow_weak=allow_weak)


def reserved_size(
    certificate: asn1_x509.Certificate,
    chain: Iterable[asn1_x509.Certificate],
    public_key: object,
    *,
    timestamp: bool = False,
) -> int:
    """Hex characters to reserve for the CMS in ``/Contents``, from the key and the certificates.

    The CMS holds the certificates, the signed attributes (content type, message digest,
    signing-certificate-v2 naming the issuer, algorithm protection) and the signature value; a
    signature time-stamp (B-T) adds a token of a few kilobytes. A small margin covers DER length
    bytes; the result is doubled because ``/Contents`` is written in hexadecimal.
    """
    certs = len(certificate.dump()) + sum(len(c.dump()) for c in chain)
    issuer = len(certificate.issuer.dump())
    attributes = 400 + issuer
    der = certs + attributes + max_signature_size(public_key) + 256
    if timestamp:
        der += TIMESTAMP_TOKEN_RESERVE
    return 2 * der


def certificates_from(chain: Sequence[x509.Certificate]) -> list[asn1_x509.Certificate]:
    """asn1crypto forms of several certificates."""
    return [to_asn1(c) for c in chain]
