"""Database engines and transactions: SQLite by default, PostgreSQL by ``ESIGN_DATABASE_URL``.

Each service step runs in one transaction (:meth:`Database.write`). On SQLite a write transaction
starts with ``BEGIN IMMEDIATE`` so two writers queue on the lock instead of failing when one tries
to upgrade a read lock; reads use a second engine with ordinary deferred transactions.
"""

from __future__ import annotations

import os
from collections import namedtuple
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from threading import Lock, RLock, local
from typing import Any, NoReturn, TypeVar

from sqlalchemy import Connection, DateTime, Engine, create_engine, event
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session as OrmSession
from sqlalchemy.orm import configure_mappers, make_transient_to_detached
from sqlalchemy.pool import NullPool, QueuePool
from sqlalchemy.types import TypeDecorator
from sqlmodel import Session

try:
    import fcntl
except ImportError:  # Windows: writers of one process still queue; across processes SQLite's busy handler
    fcntl = None  # type: ignore[assignment]

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
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


@dataclass(frozen=True)
class _DriverPlan:
    sql: str
    positions: tuple[str, ...] | None
    """Parameter names in order, for drivers with positional placeholders (SQLite's ``?``)."""
    defaults: dict[str, Any]
    """Values bound in the statement itself (``WHERE id = 1``)."""
    binds: dict[str, Callable[[Any], Any]]
    results: tuple[Callable[[Any], Any] | None, ...]
    row: Any


class DriverResult:
    """The rows (converted to Python values) and row count of a :class:`DriverStatement`."""

    __slots__ = ("_rows", "rowcount")

    def __init__(self, rowcount: int, rows: list[Any]) -> None:
        self.rowcount = rowcount
        self._rows = rows

    def first(self) -> Any:
        """The first row (a named tuple), or None."""
        return self._rows[0] if self._rows else None

    def all(self) -> list[Any]:
        """Every row."""
        return self._rows

    def scalar(self) -> Any:
        """The first column of the first row, or None."""
        return self._rows[0][0] if self._rows else None


