"""A certificate authority that issues CA, signer, TSA and OCSP-responder certificates.

Signer certificates follow what signature validators expect: digitalSignature + nonRepudiation
(contentCommitment), AIA with the OCSP URL and the CA's certificate, a CRL distribution point,
subject and authority key identifiers, and an end-entity basic constraint.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import AuthorityInformationAccessOID, ExtendedKeyUsageOID

from esign.errors import InvalidInput
from esign.pki.keys import CAPrivateKey

BACKDATE = timedelta(minutes=5)  # tolerate small clock differences between machines


def new_serial() -> int:
    """A random positive 159-bit serial number (RFC 5280 allows up to 20 octets)."""
    return secrets.randbits(159) | 1 << 158


def signature_hash(key: CAPrivateKey) -> hashes.SHA256 | hashes.SHA384:
    """The digest a CA key signs with: SHA-384 for P-384, SHA-256 otherwise."""
    if isinstance(key, ec.EllipticCurvePrivateKey) and key.curve.key_size >= 384:
        return hashes.SHA384()
    return hashes.SHA256()


def _key_usage(**flags: bool) -> x509.KeyUsage:
    names = (
        "digital_signature",
        "content_commitment",
        "key_encipherment",
        "data_encipherment",
        "key_agreement",
        "key_cert_sign",
        "crl_sign",
        "encipher_only",
        "decipher_only",
    )
    return x509.KeyUsage(**{n: flags.get(n, False) for n in names})


class CertificateAuthority:
    """An issuing (or root) CA: its certificate, its key, and where relying parties check status."""

    def __init__(
        self,
        certificate: x509.Certificate,
        private_key: CAPrivateKey,
        chain: Sequence[x509.Certificate] = (),
        *,
        ocsp_url: str | None = None,
        crl_url: str | None = None,
        ca_issuers_url: str | None = None,
    ) -> None:
        if private_key.public_key().public_numbers() != certificate.public_key().public_numbers():  # type: ignore[union-attr]
            raise InvalidInput("the CA key does not match the CA certificate")
        self.certificate = certificate
        self.private_key = private_key
        self.chain = tuple(chain)
        self.ocsp_url = ocsp_url
        self.crl_url = crl_url
        self.ca_issuers_url = ca_issuers_url

    @classmethod
    def create_root(cls, subject: x509.Name, private_key: CAPrivateKey, *, days: int = 3650) -> CertificateAuthority:
        """A self-signed root CA."""
        now = datetime.now(UTC)
        ski = x509.SubjectKeyIdentifier.from_public_key(private_key.public_key())
        cert = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(subject)
            .public_key(private_key.public_key())
            .serial_number(new_serial())
            .not_valid_before(now - BACKDATE)
            .not_valid_after(now + timedelta(days=days))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(_key_usage(key_cert_sign=True, crl_sign=True, digital_signature=True), critical=True)
            .add_extension(ski, critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski), critical=False)
            .sign(private_key, signature_hash(private_key))
        )
        return cls(cert, private_key)

    @property
    def name(self) -> x509.Name:
        """The CA's subject name."""
        return self.certificate.subject

    def _builder(self, subject: x509.Name, public_key: Any, days: int) -> x509.CertificateBuilder:
        now = datetime.now(UTC)
        not_after = min(now + timedelta(days=days), self.certificate.not_valid_after_utc)
        ca_ski = self.certificate.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
        return (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(self.certificate.subject)
            .public_key(public_key)
            .serial_number(new_serial())
            .not_valid_before(now - BACKDATE)
            .not_valid_after(not_after)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski), critical=False)
        )

    def _status_extensions(self, builder: x509.CertificateBuilder) -> x509.CertificateBuilder:
        access = []
        if self.ocsp_url:
            access.append(
                x509.AccessDescription(
                    AuthorityInformationAccessOID.OCSP, x509.UniformResourceIdentifier(self.ocsp_url)
                )
            )
        if self.ca_issuers_url:
            access.append(
                x509.AccessDescription(
                    AuthorityInformationAccessOID.CA_ISSUERS, x509.UniformResourceIdentifier(self.ca_issuers_url)
                )
            )
        if access:
            builder = builder.add_extension(x509.AuthorityInformationAccess(access), critical=False)
        if self.crl_url:
            point = x509.DistributionPoint([x509.UniformResourceIdentifier(self.crl_url)], None, None, None)
            builder = builder.add_extension(x509.CRLDistributionPoints([point]), critical=False)
        return builder

    def _sign(self, builder: x509.CertificateBuilder) -> x509.Certificate:
        return builder.sign(self.private_key, signature_hash(self.private_key))

    def issue_ca(
        self, subject: x509.Name, public_key: Any, *, days: int = 1825, path_length: int | None = 0
    ) -> x509.Certificate:
        """A subordinate CA certificate."""
        builder = self._builder(subject, public_key, days)
        builder = builder.add_extension(x509.BasicConstraints(ca=True, path_length=path_length), critical=True)
        builder = builder.add_extension(
            _key_usage(key_cert_sign=True, crl_sign=True, digital_signature=True), critical=True
        )
        return self._sign(self._status_extensions(builder))

    def issue_signer(
        self,
        subject: x509.Name,
        public_key: Any,
        *,
        days: int = 730,
        email: str | None = None,
        policy_oids: Sequence[str] = (),
    ) -> x509.Certificate:
        """An end-entity certificate for electronic signatures (non-repudiation / content commitment)."""
        if isinstance(public_key, rsa.RSAPublicKey) and public_key.key_size < 2048:
            raise InvalidInput("signer keys must be at least RSA-2048")
        builder = self._builder(subject, public_key, days)
        builder = builder.add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        builder = builder.add_extension(_key_usage(digital_signature=True, content_commitment=True), critical=True)
        builder = builder.add_extension(
            x509.ExtendedKeyUsage(
                [
                    ExtendedKeyUsageOID.EMAIL_PROTECTION,
                    ExtendedKeyUsageOID.CLIENT_AUTH,
                    x509.ObjectIdentifier("1.3.6.1.4.1.311.10.3.12"),
                ]
            ),  # document signing
            critical=False,
        )
        if email:
            builder = builder.add_extension(x509.SubjectAlternativeName([x509.RFC822Name(email)]), critical=False)
        if policy_oids:
            builder = builder.add_extension(
                x509.CertificatePolicies([x509.PolicyInformation(x509.ObjectIdentifier(o), None) for o in policy_oids]),
                critical=False,
            )
        return self._sign(self._status_extensions(builder))

    def issue_tsa(self, subject: x509.Name, public_key: Any, *, days: int = 1825) -> x509.Certificate:
        """A time-stamping unit certificate (critical extended key usage id-kp-timeStamping, RFC 3161)."""
        builder = self._builder(subject, public_key, days)
        builder = builder.add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        builder = builder.add_extension(_key_usage(digital_signature=True, content_commitment=True), critical=True)
        builder = builder.add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.TIME_STAMPING]), critical=True)
        return self._sign(self._status_extensions(builder))

    def issue_ocsp_responder(self, subject: x509.Name, public_key: Any, *, days: int = 365) -> x509.Certificate:
        """A delegated OCSP responder certificate (id-kp-OCSPSigning, with id-pkix-ocsp-nocheck)."""
        builder = self._builder(subject, public_key, days)
        builder = builder.add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        builder = builder.add_extension(_key_usage(digital_signature=True), critical=True)
        builder = builder.add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.OCSP_SIGNING]), critical=False)
        builder = builder.add_extension(x509.OCSPNoCheck(), critical=False)
        return self._sign(builder)

    def issue_from_csr(
        self, csr: x509.CertificateSigningRequest, *, subject: x509.Name | None = None, days: int = 730
    ) -> x509.Certificate:
        """A signer certificate for a CSR; ``subject`` overrides what the CSR asks for."""
        if not csr.is_signature_valid:
            raise InvalidInput("the CSR's self-signature does not verify")
        return self.issue_signer(subject or csr.subject, csr.public_key(), days=days)
