"""Fixtures for the HTTP layer: a real application context in a temporary data directory."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.context import AppContext, build_context
from core.clock import FixedClock
from core.settings import load_settings


@pytest.fixture
def app_ctx(tmp_path: Path, db_url: str, clock: FixedClock) -> Iterator[AppContext]:
    settings = load_settings(data_dir=tmp_path / "var", database_url=db_url)
    ctx = build_context(settings, clock=clock)
    try:
        yield ctx
    finally:
        ctx.close()


@pytest.fixture
def client(app_ctx: AppContext) -> Iterator[TestClient]:
    with TestClient(create_app(app_ctx), raise_server_exceptions=False) as c:
        yield c
