"""Shared set-up of the RA API, transparency-log route and ``natid ca log`` tests.

The CA hierarchy's keys are made once per test session in a soft key store (key generation,
scrypt per key file, is the slow part); each test copies that store into its own data
directory, builds a real :class:`~api.context.AppContext` on its own database (SQLite and
PostgreSQL, ``db_url``), and stores the hierarchy there with ``adopt_hierarchy``, so no state
leaks between tests. The app is ``api.app.create_app(ctx)``.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from api.app import create_app
from api.context import AppContext, build_context
from api.security import operator_service
from ca.hierarchy import Hierarchy
from core.clock import FixedClock
from core.operators import OperatorRole
from core.settings import load_settings
from registry import Person
from tests.ca._issuance import NOW, add_person

PROBLEM = "application/problem+json"


def ra_app(ctx: AppContext) -> FastAPI:
    return create_app(ctx)


@pytest.fixture(scope="session")
def golden_keys(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Hierarchy]:
    """A soft key store with the hierarchy, audit and log keys, and the hierarchy itself."""
    base = tmp_path_factory.mktemp("ra-golden")
    settings = load_settings(data_dir=base / "var", database_url=f"sqlite:///{base}/golden.db")
    ctx = build_context(settings, clock=FixedClock(NOW))
    try:
        hierarchy = ctx.ca().ensure_hierarchy(actor="test-init")
    finally:
        ctx.close()
    return settings.resolved_soft_key_dir, hierarchy


def installed_context(
    data_dir: Path, db_url: str, golden: tuple[Path, Hierarchy], clock: FixedClock | None = None
) -> AppContext:
    """A context on ``db_url`` whose data directory holds a copy of the golden key store."""
    keys, hierarchy = golden
    settings = load_settings(data_dir=data_dir, database_url=db_url)
    if not settings.resolved_soft_key_dir.exists():
        shutil.copytree(keys, settings.resolved_soft_key_dir)
    ctx = build_context(settings, clock=clock)
    if not ctx.ca().authorities():
        ctx.ca().adopt_hierarchy(hierarchy, actor="test-init")
    return ctx


@pytest.fixture
def ra_ctx(
    tmp_path: Path, db_url: str, clock: FixedClock, golden_keys: tuple[Path, Hierarchy]
) -> Iterator[AppContext]:
    ctx = installed_context(tmp_path / "var", db_url, golden_keys, clock)
    try:
        yield ctx
    finally:
        ctx.close()


@pytest.fixture
def ra_client(ra_ctx: AppContext) -> Iterator[TestClient]:
    with TestClient(ra_app(ra_ctx), raise_server_exceptions=False) as client:
        yield client


@pytest.fixture
def person(ra_ctx: AppContext) -> Person:
    return add_person(ra_ctx.register)


def operator_token(ctx: AppContext, name: str, *roles: OperatorRole) -> tuple[str, str]:
    """(operator id, bearer token) of a new operator with ``roles``."""
    operator, issued = operator_service(ctx).add(name, list(roles))
    return operator.id, issued.token


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}
