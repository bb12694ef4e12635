#!/usr/bin/env bash
# `make test`: the whole suite against SQLite and PostgreSQL, then ruff and mypy.
set -uo pipefail
cd "$(dirname "$0")/.."
V=.venv/bin
"$V/python" -m pytest "$@"
rc=$?
if [ $rc -eq 5 ]; then echo "pytest collected no tests: that is a failure" >&2; exit 1; fi
[ $rc -eq 0 ] || exit $rc
"$V/ruff" check . || exit 1
"$V/mypy" || exit 1
