"""The development PKI: a root CA, an issuing CA, a TSA, an OCSP responder, a CRL and signers.

``create_dev_pki(DIR)`` writes everything under DIR from the profile in ``certs/dev-pki.toml``;
``load_dev_pki(DIR)`` reads it back. CA, TSA and OCSP keys are stored encrypted with the PKI
password; signer credentials are PKCS#12 files with the same password.
"""

from __future__ import annotations

import json
import os
import tomllib
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs12

from esign.errors import InvalidInput, KeyAccessError, PKIError
from esign.pki.ca import CertificateAuthority
from esign.pki.keys import generate_key, load_private_key, save_private_key
from esign.pki.names import build_name
from esign.pki.revocation import OCSPResponder, RevocationRegistry, make_crl
from esign.pki.tsa import TimeStampAuthority
from esign.signers.file import FileSigner

DEV_PASSWORD = "esign-dev"  # noqa: S105 - documented dev-only default, refused by the server outside dev mode
DEFAULT_BASE_URL = "http://127.0.0.1:8750"


def default_profile() -> dict[str, Any]:
    """The dev PKI profile shipped with esign (``certs/dev-pki.toml``)."""
    text = resources.files("esign.pki").joinpath("data/dev-pki.toml").read_text(encoding="utf-8")
    return tomllib.loads(text)


def pki_password(password: str | None = None) -> str:
    """``password``, else ``ESIGN_PKI_PASSWORD``, else the dev default."""
    return password or os.environ.get("ESIGN_PKI_PASSWORD") or DEV_PASSWORD


def _pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


@dataclass
class DevPKI:
    """A dev PKI loaded from its directory."""

    directory: Path
    password: str
    base_url: str
    root_cert: x509.Certificate
    issuing_ca: CertificateAuthority
    tsa: TimeStampAuthority
    ocsp: OCSPResponder
    revocations: RevocationRegistry
    signer_names: list[str] = field(default_factory=list)
    root_ca: CertificateAuthority | None = None
    """The root CA with its key (None for a PKI directory without ``root.key.pem``)."""

    @property
    def root_pem_path(self) -> Path:
        """The trust anchor (root CA certificate, PEM)."""
        return self.directory / "root.pem"

    @property
    def chain_pem_path(self) -> Path:
        """Issuing CA then root, PEM."""
        return self.directory / "chain.pem"

    @property
    def tsa_url(self) -> str:
        return f"{self.base_url}/tsa"

    @property
    def ocsp_url(self) -> str:
        return f"{self.base_url}/ocsp"

    @property
    def crl_url(self) -> str:
        return f"{self.base_url}/crl"

    def p12_path(self, name: str) -> Path:
        """The PKCS#12 file of signer ``name`` (e.g. ``person-rsa2048``)."""
        if name not in self.signer_names:
            raise InvalidInput(f"no signer {name!r} in this PKI; have {', '.join(self.signer_names)}")
        return self.directory / f"{name}.p12"

    def signer(self, name: str) -> FileSigner:
        """A :class:`FileSigner` for signer ``name``."""
        return FileSigner.from_pkcs12(self.p12_path(name), self.password)

    def certificate(self, name: str) -> x509.Certificate:
        """The certificate of signer ``name``."""
        return self.signer(name).certificate

    def crl(self) -> bytes:
        """A fresh DER CRL of the issuing CA."""
        return make_crl(self.issuing_ca, self.revocations.all())

    def root_crl(self) -> bytes:
        """A fresh DER CRL of the root (it covers the issuing CA), issued now.

        Fresh, not the one written when the PKI was made: a B-LT file carries the root CRL fetched at
        signing time, and strict validators want every CRL in it issued after the signature.
        """
        if self.root_ca is None:
            return (self.directory / "root-crl.der").read_bytes()
        return make_crl(self.root_ca, [])

    def revoke(self, name_or_serial: str | int, reason: str = "key_compromise") -> None:
        """Revoke a signer by name or serial number; the CRL file is rewritten at once."""
        serial = name_or_serial if isinstance(name_or_serial, int) else self.certificate(name_or_serial).serial_number
        self.revocations.revoke(serial, reason=reason)
        (self.directory / "crl.der").write_bytes(self.crl())


