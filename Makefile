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
# Debian packages the tests drive as outside tools.
DEB_PACKAGES := softhsm2 opensc openssl sqlite3 curl poppler-utils fonts-khmeros fonts-dejavu-core chromium libnss3-tools
PYTEST_ARGS ?=
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: help install deps-system deps-python run test test-all lint format bench clean

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

$(VENV)/.synced: pyproject.toml uv.lock | $(UV)
	@uv=$$(command -v uv || echo $(HOME)/.local/bin/uv); $$uv sync --frozen --quiet
	@touch $@

deps-python: $(VENV)/.synced

install: deps-system deps-python

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

bench: install
	@mkdir -p bench/results
	$(PY) bench/run_all.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache bench/results
