"""The PKCS#11 keystore: credential keys generated on an HSM (SoftHSM2 in tests), never extractable.

The database keeps only the key's label (the credential id). One session is opened and kept for the
process; signatures on it are serialised by a lock (PKCS#11 sessions are not thread-safe), and key
handles are looked up once per key.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from threading import Lock
from typing import Any

from asn1crypto import algos

from esign.algorithms import SignatureAlgorithm, SignatureScheme
from esign.errors import InvalidInput, KeyAccessError, SigningError
from esign.signers.pkcs11 import PKCS11Token, generate_keypair
from esign_server.keystore import GeneratedKey, check_key_algorithm

try:
    from pkcs11 import Attribute, Mechanism, ObjectClass
    from pkcs11 import exceptions as p11err
    from pkcs11.util.ec import encode_ecdsa_signature
except ImportError as _exc:  # pragma: no cover - only without the extra
    from esign.errors import MissingExtra

    raise MissingExtra("the PKCS#11 keystore", "pkcs11") from _exc


class PKCS11KeyStore:
    """Keys on one PKCS#11 token, addressed by label (= credential id)."""

    name = "pkcs11"

    def __init__(self, lib_path: str, *, token_label: str, pin: str) -> None:
        self.token = PKCS11Token(label=token_label, pin=pin, lib_path=lib_path)
        self._lock = Lock()
        self._stack: contextlib.ExitStack | None = None
        self._session: Any = None
        self._keys: dict[str, Any] = {}

    def _open(self) -> Any:
        if self._session is None:
            stack = contextlib.ExitStack()
            self._session = stack.enter_context(self.token.session(rw=True))
            self._stack = stack
        return self._session

    def close(self) -> None:
        """Close the kept session."""
        with self._lock:
            if self._stack is not None:
                self._stack.close()
            self._stack, self._session = None, None
            self._keys.clear()

    def generate(self, key_id: str, algorithm: str) -> GeneratedKey:
        """Generate a non-extractable key pair on the token, labelled ``key_id``."""
        check_key_algorithm(algorithm)
        with self._lock:
            public_key = generate_keypair(self._open(), key_id, algorithm, key_id=key_id.encode())  # type: ignore[arg-type]
        return GeneratedKey(public_key, key_id.encode())

    def _key(self, label: str) -> Any:
        key = self._keys.get(label)
        if key is None:
            try:
                key = self._open().get_key(object_class=ObjectClass.PRIVATE_KEY, label=label)
            except p11err.NoSuchKey:
                raise KeyAccessError(f"no key {label!r} on token {self.token.label!r}") from None
            self._keys[label] = key
        return key

    def destroy(self, key_id: str, key_ref: bytes) -> None:
        """Delete the key pair from the token: nothing can sign with it any more (erasure)."""
        label = key_ref.decode()
        with self._lock:
            self._keys.pop(label, None)
            session = self._open()
            for obj in list(session.get_objects({Attribute.LABEL: label})):
                obj.destroy()

    def sign_digest(self, key_id: str, key_ref: bytes, digest: bytes, algorithm: SignatureAlgorithm) -> bytes:
        """Sign on the token: ECDSA over the bare digest, RSA PKCS#1 v1.5 over the DigestInfo."""
        label = key_ref.decode()
        if algorithm.scheme is SignatureScheme.ECDSA:
            mechanism, data = Mechanism.ECDSA, digest
        elif algorithm.scheme is SignatureScheme.RSA_PKCS1V15:
            info = algos.DigestInfo({"digest_algorithm": {"algorithm": algorithm.digest.value}, "digest": digest})
            mechanism, data = Mechanism.RSA_PKCS, info.dump()
        else:
            raise InvalidInput(f"the PKCS#11 keystore does not sign {algorithm.scheme.value}")
        with self._lock:
            try:
                raw: bytes = self._key(label).sign(data, mechanism=mechanism)
            except p11err.PKCS11Error as exc:
                # The session may be gone (token reset): reopen once.
                self._keys.clear()
                self._session, stack, self._stack = None, self._stack, None
                if stack is not None:
                    with contextlib.suppress(Exception):
                        stack.close()
                try:
                    raw = self._key(label).sign(data, mechanism=mechanism)
                except p11err.PKCS11Error:
                    raise SigningError(f"token {self.token.label!r} failed to sign: {exc!r}") from None
        return encode_ecdsa_signature(raw) if algorithm.scheme is SignatureScheme.ECDSA else raw

    def sign_digests(
        self, key_id: str, key_ref: bytes, digests: Sequence[bytes], algorithm: SignatureAlgorithm
    ) -> list[bytes]:
        """Sign each digest on the token, in order (the token signs one at a time)."""
        return [self.sign_digest(key_id, key_ref, digest, algorithm) for digest in digests]
