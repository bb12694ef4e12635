"""A short version of bench/load.py on both databases: SQLite with one worker, PostgreSQL with two."""

from __future__ import annotations

from collections.abc import Callable

from bench.load import RunResult

from .conftest import explain


def test_short_load_keeps_every_invariant(database_url: str, load_run: Callable[..., RunResult]) -> None:
    workers = 1 if database_url.startswith("sqlite") else 2
    result = load_run(workers=workers)
    summary = result.summary()
    assert result.stats.unexpected == [], explain(result)
    assert result.database.violations == [], explain(result)
    assert result.database.audit_ok, result.database.audit_output
    # Every kind of work happened, and the only 4xx were the ones the script provoked.
    ops = summary["operations"]
    for op in ("session.create", "mobile.confirm", "csc.signHash", "orgid.get", "orgid.search", "mobile.reject"):
        assert ops[op]["count"] > 0, op
    assert set(result.stats.provoked) <= {
        "mobile.confirm:400",
        "csc.signHash:400",
        "probe.other_system:404",
        "probe.other_phone:404",
    }
    assert result.stats.retryable == {}
    # What the database holds matches what the clients were told.
    signed = result.database.sessions_by_state["signed"]
    assert signed >= len(result.stats.signed) > 0
    assert result.database.signatures_verified >= result.stats.signatures_verified - result.stats.csc_signatures
    assert result.database.csc_signatures == result.stats.csc_signatures > 0
    assert result.database.sessions_by_state["pending"] == 0
    assert result.stats.oathtool_checked > 0
