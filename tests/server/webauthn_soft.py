"""A software WebAuthn authenticator for API tests: builds registration (``none`` attestation) and
assertion answers the way a browser hands them over (``PublicKeyCredential.toJSON()``), with a P-256
key, a signature counter we control, and the user-verification flag on or off."""

from __future__ import annotations

import base64
import hashlib
import json
import os
from typing import Any

import cbor2
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

UP, UV, AT = 0x01, 0x04, 0x40


def b64url(data: bytes) -> str:
    """base64url without padding, as WebAuthn's JSON forms use."""
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


class SoftAuthenticator:
    """One passkey: a P-256 key pair and a credential id, scoped to ``rp_id``, answering for ``origin``."""

    def __init__(self, rp_id: str, origin: str) -> None:
        self.rp_id, self.origin = rp_id, origin
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.credential_id = os.urandom(16)
        self.counter = 0

    @property
    def id(self) -> str:
        """The credential id, base64url."""
        return b64url(self.credential_id)

    def _cose_key(self) -> bytes:
        numbers = self.key.public_key().public_numbers()
        return cbor2.dumps({1: 2, 3: -7, -1: 1, -2: numbers.x.to_bytes(32, "big"), -3: numbers.y.to_bytes(32, "big")})

    def _auth_data(self, flags: int, counter: int, attested: bool = False) -> bytes:
        data = hashlib.sha256(self.rp_id.encode()).digest() + bytes([flags]) + counter.to_bytes(4, "big")
        if attested:
            data += bytes(16) + len(self.credential_id).to_bytes(2, "big") + self.credential_id + self._cose_key()
        return data

    def register(self, options: dict[str, Any], *, uv: bool = True) -> dict[str, Any]:
        """Answer registration options (``{"challenge_id", "public_key"}``) with ``none`` attestation."""
        client_data = json.dumps(
            {"type": "webauthn.create", "challenge": options["public_key"]["challenge"], "origin": self.origin}
        ).encode()
        flags = UP | AT | (UV if uv else 0)
        attestation = cbor2.dumps({"fmt": "none", "attStmt": {}, "authData": self._auth_data(flags, 0, True)})
        return {
            "id": self.id,
            "rawId": self.id,
            "type": "public-key",
            "response": {"clientDataJSON": b64url(client_data), "attestationObject": b64url(attestation)},
            "clientExtensionResults": {},
        }

    def assertion(
        self, challenge: str, *, uv: bool = True, counter: int | None = None, origin: str | None = None
    ) -> dict[str, Any]:
        """Sign ``challenge`` (base64url, from the options): the counter moves forward unless given."""
        if counter is None:
            self.counter += 1
            counter = self.counter
        client_data = json.dumps(
            {"type": "webauthn.get", "challenge": challenge, "origin": origin or self.origin}
        ).encode()
        auth_data = self._auth_data(UP | (UV if uv else 0), counter)
        signature = self.key.sign(auth_data + hashlib.sha256(client_data).digest(), ec.ECDSA(hashes.SHA256()))
        return {
            "id": self.id,
            "rawId": self.id,
            "type": "public-key",
            "response": {
                "clientDataJSON": b64url(client_data),
                "authenticatorData": b64url(auth_data),
                "signature": b64url(signature),
                "userHandle": None,
            },
            "clientExtensionResults": {},
        }
