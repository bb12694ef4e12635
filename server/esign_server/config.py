"""Settings from the environment (prefix ``ESIGN_``) and an ``.env`` file.

Outside dev mode the service refuses to start with any of the shipped default secrets: a key that
is printed in the source code protects nothing.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import os
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from esign.errors import InvalidInput

# Dev-only values: known to everyone, so refused outside dev mode.
DEV_MASTER_KEY = base64.b64encode(b"esign-dev-master-key-NOT-SECRET!").decode()
DEV_TOKEN_SECRET = "esign-dev-token-secret-NOT-SECRET-change-me"  # noqa: S105 - refused outside dev mode
DEV_PKI_PASSWORD = "esign-dev"  # noqa: S105 - refused outside dev mode
DEV_PKCS11_PIN = "1234"


def default_var_dir() -> Path:
    """The one place the server keeps its state when ``ESIGN_VAR_DIR`` is not set.

    ``var/`` of the source checkout this package runs from (``make run``, ``pip install -e .``), else
    ``$XDG_DATA_HOME/esign`` (``~/.local/share/esign``): never a folder relative to where a command
    happens to run, so an admin command from another folder finds the same database.
    """
    root = Path(__file__).resolve().parents[2]
    if (root / "pyproject.toml").is_file() and (root / "esign" / "__init__.py").is_file():
        return root / "var"
    data_home = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(data_home) / "esign"


class Settings(BaseSettings):
    """Every knob of the service. Environment variables are ``ESIGN_<NAME>`` (e.g. ``ESIGN_DEV_MODE=1``)."""

    model_config = SettingsConfigDict(env_prefix="ESIGN_", env_file=".env", extra="ignore")

    dev_mode: bool = False
    """Development mode: allows the default secrets and the ``demo`` command."""
    database_url: str = ""
    """SQLAlchemy URL; ``postgresql://`` is normalised to the psycopg 3 driver. Default: the SQLite
    file ``esign.db`` in :attr:`var_dir`, as an absolute path."""
    master_key: str = DEV_MASTER_KEY
    """Base64 (or hex) of 32 bytes: wraps private keys, TOTP secrets and webhook secrets (AES-256-GCM)."""
    token_secret: str = DEV_TOKEN_SECRET
    """HMAC key of the access tokens handed to relying systems (at least 32 characters)."""
    public_url: str = "http://127.0.0.1:8750"
    """The URL the service is reached at: used in certificates (OCSP/CRL/CA links) and pairing links."""
    host: str = "127.0.0.1"
    port: int = 8750
    var_dir: Path = Field(default_factory=default_var_dir)
    """State on disk (default :func:`default_var_dir`)."""
    pki_dir: Path | None = None
    """Directory of the service CA (default ``<var_dir>/pki``); created from the dev PKI by ``init``."""
    pki_password: str = DEV_PKI_PASSWORD
    keystore: Literal["software", "pkcs11"] = "software"
    pkcs11_module: str = "/usr/lib/softhsm/libsofthsm2.so"
    pkcs11_token_label: str = "esign"  # noqa: S105 - a label, not a secret
    pkcs11_pin: str = DEV_PKCS11_PIN
    session_ttl_seconds: int = Field(300, ge=10, le=86_400)
    """How long a signing session waits for the user's confirmation (default 5 minutes)."""
    access_token_ttl_seconds: int = Field(3600, ge=60, le=86_400)
    enrollment_ttl_seconds: int = Field(900, ge=60, le=7 * 86_400)
    otp_max_attempts: int = Field(5, ge=1, le=20)
    """Wrong codes after which a session fails."""
    device_lock_threshold: int = Field(5, ge=1, le=100)
    """Consecutive wrong codes sent through one relying system for one user, after which that relying
    system is locked out of that user (the user's phone and the other relying systems are not)."""
    device_lock_base_seconds: int = Field(60, ge=1)
    """First lockout; each further lockout doubles it (capped at a day)."""
    otp_lock_decay_seconds: int = Field(86_400, ge=60)
    """A day without wrong codes (or a correct code) forgets earlier lockouts: the next one is short again."""
    otp_user_max_failures: int = Field(10, ge=2, le=1000)
    """User-wide ceiling on wrong codes per window, all relying systems together: past it, codes are
    answered 429 with Retry-After until the window ends (slowed, never locked). Kept above
    ``device_lock_threshold`` so one relying system alone can never reach it."""
    otp_user_window_seconds: int = Field(300, ge=30, le=86_400)
    max_pending_per_client_user: int = Field(10, ge=1, le=1000)
    """Pending requests one relying system may have open for one user; more are answered 429."""
    max_sessions_per_client_user_per_hour: int = Field(300, ge=0, le=100_000)
    """Requests (sessions and CSC authorizations) one relying system may make of one user per hour; more
    are answered 429 with Retry-After. 0: no hourly limit (benchmarks)."""
    long_poll_max_seconds: float = Field(60.0, ge=0, le=300)
    max_body_bytes: int = Field(25 * 1024 * 1024, ge=1024)
    max_items_per_session: int = Field(100, ge=1, le=10_000)
    webhook_timeout_seconds: float = 5.0
    webhook_allowed_networks: list[str] = Field(default_factory=list)
    """Networks (CIDR) webhooks may reach although they are loopback, private or link-local (e.g. a
    receiver on the operator's own LAN); everything else of that kind is refused, checked on the
    address each delivery connects to."""
    webhook_max_attempts: int = Field(12, ge=1, le=100)
    """Attempts before a webhook is given up (backoff 30 s doubling, at most an hour: about 9 hours)."""
    webhook_concurrency_per_client: int = Field(2, ge=1, le=64)
    """Deliveries in flight per relying system (per worker): one slow receiver cannot hold the others'."""
    webhook_workers: int = Field(8, ge=1, le=256)
    exchange_node_code: str | None = None
    """Organization code of this document exchange node (its edXML trace hops); unset: no exchange API."""
    exchange_max_package_bytes: int = Field(20 * 1024 * 1024, ge=1024)
    """Largest edXML package the exchange node takes (also bounded by ``max_body_bytes``)."""
    exchange_peer_timeout_seconds: float = Field(30.0, gt=0)
    exchange_retry_first_seconds: float = Field(30.0, gt=0)
    """First wait before a failed peer delivery is tried again; doubles each time up to the maximum."""
    exchange_retry_max_seconds: float = Field(3600.0, gt=0)
    exchange_max_attempts: int = Field(20, ge=1, le=1000)
    """Attempts before a peer delivery is given up (recorded as failed in the package's history)."""
    exchange_tls_cert: Path | None = None
    """Client certificate (PEM) this node presents to peer nodes: mutual TLS, with ``exchange_tls_key``."""
    exchange_tls_key: Path | None = None
    exchange_tls_ca_file: Path | None = None
    """CA certificates (PEM) that peer nodes' server certificates must chain to; default: the system's."""
    totp_issuer: str = "esign"
    passkey_rp_id: str | None = None
    """WebAuthn relying-party id of phone passkeys (a domain: ``sign.example.vn``); default: the host of
    ``public_url``. Passkeys registered under one id work only under it: choose it once."""
    passkey_origins: list[str] = Field(default_factory=list)
    """Origins the phone app is served from, checked in every passkey answer; default: ``public_url``'s."""
    passkey_challenge_seconds: int = Field(120, ge=10, le=600)
    """How long a passkey challenge (registration, confirmation, unlock) can be answered, once."""
    pin_max_failures: int = Field(5, ge=1, le=20)
    """Wrong PINs in a row before the PIN locks (for 5 minutes, doubling with each lockout)."""
    preview_max_pages: int = Field(3, ge=1, le=20)
    """Pages of a document the phone's preview renders (the first ones)."""
    preview_width_px: int = Field(720, ge=100, le=2000)
    """Width of a rendered page; its height follows the page's shape, at most twice the width."""
    preview_max_bytes: int = Field(1_500_000, ge=10_000)
    """Largest rendered page (PNG); a larger one is rendered smaller, then refused."""
    vapid_private_key: str | None = None
    """Web Push (VAPID) private key: a P-256 key, PEM or the base64url raw scalar. None: no push, except
    in dev mode, where one is made and kept in ``<var_dir>/vapid-private.pem``."""
    vapid_subject: str = "mailto:admin@localhost"
    """Who runs this push sender (``mailto:`` or ``https:``), told to push services in the VAPID claims."""
    personal_data_retention_days: int = Field(5 * 365, ge=0, le=100 * 365)
    """How long a user's personal data are kept after their last certificate was revoked or expired
    (certificate records must outlive the certificates); erasure is refused before that."""
    verify_max_bytes: int = Field(20 * 1024 * 1024, ge=1024)
    """Largest PDF or XML ``POST /api/verify`` accepts."""
    verify_trust_anchors: list[Path] = Field(default_factory=list)
    """Root certificates (PEM/DER files) ``POST /api/verify`` trusts besides the service's own root."""
    audit_checkpoint_dir: Path | None = None
    """Where signed checkpoints of the audit chain's head are written (default ``<var_dir>/audit-checkpoints``);
    keep it off the database's host, or ship it elsewhere (the checkpoints are also logged)."""
    audit_checkpoint_seconds: float = Field(300.0, ge=1.0, le=86_400.0)
    """How often a checkpoint is written (when the chain has grown); a truncation of the events after
    the latest checkpoint is not detected, so this bounds what can be cut unseen."""
    log_json: bool = True
    log_level: str = "INFO"

    @model_validator(mode="after")
    def _default_database(self) -> Settings:
        if not self.database_url:
            self.database_url = f"sqlite:///{(self.var_dir / 'esign.db').absolute()}"
        return self

    @model_validator(mode="after")
    def _refuse_default_secrets(self) -> Settings:
        self.master_key_bytes()  # fail early on a malformed key
        if self.otp_user_max_failures <= self.device_lock_threshold:
            raise ValueError("ESIGN_OTP_USER_MAX_FAILURES must exceed ESIGN_DEVICE_LOCK_THRESHOLD")
        for network in self.webhook_allowed_networks:
            ipaddress.ip_network(network, strict=False)  # a malformed network fails at start
        if len(self.token_secret) < 32:
            raise ValueError("ESIGN_TOKEN_SECRET must be at least 32 characters")
        if not self.dev_mode:
            defaults = {
                "ESIGN_MASTER_KEY": self.master_key == DEV_MASTER_KEY,
                "ESIGN_TOKEN_SECRET": self.token_secret == DEV_TOKEN_SECRET,
                "ESIGN_PKI_PASSWORD": self.pki_password == DEV_PKI_PASSWORD,
            }
            if self.keystore == "pkcs11":
                defaults["ESIGN_PKCS11_PIN"] = self.pkcs11_pin == DEV_PKCS11_PIN
            bad = [name for name, is_default in defaults.items() if is_default]
            if bad:
                raise ValueError(
                    f"refusing to start outside dev mode with default secrets: {', '.join(bad)}; "
                    "set them (e.g. ESIGN_MASTER_KEY=$(openssl rand -base64 32)) or set ESIGN_DEV_MODE=1"
                )
        return self

    def master_key_bytes(self) -> bytes:
        """The 32-byte master key, from base64 or hex."""
        text = self.master_key.strip()
        key: bytes | None = None
        if len(text) == 64:
            try:
                key = bytes.fromhex(text)
            except ValueError:
                key = None
        if key is None:
            try:
                key = base64.b64decode(text, validate=True)
            except (binascii.Error, ValueError):
                key = None
        if key is None or len(key) != 32:
            raise ValueError("ESIGN_MASTER_KEY must be 32 bytes in base64 or hex (openssl rand -base64 32)")
        return key

    @property
    def resolved_audit_checkpoint_dir(self) -> Path:
        """Where audit checkpoints are written."""
        return (
            self.audit_checkpoint_dir if self.audit_checkpoint_dir is not None else self.var_dir / "audit-checkpoints"
        )

    @property
    def resolved_pki_dir(self) -> Path:
        """Where the service CA lives."""
        return self.pki_dir if self.pki_dir is not None else self.var_dir / "pki"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The settings of this process, read once."""
    try:
        return Settings()
    except ValueError as exc:
        raise InvalidInput(f"invalid settings: {exc}") from None
