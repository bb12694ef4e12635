# The two commands of the README: `make run` and `make test`.
PYTHON ?= python3.11
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip --disable-pip-version-check -q

.PHONY: run test setup setup-dev system-deps lint typecheck bench docs clean

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -U pip setuptools wheel

system-deps:
	bash scripts/system-deps.sh

.stamp-setup: pyproject.toml | $(VENV)/bin/python
	$(PIP) install -e '.[server,pkcs11,client]'
	touch $@

.stamp-setup-dev: pyproject.toml | $(VENV)/bin/python
	$(PIP) install -e '.[dev]'
	touch $@ .stamp-setup

setup: system-deps .stamp-setup
setup-dev: system-deps .stamp-setup-dev

## The main job: the remote-signing server with its dev PKI on SQLite, after a short guided demo.
## PORT=8760 serves on another port (default 8750); a taken port is one line, before any secret is printed.
run: setup
	$(VENV)/bin/esign server demo --serve $(if $(PORT),--port $(PORT))

## The whole test suite (SQLite and PostgreSQL), then lint and type checks.
test: setup-dev
	bash scripts/test.sh

lint:
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check esign server clients tests bench

typecheck:
	$(VENV)/bin/mypy

## The API reference, generated from the docstrings into docs/api/ (not committed; `make test` builds it too).
docs: setup-dev
	bash scripts/api-docs.sh

bench: setup-dev
	$(PY) -m bench

clean:
	rm -rf $(VENV) .stamp-* var build *.egg-info
