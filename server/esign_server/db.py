"""Database engines and transactions: SQLite by default, PostgreSQL by ``ESIGN_DATABASE_URL``.

Each service step runs in one SQLAlchemy session and transaction (:meth:`Database.write`), in a
thread-pool thread, the same way on both databases. On SQLite a write transaction starts with
``BEGIN IMMEDIATE`` so two writers wait for each other (``busy_timeout``) instead of failing when one
tries to upgrade a read lock; reads use a second engine with ordinary deferred transactions.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager, nullcontext
from datetime import UTC, datetime
from pathlib import Path
from threading import RLock
from typing import Any, TypeVar, cast

from sqlalchemy import Connection, CursorResult, DateTime, Engine, Result, create_engine, event
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import make_transient_to_detached
from sqlalchemy.pool import NullPool
from sqlalchemy.types import TypeDecorator
from sqlmodel import Session

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
POOL_RECYCLE_SECONDS = 1800
"""PostgreSQL connections older than this are replaced at their next checkout."""
WAL_AUTOCHECKPOINT_PAGES = 10_000
"""SQLite checkpoints the WAL itself at this size (~40 MB); the server checkpoints long before."""


def normalise_database_url(url: str) -> str:
    """Point ``postgres://`` and ``postgresql://`` URLs at the psycopg 3 driver."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def utcnow() -> datetime:
    """The current time, timezone-aware UTC."""
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp stored as UTC and always read back timezone-aware (SQLite forgets the zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


StepTransaction = Session
"""The session a service step's statements run in: one SQLAlchemy session, one transaction."""


def rows_changed(result: Result[Any]) -> int:
    """How many rows the UPDATE or DELETE that gave ``result`` changed."""
    return cast(CursorResult[Any], result).rowcount


M = TypeVar("M")


def detached(model: type[M], values: Mapping[str, Any]) -> M:
    """A table model instance from a database row's values, as the ORM's loader makes one: in no
    session, history clean, so that ``session.add`` of a changed instance writes an ``UPDATE`` of the
    changed columns."""
    instance = model(**values)
    make_transient_to_detached(instance)
    return instance


def _ensure_sqlite_directory(url: str) -> None:
    if not url.startswith("sqlite"):
        return
    path = url.split("///", 1)[1] if "///" in url else ""
    if path and path != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)


def _sqlite_engine(url: str, *, immediate: bool) -> Engine:
    """An engine whose transactions start with ``BEGIN IMMEDIATE`` (writers) or ``BEGIN`` (readers).

    SQLAlchemy's recipe for pysqlite: the driver's own transaction handling is turned off and the
    ``begin`` event sends the BEGIN. A write transaction takes SQLite's write lock at once, so two
    writers wait for each other (``busy_timeout``) instead of one failing when it upgrades a read lock.
    """
    _ensure_sqlite_directory(url)
    connect_args = {"isolation_level": None, "timeout": 30, "check_same_thread": False}
    engine = create_engine(url, connect_args=connect_args)

    @event.listens_for(engine, "connect")
    def _pragmas(dbapi_conn: Any, _record: Any) -> None:
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        # Checkpoints (copying the WAL into the database file, then an fsync) are the server's
        # background job (Database.checkpoint), off the requests' path; this threshold is the
        # fallback for processes without one (CLI).
        cursor.execute(f"PRAGMA wal_autocheckpoint={WAL_AUTOCHECKPOINT_PAGES}")
        cursor.close()

    begin = "BEGIN IMMEDIATE" if immediate else "BEGIN"

    @event.listens_for(engine, "begin")
    def _begin(conn: Connection) -> None:
        conn.exec_driver_sql(begin)

    return engine


def _sqlite_path(url: str) -> str | None:
    path = url.split("///", 1)[1] if "///" in url else ""
    return path if path and path != ":memory:" else None


