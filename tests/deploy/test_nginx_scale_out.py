"""The production layout on one host: nginx (deploy/nginx) in front of two ``esign server run``
processes on PostgreSQL, under the load-and-check of bench/load.py, one process killed mid-run."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from bench.load import run
from bench.load_server import NGINX_PROXY_CONF, NginxProxy
from tests.conftest import _fresh_postgres_database

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A fresh PostgreSQL database (the layout is for PostgreSQL: several processes, one database)."""
    yield from _fresh_postgres_database()


def test_a_process_killed_behind_nginx_loses_no_signature_and_spends_no_sad_twice(
    postgres_url: str, tmp_path: Path
) -> None:
    result = run(
        database_url=postgres_url,
        var_dir=tmp_path / "var",
        processes=2,
        kill_every=6.0,  # the first (and only) kill lands between 3 and 9 s into the 12 s run
        duration=12.0,
        concurrency=8,
        systems=3,
        users=8,
        phones_per_user=4,
        settle=15.0,
        log=lambda _message: None,
    )
    report = json.dumps(result.summary(), indent=1, ensure_ascii=False)[:6000]
    assert result.kills == 1, report
    # Nothing the clients saw was unexpected: answers cut off by the kill are nginx's 502, retried.
    assert result.stats.unexpected == [], report
    # The database holds exactly what the clients were given: no signature lost or doubled, each
    # authorized hash signed at most as often as allowed, each SAD's counter matching its hashes.
    assert result.database.violations == [], report
    assert result.database.audit_ok, result.database.audit_output
    assert result.database.csc_signatures == result.stats.csc_signatures > 0, report
    assert result.database.sessions_by_state["signed"] >= len(result.stats.signed) > 0, report
    assert result.database.sessions_by_state.get("pending", 0) == 0, report
    # Both processes served requests (each wrote its log of a start), nginx answered throughout.
    assert len(list((tmp_path / "var").glob("server-*.log"))) == 2


def test_the_test_layout_uses_the_shipped_proxy_settings(tmp_path: Path) -> None:
    shipped = (ROOT / "deploy" / "nginx" / "esign.conf").read_text()
    proxy = NginxProxy(tmp_path, 8080, [8751, 8752]).config()
    assert f"include {NGINX_PROXY_CONF};" in proxy
    assert "include /etc/nginx/esign-proxy.conf;" in shipped
    # The edge settings of the production server block are those the test's nginx runs with.
    for setting in ("client_header_timeout", "client_body_timeout", "client_max_body_size", "keepalive_timeout"):
        assert re.search(rf"{setting} [^;]+;", shipped)
        assert re.search(rf"{setting} [^;]+;", shipped).group(0) in proxy  # type: ignore[union-attr]
