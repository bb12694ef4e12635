"""Keys in an HSM or smart card, over PKCS#11 (SoftHSM2 in tests).

The signer opens one session per signer and logs in once; every signature after that is a single
``C_SignInit``/``C_Sign`` on the key handle found at start. Opening a session and logging in per
signature halves the throughput on SoftHSM2 (see ``bench/signers_pkcs11.py``).

The token only ever sees a digest: RSA PKCS#1 v1.5 gets the DER ``DigestInfo`` built here
(``CKM_RSA_PKCS``), RSA-PSS gets ``CKM_RSA_PKCS_PSS`` with the hash, MGF1 and salt = digest length,
ECDSA gets the bare digest (``CKM_ECDSA``) and its raw ``r || s`` answer is turned into DER.

Every failure reaching a caller is an :mod:`esign.errors` class naming what to fix; no raw
``pkcs11`` exception escapes. Needs the ``pkcs11`` extra (``python-pkcs11``).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import os
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from esign.algorithms import DigestAlgorithm, SignatureAlgorithm, SignatureScheme
from esign.errors import InvalidInput, KeyAccessError, MissingExtra, SigningError
from esign.signers.base import Signer

try:
    import pkcs11
    from pkcs11 import Attribute, KeyType, Mechanism, MechanismFlag, ObjectClass
    from pkcs11 import exceptions as p11err
    from pkcs11.util.ec import encode_ec_public_key, encode_named_curve_parameters
except ImportError as _exc:  # pragma: no cover - exercised only without the extra
    raise MissingExtra("PKCS#11 signing", "pkcs11") from _exc

LIBRARY_ENV = "ESIGN_PKCS11_LIB"
"""Environment variable naming the PKCS#11 library (``.so``) when none is given."""

SOFTHSM_CANDIDATES = (
    "/usr/lib/softhsm/libsofthsm2.so",
    "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",
    "/usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so",
    "/usr/local/lib/softhsm/libsofthsm2.so",
    "/usr/lib64/pkcs11/libsofthsm2.so",
    "/opt/homebrew/lib/softhsm/libsofthsm2.so",
)

KeyKind = Literal["rsa2048", "rsa3072", "p256", "p384"]
"""Key pairs :func:`generate_keypair` makes: RSA 2048/3072 bits, EC on NIST P-256/P-384."""

_CURVES: dict[str, str] = {"p256": "secp256r1", "p384": "secp384r1"}
_RSA_BITS: dict[str, int] = {"rsa2048": 2048, "rsa3072": 3072}

# DER prefix of DigestInfo { AlgorithmIdentifier { oid, NULL }, OCTET STRING (digest) } (RFC 8017, 9.2),
# so CKM_RSA_PKCS signs exactly what sha*WithRSAEncryption means, while the token sees only the hash.
_DIGEST_INFO_PREFIX: dict[DigestAlgorithm, bytes] = {
    DigestAlgorithm.SHA1: bytes.fromhex("3021300906052b0e03021a05000414"),
    DigestAlgorithm.SHA256: bytes.fromhex("3031300d060960864801650304020105000420"),
    DigestAlgorithm.SHA384: bytes.fromhex("3041300d060960864801650304020205000430"),
    DigestAlgorithm.SHA512: bytes.fromhex("3051300d060960864801650304020305000440"),
    DigestAlgorithm.SHA3_256: bytes.fromhex("3031300d060960864801650304020805000420"),
    DigestAlgorithm.SHA3_512: bytes.fromhex("3051300d060960864801650304020a05000440"),
}
# PSS parameters name the hash twice (CKM_SHA* for the message hash, CKG_MGF1_SHA* for the mask).
_PSS_HASHES: dict[DigestAlgorithm, tuple[Mechanism, pkcs11.MGF]] = {
    DigestAlgorithm.SHA1: (Mechanism.SHA_1, pkcs11.MGF.SHA1),
    DigestAlgorithm.SHA256: (Mechanism.SHA256, pkcs11.MGF.SHA256),
    DigestAlgorithm.SHA384: (Mechanism.SHA384, pkcs11.MGF.SHA384),
    DigestAlgorithm.SHA512: (Mechanism.SHA512, pkcs11.MGF.SHA512),
}
# Errors meaning "the session is gone" (token reset, library re-initialised, last session logged out):
# the signer reopens its session once and retries instead of failing the signature.
_SESSION_LOST: tuple[type[Exception], ...] = (
    p11err.SessionHandleInvalid,
    p11err.SessionClosed,
    p11err.UserNotLoggedIn,
    p11err.ObjectHandleInvalid,
    p11err.KeyHandleInvalid,
    p11err.DeviceRemoved,
    p11err.TokenNotPresent,
)


