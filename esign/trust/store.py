"""Trust stores: which certificates a verifier trusts, and why.

Three sources, in this order:

* ``bundled`` — Vietnam's national root CAs (public PKI, for the licensed CAs such as VNPT-CA, Viettel-CA,
  BKAV-CA, FPT-CA) and the government's specialised root (Ban Cơ yếu Chính phủ), shipped as package data
  (``esign/trust/anchors/*.pem``), each pinned by its SHA-256 fingerprint. Two published intermediates
  ship beside them (``esign/trust/intermediates/``) as *intermediates*: they help build paths, they are
  never anchors.
* ``operator`` — a configuration directory (``$ESIGN_TRUST_DIR``, else ``$XDG_CONFIG_HOME/esign/trust``,
  else ``~/.config/esign/trust``): ``anchors/*.pem`` are added, and ``removed`` lists SHA-256 fingerprints
  (hex, one a line, ``#`` comments) of anchors to drop, bundled ones included.
* ``caller`` — certificates given for one verification (``--trust FILE``).

>>> from esign.trust import default_store
>>> sorted(a.name for a in default_store().anchors)[:1]   # doctest: +SKIP
['MIC National Root CA']
"""

from __future__ import annotations

import functools
import os
import stat
import threading
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes

from esign.errors import InvalidInput

TrustSource = str | Path | bytes | x509.Certificate
"""A trust anchor as given by a caller: a PEM/DER file (a PEM file may hold several), its bytes, or a certificate."""

BUNDLED_ANCHORS: dict[str, str] = {
    "mic-national-root-ca-2008.pem": "ca918d635bb130bec97639e6aabf7edbc4eb1310f8058b9419f467ae0230ad8c",
    "vietnam-national-root-ca-2014.pem": "bac8bf609ab420a8ee1780d74f4de5c7f7184959d2a7375b0a75e4c29f0908e7",
    "vietnam-national-root-ca-g3-2024.pem": "7b3269e7d79aebbfae5095f45bbb7074771e690cb7df02b441062b12f7690ece",
    "vgca-government-root-ca-g2-2018.pem": "f04ba4b459a7c9a1b971ad9b1cb833e695a80c79aea63b174b66a70edfe2fdb8",
}
"""Bundled root CAs: file name -> SHA-256 fingerprint (hex), as published (rootca.gov.vn, ca.gov.vn)."""

BUNDLED_INTERMEDIATES: dict[str, str] = {
    "vgca-state-agencies-ca-g2-2018.pem": "d8cab7a4aef92e6bb2509d7c61cee7b44f3731b2d21074963530277b366fae4b",
    "vnpt-ca-sha2-2024.pem": "7d6ba5245317f9ed5d8bc765a4634d26ac6340d36b9f584df3b52d9c4a81a306",
}
"""Bundled intermediate CAs (path-building help, never trusted by themselves): file name -> SHA-256."""

ENV_DIR = "ESIGN_TRUST_DIR"


def fingerprint(cert: x509.Certificate) -> str:
    """The SHA-256 fingerprint of ``cert`` as lowercase hex without separators."""
    return cert.fingerprint(hashes.SHA256()).hex()


def _common_name(cert: x509.Certificate) -> str:
    cns = cert.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)
    return str(cns[0].value) if cns else cert.subject.rfc4514_string()


@dataclass(frozen=True)
class Anchor:
    """One trusted certificate and why it is trusted."""

    certificate: x509.Certificate
    source: str
    """``bundled``, ``operator`` or ``caller``."""
    origin: str
    """Where it came from: the bundled file name, the operator file path, or the caller's file."""

    @property
    def name(self) -> str:
        """The certificate's common name (or its whole subject when it has none)."""
        return _common_name(self.certificate)

    @property
    def sha256(self) -> str:
        """SHA-256 fingerprint, lowercase hex."""
        return fingerprint(self.certificate)


def _load_pem_or_der(data: bytes, what: str) -> list[x509.Certificate]:
    try:
        if b"-----BEGIN" in data:
            return x509.load_pem_x509_certificates(data)
        return [x509.load_der_x509_certificate(data)]
    except ValueError as exc:
        raise InvalidInput(f"{what} is not a certificate: {exc}") from None


def load_certificates(source: TrustSource | Iterable[TrustSource] | None) -> list[x509.Certificate]:
    """Certificates from paths, bytes or certificate objects (a PEM bundle yields several)."""
    if source is None:
        return []
    if isinstance(source, str | Path | bytes | x509.Certificate):
        source = [source]
    found: list[x509.Certificate] = []
    for item in source:
        if isinstance(item, x509.Certificate):
            found.append(item)
        elif isinstance(item, bytes):
            found.extend(_load_pem_or_der(item, "the trust anchor"))
        else:
            try:
                data = Path(item).read_bytes()
            except OSError as exc:
                raise InvalidInput(f"cannot read trust anchor {item}: {exc.strerror or exc}") from None
            found.extend(_load_pem_or_der(data, str(item)))
    return found


