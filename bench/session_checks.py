"""What the per-relying-system checks cost a session's creation: the credential statement with and
without them, on the same data, in the same run.

The checks (issue 22) add to the one statement a session's creation reads: the relying system's grant
for the user, its pending requests for the user, and its requests of the last hour. Data: the pair has
5 pending requests, 200 in the last hour and 3,000 older ones; the relying system made 5,000 requests of
another user in the last hour. Prints the median time of each statement and their ratio.

    python -m bench.session_checks                                   # SQLite
    python -m bench.session_checks --database-url postgresql://postgres@127.0.0.1:5432/test
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def _median_us(run: Any, rounds: int) -> float:
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        run()
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1e6


def main() -> None:
    """Build the data, time both statements, print the ratio."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", help="an empty database (default: a SQLite file in a temporary folder)")
    parser.add_argument("--rounds", type=int, default=3000)
    args = parser.parse_args()
    sys.path[:0] = [str(ROOT), str(ROOT / "server")]
    from esign_server.context import ServerContext
    from esign_server.db import migrate, utcnow
    from esign_server.services import sessions
    from esign_server.services.pki import pki_base_url
    from sqlalchemy import bindparam, exists, insert, text
    from sqlalchemy import select as sa_select

    from esign.pki import create_dev_pki
    from tests.server.conftest import enroll_person, make_settings, register_client

    tmp = Path(tempfile.mkdtemp())
    url = args.database_url or f"sqlite:///{tmp / 'bench.db'}"
    create_dev_pki(tmp / "pki", "esign-dev", base_url=pki_base_url("http://127.0.0.1:8750"))
    migrate(url)
    ctx = ServerContext(make_settings(url, tmp / "pki", tmp))
    try:
        person = enroll_person(ctx)
        other = enroll_person(ctx, cccd="001203099999", name="Người khác")
        rp = register_client(ctx, ["sessions"])
        made, _ = sessions.create_session(
            ctx, client_id=rp.client_id, credential_id=person.credential_id, items=[sessions.HashItem("x", b"\1" * 32)]
        )
        table = sessions.SigningSession.__table__  # type: ignore[attr-defined]
        with ctx.db.read() as session:
            found = session.get(sessions.SigningSession, made.id)
            template = {c.name: getattr(found, c.name) for c in table.columns}
        now = utcnow()
        rows = []
        for user_id, status, age, count in (
            (other.user_id, "rejected", timedelta(minutes=10), 5000),
            (person.user_id, "rejected", timedelta(minutes=20), 200),
            (person.user_id, "signed", timedelta(days=30), 3000),
            (person.user_id, "pending", timedelta(minutes=1), 4),
        ):
            for _ in range(count):
                row = dict(template)
                row.update(id=str(uuid.uuid4()), user_id=user_id, status=status, created_at=now - age)
                rows.append(row)
        with ctx.db.write() as session:
            session.execute(insert(table), rows)
        with ctx.db.engine.begin() as conn:
            conn.execute(text("ANALYZE"))
        credentials, devices = sessions._CREDENTIALS, sessions._DEVICES
        before = sa_select(
            credentials.c.status,
            credentials.c.user_id,
            credentials.c.key_algorithm,
            credentials.c.public_key_der,
            credentials.c.certificate_der.is_not(None).label("has_certificate"),
            exists()
            .where(devices.c.user_id == credentials.c.user_id, devices.c.status == "active")
            .label("has_device"),
        ).where(credentials.c.id == bindparam("id"))
        after, hourly = sessions._CREDENTIAL_FOR_SESSION, sessions._LAST_HOUR_OF_PAIR
        params = {"id": person.credential_id, "client_id": rp.client_id, "now": now}
        pair = {"client_id": rp.client_id, "user_id": person.user_id, "hour_ago": now - timedelta(hours=1)}

        def checks(conn: Any) -> tuple[Any, int]:
            return conn.execute(after, params).first(), conn.execute(hourly, pair).scalar()

        with ctx.db.read() as conn:
            checked, last_hour = checks(conn)
            assert (checked.granted, checked.pending, last_hour) == (True, 5, 205), (checked, last_hour)
            plain = _median_us(lambda: conn.execute(before, {"id": person.credential_id}).first(), args.rounds)
            limited = _median_us(lambda: checks(conn), args.rounds)
        kind = url.split(":", 1)[0]
        print(
            f"{kind}: credential statement {plain:.1f} us; with grant, pending and hourly checks {limited:.1f} us "
            f"({limited / plain:.1f}x, +{limited - plain:.0f} us per created session)"
        )
    finally:
        ctx.close()


if __name__ == "__main__":
    main()