def default_library_path() -> str:
    """The PKCS#11 library to load: ``$ESIGN_PKCS11_LIB``, else the first SoftHSM2 found.

    Raises :class:`KeyAccessError` when neither is there.
    """
    configured = os.environ.get(LIBRARY_ENV)
    if configured:
        return configured
    for candidate in SOFTHSM_CANDIDATES:
        if Path(candidate).is_file():
            return candidate
    raise KeyAccessError(
        f"no PKCS#11 library given and none found: set {LIBRARY_ENV} to your HSM's .so "
        "or install SoftHSM2 (Debian: apt install softhsm2)"
    )


def load_library(lib_path: str | Path | None = None) -> Any:
    """Load (once per process) and initialise the PKCS#11 library at ``lib_path``."""
    path = str(lib_path) if lib_path is not None else default_library_path()
    if not Path(path).is_file():
        raise KeyAccessError(f"PKCS#11 library not found: {path}; give the path of your HSM's .so file")
    try:
        return pkcs11.lib(path)
    except p11err.PKCS11Error as exc:
        raise KeyAccessError(f"cannot load PKCS#11 library {path}: {exc}") from None


@dataclass(frozen=True)
class PKCS11Token:
    """Where a token is: the PKCS#11 library, the token label and the user PIN.

    >>> token = PKCS11Token(label="esign-keys", pin="1234")  # doctest: +SKIP
    >>> with token.session(rw=True) as session:               # doctest: +SKIP
    ...     generate_keypair(session, "signing-key", kind="p256")
    """

    label: str
    pin: str | None = field(default=None, repr=False)
    lib_path: str = field(default_factory=default_library_path)

    @contextmanager
    def session(self, *, rw: bool = False) -> Iterator[Any]:
        """A logged-in ``pkcs11.Session`` for the duration of a ``with`` block."""
        session, login = _acquire_session(self, rw=rw)
        try:
            yield session
        finally:
            _release_session(session, login)


@dataclass(eq=False)
class _Login:
    """The process's login to one token, held by an anchor session opened with the PIN.

    PKCS#11 login is per application and token, not per session: a second ``C_Login`` fails with
    ``CKR_USER_ALREADY_LOGGED_IN`` without looking at the PIN, and closing a logged-in session logs
    every session out. So one anchor session holds the login while any user needs it, the sessions
    the signers work on are opened without a PIN, and the PIN given by each later user is compared
    with the one that logged in (a wrong PIN is refused even though the token would not notice).
    """

    anchor: Any
    pin_mac: bytes
    users: int = 0


_PIN_MAC_KEY = os.urandom(32)
_logins: dict[tuple[str, str], _Login] = {}
_logins_lock = threading.Lock()


def _pin_mac(pin: str | None) -> bytes:
    return hmac.new(_PIN_MAC_KEY, (pin or "").encode(), hashlib.sha256).digest()


