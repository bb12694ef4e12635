"""Everything a service step needs, built once per process: settings, database, keystores, PKI."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from functools import cached_property
from threading import Lock
from typing import TYPE_CHECKING, ParamSpec, TypeVar
from weakref import WeakKeyDictionary

from starlette.concurrency import run_in_threadpool

from esign.errors import InvalidInput
from esign_server.config import Settings
from esign_server.crypto import AccessTokens, Sealer
from esign_server.db import Database, StepTransaction
from esign_server.events import SessionEvents
from esign_server.group_commit import CommitGroup, run_alone
from esign_server.keystore import KeyStore
from esign_server.keystore.software import SoftwareKeyStore
from esign_server.services import audit

if TYPE_CHECKING:
    from esign_server.services.pki import ServicePKI

P = ParamSpec("P")
T = TypeVar("T")


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
        self._commit_groups: WeakKeyDictionary[asyncio.AbstractEventLoop, CommitGroup] = WeakKeyDictionary()

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

    async def step(self, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> T:
        """Run a short blocking service step (a few statements, a signature) from the event loop.

        On SQLite the step runs inline: its statements are in-process work of tens of microseconds,
        and a thread-pool hop costs more than that (two thread switches, the GIL passed back and forth,
        which at 16 concurrent requests turns into queues and a long tail). On PostgreSQL each
        statement waits on the network, so the step goes to the thread pool and the loop serves others.
        While another thread of this worker holds SQLite's writers' lock (a registry import, a
        document session's step) the step goes to the pool too: waiting for it must not stall the loop.
        """
        if self.inline_steps and not self.db.writers_busy():
            return fn(*args, **kwargs)
        return await run_in_threadpool(fn, *args, **kwargs)

    async def commit(self, write: Callable[[StepTransaction], T]) -> T:
        """Run a step's ``write`` in a write transaction; its result once committed.

        With inline steps (SQLite) the writes of one turn of the event loop share a transaction
        (:class:`~esign_server.group_commit.CommitGroup`); otherwise the write gets a transaction of
        its own in the thread pool.
        """
        if not self.inline_steps:
            return await run_in_threadpool(run_alone, self.db, write)
        loop = asyncio.get_running_loop()
        group = self._commit_groups.get(loop)
        if group is None:
            group = self._commit_groups[loop] = CommitGroup(self.db, loop)
        return await group.commit(write)

    @property
    def inline_steps(self) -> bool:
        """Whether :meth:`step` runs steps on the event loop (SQLite, unless the settings say otherwise)."""
        setting = self.settings.inline_steps
        return self.db.is_sqlite if setting is None else setting

    @cached_property
    def pki(self) -> ServicePKI:
        """The service's CA, OCSP responder and TSA (loaded on first use)."""
        from esign_server.services.pki import ServicePKI

        return ServicePKI.load(self)

    def close(self) -> None:
        """Release the database pool."""
        self.db.dispose()
