"""Fixtures of the activation page tests: a real application (api.app.create_app) on a fresh
data directory and database, cheap Argon2 parameters, and a browser (TestClient)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.context import AppContext, build_context
from core.clock import FixedClock
from core.settings import load_settings
from tests.idp._web import fast_passwords

__all__ = ["BASE_URL"]

BASE_URL = "http://localhost:8000"


@pytest.fixture
def ctx(tmp_path: Path, db_url: str, clock: FixedClock) -> Iterator[AppContext]:
    settings = load_settings(data_dir=tmp_path / "var", database_url=db_url)
    context = build_context(settings, clock=clock)
    fast_passwords(context)
    try:
        yield context
    finally:
        context.close()


@pytest.fixture
def client(ctx: AppContext) -> Iterator[TestClient]:
    with TestClient(
        create_app(ctx), base_url=BASE_URL, client=("127.0.0.1", 51000),
        raise_server_exceptions=True,
    ) as c:  # fmt: skip
        yield c