def _get_token(lib_path: str, token_label: str) -> Any:
    lib = load_library(lib_path)
    try:
        return lib.get_token(token_label=token_label)
    except p11err.NoSuchToken:
        present = sorted(t.label for t in lib.get_tokens() if t.label)
        raise KeyAccessError(
            f"no token labelled {token_label!r} in {lib_path}; tokens present: {present or 'none'}. "
            "Check the token label and that the token is plugged in and initialised",
            code="token_absent",
        ) from None
    except p11err.MultipleTokensReturned:
        raise KeyAccessError(f"several tokens are labelled {token_label!r}; give each a distinct label") from None
    except p11err.PKCS11Error as exc:
        raise KeyAccessError(f"cannot reach token {token_label!r}: {_describe(exc)}") from None


def login_error(exc: Exception, token_label: str) -> KeyAccessError:
    """The :class:`KeyAccessError` for a failed ``C_Login``/``C_OpenSession`` on ``token_label``."""
    if isinstance(exc, p11err.PinIncorrect | p11err.PinLenRange | p11err.PinInvalid):
        return KeyAccessError(f"wrong PIN for token {token_label!r}", code="wrong_pin")
    if isinstance(exc, p11err.PinLocked):
        return KeyAccessError(
            f"the user PIN of token {token_label!r} is locked after too many wrong attempts; "
            "the security officer must unblock it (e.g. pkcs11-tool --init-pin --login --login-type so)",
            code="pin_locked",
        )
    if isinstance(exc, p11err.PinExpired):
        return KeyAccessError(f"the user PIN of token {token_label!r} has expired; change it first")
    if isinstance(exc, p11err.UserPinNotInitialized):
        return KeyAccessError(
            f"token {token_label!r} has no user PIN yet; the security officer must set one (--init-pin)"
        )
    return KeyAccessError(f"cannot open a session on token {token_label!r}: {_describe(exc)}")


def _acquire_session(token: PKCS11Token, *, rw: bool) -> tuple[Any, _Login | None]:
    """Open a working session on ``token``, logging the process in first if nobody has."""
    handle = _get_token(token.lib_path, token.label)
    login: _Login | None = None
    if token.pin is not None:
        key = (token.lib_path, token.label)
        with _logins_lock:
            login = _logins.get(key)
            if login is None:
                try:
                    anchor = handle.open(user_pin=token.pin)
                except p11err.UserAlreadyLoggedIn:
                    # Logged in by code outside esign in this process: it holds the login, not us.
                    anchor = None
                except p11err.PKCS11Error as exc:
                    raise login_error(exc, token.label) from None
                login = _logins[key] = _Login(anchor=anchor, pin_mac=_pin_mac(token.pin))
            elif not hmac.compare_digest(login.pin_mac, _pin_mac(token.pin)):
                raise KeyAccessError(f"wrong PIN for token {token.label!r}", code="wrong_pin")
            login.users += 1
    try:
        return handle.open(rw=rw), login
    except p11err.PKCS11Error as exc:
        _release_session(None, login)
        raise login_error(exc, token.label) from None


def _login_alive(login: _Login | None) -> bool:
    """False when the anchor session holding the process's login is gone."""
    if login is None or login.anchor is None:
        return True
    try:
        login.anchor.generate_random(64)
    except (p11err.SessionHandleInvalid, p11err.SessionClosed, p11err.DeviceRemoved, p11err.TokenNotPresent):
        return False
    except p11err.PKCS11Error:
        return True  # e.g. a token without a random generator: no news about the session
    return True


def _release_session(session: Any, login: _Login | None, *, forget_login: bool = False) -> None:
    """Close a working session; the last user of a login (or a lost one) logs the process out."""
    if session is not None:
        _close_quietly(session)
    if login is None:
        return
    with _logins_lock:
        login.users -= 1
        current = [key for key, value in _logins.items() if value is login]
        if current and (login.users <= 0 or forget_login):
            del _logins[current[0]]
            if login.anchor is not None:
                _close_quietly(login.anchor)


