"""Statements run straight on the driver store and read values exactly as SQLAlchemy does (both databases)."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime, timedelta

import pytest
from esign_server.context import ServerContext
from esign_server.db import DriverStatement, detached
from esign_server.models import AuditHead, SigningSession
from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from tests.server.conftest import Integrator, Person

_SESSIONS = SigningSession.__table__  # type: ignore[attr-defined]


def _row(person: Person, client_id: str, session_id: str, created: datetime) -> dict[str, object]:
    return {
        "id": session_id,
        "client_id": client_id,
        "user_id": person.user_id,
        "credential_id": person.credential_id,
        "status": "pending",
        "kind": "hash",
        "created_at": created,
        "expires_at": created + timedelta(minutes=5),
        "digest_algorithm": "sha256",
        "signature_algorithm": "1.2.840.10045.4.3.2",
        "items": [{"name": "tài liệu.pdf", "digest": "AAAA"}],
        "items_digest": "ab" * 32,
        "confirmation_code": "ABC-DEF",
        "otp_failures": 0,
        "sad_used": False,
    }


def test_insert_select_update_round_trip_like_the_orm(
    ctx: ServerContext, person: Person, integrator: Integrator
) -> None:
    created = datetime(2026, 11, 23, 8, 30, 15, 123456, tzinfo=UTC)
    keys = list(_row(person, integrator.client_id, "x", created))
    driver_insert = DriverStatement(insert(_SESSIONS), column_keys=keys)
    driver_select = DriverStatement(select(_SESSIONS).where(_SESSIONS.c.id == bindparam("id")))
    finish = DriverStatement(
        update(_SESSIONS)
        .where(_SESSIONS.c.id == bindparam("row_id"), _SESSIONS.c.status == "pending")
        .values(status=bindparam("status"), signatures=bindparam("signatures"))
    )
    with ctx.db.write_connection() as conn:
        assert driver_insert.execute(conn, _row(person, integrator.client_id, "s-driver", created)).rowcount == 1
        conn.execute(
            insert(_SESSIONS), _row(person, integrator.client_id, "s-core", created)
        )  # the same through SQLAlchemy
        done = finish.execute(conn, {"row_id": "s-driver", "status": "signed", "signatures": ["c2ln"]})
        again = finish.execute(conn, {"row_id": "s-driver", "status": "signed", "signatures": ["c2ln"]})
        assert (done.rowcount, again.rowcount) == (1, 0)  # the literal 'pending' in WHERE is bound too
    with ctx.db.read_connection() as conn:
        mine = driver_select.execute(conn, {"id": "s-driver"}).first()
        theirs = driver_select.execute(conn, {"id": "s-core"}).first()
        assert driver_select.execute(conn, {"id": "none"}).first() is None
    with Session(ctx.db.engine) as session:
        orm = session.get(SigningSession, "s-driver")
        assert orm is not None
        # What the ORM reads back from the driver's row equals what the driver reads, value by value.
        assert {k: getattr(orm, k) for k in mine._fields} == mine._asdict()
    assert mine.created_at == created and mine.created_at.tzinfo is not None
    assert mine.items == [{"name": "tài liệu.pdf", "digest": "AAAA"}] and mine.signatures == ["c2ln"]
    assert theirs.created_at == created and theirs.items == mine.items and theirs.signatures is None


def test_detached_instances_update_only_what_changed(
    ctx: ServerContext, person: Person, integrator: Integrator
) -> None:
    created = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
    with ctx.db.write_connection() as conn:
        conn.execute(insert(_SESSIONS), _row(person, integrator.client_id, "s-1", created))
    select_one = DriverStatement(select(_SESSIONS).where(_SESSIONS.c.id == bindparam("id")))
    with ctx.db.write() as session:
        row = detached(SigningSession, select_one.execute(session, {"id": "s-1"}).first()._asdict())
        assert row.status == "pending" and row.expires_at == created + timedelta(minutes=5)
        row.otp_failures = 2
        session.add(row)  # an UPDATE of the changed column, not an INSERT
    with ctx.db.read() as session:
        stored = session.get(SigningSession, "s-1")
        assert (
            stored is not None
            and stored.otp_failures == 2
            and stored.items == _row(person, integrator.client_id, "", created)["items"]
        )
    head = DriverStatement(select(AuditHead.__table__.c.seq).where(AuditHead.__table__.c.id == 1))  # type: ignore[attr-defined]
    with ctx.db.read_connection() as conn:
        assert head.execute(conn).scalar() >= 1


def test_driver_errors_arrive_as_sqlalchemy_errors(ctx: ServerContext, person: Person, integrator: Integrator) -> None:
    # The error handlers (409 on a race, 400 on a refused value, 503 on an unreachable database)
    # know SQLAlchemy's exception classes, not each driver's.
    created = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
    row = _row(person, integrator.client_id, "dup", created)
    statement = DriverStatement(insert(_SESSIONS), column_keys=list(row))
    with ctx.db.write_connection() as conn:
        statement.execute(conn, row)
    with pytest.raises(IntegrityError), ctx.db.write_connection() as conn:
        statement.execute(conn, row)


def test_detached_works_in_a_fresh_process_before_any_orm_query() -> None:
    # Regression (a fault test hit it after a restart): the first request of a new server process
    # built a row with `detached` before the ORM had configured its mappers, and answered 500.
    code = (
        "from datetime import UTC, datetime\n"
        "from esign_server.db import detached\n"
        "from esign_server.models import SigningSession\n"
        "row = detached(SigningSession, {'id': 's', 'status': 'pending', 'created_at': datetime.now(UTC)})\n"
        "print(row.id, row.status)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["s", "pending"]


def test_driver_write_commits_rolls_back_and_wraps_errors(
    ctx: ServerContext, person: Person, integrator: Integrator
) -> None:
    created = datetime(2026, 11, 23, 11, 0, tzinfo=UTC)
    row = _row(person, integrator.client_id, "dw-1", created)
    statement = DriverStatement(insert(_SESSIONS), column_keys=list(row))
    count = DriverStatement(select(_SESSIONS.c.id).where(_SESSIONS.c.id.like(bindparam("prefix"))))
    with ctx.db.driver_write() as tx:
        statement.execute(tx, row)
    # A failing statement: SQLAlchemy's IntegrityError, and the whole transaction rolled back.
    with pytest.raises(IntegrityError), ctx.db.driver_write() as tx:
        statement.execute(tx, _row(person, integrator.client_id, "dw-2", created))
        statement.execute(tx, row)  # the same id again
    # An exception of the step's own: rolled back too.
    with pytest.raises(RuntimeError), ctx.db.driver_write() as tx:
        statement.execute(tx, _row(person, integrator.client_id, "dw-3", created))
        raise RuntimeError("the step failed")
    # The connection is still good afterwards.
    with ctx.db.driver_write() as tx:
        statement.execute(tx, _row(person, integrator.client_id, "dw-4", created))
    with ctx.db.read_connection() as conn:
        ids = sorted(r.id for r in count.execute(conn, {"prefix": "dw-%"}).all())
    assert ids == ["dw-1", "dw-4"]


def test_driver_write_holds_the_writers_lock(ctx: ServerContext, person: Person, integrator: Integrator) -> None:
    import threading
    import time

    if not ctx.db.is_sqlite:
        with ctx.db.driver_write() as conn:  # PostgreSQL: a Core connection, rows locked as usual
            assert conn.__class__.__name__ == "Connection"
        return
    order: list[str] = []
    inside = threading.Event()

    def other_writer() -> None:
        inside.wait(5)
        with ctx.db.driver_write():
            order.append("other")

    thread = threading.Thread(target=other_writer)
    thread.start()
    with ctx.db.driver_write():
        inside.set()
        assert ctx.db.writers_busy() is False  # this thread holds it (re-entrant), others see it busy
        time.sleep(0.2)
        order.append("first")
    thread.join(5)
    assert order == ["first", "other"]


def test_the_wal_is_checkpointed_off_the_request_path(
    ctx: ServerContext, person: Person, integrator: Integrator
) -> None:
    if not ctx.db.is_sqlite:
        assert ctx.db.checkpoint() is None
        return
    from esign_server.db import WAL_AUTOCHECKPOINT_PAGES

    with ctx.db.engine.connect() as conn:
        threshold = conn.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar()
    assert threshold == WAL_AUTOCHECKPOINT_PAGES
    created = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
    statement = DriverStatement(insert(_SESSIONS), column_keys=list(_row(person, integrator.client_id, "", created)))
    for n in range(20):
        with ctx.db.driver_write() as tx:
            statement.execute(tx, _row(person, integrator.client_id, f"wal-{n}", created))
    first = ctx.db.checkpoint()
    assert first is not None
    pages, copied = first
    assert pages >= 20 and copied == pages  # every committed page is now in the database file


def test_driver_read_sees_committed_writes_and_refuses_to_nest(
    ctx: ServerContext, person: Person, integrator: Integrator
) -> None:
    created = datetime(2026, 11, 23, 13, 0, tzinfo=UTC)
    row = _row(person, integrator.client_id, "dr-1", created)
    insert_row = DriverStatement(insert(_SESSIONS), column_keys=list(row))
    status = DriverStatement(select(_SESSIONS.c.status).where(_SESSIONS.c.id == bindparam("id")))
    with ctx.db.driver_write() as tx:
        insert_row.execute(tx, row)
    with ctx.db.driver_read() as conn:
        assert status.execute(conn, {"id": "dr-1"}).scalar() == "pending"
    with ctx.db.write_connection() as other:  # another connection's commit is seen at once
        other.execute(update(_SESSIONS).where(_SESSIONS.c.id == "dr-1").values(status="signed"))
    with ctx.db.driver_read() as conn:
        assert status.execute(conn, {"id": "dr-1"}).scalar() == "signed"
    if ctx.db.is_sqlite:
        with ctx.db.driver_write(), pytest.raises(RuntimeError), ctx.db.driver_read():
            pass
