"""Reliability fixtures: short load runs against ``esign server run`` on loopback, with or without faults."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from bench.load import RunResult, run

SHORT_LOAD_SECONDS = 8.0
"""CI runs: long enough for every scenario to occur many times, short enough for a 2-core runner."""


def short_run(database_url: str, tmp_path: Path, **options: Any) -> RunResult:
    """A small load run (3 relying systems, 8 users with 4 phones each, 8 clients) with its report."""
    values: dict[str, Any] = {
        "duration": SHORT_LOAD_SECONDS,
        "concurrency": 8,
        "systems": 3,
        "users": 8,
        "phones_per_user": 4,
        "settle": 15.0,
        "log": lambda _message: None,
    }
    values.update(options)
    return run(database_url=database_url, var_dir=tmp_path / "var", **values)


def explain(result: RunResult) -> str:
    """The run's report, for assertion messages."""
    return json.dumps(result.summary(), indent=1, ensure_ascii=False)[:6000]


@pytest.fixture
def load_run(database_url: str, tmp_path: Path) -> Callable[..., RunResult]:
    """Run a short load on this test's fresh database."""

    def go(**options: Any) -> RunResult:
        return short_run(database_url, tmp_path, **options)

    return go