READ_CERTIFICATES = 256
"""Certificates :func:`load_certificate` keeps, read, for the next document that carries the same bytes."""
_read: OrderedDict[bytes, x509.Certificate] = OrderedDict()
_read_lock = threading.Lock()


def load_certificate(der: bytes, what: str) -> x509.Certificate:
    """A certificate from a document, every part that path building and reports read parsed here, once.

    ``cryptography`` parses lazily: a damaged name, key or extension would otherwise raise a bare
    ``ValueError`` much later (while building the path or describing the signer).
    :class:`InvalidInput` names ``what`` when the certificate cannot be read. The last
    :data:`READ_CERTIFICATES` certificates read are kept by their DER (a seller's invoices all carry
    the same ones); what cannot be read is never kept.
    """
    der = bytes(der)
    with _read_lock:
        found = _read.get(der)
        if found is not None:
            _read.move_to_end(der)
            return found
    cert = _read_certificate(der, what)
    with _read_lock:
        _read[der] = cert
        while len(_read) > READ_CERTIFICATES:
            _read.popitem(last=False)
    return cert


def _read_certificate(der: bytes, what: str) -> x509.Certificate:
    from cryptography.exceptions import UnsupportedAlgorithm

    try:
        cert = x509.load_der_x509_certificate(der)
        _ = (cert.subject, cert.issuer, cert.serial_number, cert.not_valid_before_utc, cert.not_valid_after_utc)
        cert.public_key()
        _ = list(cert.extensions)
        cert.subject.rfc4514_string()
        cert.issuer.rfc4514_string()
    except (
        ValueError,
        TypeError,
        UnsupportedAlgorithm,
        x509.InvalidVersion,
        x509.DuplicateExtension,
        x509.UnsupportedGeneralNameType,
    ):
        raise InvalidInput(f"{what} is not a readable X.509 certificate") from None
    return cert


def _bundled(folder: str, pins: dict[str, str]) -> list[tuple[str, x509.Certificate]]:
    base = resources.files("esign.trust") / folder
    out: list[tuple[str, x509.Certificate]] = []
    for name, pin in pins.items():
        (cert,) = _load_pem_or_der((base / name).read_bytes(), name)
        if fingerprint(cert) != pin:  # a damaged or swapped package file must never become trusted
            raise InvalidInput(f"bundled certificate {name} does not match its pinned SHA-256 fingerprint")
        out.append((name, cert))
    return out


def operator_dir() -> Path:
    """The operator's trust configuration directory (it need not exist)."""
    if os.environ.get(ENV_DIR):
        return Path(os.environ[ENV_DIR])
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "esign" / "trust"


def _removed(directory: Path) -> set[str]:
    path = directory / "removed"
    if not path.is_file():
        return set()
    lines = (line.split("#", 1)[0].strip().lower().replace(":", "") for line in path.read_text().splitlines())
    return {line for line in lines if line}


@dataclass(frozen=True)
class TrustStore:
    """Anchors (trusted) and intermediates (offered to path building only)."""

    anchors: tuple[Anchor, ...]
    intermediates: tuple[x509.Certificate, ...] = ()
    removed: tuple[str, ...] = ()
    """SHA-256 fingerprints the operator removed (shown by ``esign trust list``)."""

    def certificates(self) -> list[x509.Certificate]:
        """The anchors' certificates."""
        return [a.certificate for a in self.anchors]

    def with_anchors(
        self, extra: Sequence[x509.Certificate], *, source: str = "caller", origin: str = ""
    ) -> TrustStore:
        """This store plus ``extra`` anchors (duplicates are kept once)."""
        known = {a.sha256 for a in self.anchors}
        added = []
        for cert in extra:
            if fingerprint(cert) not in known:
                known.add(fingerprint(cert))
                added.append(Anchor(cert, source, origin))
        return TrustStore(self.anchors + tuple(added), self.intermediates, self.removed)

    def source_of(self, cert: x509.Certificate) -> str | None:
        """Why ``cert`` is trusted (``bundled``/``operator``/``caller``), None when it is not an anchor."""
        pin = fingerprint(cert)
        return next((a.source for a in self.anchors if a.sha256 == pin), None)


