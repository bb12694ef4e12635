"""Organization identifier registry: import 100,000 rows (all or nothing), on SQLite and PostgreSQL.

Run: ``.venv/bin/python bench/orgid_import.py [rows] [--no-postgres]``. For each database (a SQLite
file in a temp directory; a fresh database on ``ESIGN_BENCH_DATABASE_URL``, default
``postgresql://postgres@127.0.0.1:5432/test``) it migrates, seeds the level-1 codes, and measures:

- ``import csv``: :func:`esign_server.services.orgids.import_text` of a CSV of ``rows`` codes four
  levels deep (children listed before their parents half of the time), every row checked, one
  history row per code, one transaction;
- ``import json``: the same rows as JSON into another fresh database;
- ``rejected``: the same CSV with one bad row in a thousand: the whole file is checked, every bad
  row reported, nothing written;
- ``export csv``: the whole registry back out;
- ``peer``: a plain SQLAlchemy Core bulk INSERT (``insertmanyvalues``) of the same rows, prepared
  beforehand, into the same table: no parsing, no checks, no history rows.

Prints rows/s for each and the import's time as a multiple of the peer's.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from esign_server.config import Settings
from esign_server.context import ServerContext
from esign_server.db import migrate, utcnow
from esign_server.models import OrgCode
from esign_server.services import orgids
from sqlalchemy import insert

from esign.orgid import fold_vietnamese

PG_URL = os.environ.get("ESIGN_BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test")
TOP = ("H49", "H55", "H41", "G12", "G09")
WORDS = ("Sở Tư pháp", "Phòng Nội vụ", "UBND xã", "Trường Tiểu học", "Trạm Y tế", "Ban Quản lý", "Chi cục Thuế")


def make_rows(count: int) -> list[dict[str, str]]:
    """``count`` codes under the seeded level-1 codes, 2-2-3 digit groups (QCVN widths), levels 2-4."""
    rows: list[dict[str, str]] = []
    for top in TOP:
        for a in range(1, 100):
            rows.append({"code": f"{top}.{a:02d}", "name": f"{WORDS[a % 7]} {a} tỉnh {top}"})
            for b in range(1, 100):
                rows.append({"code": f"{top}.{a:02d}.{b:02d}", "name": f"{WORDS[b % 7]} {a}-{b}"})
                for c in range(1, 4):
                    rows.append({"code": f"{top}.{a:02d}.{b:02d}.{c:03d}", "name": f"{WORDS[c % 7]} {a}-{b}-{c}"})
                    if len(rows) >= count:
                        return _shuffle_levels(rows)
    raise ValueError(f"the generator makes at most {len(rows)} rows")


def _shuffle_levels(rows: list[dict[str, str]]) -> list[dict[str, str]]:
    # Deepest first for every other block of 1000: the import must not depend on parents coming first.
    out: list[dict[str, str]] = []
    for start in range(0, len(rows), 1000):
        block = rows[start : start + 1000]
        out.extend(reversed(block) if (start // 1000) % 2 else block)
    return out


def to_csv(rows: list[dict[str, str]]) -> str:
    return "code,name\n" + "".join(f"{r['code']},{r['name']}\n" for r in rows)


def to_json(rows: list[dict[str, str]]) -> str:
    import json

    return "[\n" + ",\n".join(json.dumps(r, ensure_ascii=False) for r in rows) + "\n]\n"


@contextmanager
def fresh_database(kind: str, tmp: Path) -> Iterator[str]:
    if kind == "sqlite":
        yield f"sqlite:///{tmp / f'bench-{uuid.uuid4().hex[:8]}.db'}"
        return
    import psycopg

    name = f"esign_bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(PG_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"{PG_URL.rpartition('/')[0]}/{name}"
    finally:
        with psycopg.connect(PG_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextmanager
def registry(kind: str, tmp: Path) -> Iterator[ServerContext]:
    with fresh_database(kind, tmp) as url:
        migrate(url)
        settings = Settings(_env_file=None, dev_mode=True, database_url=url, var_dir=tmp, log_json=False)
        ctx = ServerContext(settings)
        try:
            orgids.seed_level1(ctx.db, actor="bench")
            yield ctx
        finally:
            ctx.close()


@dataclass
class Timing:
    """Wall-clock and this process's CPU seconds of one measured step."""

    wall: float
    cpu: float

    def line(self, label: str, rows: int, note: str = "") -> str:
        return (
            f"  {label:<12} {self.wall:7.2f} s wall {rows / self.wall:9,.0f} rows/s"
            f"  | {self.cpu:6.2f} s CPU {rows / self.cpu:9,.0f} rows/s{note}"
        )