def generate_keypair(
    target: Any,
    label: str,
    kind: KeyKind = "rsa2048",
    *,
    key_id: bytes | None = None,
) -> rsa.RSAPublicKey | ec.EllipticCurvePublicKey:
    """Generate a non-extractable signing key pair on a token and return its public key.

    ``target`` is a read/write ``pkcs11.Session`` or a :class:`PKCS11Token`. The private key is
    stored on the token as sensitive and non-extractable, usable only to sign; both halves get
    ``label`` and ``key_id`` (random 16 bytes when not given), so :func:`store_certificate` and
    :class:`PKCS11Signer` find them again. A label already used by a private key is refused.
    """
    if kind not in _RSA_BITS and kind not in _CURVES:
        raise InvalidInput(f"unknown key kind {kind!r}; choose one of rsa2048, rsa3072, p256, p384")
    with _session_of(target, rw=True) as session:
        if _find(session, ObjectClass.PRIVATE_KEY, label=label):
            raise InvalidInput(f"a private key labelled {label!r} already exists on the token")
        key_id = key_id if key_id is not None else os.urandom(16)
        private_template = {
            Attribute.TOKEN: True,
            Attribute.PRIVATE: True,
            Attribute.SENSITIVE: True,
            Attribute.EXTRACTABLE: False,
        }
        common: dict[str, Any] = {
            "id": key_id,
            "label": label,
            "store": True,
            "capabilities": MechanismFlag.SIGN | MechanismFlag.VERIFY,
            "private_template": private_template,
        }
        try:
            if kind in _RSA_BITS:
                public, _ = session.generate_keypair(KeyType.RSA, _RSA_BITS[kind], **common)
            else:
                params = encode_named_curve_parameters(_CURVES[kind])
                public, _ = session.generate_keypair(
                    KeyType.EC, public_template={Attribute.EC_PARAMS: params}, **common
                )
        except p11err.PKCS11Error as exc:
            raise KeyAccessError(f"the token could not generate a {kind} key pair: {_describe(exc)}") from None
        return _to_public_key(public)


def store_certificate(
    target: Any,
    certificate: x509.Certificate,
    label: str,
    *,
    key_id: bytes | None = None,
) -> None:
    """Store ``certificate`` on the token beside the key labelled ``label`` (same label and ID).

    ``key_id`` defaults to the ID of the private key labelled ``label``; the certificate must
    belong to that key. An existing certificate with the same label is replaced.
    """
    with _session_of(target, rw=True) as session:
        private = _find(session, ObjectClass.PRIVATE_KEY, label=label)
        if key_id is None:
            if not private:
                raise KeyAccessError(f"no private key labelled {label!r} on the token to attach the certificate to")
            key_id = bytes(private[0][Attribute.ID])
        if private and not _same_key(_token_public_key(session, private[0]), certificate.public_key()):
            raise InvalidInput(f"the certificate does not belong to the key labelled {label!r}")
        try:
            for old in _find(session, ObjectClass.CERTIFICATE, label=label):
                old.destroy()
            der = certificate.public_bytes(serialization.Encoding.DER)
            session.create_object(
                {
                    Attribute.CLASS: ObjectClass.CERTIFICATE,
                    Attribute.CERTIFICATE_TYPE: pkcs11.CertificateType.X_509,
                    Attribute.TOKEN: True,
                    Attribute.PRIVATE: False,
                    Attribute.LABEL: label,
                    Attribute.ID: key_id,
                    Attribute.SUBJECT: certificate.subject.public_bytes(),
                    Attribute.ISSUER: certificate.issuer.public_bytes(),
                    Attribute.VALUE: der,
                }
            )
        except p11err.PKCS11Error as exc:
            raise KeyAccessError(f"the token refused to store the certificate: {_describe(exc)}") from None


