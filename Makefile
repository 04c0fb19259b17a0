# NatID: the one entry point. `make run` starts everything; `make test` proves it.
#
# make install   .venv with everything (installs uv and the Debian packages the tests need if missing)
# make run       install if needed, then `natid serve` on the embedded default (SQLite, soft keys)
# make test      the test suite (under CI=true: every test, slow ones and the PostgreSQL leg too)
# make test-all  the whole suite, slow end-to-end tests included
# make lint      ruff, mypy, import-linter, alembic check
# make bench     the benchmarks in bench/, figures into bench/results/

SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV := .venv
PY := $(VENV)/bin/python
UV ?= $(shell command -v uv 2>/dev/null || echo $(HOME)/.local/bin/uv)
# The venv's interpreter: the distribution's CPython 3.11 where there is one (Debian builds it
# with PGO and LTO, linked statically; NatID's request paths run ~25% faster on it than on a
# plain shared-libpython source build such as pyenv's, docs/decisions.md "Runtime"); elsewhere
# uv's choice of a Python 3.11+.
# `make install PYTHON=/path/to/python3` picks another.
PYTHON ?= $(shell test -x /usr/bin/python3.11 && echo /usr/bin/python3.11)
# Debian packages the tests drive as outside tools.
DEB_PACKAGES := softhsm2 opensc openssl sqlite3 curl poppler-utils fonts-khmeros fonts-dejavu-core chromium libnss3-tools
PYTEST_ARGS ?=
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: help install deps-system deps-python deps-node deps-bench run test test-all lint format bench clean

help:
	@sed -n 's/^# make /make /p' Makefile

$(UV):
	@command -v uv >/dev/null 2>&1 || python3 -m pip install --quiet --user uv || python3 -m pip install --quiet uv

deps-system:
	@missing=""; for p in $(DEB_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  if [ "$$(id -u)" = 0 ]; then SUDO=""; elif command -v sudo >/dev/null; then SUDO=sudo; else \
	    echo "error: need root (or sudo) to install:$$missing" >&2; exit 1; fi; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing >/dev/null; \
	fi

$(VENV)/.synced: pyproject.toml uv.lock Makefile | $(UV)
	@uv=$$(command -v uv || echo $(HOME)/.local/bin/uv); \
	  $$uv sync --frozen --quiet $(if $(PYTHON),--python $(PYTHON))
	@touch $@

deps-python: $(VENV)/.synced

# Node.js packages of the black-box tests (openid-client, axe-core), pinned by package-lock.json.
# The machine's Node.js is used; Debian's nodejs/npm are installed only where none is present.
deps-node: tests/node/node_modules/.synced

tests/node/node_modules/.synced: tests/node/package.json tests/node/package-lock.json
	@command -v npm >/dev/null 2>&1 || { if [ "$$(id -u)" = 0 ]; then SUDO=""; else SUDO=sudo; fi; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq nodejs npm >/dev/null; }
	@npm ci --prefix tests/node --no-audit --no-fund --loglevel=error >/dev/null
	@touch $@

# What only `make bench` needs: node-oidc-provider (the IdP baseline) and wrk (a C load generator).
deps-bench: deps-node bench/oidc/node_modules/.synced
	@command -v wrk >/dev/null 2>&1 || { if [ "$$(id -u)" = 0 ]; then SUDO=""; else SUDO=sudo; fi; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq wrk >/dev/null; }

bench/oidc/node_modules/.synced: bench/oidc/package.json bench/oidc/package-lock.json
	@npm ci --prefix bench/oidc --no-audit --no-fund --loglevel=error >/dev/null
	@touch $@

install: deps-system deps-python deps-node

# A new data directory records http://localhost:$(PORT) as its public base URL unless
# NATID_PUBLIC_BASE_URL is set (discovery, the demo site and certificates name it); an existing
# one keeps the URL it recorded (`natid ca public-url`).
run: deps-python
	$(VENV)/bin/natid serve --host $(HOST) --port $(PORT)

test: install
	@if [ "$$CI" = "true" ]; then \
	  $(VENV)/bin/pytest -n 2 -m "" $(PYTEST_ARGS); \
	else \
	  $(VENV)/bin/pytest -n 2 $(PYTEST_ARGS); \
	fi

test-all: install
	$(VENV)/bin/pytest -n 2 -m "" $(PYTEST_ARGS)

lint: deps-python
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy core hsm_adapters registry ca idp signing kyc vaccine_cert api
	$(VENV)/bin/lint-imports
	@tmp=$$(mktemp -d); NATID_DATA_DIR=$$tmp $(VENV)/bin/natid db upgrade >/dev/null && \
	  NATID_DATA_DIR=$$tmp $(VENV)/bin/alembic check; rc=$$?; rm -rf $$tmp; exit $$rc

format: deps-python
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

bench: install deps-bench
	@mkdir -p bench/results
	$(PY) bench/run_all.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache bench/results