def timed(action: Callable[[], Any]) -> tuple[Timing, Any]:
    """Run ``action``; CPU time is this process only (a PostgreSQL server's work is not in it)."""
    wall, cpu = time.perf_counter(), time.process_time()
    result = action()
    return Timing(time.perf_counter() - wall, time.process_time() - cpu), result


def peer_insert(ctx: ServerContext, rows: list[dict[str, str]]) -> Timing:
    """Seconds to bulk-insert the rows, prepared beforehand, with no checks and no history."""
    now = utcnow()
    values = [
        {
            "code": r["code"],
            "parent_code": r["code"].rpartition(".")[0],
            "level": r["code"].count(".") + 1,
            "name": r["name"],
            "name_folded": fold_vietnamese(r["name"]),
            "address": "",
            "details": {},
            "status": "active",
            "last_child_number": 0,
            "version": 1,
            "created_at": now,
            "updated_at": now,
        }
        for r in sorted(rows, key=lambda r: r["code"].count("."))
    ]

    def run() -> None:
        with ctx.db.write() as session:
            conn = session.connection()
            for i in range(0, len(values), 5000):
                conn.execute(insert(OrgCode.__table__), values[i : i + 5000])  # type: ignore[attr-defined]

    return timed(run)[0]


def bench(kind: str, rows: list[dict[str, str]], tmp: Path) -> None:
    n = len(rows)
    csv_text, json_text = to_csv(rows), to_json(rows)
    bad_rows = [dict(r, code=r["code"].lower()) if i % 1000 == 7 else r for i, r in enumerate(rows)]
    bad_csv = to_csv(bad_rows)
    print(f"\n{kind}: {n:,} rows ({len(csv_text) / 1e6:.1f} MB CSV)")

    with registry(kind, tmp) as ctx:
        imported, result = timed(lambda: orgids.import_text(ctx, csv_text, fmt="csv", actor="bench"))
        assert result.created == n
        print(imported.line("import csv", n))
        exported, text = timed(lambda: orgids.export_csv(ctx))
        print(exported.line("export csv", n, f"  ({len(text) / 1e6:.1f} MB)"))
        searched, page = timed(lambda: orgids.search(ctx, name="truong tieu hoc 12", limit=20))
        print(f"  name search  {searched.wall * 1000:7.1f} ms ({page.total} matches over {n:,} codes)")
        issued, _ = timed(lambda: orgids.issue_code(ctx, parent="H49.01", name="Đơn vị mới", actor="bench"))
        print(f"  issue one    {issued.wall * 1000:7.1f} ms (next child allocated in a {n:,}-code registry)")

    with registry(kind, tmp) as ctx:
        as_json, result = timed(lambda: orgids.import_text(ctx, json_text, fmt="json", actor="bench"))
        assert result.created == n
        print(as_json.line("import json", n))

    with registry(kind, tmp) as ctx:

        def rejected_import() -> int:
            try:
                orgids.import_text(ctx, bad_csv, fmt="csv", actor="bench")
            except orgids.ImportRejected as exc:
                return len(exc.problems)
            raise AssertionError("the bad import was accepted")

        rejected, problems = timed(rejected_import)
        print(rejected.line("rejected", n, f"  ({problems} bad rows named, none written)"))

    with registry(kind, tmp) as ctx:
        peer = peer_insert(ctx, rows)
        print(peer.line("peer", n, "  (SQLAlchemy bulk INSERT, no checks, no history)"))
    print(f"  import csv / peer: wall {imported.wall / peer.wall:.2f}x, CPU {imported.cpu / peer.cpu:.2f}x")


def main() -> None:
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    count = int(args[0]) if args else 100_000
    rows = make_rows(count)
    kinds = ["sqlite"] if "--no-postgres" in sys.argv else ["sqlite", "postgres"]
    with tempfile.TemporaryDirectory() as tmp:
        for kind in kinds:
            bench(kind, rows, Path(tmp))


if __name__ == "__main__":
    main()