def find_public_key(
    target: Any, *, label: str | None = None, key_id: bytes | None = None
) -> rsa.RSAPublicKey | ec.EllipticCurvePublicKey:
    """The public key of the key pair labelled ``label`` (or with ``key_id``) on a token.

    ``target`` is a ``pkcs11.Session`` or a :class:`PKCS11Token`. Reads the public-key object,
    or for RSA the private key's modulus when the token holds no public-key object.
    """
    if label is None and key_id is None:
        raise InvalidInput("give label or key_id to say which key")
    with _session_of(target, rw=False) as session:
        publics = _find(session, ObjectClass.PUBLIC_KEY, label=label, key_id=key_id)
        if len(publics) == 1:
            return _to_public_key(publics[0])
        privates = _find(session, ObjectClass.PRIVATE_KEY, label=label, key_id=key_id)
        found = _token_public_key(session, privates[0]) if len(privates) == 1 else None
        if found is None:
            name = repr(label) if label is not None else f"with ID {key_id.hex() if key_id else ''}"
            raise KeyAccessError(f"no single public key {name} on the token")
        return found


class PKCS11Signer(Signer):
    """A signer whose private key stays in a PKCS#11 token.

    >>> signer = PKCS11Signer(token_label="esign", pin="1234", key_label="signing-key")  # doctest: +SKIP
    >>> signature = await signer.sign_digest(digest)                                     # doctest: +SKIP
    >>> await signer.aclose()                                                            # doctest: +SKIP

    ``lib_path`` defaults to :func:`default_library_path` (the library is loaded from where it
    stands, so give a trusted path). The key is found by ``key_label`` or
    ``key_id`` (or both); the certificate is read from the token (same label/ID) unless given.
    One session is opened here and kept; signatures on it are serialised by a lock. With
    ``offload=True`` (the default) each signature runs in a worker thread, so a slow or remote HSM
    never stalls the event loop; ``offload=False`` signs on the loop's thread, 2-3 times the async
    throughput for a fast local token (SoftHSM2 ECDSA P-256: ~4,000/s offloaded, ~10,000/s inline).
    """

    def __init__(
        self,
        lib_path: str | Path | None = None,
        *,
        token_label: str,
        pin: str | None,
        key_label: str | None = None,
        key_id: bytes | None = None,
        certificate: x509.Certificate | None = None,
        chain: Sequence[x509.Certificate] = (),
        allow_weak: bool = False,
        allow_weak_keys: bool = False,
        offload: bool = True,
    ) -> None:
        if key_label is None and key_id is None:
            raise InvalidInput("give key_label or key_id to say which key on the token signs")
        path = str(lib_path) if lib_path is not None else default_library_path()
        self.token = PKCS11Token(label=token_label, pin=pin, lib_path=path)
        self.key_label = key_label
        self.key_id = key_id
        self.offload = offload
        self._lock = threading.Lock()
        self._session: Any = None
        self._login: _Login | None = None
        self._key: Any = None
        try:
            self._connect()
            token_public = _token_public_key(self._session, self._key)
            if certificate is None:
                certificate = self._certificate_from_token()
            if token_public is not None and not _same_key(token_public, certificate.public_key()):
                raise InvalidInput(f"the certificate does not match the key {self._key_name} on the token")
            super().__init__(certificate, chain, allow_weak=allow_weak, allow_weak_keys=allow_weak_keys)
        except BaseException:
            self._disconnect()
            raise

    @property
    def _key_name(self) -> str:
        if self.key_label is not None:
            return repr(self.key_label)
        return f"with ID {self.key_id.hex() if self.key_id else ''}"

    def _connect(self) -> None:
        """Open the session and find the private key (once, and again only if the session is lost)."""
        self._session, self._login = _acquire_session(self.token, rw=False)
        keys = _find(self._session, ObjectClass.PRIVATE_KEY, label=self.key_label, key_id=self.key_id)
        if not keys and not _login_alive(self._login):
            # The process's login died under us (token reset, library re-initialised): log in afresh.
            self._disconnect(forget_login=True)
            self._session, self._login = _acquire_session(self.token, rw=False)
            keys = _find(self._session, ObjectClass.PRIVATE_KEY, label=self.key_label, key_id=self.key_id)
        if not keys:
            self._disconnect()
            raise KeyAccessError(
                f"no private key {self._key_name} on token {self.token.label!r}; check the key label/ID "
                "(pkcs11-tool --list-objects --login shows them)"
            )
        if len(keys) > 1:
            self._disconnect()
            raise KeyAccessError(
                f"{len(keys)} private keys match {self._key_name} on token {self.token.label!r}; "
                "give key_id to pick one"
            )
        self._key = keys[0]

    def _disconnect(self, *, forget_login: bool = False) -> None:
        session, login = self._session, self._login
        self._session, self._login, self._key = None, None, None
        if session is not None:
            _release_session(session, login, forget_login=forget_login)

    def _certificate_from_token(self) -> x509.Certificate:
        key_id = bytes(self._key[Attribute.ID]) if self.key_id is None else self.key_id
        certs = _find(self._session, ObjectClass.CERTIFICATE, key_id=key_id) if key_id else []
        if not certs and self.key_label is not None:
            certs = _find(self._session, ObjectClass.CERTIFICATE, label=self.key_label)
        if not certs:
            raise KeyAccessError(
                f"no certificate for key {self._key_name} on token {self.token.label!r}; "
                "pass certificate= or store it on the token (esign.signers.pkcs11.store_certificate)"
            )
        return x509.load_der_x509_certificate(bytes(certs[0][Attribute.VALUE]))

    async def _sign_digest(self, digest: bytes, algorithm: SignatureAlgorithm) -> bytes:
        if self.offload:
            return await asyncio.to_thread(self.sign_digest_blocking, digest, algorithm)
        return self.sign_digest_blocking(digest, algorithm)

    def sign_digest_blocking(self, digest: bytes, algorithm: SignatureAlgorithm) -> bytes:
        """Sign an already-checked digest on the calling thread (what :meth:`sign_digest` runs).

        Prefer :meth:`sign_digest`, which enforces the algorithm policy first.
        """
        mechanism, param, data = _mechanism(algorithm, digest)
        with self._lock:
            for attempt in (1, 2):
                if self._session is None:
                    self._connect()
                try:
                    raw: bytes = self._key.sign(data, mechanism=mechanism, mechanism_param=param)
                    break
                except _SESSION_LOST as exc:
                    # A lost working session alone keeps the login; a lost login is made again.
                    login_lost = isinstance(exc, p11err.UserNotLoggedIn) or not _login_alive(self._login)
                    self._disconnect(forget_login=login_lost)
                    if attempt == 2:
                        raise SigningError(
                            f"token {self.token.label!r} lost the session twice: {_describe(exc)}"
                        ) from None
                except p11err.MechanismInvalid:
                    raise SigningError(
                        f"token {self.token.label!r} does not support {mechanism.name} for {algorithm.name}"
                    ) from None
                except p11err.PKCS11Error as exc:
                    raise SigningError(f"token {self.token.label!r} failed to sign: {_describe(exc)}") from None
        if algorithm.scheme is SignatureScheme.ECDSA:
            # PKCS#11 answers r || s, each half the length; X.509/CMS want DER ECDSA-Sig-Value.
            half = len(raw) // 2
            return encode_dss_signature(int.from_bytes(raw[:half], "big"), int.from_bytes(raw[half:], "big"))
        return raw

    def close(self) -> None:
        """Close the PKCS#11 session (the signer reopens it if used again)."""
        with self._lock:
            self._disconnect()

    async def aclose(self) -> None:
        """Close the PKCS#11 session."""
        await asyncio.to_thread(self.close)


