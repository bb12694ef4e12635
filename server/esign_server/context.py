"""Everything a service step needs, built once per process: settings, database, keystores, PKI."""

from __future__ import annotations

from functools import cached_property
from threading import Lock
from typing import TYPE_CHECKING

from esign.errors import InvalidInput
from esign_server.config import Settings
from esign_server.crypto import AccessTokens, Sealer
from esign_server.db import Database
from esign_server.events import SessionEvents
from esign_server.keystore import KeyStore
from esign_server.keystore.software import SoftwareKeyStore
from esign_server.services import audit

if TYPE_CHECKING:
    from esign_server.services.pki import ServicePKI



class ServerContext:
    """The shared state of one server process (nothing here is needed by another worker)."""

    def __init__(self, settings: Settings, db: Database | None = None) -> None:
        self.settings = settings
        self.db = db or Database(settings.database_url)
        master = settings.master_key_bytes()
        self.sealer = Sealer(master)
        audit.bind_key(self.db, audit.chain_key(master))
        self.tokens = AccessTokens(settings.token_secret, settings.access_token_ttl_seconds)
        self.events = SessionEvents()
        self._keystores: dict[str, KeyStore] = {"software": SoftwareKeyStore(master)}
        self._lock = Lock()

    def keystore(self, name: str | None = None) -> KeyStore:
        """The keystore called ``name`` (default: the configured one)."""
        name = name or self.settings.keystore
        with self._lock:
            store = self._keystores.get(name)
            if store is None:
                if name != "pkcs11":
                    raise InvalidInput(f"unknown keystore {name!r}; use software or pkcs11")
                from esign_server.keystore.pkcs11 import PKCS11KeyStore

                s = self.settings
                store = PKCS11KeyStore(s.pkcs11_module, token_label=s.pkcs11_token_label, pin=s.pkcs11_pin)
                self._keystores[name] = store
        return store

    @cached_property
    def pki(self) -> ServicePKI:
        """The service's CA, OCSP responder and TSA (loaded on first use)."""
        from esign_server.services.pki import ServicePKI

        return ServicePKI.load(self)

    def close(self) -> None:
        """Release the database pool."""
        self.db.dispose()