@functools.cache
def bundled_store() -> TrustStore:
    """Only the bundled Vietnamese anchors and intermediates, without operator changes (read once)."""
    anchors = tuple(Anchor(cert, "bundled", name) for name, cert in _bundled("anchors", BUNDLED_ANCHORS))
    intermediates = tuple(cert for _, cert in _bundled("intermediates", BUNDLED_INTERMEDIATES))
    return TrustStore(anchors, intermediates)


def _refuse_if_others_can_write(path: Path) -> None:
    # Whoever can write here decides what is trusted: only the owner may.
    try:
        mode = path.stat().st_mode
    except OSError:
        return
    if mode & (stat.S_IWGRP | stat.S_IWOTH):
        raise InvalidInput(
            f"the operator trust configuration {path} is writable by other users; "
            f"nothing there is trusted until it is not (chmod go-w {path})"
        )


def default_store(directory: Path | None = None) -> TrustStore:
    """The bundled anchors with the operator's additions and removals (``directory``, else :func:`operator_dir`).

    :raises InvalidInput: when the directory, its ``anchors`` folder or a file in them is writable by
        other users than the owner (anyone could then make themselves trusted).
    """
    directory = operator_dir() if directory is None else directory
    store = bundled_store()
    added = directory / "anchors"
    for path in (directory, added, directory / "removed"):
        _refuse_if_others_can_write(path)
    if added.is_dir():
        for path in sorted(added.iterdir()):
            if path.suffix.lower() in (".pem", ".crt", ".cer", ".der"):
                _refuse_if_others_can_write(path)
                store = store.with_anchors(load_certificates(path), source="operator", origin=str(path))
    removed = _removed(directory)
    if removed:
        kept = tuple(a for a in store.anchors if a.sha256 not in removed)
        store = TrustStore(kept, store.intermediates, tuple(sorted(removed)))
    return store


def resolve_store(
    trust: TrustSource | Iterable[TrustSource] | None = None,
    trust_only: TrustSource | Iterable[TrustSource] | None = None,
) -> TrustStore:
    """The store one verification uses: ``trust_only`` given → exactly those; else the default store plus ``trust``."""
    if trust_only is not None:
        certs = load_certificates(trust_only)
        if not certs:
            raise InvalidInput("--trust-only was given no certificate")
        return TrustStore(()).with_anchors(certs, source="caller")
    store = default_store()
    extra = load_certificates(trust)
    return store.with_anchors(extra, source="caller") if extra else store


def resolve_anchors(
    trust: TrustSource | Iterable[TrustSource] | None = None,
    trust_only: TrustSource | Iterable[TrustSource] | None = None,
) -> list[x509.Certificate]:
    """The anchors one verification trusts: ``trust_only`` given → exactly those; else the default store + ``trust``."""
    return resolve_store(trust, trust_only).certificates()


def add_operator_anchor(source: TrustSource, directory: Path | None = None) -> list[Anchor]:
    """Copy the certificates of ``source`` into the operator directory (``anchors/<sha256>.pem``)."""
    from cryptography.hazmat.primitives.serialization import Encoding

    directory = operator_dir() if directory is None else directory
    target = directory / "anchors"
    target.mkdir(mode=0o755, parents=True, exist_ok=True)
    added = []
    for cert in load_certificates(source):
        path = target / f"{fingerprint(cert)}.pem"
        path.write_bytes(cert.public_bytes(Encoding.PEM))
        path.chmod(0o644)
        added.append(Anchor(cert, "operator", str(path)))
        _unremove(directory, fingerprint(cert))
    return added


def _unremove(directory: Path, pin: str) -> None:
    path = directory / "removed"
    if path.is_file():
        lines = path.read_text().splitlines()
        kept = [line for line in lines if line.split("#", 1)[0].strip().lower().replace(":", "") != pin]
        path.write_text("".join(line + "\n" for line in kept))


def remove_operator_anchor(pin: str, directory: Path | None = None) -> str:
    """Stop trusting the anchor whose SHA-256 fingerprint is ``pin`` (a bundled one too); returns its name."""
    directory = operator_dir() if directory is None else directory
    pin = pin.strip().lower().replace(":", "")
    match = next((a for a in default_store(directory).anchors if a.sha256 == pin), None)
    if match is None:
        raise InvalidInput(f"no trusted anchor has the SHA-256 fingerprint {pin}")
    if match.source == "operator":
        Path(match.origin).unlink(missing_ok=True)
    if match.source == "bundled" or any(a.sha256 == pin for a in default_store(directory).anchors):
        directory.mkdir(parents=True, exist_ok=True)
        with (directory / "removed").open("a") as out:
            out.write(f"{pin}  # {match.name}\n")
    return match.name