class Database:
    """The engines of one database, with one-transaction-per-step helpers."""

    def __init__(self, url: str, *, pool_size: int = 10) -> None:
        self.url = normalise_database_url(url)
        self.is_sqlite = self.url.startswith("sqlite")
        if self.is_sqlite:
            self.engine = _sqlite_engine(self.url, immediate=True)
            self.read_engine = _sqlite_engine(self.url, immediate=False)
        else:
            # No ping per checkout (a round trip before every transaction): a connection the server
            # or a network cut dropped fails its statement, the step answers 503 with Retry-After
            # (api/errors.py), and SQLAlchemy then replaces every pooled connection older than it.
            # Connections are renewed before idle timeouts of proxies and firewalls can drop them.
            self.engine = create_engine(
                self.url, pool_size=pool_size, max_overflow=2 * pool_size, pool_recycle=POOL_RECYCLE_SECONDS
            )
            self.read_engine = self.engine
        # SQLite has one writer at a time. The writers of this process take turns on a lock: SQLite's
        # busy handler, which sleeps in steps growing to 100 ms, then only settles turns between processes.
        self._write_turns: AbstractContextManager[object] = RLock() if self.is_sqlite else nullcontext()

    @contextmanager
    def write(self) -> Iterator[Session]:
        """One read-write transaction: committed when the block ends, rolled back on an exception.

        Blocking: call it from a thread-pool thread (``run_in_threadpool``), never on the event loop.
        """
        with self._write_turns, Session(self.engine, expire_on_commit=False, autoflush=False) as session:
            with session.begin():
                yield session

    @contextmanager
    def read(self) -> Iterator[Session]:
        """A read-only transaction (rolled back at the end)."""
        with Session(self.read_engine, expire_on_commit=False, autoflush=False) as session:
            yield session

    def checkpoint(self) -> tuple[int, int] | None:
        """Copy the WAL's committed pages into the SQLite database file (a passive checkpoint: it
        waits for no reader or writer and never blocks one). Returns (pages in the WAL, pages
        copied so far); None on PostgreSQL or an in-memory database.

        The server runs this every second in the background, off the requests' path.
        """
        if not self.is_sqlite or _sqlite_path(self.url) is None:
            return None
        # Outside any transaction (a checkpoint inside one finds the database locked): the pooled
        # driver connection, with no BEGIN sent.
        raw = self.engine.raw_connection()
        try:
            cursor = raw.cursor()
            row = cursor.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
            cursor.close()
        finally:
            raw.close()
        return (int(row[1]), int(row[2])) if row is not None else None

    def ping(self) -> None:
        """Run ``SELECT 1``; raises when the database is unreachable."""
        with self.read_engine.connect() as conn:
            conn.exec_driver_sql("SELECT 1")

    def migration_state(self) -> tuple[str | None, set[str]]:
        """The database's Alembic revision and the heads of the shipped migration scripts."""
        from alembic.runtime.migration import MigrationContext
        from alembic.script import ScriptDirectory

        heads = set(ScriptDirectory.from_config(alembic_config(self.url)).get_heads())
        with self.read_engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision(), heads

    def dispose(self) -> None:
        """Close every pooled connection."""
        self.engine.dispose()
        if self.read_engine is not self.engine:
            self.read_engine.dispose()


def alembic_config(url: str) -> Any:
    """An Alembic configuration for ``url`` pointing at the shipped migration scripts."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("sqlalchemy.url", normalise_database_url(url).replace("%", "%%"))
    return config


def migrate(url: str, revision: str = "head") -> None:
    """Bring the database at ``url`` to ``revision`` with the Alembic migration scripts."""
    from alembic import command

    _ensure_sqlite_directory(normalise_database_url(url))
    command.upgrade(alembic_config(url), revision)


def current_revision(url: str) -> str | None:
    """The Alembic revision the database is at (None when never migrated)."""
    from alembic.runtime.migration import MigrationContext

    engine = create_engine(normalise_database_url(url), poolclass=NullPool)
    try:
        with engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()
    finally:
        engine.dispose()