class DriverStatement:
    """A Core statement compiled once per dialect and run straight on the driver's cursor.

    For the few statements of the hottest paths (a signing session's steps, signHash, the audit
    chain): SQLAlchemy's execution machinery around a prepared statement costs several times what
    the database spends on it (measured: 30 µs against 8 µs for a primary-key SELECT on SQLite).
    The SQL, the parameter conversions (UTC timestamps, JSON) and the result conversions are
    SQLAlchemy's own, taken from the compiled statement, so values are stored and read exactly as
    through the ORM. No expanding ``IN`` parameters; SQLAlchemy's cursor events do not fire.
    """

    def __init__(self, statement: Any, *, column_keys: Sequence[str] | None = None) -> None:
        self.statement = statement
        self._column_keys = list(column_keys) if column_keys is not None else None
        self._plans: dict[int, tuple[Dialect, _DriverPlan]] = {}

    def _plan(self, dialect: Dialect) -> _DriverPlan:
        found = self._plans.get(id(dialect))
        if found is not None and found[0] is dialect:
            return found[1]
        compiled: Any = self.statement.compile(dialect=dialect, column_keys=self._column_keys)
        columns = compiled._result_columns
        plan = _DriverPlan(
            sql=compiled.string,
            positions=tuple(compiled.positiontup) if compiled.positiontup is not None else None,
            defaults={
                name: bind.effective_value
                for bind, name in compiled.bind_names.items()
                if not bind.required and bind.callable is None
            },
            binds=dict(compiled._bind_processors),
            results=tuple(c.type._cached_result_processor(dialect, None) for c in columns),
            row=namedtuple("DriverRow", [c.keyname for c in columns], rename=True) if columns else None,
        )
        self._plans[id(dialect)] = (dialect, plan)
        return plan

    def execute(
        self, conn: Connection | OrmSession | DriverTransaction, params: Mapping[str, Any] | None = None
    ) -> DriverResult:
        """Run the statement in ``conn``'s transaction (a Core connection, an ORM session's, or a driver's)."""
        if isinstance(conn, DriverTransaction):
            return self._execute(conn.dialect, conn.dbapi_connection, conn.wrap_error, params)
        connection = conn.connection() if isinstance(conn, OrmSession) else conn

        def wrap(exc: Exception, statement: str, args: Any, cursor: Any = None) -> NoReturn:
            # As SQLAlchemy's own execution does: wrap the driver's error (IntegrityError, DataError,
            # OperationalError ...) and invalidate the connection when the database went away.
            connection._handle_dbapi_exception(exc, statement, args, cursor, None)
            raise exc  # not reached: the line above raises

        return self._execute(connection.dialect, connection.connection.dbapi_connection, wrap, params)

    def _execute(
        self, dialect: Dialect, dbapi_connection: Any, wrap: Callable[..., NoReturn], params: Mapping[str, Any] | None
    ) -> DriverResult:
        plan = self._plan(dialect)
        values = {**plan.defaults, **params} if params else dict(plan.defaults)
        for name, convert in plan.binds.items():
            if name in values:
                values[name] = convert(values[name])
        args = tuple(values[n] for n in plan.positions) if plan.positions is not None else values
        cursor = None
        try:
            cursor = dbapi_connection.cursor()
            cursor.execute(plan.sql, args)
            rows = []
            if plan.row is not None:
                results = plan.results
                for raw in cursor.fetchall():
                    rows.append(plan.row(*(f(v) if f is not None else v for f, v in zip(results, raw, strict=True))))
            elif cursor.description is not None:
                # A textual SELECT: no column types known, values as the driver gives them.
                row = _text_row(tuple(d[0] for d in cursor.description))
                rows = [row(*raw) for raw in cursor.fetchall()]
            return DriverResult(cursor.rowcount, rows)
        except Exception as exc:
            wrap(exc, plan.sql, args, cursor)
        finally:
            if cursor is not None:
                cursor.close()


class DriverTransaction:
    """A SQLite write transaction run straight on a driver connection, for :class:`DriverStatement` only.

    The hottest write steps (a session's create and confirm, signHash) are a few prebuilt statements.
    Around them an ORM session costs ~80 µs and a Core connection ~35 µs per transaction on this
    service's machines; ``BEGIN IMMEDIATE`` and ``COMMIT`` sent to the driver cost ~10 µs with the
    statements included. Errors leave as SQLAlchemy's (``IntegrityError`` ...), as from a Core connection.
    """

    __slots__ = ("_proxy", "dbapi_connection", "dialect", "engine")

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.dialect = engine.dialect
        # Checked out of the pool once and kept by one thread: the pool's connect events (the
        # pragmas) have run on it.
        self._proxy = engine.raw_connection()
        self.dbapi_connection: Any = self._proxy.dbapi_connection

    def wrap_error(self, exc: Exception, statement: str, params: Any, _cursor: Any = None) -> NoReturn:
        """Raise ``exc`` as SQLAlchemy wraps a driver's error (``IntegrityError``, ``OperationalError`` ...)."""
        base = self.dialect.loaded_dbapi.Error
        if isinstance(exc, base):
            raise DBAPIError.instance(statement, params, exc, base, dialect=self.dialect) from exc
        raise exc

    def run(self, sql: str) -> None:
        """Send a constant statement (BEGIN, COMMIT, ROLLBACK) to the driver."""
        try:
            self.dbapi_connection.execute(sql)
        except Exception as exc:
            self.wrap_error(exc, sql, ())

    def close(self) -> None:
        """Close the driver connection (it is not handed back to the pool)."""
        self._proxy.invalidate()


StepTransaction = OrmSession | Connection | DriverTransaction
"""What a service step's :class:`DriverStatement` statements run in: an ORM session, a Core connection
(:meth:`Database.write_connection`) or a driver transaction (:meth:`Database.driver_write`)."""


@lru_cache(maxsize=256)
def _text_row(names: tuple[str, ...]) -> Any:
    return namedtuple("DriverRow", names, rename=True)