def _mechanism(algorithm: SignatureAlgorithm, digest: bytes) -> tuple[Mechanism, Any, bytes]:
    """The PKCS#11 mechanism, its parameter and the bytes the token signs, for a digest."""
    if algorithm.scheme is SignatureScheme.RSA_PKCS1V15:
        prefix = _DIGEST_INFO_PREFIX.get(algorithm.digest)
        if prefix is None:
            raise InvalidInput(f"RSA PKCS#1 v1.5 over {algorithm.digest.value} is not supported on tokens")
        return Mechanism.RSA_PKCS, None, prefix + digest
    if algorithm.scheme is SignatureScheme.RSA_PSS:
        hashes = _PSS_HASHES.get(algorithm.digest)
        if hashes is None:
            raise InvalidInput(f"RSA-PSS over {algorithm.digest.value} is not supported on tokens")
        return Mechanism.RSA_PKCS_PSS, (hashes[0], hashes[1], algorithm.digest.digest_size), digest
    if algorithm.scheme is SignatureScheme.ECDSA:
        return Mechanism.ECDSA, None, digest
    raise InvalidInput(f"{algorithm.scheme.value} is not supported on PKCS#11 tokens")


def _find(
    session: Any, object_class: ObjectClass, *, label: str | None = None, key_id: bytes | None = None
) -> list[Any]:
    attrs: dict[Attribute, Any] = {Attribute.CLASS: object_class}
    if label is not None:
        attrs[Attribute.LABEL] = label
    if key_id is not None:
        attrs[Attribute.ID] = key_id
    try:
        return list(session.get_objects(attrs))
    except p11err.PKCS11Error as exc:
        raise KeyAccessError(f"cannot search the token: {_describe(exc)}") from None


