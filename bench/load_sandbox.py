"""The people and systems a load run needs, made through the server's own services (as an admin would).

Relying systems (``sessions`` and ``csc`` scopes), users with one credential each (P-256 or RSA-2048)
and several paired phones each (enrolled and activated with a first TOTP code, like a real pairing),
and a few organization identifier codes to look up.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyotp
from cryptography import x509
from esign_server.config import Settings


@dataclass
class Phone:
    """A paired device: its bearer token, TOTP secret (base32) and the last time step it used."""

    token: str
    secret: str
    last_step: int
    busy: bool = False

    def code(self, step: int) -> str:
        """The TOTP code of ``step`` (pyotp; RFC 6238, SHA-1, 6 digits, 30 s)."""
        return pyotp.TOTP(self.secret).at(step * 30)


@dataclass
class Holder:
    """A user with one credential and the phones that confirm for them."""

    user_id: str
    credential_id: str
    key_algorithm: str
    certificate_pem: str
    phones: list[Phone]
    _public_key: Any = field(default=None, repr=False)

    @property
    def public_key(self) -> Any:
        """The credential's public key (from its certificate)."""
        if self._public_key is None:
            self._public_key = x509.load_pem_x509_certificate(self.certificate_pem.encode()).public_key()
        return self._public_key

    def free_phone(self) -> tuple[Phone, int] | None:
        """A phone not in use with a time step it has not used yet (now or the next one), reserved."""
        now = int(time.time()) // 30
        for phone in self.phones:
            if phone.busy:
                continue
            # Only ``now`` and ``now + 1``: both stay inside the server's +-1 step window even if its
            # clock crosses a step boundary before the request arrives.
            step = max(phone.last_step + 1, now)
            if step <= now + 1:
                phone.busy = True
                phone.last_step = step
                return phone, step
        return None


@dataclass
class RelyingParty:
    """A relying system's client credentials (and its access token once fetched)."""

    name: str
    client_id: str
    client_secret: str
    token: str = ""

    @property
    def headers(self) -> dict[str, str]:
        """The bearer header."""
        return {"Authorization": f"Bearer {self.token}"}


@dataclass
class Sandbox:
    """Everything a load run uses."""

    systems: list[RelyingParty]
    holders: list[Holder]
    org_codes: list[str]


def settings_for(env: dict[str, str]) -> Settings:
    """The server's settings from a :func:`load_server.server_env` environment."""
    values: dict[str, Any] = {
        "dev_mode": True,
        "database_url": env["ESIGN_DATABASE_URL"],
        "var_dir": Path(env["ESIGN_VAR_DIR"]),
        "public_url": env["ESIGN_PUBLIC_URL"],
        "log_level": "WARNING",
    }
    for name in ("keystore", "pkcs11_token_label", "pkcs11_pin", "pkcs11_module"):
        if f"ESIGN_{name.upper()}" in env:
            values[name] = env[f"ESIGN_{name.upper()}"]
    return Settings(_env_file=None, **values)


def build_sandbox(
    env: dict[str, str], *, systems: int, users: int, phones_per_user: int, rsa_every: int = 4
) -> Sandbox:
    """Migrate and initialise the database of ``env``, then make the systems, users, phones and codes.

    Every ``rsa_every``-th user gets an RSA-2048 credential, the others ECDSA P-256.
    """
    from esign_server.cli import prepare
    from esign_server.context import ServerContext
    from esign_server.services import clients, credentials, devices, grants, identity, orgids
    from esign_server.services import users as user_service

    settings = settings_for(env)
    prepare(settings)
    ctx = ServerContext(settings)
    try:
        parties = []
        for n in range(systems):
            new = clients.create_client(ctx, name=f"Hệ thống {n + 1}", scopes=["sessions", "csc"], actor="load")
            parties.append(RelyingParty(new.client.name, new.client.id, new.client_secret))
        holders = []
        for n in range(users):
            user = user_service.create_user(
                ctx, full_name=f"Người dùng {n + 1}", cccd=f"0010950{n:05d}", email=f"u{n}@example.vn", actor="load"
            )
            # An admin records how the holder's identity was checked before a credential is issued.
            identity.record_verification(
                ctx, user_id=user.id, evidence=identity.InPersonDocument("CCCD", user.cccd or ""), actor="load"
            )
            kind = "rsa2048" if rsa_every and n % rsa_every == rsa_every - 1 else "p256"
            cred = credentials.issue_credential(ctx, user_id=user.id, key_algorithm=kind, actor="load")
            for party in parties:  # the user authorises every relying system of the sandbox
                grants.grant(ctx, client_id=party.client_id, user_id=user.id, actor="load")
            cert = credentials.certificate_of(cred)
            assert cert is not None
            from cryptography.hazmat.primitives.serialization import Encoding

            phones = []
            for k in range(phones_per_user):
                enrollment = devices.start_enrollment(ctx, user_id=user.id, device_name=f"phone {k}", actor="load")
                step = int(time.time()) // 30
                _, token = devices.activate(
                    ctx,
                    enrollment_token=enrollment.enrollment_token,
                    code=pyotp.TOTP(enrollment.secret_b32).at(step * 30),
                    actor="load",
                )
                phones.append(Phone(token, enrollment.secret_b32, step))
            holders.append(Holder(user.id, cred.id, kind, cert.public_bytes(Encoding.PEM).decode(), phones))
        codes = ["H49"]
        for name in ("Sở Nội vụ", "Sở Tài chính", "Sở Tư pháp"):
            codes.append(orgids.issue_code(ctx, parent="H49", name=name, actor="load").code)
        return Sandbox(parties, holders, codes)
    finally:
        ctx.close()


__all__ = ["Holder", "Phone", "RelyingParty", "Sandbox", "build_sandbox", "settings_for"]