M = TypeVar("M")


def detached(model: type[M], values: Mapping[str, Any]) -> M:
    """A table model instance from a database row's values, as the ORM's loader makes one: no
    validation (the values come from the database), in no session, history clean, so that
    ``session.add`` of a changed instance writes an ``UPDATE`` of the changed columns."""
    manager = model._sa_class_manager  # type: ignore[attr-defined]
    if not manager.mapper.configured:
        # The ORM configures mappers on its first query; a fresh process may build rows before any.
        configure_mappers()
    instance: Any = manager.new_instance()
    instance.__dict__.update(values)
    make_transient_to_detached(instance)
    return instance


def _ensure_sqlite_directory(url: str) -> None:
    if not url.startswith("sqlite"):
        return
    path = url.split("///", 1)[1] if "///" in url else ""
    if path and path != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)


def _sqlite_engine(url: str, *, immediate: bool) -> Engine:
    _ensure_sqlite_directory(url)
    connect_args = {"isolation_level": None, "timeout": 30, "check_same_thread": False}
    if _sqlite_path(url) is None:
        engine = create_engine(url, connect_args=connect_args)
    else:
        # No bound on the pool: a SQLite connection is a file handle, and a bound would let threads
        # block on checkout (30 s) — every thread keeps a driver connection (Database.driver_write)
        # and writers hold theirs while they queue for the writers' lock.
        engine = create_engine(url, connect_args=connect_args, poolclass=QueuePool, pool_size=0, max_overflow=-1)

    @event.listens_for(engine, "connect")
    def _pragmas(dbapi_conn: Any, _record: Any) -> None:
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        # Checkpoints (copying the WAL into the database file, then an fsync) are the server's
        # background job (Database.checkpoint): a checkpoint run by the committing request stalled
        # it for milliseconds. This threshold is only the fallback for processes without one (CLI).
        cursor.execute(f"PRAGMA wal_autocheckpoint={WAL_AUTOCHECKPOINT_PAGES}")
        cursor.close()

    begin = "BEGIN IMMEDIATE" if immediate else "BEGIN"

    @event.listens_for(engine, "begin")
    def _begin(conn: Any) -> None:
        # Straight to the driver: this runs for every transaction, and SQLAlchemy's statement
        # machinery around a constant BEGIN costs more than the BEGIN itself.
        conn.connection.dbapi_connection.execute(begin)

    return engine


def _sqlite_path(url: str) -> str | None:
    path = url.split("///", 1)[1] if "///" in url else ""
    return path if path and path != ":memory:" else None