def _token_public_key(session: Any, private_key: Any) -> rsa.RSAPublicKey | ec.EllipticCurvePublicKey | None:
    """The public half of ``private_key`` as the token knows it, or None when it cannot tell."""
    try:
        if private_key.key_type is KeyType.RSA:
            modulus = int.from_bytes(private_key[Attribute.MODULUS], "big")
            exponent = int.from_bytes(private_key[Attribute.PUBLIC_EXPONENT], "big")
            return rsa.RSAPublicNumbers(exponent, modulus).public_key()
        key_id = bytes(private_key[Attribute.ID])
    except p11err.PKCS11Error:
        return None
    # An EC private key does not carry its point; the public key object with the same ID does.
    publics = _find(session, ObjectClass.PUBLIC_KEY, key_id=key_id) if key_id else []
    if len(publics) != 1:
        return None
    try:
        return _to_public_key(publics[0])
    except p11err.PKCS11Error:
        return None


def _to_public_key(public: Any) -> rsa.RSAPublicKey | ec.EllipticCurvePublicKey:
    """A token public-key object as a :mod:`cryptography` public key."""
    if public.key_type is KeyType.RSA:
        modulus = int.from_bytes(public[Attribute.MODULUS], "big")
        exponent = int.from_bytes(public[Attribute.PUBLIC_EXPONENT], "big")
        return rsa.RSAPublicNumbers(exponent, modulus).public_key()
    key = serialization.load_der_public_key(encode_ec_public_key(public))
    if not isinstance(key, ec.EllipticCurvePublicKey):
        raise KeyAccessError(f"unexpected public key type {type(key).__name__} on the token")
    return key


def _same_key(a: object, b: object) -> bool:
    if a is None:
        return True
    encoding, fmt = serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    try:
        return bool(a.public_bytes(encoding, fmt) == b.public_bytes(encoding, fmt))  # type: ignore[attr-defined]
    except AttributeError:
        return False


@contextmanager
def _session_of(target: Any, *, rw: bool) -> Iterator[Any]:
    """Use ``target`` if it is a session; open (and close) one if it is a :class:`PKCS11Token`."""
    if isinstance(target, PKCS11Token):
        with target.session(rw=rw) as session:
            yield session
    else:
        yield target


def _close_quietly(session: Any) -> None:
    # A session that is already gone (token reset, library finalised) needs no closing.
    try:
        session.close()
    except p11err.PKCS11Error:
        pass


def _describe(exc: Exception) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


__all__ = [
    "LIBRARY_ENV",
    "KeyKind",
    "PKCS11Signer",
    "PKCS11Token",
    "default_library_path",
    "find_public_key",
    "generate_keypair",
    "load_library",
    "login_error",
    "store_certificate",
]