def create_dev_pki(
    directory: Path | str,
    password: str | None = None,
    *,
    base_url: str = DEFAULT_BASE_URL,
    profile: dict[str, Any] | None = None,
) -> DevPKI:
    """Create a complete dev PKI under ``directory`` (which must be empty or absent)."""
    directory = Path(directory)
    password = pki_password(password)
    profile = profile or default_profile()
    base_url = base_url.rstrip("/")
    if directory.exists() and any(directory.iterdir()):
        raise InvalidInput(f"{directory} is not empty; choose a new directory")
    directory.mkdir(parents=True, exist_ok=True)
    os.chmod(directory, 0o700)

    root_key = generate_key(profile["root"]["key"])
    root = CertificateAuthority.create_root(
        build_name(profile["root"]["subject"]), root_key, days=profile["root"]["days"]
    )
    urls = {"ocsp_url": f"{base_url}/ocsp", "crl_url": f"{base_url}/crl", "ca_issuers_url": f"{base_url}/ca.cer"}
    root.crl_url = f"{base_url}/root-crl"
    ca_key = generate_key(profile["issuing_ca"]["key"])
    ca_cert = root.issue_ca(
        build_name(profile["issuing_ca"]["subject"]), ca_key.public_key(), days=profile["issuing_ca"]["days"]
    )
    ca = CertificateAuthority(ca_cert, ca_key, (root.certificate,), **urls)

    tsa_key = generate_key(profile["tsa"]["key"])
    tsa_cert = ca.issue_tsa(build_name(profile["tsa"]["subject"]), tsa_key.public_key(), days=profile["tsa"]["days"])
    ocsp_key = generate_key(profile["ocsp"]["key"])
    ocsp_cert = ca.issue_ocsp_responder(
        build_name(profile["ocsp"]["subject"]), ocsp_key.public_key(), days=profile["ocsp"]["days"]
    )

    files = {
        "root.pem": _pem(root.certificate),
        "issuing-ca.pem": _pem(ca_cert),
        "chain.pem": _pem(ca_cert) + _pem(root.certificate),
        "tsa.pem": _pem(tsa_cert),
        "ocsp.pem": _pem(ocsp_cert),
    }
    for name, data in files.items():
        (directory / name).write_bytes(data)
    save_private_key(root_key, directory / "root.key.pem", password)
    save_private_key(ca_key, directory / "issuing-ca.key.pem", password)
    save_private_key(tsa_key, directory / "tsa.key.pem", password)
    save_private_key(ocsp_key, directory / "ocsp.key.pem", password)

    signer_names = []
    encryption = (pkcs12.PBES.PBESv2SHA256AndAES256CBC, password.encode())
    for person, spec in profile.get("people", {}).items():
        subject = build_name(spec["subject"])
        for kind in spec["keys"]:
            key = generate_key(kind)
            cert = ca.issue_signer(subject, key.public_key(), email=spec.get("email"))
            name = f"{person}-{kind}"
            algorithm = (
                serialization.PrivateFormat.PKCS12.encryption_builder()
                .kdf_rounds(50000)
                .key_cert_algorithm(encryption[0])
                .build(encryption[1])
            )
            p12 = pkcs12.serialize_key_and_certificates(
                name.encode(), key, cert, [ca_cert, root.certificate], algorithm
            )
            (directory / f"{name}.p12").write_bytes(p12)
            (directory / f"{name}.pem").write_bytes(_pem(cert))
            signer_names.append(name)

    root_crl = make_crl(root, [])
    (directory / "root-crl.der").write_bytes(root_crl)
    (directory / "pki.json").write_text(json.dumps({"base_url": base_url, "signers": signer_names}, indent=1))
    pki = load_dev_pki(directory, password)
    (directory / "crl.der").write_bytes(pki.crl())
    return pki


def load_dev_pki(directory: Path | str, password: str | None = None) -> DevPKI:
    """Load a dev PKI written by :func:`create_dev_pki`."""
    directory = Path(directory)
    password = pki_password(password)
    try:
        meta = json.loads((directory / "pki.json").read_text())
        root_cert = x509.load_pem_x509_certificate((directory / "root.pem").read_bytes())
        ca_cert = x509.load_pem_x509_certificate((directory / "issuing-ca.pem").read_bytes())
        tsa_cert = x509.load_pem_x509_certificate((directory / "tsa.pem").read_bytes())
        ocsp_cert = x509.load_pem_x509_certificate((directory / "ocsp.pem").read_bytes())
    except FileNotFoundError as exc:
        raise PKIError(
            f"{directory} is not a dev PKI ({exc.filename} missing); run `esign pki init {directory}`"
        ) from None
    try:
        root_key_path = directory / "root.key.pem"
        root_key = load_private_key(root_key_path, password) if root_key_path.exists() else None
        ca_key = load_private_key(directory / "issuing-ca.key.pem", password)
        tsa_key = load_private_key(directory / "tsa.key.pem", password)
        ocsp_key = load_private_key(directory / "ocsp.key.pem", password)
    except KeyAccessError as exc:
        raise KeyAccessError(f"{exc.message} (set --password or ESIGN_PKI_PASSWORD)") from None
    base_url = meta["base_url"]
    ca = CertificateAuthority(
        ca_cert,
        ca_key,
        (root_cert,),
        ocsp_url=f"{base_url}/ocsp",
        crl_url=f"{base_url}/crl",
        ca_issuers_url=f"{base_url}/ca.cer",
    )
    revocations = RevocationRegistry(directory / "revoked.json")
    return DevPKI(
        directory=directory,
        password=password,
        base_url=base_url,
        root_cert=root_cert,
        issuing_ca=ca,
        tsa=TimeStampAuthority(tsa_cert, tsa_key, (ca_cert, root_cert)),
        ocsp=OCSPResponder(ca_cert, ocsp_cert, ocsp_key, revocations),
        revocations=revocations,
        signer_names=list(meta["signers"]),
        root_ca=CertificateAuthority(root_cert, root_key) if root_key is not None else None,
    )