class _SqliteWriterQueue:
    """The writers of a SQLite database queue here, in this process and across processes.

    SQLite's own busy handler sleeps and retries in steps growing to 100 ms, which turns write
    contention into tail latencies of hundreds of milliseconds. Threads of one process queue on a
    lock; processes (``--workers N``) on an ``flock`` of a file beside the database, which wakes the
    next writer as soon as the lock is released (and is released by the kernel if a process dies).
    """

    def __init__(self, database_path: str | None) -> None:
        self._lock = RLock()
        self._depth = 0
        self._file: int | None = None
        self._path = f"{database_path}-writers.lock" if database_path and fcntl is not None else None

    def __enter__(self) -> None:
        self.enter()

    def enter(self, *, wait: bool = True) -> bool:
        """Take the lock; with ``wait`` false, only if it is free now (False, and nothing taken, if not)."""
        if not self._lock.acquire(blocking=wait):
            return False
        self._depth += 1
        if self._depth == 1 and self._path is not None:
            try:
                if self._file is None:
                    self._file = os.open(self._path, os.O_RDWR | os.O_CREAT, 0o600)
                fcntl.flock(self._file, fcntl.LOCK_EX if wait else fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BaseException as exc:
                self._depth -= 1
                self._lock.release()
                if isinstance(exc, BlockingIOError):  # LOCK_NB: another process holds it
                    return False
                raise
        return True

    def wait_free(self) -> None:
        """Return once no writer, of this process or another, holds the lock; takes nothing.

        Waits with a shared ``flock`` on a file description of its own, which conflicts with the
        exclusive lock of any writer, this process's included, and lets go of it at once.
        """
        with self._lock:
            pass
        if self._path is None:
            return
        watch = os.open(self._path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(watch, fcntl.LOCK_SH)
        finally:
            os.close(watch)  # closing the description releases the shared lock

    def busy(self) -> bool:
        """Whether another thread of this process holds the lock right now (taken and released at once).

        A step about to run on the event loop goes to the thread pool instead of stalling the loop
        behind a long writer of this process, such as a registry import. Other processes are not
        probed: their writers hold the lock for a step at a time, and sending every step that meets
        one to the thread pool cost two workers half their throughput (measured with the CSC bench).
        """
        if not self._lock.acquire(blocking=False):
            return True
        self._lock.release()
        return False

    def __exit__(self, *_exc: object) -> None:
        self._depth -= 1
        if self._depth == 0 and self._file is not None:
            fcntl.flock(self._file, fcntl.LOCK_UN)
        self._lock.release()


class Database:
    """The engines of one database, with one-transaction-per-step helpers."""

    def __init__(self, url: str, *, pool_size: int = 10) -> None:
        self.url = normalise_database_url(url)
        self.is_sqlite = self.url.startswith("sqlite")
        if self.is_sqlite:
            self.engine = _sqlite_engine(self.url, immediate=True)
            self.read_engine = _sqlite_engine(self.url, immediate=False)
        else:
            self.engine = create_engine(self.url, pool_size=pool_size, max_overflow=2 * pool_size, pool_pre_ping=True)
            self.read_engine = self.engine
        self._drivers_lock = Lock()
        self._writers = local()
        self._writer_transactions: list[DriverTransaction] = []
        self._write_lock: AbstractContextManager[object] = (
            _SqliteWriterQueue(_sqlite_path(self.url)) if self.is_sqlite else nullcontext()
        )

    def writers_busy(self) -> bool:
        """Whether a writer in another thread of this process holds SQLite's writers' lock now."""
        queue = self._write_lock
        return isinstance(queue, _SqliteWriterQueue) and queue.busy()

    @contextmanager
    def write(self) -> Iterator[Session]:
        """One read-write transaction: committed when the block ends, rolled back on an exception.

        On SQLite the writers of this process queue on a lock first: SQLite's own busy handler
        sleeps in steps of up to 100 ms, which turns contention into long tail latencies.
        """
        with self._write_lock, Session(self.engine, expire_on_commit=False, autoflush=False) as session:
            with session.begin():
                yield session

    @contextmanager
    def read(self) -> Iterator[Session]:
        """A read-only transaction (rolled back at the end)."""
        with Session(self.read_engine, expire_on_commit=False, autoflush=False) as session:
            yield session

    @contextmanager
    def write_connection(self) -> Iterator[Connection]:
        """Like :meth:`write`, for plain SQL statements only: a Core connection, one transaction.

        No ORM session around it: on a hot path of a few prebuilt statements the session's own
        bookkeeping costs more CPU than the statements. The connection is taken from the pool before
        the writers' lock and returned after it: the lock covers the transaction only, which is what
        the other workers of a SQLite database wait for.
        """
        with self.engine.connect() as conn, self._write_lock, conn.begin():
            yield conn

    @contextmanager
    def driver_write(self) -> Iterator[DriverTransaction | Connection]:
        """Like :meth:`write_connection`, for :class:`DriverStatement` only: the hottest write steps.

        On SQLite a :class:`DriverTransaction` on a driver connection this thread keeps, with
        ``BEGIN IMMEDIATE`` and ``COMMIT`` sent straight to the driver, inside the writers' lock. On
        PostgreSQL (where each statement waits on the network anyway) a Core connection.
        """
        if not self.is_sqlite:
            with self.write_connection() as conn:
                yield conn
            return
        tx = self._thread_driver()
        with self._write_lock, self._driver_transaction(tx):
            yield tx

    @contextmanager
    def driver_write_now(self) -> Iterator[DriverTransaction | Connection | None]:
        """:meth:`driver_write` if SQLite's writers' lock is free at once; else None (nothing waited for).

        For the event loop's group commit: rather than stall the loop while another worker process
        commits, it goes on serving requests and tries again once :meth:`wait_for_writers` returns.
        """
        queue = self._write_lock
        if not isinstance(queue, _SqliteWriterQueue):
            with self.driver_write() as conn:
                yield conn
            return
        if not queue.enter(wait=False):
            yield None
            return
        try:
            tx = self._thread_driver()
            with self._driver_transaction(tx):
                yield tx
        finally:
            queue.__exit__()

    def wait_for_writers(self) -> None:
        """Block until no writer holds SQLite's writers' lock (of this process or another); takes nothing."""
        queue = self._write_lock
        if isinstance(queue, _SqliteWriterQueue):
            queue.wait_free()

    @contextmanager
    def _driver_transaction(self, tx: DriverTransaction) -> Iterator[None]:
        """``BEGIN IMMEDIATE`` ... ``COMMIT`` on ``tx`` (the writers' lock is the caller's)."""
        try:
            tx.run("BEGIN IMMEDIATE")
            try:
                yield
            except BaseException:
                if tx.dbapi_connection.in_transaction:
                    tx.run("ROLLBACK")
                raise
            tx.run("COMMIT")
        except BaseException:
            if tx.dbapi_connection.in_transaction:
                # A failed COMMIT (disk full, I/O error) can leave the transaction open: this
                # connection is not trusted again; the next step opens a fresh one.
                self._writers.tx = None
                with self._drivers_lock:
                    self._writer_transactions.remove(tx)
                tx.close()
            raise

    def _thread_driver(self) -> DriverTransaction:
        tx: DriverTransaction | None = getattr(self._writers, "tx", None)
        if tx is None:
            tx = DriverTransaction(self.engine)
            self._writers.tx = tx
            with self._drivers_lock:
                self._writer_transactions.append(tx)
        return tx

    @contextmanager
    def driver_read(self) -> Iterator[DriverTransaction | Connection]:
        """A read of :class:`DriverStatement` statements, each its own snapshot (hot paths only).

        On SQLite this thread's driver connection, the one its :meth:`driver_write` steps use, in
        autocommit: SQLite drops a connection's whole page cache when another connection has
        committed, so reading on a separate connection meant re-reading every page after each of
        this thread's own writes. On PostgreSQL, :meth:`read_connection`.
        """
        if not self.is_sqlite:
            with self.read_connection() as conn:
                yield conn
            return
        tx = self._thread_driver()
        if tx.dbapi_connection.in_transaction:
            raise RuntimeError("driver_read inside this thread's driver_write: use the write's transaction")
        yield tx

    @contextmanager
    def read_connection(self) -> Iterator[Connection]:
        """Like :meth:`read`, for plain SQL statements only: a pooled Core connection (rolled back at
        the end). The hot paths read with :meth:`driver_read` instead."""
        with self.read_engine.connect() as pooled:
            yield pooled

    def checkpoint(self) -> tuple[int, int] | None:
        """Copy the WAL's committed pages into the SQLite database file (a passive checkpoint: it
        waits for no reader or writer and never blocks one). Returns (pages in the WAL, pages
        copied so far); None on PostgreSQL or an in-memory database.

        The server runs this every second in the background, off the requests' path.
        """
        if not self.is_sqlite or _sqlite_path(self.url) is None:
            return None
        with self.engine.connect() as conn:
            row = conn.connection.dbapi_connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()  # type: ignore[union-attr]
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
        """Close every pooled connection (and the threads' driver connections)."""
        with self._drivers_lock:
            writers, self._writer_transactions = self._writer_transactions, []
        for tx in writers:
            tx.close()
        self._writers = local()
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
