#!/usr/bin/env bash
# `make docs`: the API reference from the docstrings, one page per module, into docs/api/.
# Modules are listed one by one because pdoc shows only what a package's __all__ names.
set -euo pipefail
cd "$(dirname "$0")/.."
modules() { (cd "$1" && find "$2" -name "*.py" ! -name "__main__.py" -not -path "*/migrations/*" \
  | sed 's#/__init__.py$##; s#\.py$##; s#/#.#g'); }
mods=$( { modules . esign; modules server esign_server; modules clients/python esign_client; } | sort -u)
rm -rf docs/api
# shellcheck disable=SC2086 # one argument per module
.venv/bin/pdoc --no-search --no-show-source -d google -o docs/api $mods
